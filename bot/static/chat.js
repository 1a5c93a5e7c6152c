// The web chat: posts {"sender", "message"} to the REST channel and shows the answers.
(() => {
  "use strict";

  const WEBHOOK = "/webhooks/rest/webhook";
  const SENDER_KEY = "gmina-chat-sender";
  const URL_PATTERN = /(https?:\/\/[^\s<>"]+)/g;

  const transcript = document.getElementById("transcript");
  const form = document.getElementById("composer");
  const input = document.getElementById("message");
  const status = document.getElementById("status");
  const reset = document.getElementById("reset");

  // The sender id is the chat's only credential once verified: random, kept in this browser.
  let memorySender = null;

  function newSenderId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function senderId() {
    try {
      let id = localStorage.getItem(SENDER_KEY);
      if (!id) {
        id = newSenderId();
        localStorage.setItem(SENDER_KEY, id);
      }
      return id;
    } catch (_) {
      // Storage blocked (private mode): keep the id for this page only.
      memorySender = memorySender || newSenderId();
      return memorySender;
    }
  }

  function forgetSender() {
    memorySender = null;
    try {
      localStorage.removeItem(SENDER_KEY);
    } catch (_) {
      // nothing stored
    }
  }

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

  function addEntry(who, label) {
    const item = document.createElement("li");
    item.className = "entry " + who;
    const speaker = document.createElement("span");
    speaker.className = "visually-hidden";
    speaker.textContent = label + ": ";
    item.appendChild(speaker);
    transcript.appendChild(item);
    item.scrollIntoView({ block: "end" });
    return item;
  }

  function showAnswer(answer) {
    const item = addEntry("bot", "Asystent");
    if (answer.text) {
      const text = document.createElement("p");
      appendText(text, answer.text);
      item.appendChild(text);
    }
    if (typeof answer.image === "string" && /^(https?:|data:image\/|\/)/.test(answer.image)) {
      const image = document.createElement("img");
      image.src = answer.image;
      image.alt = "Obraz od asystenta";
      item.appendChild(image);
    }
    if (Array.isArray(answer.buttons) && answer.buttons.length) {
      const chips = document.createElement("div");
      chips.className = "chips";
      chips.setAttribute("role", "group");
      chips.setAttribute("aria-label", "Podpowiedzi");
      answer.buttons.forEach((button) => {
        const chip = document.createElement("button");
        chip.type = "button";
        chip.className = "chip";
        chip.textContent = button.title;
        chip.addEventListener("click", () => send(button.payload || button.title, button.title));
        chips.appendChild(chip);
      });
      item.appendChild(chips);
    }
  }

  function setBusy(busy) {
    form.querySelectorAll("input, button").forEach((element) => {
      element.disabled = busy;
    });
    status.textContent = busy ? "Asystent odpowiada…" : "";
  }

  async function send(message, shown) {
    const item = addEntry("user", "Ty");
    const text = document.createElement("p");
    text.textContent = shown;
    item.appendChild(text);
    setBusy(true);
    try {
      const response = await fetch(WEBHOOK, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sender: senderId(), message: message }),
      });
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      const answers = await response.json();
      setBusy(false);
      (Array.isArray(answers) ? answers : []).forEach(showAnswer);
    } catch (_) {
      setBusy(false);
      status.textContent = "Nie udało się wysłać wiadomości. Spróbuj ponownie za chwilę.";
    }
    input.focus();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const message = input.value.trim();
    if (!message) {
      return;
    }
    input.value = "";
    send(message, message);
  });

  reset.addEventListener("click", () => {
    forgetSender();
    transcript.replaceChildren();
    status.textContent =
      "Rozpoczęto nową rozmowę. Poprzednia nie jest już widoczna w tej przeglądarce.";
    input.focus();
  });
})();
