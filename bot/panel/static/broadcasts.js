// The broadcast status page's live counts: polls counts.json while its messages may still
// change and writes the numbers into the table; refreshes the chart on the way. Without
// JavaScript the page's "Refresh the counts" link does the same by reloading.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.fetch) { return; }
  var countsUrl = live.getAttribute("data-counts-url");
  var chartUrl = live.getAttribute("data-chart-url");
  var note = live.querySelector("[data-live-note]");
  var stateLabel = document.querySelector("[data-broadcast-status]");
  var numbers = new Intl.NumberFormat(document.documentElement.lang || "pl");
  var everyMs = 2000;
  var lastCounts = null;

  function put(key, value) {
    var cell = live.querySelector('[data-count="' + key + '"]');
    if (cell) { cell.textContent = numbers.format(value); }
  }

  function show(data) {
    var all = 0;
    var perStatus = {};
    Object.keys(data.counts).forEach(function (channel) {
      var byStatus = data.counts[channel];
      var channelTotal = 0;
      Object.keys(byStatus).forEach(function (status) {
        var count = byStatus[status];
        put(channel + "/" + status, count);
        channelTotal += count;
        perStatus[status] = (perStatus[status] || 0) + count;
      });
      put(channel + "/*", channelTotal);
      all += channelTotal;
    });
    Object.keys(perStatus).forEach(function (status) { put("*/" + status, perStatus[status]); });
    put("*/*", all);
    if (stateLabel) {
      stateLabel.textContent = data.status_name;
      stateLabel.className = "state state-" + data.status;
    }
  }

  function refreshChart() {
    return fetch(chartUrl, { credentials: "same-origin" })
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (html) {
        if (html !== null) { document.getElementById("broadcast-chart").innerHTML = html; }
      });
  }

  function poll() {
    fetch(countsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (answer) {
        if (!answer.ok) { throw new Error("counts: " + answer.status); }
        return answer.json();
      })
      .then(function (data) {
        show(data);
        // The chart moves only when a message does: fetch it again only then.
        var counts = JSON.stringify(data.counts);
        var changed = counts !== lastCounts;
        lastCounts = counts;
        var done = changed ? refreshChart() : Promise.resolve();
        return done.then(function () {
          if (data.moving) {
            window.setTimeout(poll, everyMs);
          } else {
            live.removeAttribute("data-moving");
            if (note) { note.hidden = true; }
            refreshChart();
          }
        });
      })
      .catch(function () {
        // The server is away for a moment: try again later, more slowly.
        window.setTimeout(poll, everyMs * 5);
      });
  }

  if (live.hasAttribute("data-moving")) { window.setTimeout(poll, everyMs); }
})();
