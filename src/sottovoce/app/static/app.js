// The chat app's page. It holds no keys: everything goes through the local process's
// API (same origin, session cookie). Text from other people is only ever set with
// textContent, never parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { me: null, current: null, socket: null, retry: 1000 };

async function api(method, path, body) {
  const options = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(data.error || `request failed (${response.status})`);
    error.status = response.status;
    throw error;
  }
  return data;
}

function notice(text) {
  const box = $("notice");
  box.textContent = text || "";
  box.hidden = !text;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function when(ms) {
  if (!ms) return "";
  const d = new Date(ms);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : d.toLocaleString();
}

// -- signing up and in ----------------------------------------------------------------

async function start() {
  const match = location.hash.match(/^#k=([A-Za-z0-9_-]+)$/);
  if (match) {
    history.replaceState(null, "", location.pathname);  // the secret leaves the address bar
    try { await api("POST", "/api/session", { token: match[1] }); } catch (e) { /* cookie may exist */ }
  }
  let status;
  try {
    status = await api("GET", "/api/state");
  } catch (e) {
    notice("This page is not connected to your Sottovoce app. Open the link `sottovoce app` printed.");
    return;
  }
  show(status);
}

function show(status) {
  notice("");
  $("auth").hidden = status.status === "open";
  $("signup-form").hidden = status.status !== "new";
  $("signin-form").hidden = status.status !== "locked";
  $("workspace").hidden = status.status !== "open";
  $("search-form").hidden = status.status !== "open";
  $("signout").hidden = status.status !== "open";
  if (status.status === "new") {
    if (status.server) $("su-server").value = status.server;
    $("su-server").value ? $("su-app").focus() : $("su-server").focus();
  } else if (status.status === "locked") {
    $("si-pass").focus();
  } else {
    state.me = status.address;
    $("whoami").textContent = `${status.address} · device ${status.device_id}`;
    connect();
    refreshList();
    $("new-peer").focus();
  }
}

function busy(form, on) {
  for (const control of form.elements) control.disabled = on;
}

$("signup-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const body = Object.fromEntries(new FormData(form));
  busy(form, true);
  try {
    await api("POST", "/api/signup", body);
    show(await api("GET", "/api/state"));
  } catch (e) { notice(e.message); } finally { busy(form, false); }
});

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  busy(form, true);
  try {
    await api("POST", "/api/signin", { passphrase: $("si-pass").value });
    $("si-pass").value = "";
    show(await api("GET", "/api/state"));
  } catch (e) { notice(e.message); } finally { busy(form, false); }
});

$("signout").addEventListener("click", async () => {
  await api("POST", "/api/signout");
  if (state.socket) state.socket.close();
  state.current = null;
  show(await api("GET", "/api/state"));
});

// -- the live feed --------------------------------------------------------------------

function connect() {
  if (state.socket && state.socket.readyState <= 1) return;
  const socket = new WebSocket(`ws://${location.host}/ws`);
  state.socket = socket;
  socket.onopen = () => { state.retry = 1000; };
  socket.onmessage = (event) => {
    const data = JSON.parse(event.data);
    if (data.type === "message" || data.type === "changed") {
      refreshList();
      if (state.current === data.conversation) openConversation(data.conversation, false);
    }
  };
  socket.onclose = () => {
    if ($("workspace").hidden) return;
    setTimeout(connect, state.retry);
    state.retry = Math.min(state.retry * 2, 30000);
  };
}

// -- lists ----------------------------------------------------------------------------

function row(title, preview, extra, onOpen, current) {
  const item = el("li");
  const button = el("button", "row");
  button.type = "button";
  button.append(el("span", "title", title));
  if (extra) button.append(" ", extra);
  button.append(el("span", "preview", preview));
  if (current) button.setAttribute("aria-current", "true");
  button.addEventListener("click", onOpen);
  item.append(button);
  return item;
}

async function refreshList() {
  let data;
  try { data = await api("GET", "/api/conversations"); } catch (e) { notice(e.message); return; }
  const list = $("conversations");
  list.replaceChildren();
  for (const c of data.conversations) {
    let badge = null;
    if (c.unread) {
      badge = el("span", "badge", String(c.unread));
      badge.setAttribute("aria-label", `${c.unread} unread`);
    }
    const preview = c.last_text ? `${when(c.ts)} · ${c.last_text}` : "no messages yet";
    list.append(row(c.title, preview, badge, () => openConversation(c.id, true), c.id === state.current));
  }
  if (!data.conversations.length) list.append(el("li", "empty", "No chats yet."));
  const requests = $("requests");
  requests.replaceChildren();
  for (const r of data.requests) {
    const count = el("span", "badge", String(r.messages));
    count.setAttribute("aria-label", `${r.messages} messages`);
    requests.append(row(r.id, `${when(r.ts)} · ${r.last_text}`, count, () => openConversation(r.id, true), r.id === state.current));
  }
  if (!data.requests.length) requests.append(el("li", "empty", "None."));
  $("request-count").hidden = !data.requests.length;
  $("request-count").textContent = String(data.requests.length);
  if (data.identity_changes.length) {
    notice(`The identity key of ${data.identity_changes.join(", ")} changed. Check it with them before trusting it.`);
  }
}

$("new-chat").addEventListener("submit", (event) => {
  event.preventDefault();
  const peer = $("new-peer").value.trim();
  if (!peer) return;
  $("new-peer").value = "";
  openConversation(peer, true);
});

// -- the conversation -----------------------------------------------------------------

function messageItem(m) {
  const item = el("li", `msg ${m.direction}`);
  item.dataset.id = m.id;
  const meta = el("span", "meta");
  const who = m.direction === "out" ? "You" : m.sender;
  meta.textContent = `${who} · ${when(m.ts)}${m.forwarded ? " · forwarded" : ""}`;
  if (m.direction === "out") {
    const status = el("span", "state", ` · ${m.state}`);
    status.dataset.state = m.state;
    meta.append(status);
  }
  item.append(meta, el("span", "body", m.text));
  return item;
}

async function openConversation(id, focus) {
  let data;
  try {
    data = await api("GET", `/api/conversations/${encodeURIComponent(id)}/messages`);
  } catch (e) { notice(e.message); return; }
  const switched = state.current !== data.id;
  state.current = data.id;
  $("empty").hidden = true;
  $("view").hidden = false;
  $("view-title").textContent = data.kind === "group"
    ? `${data.id} (${data.members.length} members)` : data.id;
  const banner = $("banner");
  banner.hidden = !data.identity_changed;
  banner.textContent = data.identity_changed
    ? `The identity key of ${data.id} has changed. Messages are held until you check it with them.` : "";
  $("request-bar").hidden = !data.request;
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.replaceChildren(...data.messages.map(messageItem));
  if (switched || atBottom) list.scrollTop = list.scrollHeight;
  if (switched) refreshList();
  if (focus) $("compose").focus();
}

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const box = $("compose");
  const text = box.value;
  if (!text.trim() || !state.current) return;
  const conversation = state.current;
  const pending = messageItem({ id: "", direction: "out", sender: state.me, text, ts: Date.now(), state: "sending" });
  $("messages").append(pending);
  $("messages").scrollTop = $("messages").scrollHeight;
  box.value = "";
  try {
    await api("POST", `/api/conversations/${encodeURIComponent(conversation)}/messages`, { text });
    if (state.current === conversation) openConversation(conversation, false);
  } catch (e) {
    pending.querySelector(".state").textContent = " · not sent";
    box.value = text;
    notice(e.message);
  }
});

$("compose").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});

$("request-bar").addEventListener("click", async (event) => {
  const action = event.target.dataset && event.target.dataset.request;
  if (!action || !state.current) return;
  try {
    await api("POST", `/api/requests/${encodeURIComponent(state.current)}/${action}`);
    if (action === "accept") openConversation(state.current, true);
    else { state.current = null; $("view").hidden = true; $("empty").hidden = false; }
    refreshList();
  } catch (e) { notice(e.message); }
});

// -- search ---------------------------------------------------------------------------

$("search-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const q = $("search-input").value.trim();
  const section = $("search-results");
  if (!q) { section.hidden = true; return; }
  let data;
  try { data = await api("GET", `/api/search?q=${encodeURIComponent(q)}`); } catch (e) { notice(e.message); return; }
  const hits = $("hits");
  hits.replaceChildren();
  for (const h of data.hits) {
    hits.append(row(h.conversation, `${when(h.ts)} · ${h.sender}: ${h.text}`, null, () => openConversation(h.conversation, true)));
  }
  if (!data.hits.length) hits.append(el("li", "empty", "Nothing found on this device."));
  section.hidden = false;
  const first = hits.querySelector("button");
  if (first) first.focus();
});

start();
