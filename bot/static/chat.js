// The web chat: posts {"sender", "message"} to the REST channel and shows the answers.
// The page's words follow the language the assistant answers in; the transcript is kept in this
// browser with the sender id, so a reload shows the conversation the server still holds.
// Messages queued for this chat between its turns (a receipt after paying by its link, a staff
// reply) are collected after each answer, on opening, on coming back to the tab, and every
// COLLECT_SECONDS while the page is shown.
(() => {
  "use strict";

  const WEBHOOK = "/webhooks/rest/webhook";
  const WAITING = "/webhooks/rest/waiting";
  const COLLECT_SECONDS = 10;
  const SENDER_KEY = "gmina-chat-sender";
  const TRANSCRIPT_KEY = "gmina-chat-transcript";
  const LANGUAGE_KEY = "gmina-chat-language";
  // Enough to pick a conversation up again; older entries are dropped from storage.
  const KEPT_ENTRIES = 200;
  // Room kept below the newest answer when it is scrolled into view.
  const BREATHING_ROOM = 12;
  const URL_PATTERN = /(https?:\/\/[^\s<>"]+)/g;
  const SAFE_IMAGE = /^(https?:|data:image\/|\/)/;

  const WORDS = JSON.parse(document.getElementById("chrome-words").textContent);
  const CITY = document.body.dataset.city;
  const MAX_LENGTH = Number(document.body.dataset.maxLength);

  const scroller = document.getElementById("scroller");
  const transcript = document.getElementById("transcript");
  const form = document.getElementById("composer");
  const input = document.getElementById("message");
  const sendButton = document.getElementById("send");
  const note = document.getElementById("message-note");
  const lengthAlert = document.getElementById("message-alert");
  const status = document.getElementById("status");
  const reset = document.getElementById("reset");

  let language = document.documentElement.lang;
  // What the transcript shows, as kept in storage: {who: "user"|"bot", text, buttons?, image?}.
  let entries = [];
  let busy = false;

  // --- storage: blocked storage (private modes) keeps everything for this page only -----------

  const memory = new Map();

  function recall(key) {
    try {
      return localStorage.getItem(key);
    } catch (_) {
      return memory.has(key) ? memory.get(key) : null;
    }
  }

  function keep(key, value) {
    memory.set(key, value);
    try {
      localStorage.setItem(key, value);
    } catch (_) {
      // blocked or full: the page still works, a reload forgets
    }
  }

  function forget(key) {
    memory.delete(key);
    try {
      localStorage.removeItem(key);
    } catch (_) {
      // nothing stored
    }
  }

  // The sender id is the chat's only credential once verified: random, kept in this browser.
  function senderId() {
    let id = recall(SENDER_KEY);
    if (!id) {
      const bytes = new Uint8Array(16);
      crypto.getRandomValues(bytes);
      id = "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
      keep(SENDER_KEY, id);
    }
    return id;
  }

  // --- the page's words ------------------------------------------------------------------------

  function word(key, values) {
    const text = WORDS[language][key];
    return text.replace(/\{(\w+)\}/g, (whole, name) =>
      values && name in values ? String(values[name]) : whole,
    );
  }

  function applyLanguage(code) {
    if (!Object.hasOwn(WORDS, code)) {
      return;
    }
    language = code;
    keep(LANGUAGE_KEY, code);
    document.documentElement.lang = code;
    document.title = word("web_page_title", { city: CITY });
    document.querySelectorAll("[data-i18n]").forEach((element) => {
      element.textContent = word(element.dataset.i18n);
    });
    document.querySelectorAll("[data-i18n-label]").forEach((element) => {
      element.setAttribute("aria-label", word(element.dataset.i18nLabel));
    });
    document.querySelectorAll("[data-i18n-alt]").forEach((element) => {
      element.alt = word(element.dataset.i18nAlt);
    });
    checkLength();
  }

  // --- the transcript --------------------------------------------------------------------------

  // Text with web addresses made into links; never parsed as HTML.
  function appendText(parent, text) {
    text.split(URL_PATTERN).forEach((part, index) => {
      if (index % 2 === 1) {
        const link = document.createElement("a");
        link.href = part;
        link.textContent = part;
        link.rel = "noopener noreferrer";
        link.target = "_blank";
        parent.appendChild(link);
      } else if (part) {
        parent.appendChild(document.createTextNode(part));
      }
    });
  }

  function translated(tag, attribute, key) {
    const element = document.createElement(tag);
    element.dataset[attribute] = key;
    return element;
  }

  function renderEntry(entry) {
    const item = document.createElement("li");
    item.className = "entry " + entry.who;
    const speaker = translated("span", "i18n", entry.who === "user" ? "web_you" : "web_assistant");
    speaker.className = "visually-hidden";
    speaker.textContent = word(speaker.dataset.i18n);
    item.appendChild(speaker);
    if (entry.text) {
      const text = document.createElement("p");
      appendText(text, entry.text);
      item.appendChild(text);
    }
    if (entry.image) {
      const image = translated("img", "i18nAlt", "web_image_alt");
      image.src = entry.image;
      image.alt = word("web_image_alt");
      // Its height is known only once loaded: the newest entry is revealed again then.
      image.addEventListener("load", () => {
        if (item === transcript.lastElementChild) {
          reveal(item);
        }
      });
      item.appendChild(image);
    }
    if (entry.buttons && entry.buttons.length) {
      const chips = translated("div", "i18nLabel", "web_suggestions");
      chips.className = "chips";
      chips.setAttribute("role", "group");
      chips.setAttribute("aria-label", word("web_suggestions"));
      entry.buttons.forEach((button) => {
        const chip = document.createElement("button");
        chip.type = "button";
        chip.className = "chip";
        chip.textContent = button.title;
        chip.addEventListener("click", () => send(button.payload || button.title, button.title));
        chips.appendChild(chip);
      });
      item.appendChild(chips);
    }
    transcript.appendChild(item);
    return item;
  }

  function addEntry(entry) {
    entries.push(entry);
    keep(TRANSCRIPT_KEY, JSON.stringify(entries.slice(-KEPT_ENTRIES)));
    return renderEntry(entry);
  }

  function fromAnswer(answer) {
    const entry = { who: "bot", text: typeof answer.text === "string" ? answer.text : "" };
    if (typeof answer.image === "string" && SAFE_IMAGE.test(answer.image)) {
      entry.image = answer.image;
    }
    if (Array.isArray(answer.buttons)) {
      entry.buttons = answer.buttons
        .filter((button) => button && typeof button.title === "string")
        .map((button) => ({ title: button.title, payload: String(button.payload || "") }));
    }
    return entry;
  }

  // The newest entry whole when it fits the view, else its beginning, to be read on downwards.
  // Called once the entry holds all its text: measured any earlier, only its first line shows.
  function reveal(item) {
    if (!item) {
      return;
    }
    const view = scroller.getBoundingClientRect();
    const box = item.getBoundingClientRect();
    const top = scroller.scrollTop + box.top - view.top;
    const room = scroller.clientHeight;
    scroller.scrollTop =
      box.height + 2 * BREATHING_ROOM <= room
        ? top + box.height + BREATHING_ROOM - room
        : top - BREATHING_ROOM;
  }

  function restore() {
    let kept = [];
    try {
      kept = JSON.parse(recall(TRANSCRIPT_KEY) || "[]");
    } catch (_) {
      // unreadable: start with an empty transcript
    }
    entries = Array.isArray(kept) ? kept.filter((entry) => entry && entry.who) : [];
    entries.forEach(renderEntry);
    reveal(transcript.lastElementChild);
  }

  // --- sending ---------------------------------------------------------------------------------

  // Counted as the server counts: characters, not UTF-16 units.
  function messageLength() {
    return Array.from(input.value.trim()).length;
  }

  function checkLength() {
    const length = messageLength();
    const tooLong = length > MAX_LENGTH;
    const number = new Intl.NumberFormat(language);
    const text = tooLong
      ? word("web_too_long", { length: number.format(length), limit: number.format(MAX_LENGTH) })
      : "";
    const wasTooLong = input.getAttribute("aria-invalid") === "true";
    if (note.textContent !== text) {
      note.textContent = text;
    }
    // Said aloud once when the message becomes too long, not at every key after that.
    if (tooLong && !wasTooLong) {
      lengthAlert.textContent = text;
    } else if (!tooLong) {
      lengthAlert.textContent = "";
    }
    input.setAttribute("aria-invalid", tooLong ? "true" : "false");
    return !tooLong;
  }

  function setBusy(value) {
    busy = value;
    sendButton.disabled = value;
    status.textContent = value ? word("web_busy") : "";
  }

  async function send(message, shown) {
    if (busy) {
      return;
    }
    reveal(addEntry({ who: "user", text: shown }));
    setBusy(true);
    try {
      const response = await fetch(WEBHOOK, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sender: senderId(), message: message, metadata: { language } }),
      });
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      const body = await response.json();
      setBusy(false);
      showAnswers(body);
    } catch (_) {
      setBusy(false);
      status.textContent = word("web_send_failed");
    }
    input.focus();
    collect();
  }

  // The REST channel's answers (a list of {text, buttons?, image?, metadata?}), in order.
  function showAnswers(body) {
    const answers = Array.isArray(body) ? body.filter((answer) => answer) : [];
    const answered = answers.map((answer) => answer.metadata && answer.metadata.language);
    applyLanguage(answered.filter(Boolean).pop());
    let newest = null;
    answers.forEach((answer) => {
      newest = addEntry(fromAnswer(answer));
    });
    reveal(newest);
  }

  // What waits for this chat; each message is handed out once, so nothing shows twice. A chat
  // that has not said anything yet has nothing waiting.
  let collecting = false;
  async function collect() {
    const sender = recall(SENDER_KEY);
    if (!sender || busy || collecting || document.hidden) {
      return;
    }
    collecting = true;
    try {
      const response = await fetch(WAITING, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sender: sender }),
      });
      if (response.ok) {
        showAnswers(await response.json());
      }
    } catch (_) {
      // offline for a moment: the messages wait for the next time
    } finally {
      collecting = false;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const message = input.value.trim();
    if (!message || busy) {
      return;
    }
    if (!checkLength()) {
      input.focus();
      return;
    }
    input.value = "";
    send(message, message);
  });

  input.addEventListener("input", checkLength);

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  reset.addEventListener("click", () => {
    forget(SENDER_KEY);
    forget(TRANSCRIPT_KEY);
    entries = [];
    transcript.replaceChildren();
    scroller.scrollTop = 0;
    status.textContent = word("web_new_conversation_done");
    input.focus();
  });

  // A view that shrinks (a phone's keyboard opens, the message grows to several lines) keeps the
  // newest entry in sight.
  new ResizeObserver(() => reveal(transcript.lastElementChild)).observe(scroller);

  document.addEventListener("visibilitychange", collect);
  setInterval(collect, COLLECT_SECONDS * 1000);

  applyLanguage(recall(LANGUAGE_KEY) || language);
  restore();
  collect();
})();
