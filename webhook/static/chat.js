// The web chat's behaviour; served from /chat/static (the page's CSP allows no inline script).
// Every text from the server or the learner is drawn with textContent, never as HTML.
"use strict";
const log = document.getElementById("log");
const input = document.getElementById("text");
const POLL_MS = 5000;
const drawn = new Set();  // message ids already on the page: a send's answer and a poll may race
let lastId = 0;
let busy = false;
let polling = false;

function newId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, b => b.toString(16).padStart(2, "0")).join("");
}

function bubble(cls) {
  const div = document.createElement("div");
  div.className = "msg " + (cls || "");
  log.appendChild(div);
  return div;
}

function disableOldButtons() {
  log.querySelectorAll(".options button").forEach(b => { b.disabled = true; });
}

function safeLink(text) {
  // Only web links become clickable: never javascript:, data: or the like.
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch (error) {
    return null;
  }
}

function drawQR(div, message) {
  const img = document.createElement("img");
  img.className = "qr";
  img.setAttribute("src", message.url);  // /chat/qr.png?data=…, drawn by the server
  img.setAttribute("alt", "QR: " + message.data);
  img.title = "Bấm để xem to / Tap to enlarge";
  img.addEventListener("click", () => window.open(img.src, "_blank", "noopener"));
  div.appendChild(img);
  if (message.caption) {
    div.appendChild(document.createTextNode(message.caption));
    div.appendChild(document.createElement("br"));
  }
  const href = safeLink(message.data);
  if (href) {
    const link = document.createElement("a");
    link.setAttribute("href", href);
    link.setAttribute("target", "_blank");
    link.setAttribute("rel", "noopener noreferrer");
    link.textContent = message.data;
    div.appendChild(link);
  } else {
    div.appendChild(document.createTextNode(message.data));
  }
}

function draw(message) {
  if (typeof message.id === "number") {
    if (drawn.has(message.id)) return false;
    drawn.add(message.id);
    lastId = Math.max(lastId, message.id);
  }
  const div = bubble("bot");
  div.dataset.id = message.id;
  if (message.kind === "qr") {
    drawQR(div, message);
    return true;
  }
  if (message.kind === "file") {
    if (message.caption) div.appendChild(document.createTextNode(message.caption));
    const link = document.createElement("a");
    link.href = message.url;
    link.download = message.name;
    link.className = "file";
    link.textContent = "📄 " + message.name;
    div.appendChild(document.createElement("br"));
    div.appendChild(link);
    return true;
  }
  if (message.kind === "picture") {
    const img = document.createElement("img");
    img.src = message.url;
    img.alt = message.caption || "";
    img.title = "Bấm để xem to / Tap to enlarge";
    img.addEventListener("click", () => window.open(img.src, "_blank"));
    div.appendChild(img);
    if (message.caption) div.appendChild(document.createTextNode(message.caption));
    return true;
  }
  div.appendChild(document.createTextNode(message.text || ""));
  if (message.kind === "choices") {
    disableOldButtons();
    const box = document.createElement("div");
    box.className = "options";
    for (const option of message.options) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = option.label;
      button.addEventListener("click", () => {
        send({kind: "choice", key: option.key}, option.label);
      });
      box.appendChild(button);
    }
    div.appendChild(box);
  }
  return true;
}

function note(text) {
  const div = document.createElement("div");
  div.className = "note";
  div.textContent = text;
  log.appendChild(div);
}

async function send(body, shown) {
  if (busy) return;
  busy = true;
  if (shown) bubble("me").textContent = shown;
  body.id = newId();
  try {
    let response;
    for (let attempt = 0; attempt < 3; attempt++) {
      response = await fetch("/chat/api/send", {
        method: "POST", headers: {"Content-Type": "application/json"},
        credentials: "same-origin", body: JSON.stringify(body),
      });
      if (response.status !== 503) break;
      await new Promise(r => setTimeout(r, 1000));
    }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      note(typeof data.detail === "string" ? data.detail : "Có lỗi, bạn thử lại nhé. / Something went wrong, please try again.");
    } else {
      data.messages.forEach(draw);
    }
  } catch (error) {
    note("Mất kết nối, bạn thử lại nhé. / Connection lost, please try again.");
  } finally {
    busy = false;
    log.scrollTop = log.scrollHeight;
  }
}

document.getElementById("composer").addEventListener("submit", event => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  send({kind: "text", text}, text);
});

async function poll() {
  // Replies other people cause (a volunteer's tip) arrive while the visitor is idle.
  if (busy || polling || document.visibilityState !== "visible") return;
  polling = true;
  try {
    const response = await fetch("/chat/api/history?after=" + encodeURIComponent(lastId),
                                 {credentials: "same-origin"});
    if (!response.ok) return;
    const data = await response.json();
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 40;
    const added = data.messages.map(draw).some(Boolean);
    if (added && atBottom) log.scrollTop = log.scrollHeight;
  } catch (error) {
    // Offline for a moment: the next poll tries again.
  } finally {
    polling = false;
  }
}

async function boot() {
  const params = new URLSearchParams(location.search);
  let data = {messages: []};
  try {
    const response = await fetch("/chat/api/history", {credentials: "same-origin"});
    if (response.ok) data = await response.json();
  } catch (error) {
    note("Mất kết nối, bạn tải lại trang nhé. / Connection lost, please reload the page.");
    return;
  }
  data.messages.forEach(draw);
  const payload = params.get("start") || (params.get("ref") ? "ref_" + params.get("ref") : null)
                  || (params.get("lang") ? "lang_" + params.get("lang") : null);
  if (data.messages.length === 0 || payload) {
    await send({kind: "start", payload});
  }
  log.scrollTop = log.scrollHeight;
  setInterval(poll, POLL_MS);
  document.addEventListener("visibilitychange", poll);
}
boot();
