// The chat app's page. It holds no keys: everything goes through the local process's
// API (same origin, session cookie). Text from other people is only ever set with
// textContent, never parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { me: null, current: null, socket: null, retry: 500, missed: false };

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
  $("restore-form").hidden = status.status !== "new";
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
    state.maxAttachment = status.max_attachment_bytes;
    $("whoami").textContent = `${status.address} · device ${status.device_id}`;
    connect();
    refreshList();
    announcePendingUploads().catch(() => {});
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

$("restore-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const file = $("rs-file").files[0];
  if (!file) return;
  busy(form, true);
  try {
    const response = await fetch("/api/restore", {
      method: "POST", credentials: "same-origin", body: file,
      headers: { "X-Recovery-Passphrase": $("rs-pass").value },
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || "restore failed");
    $("rs-pass").value = "";
    show(await api("GET", "/api/state"));
    notice("Restored. Unlock the profile with its usual passphrase.");
  } catch (e) { notice(e.message); } finally { busy(form, false); }
});

$("backup-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  if ($("bk-pass").value !== $("bk-pass2").value) { notice("The two passphrases differ."); return; }
  busy(form, true);
  try {
    const response = await fetch("/api/backup", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ passphrase: $("bk-pass").value }),
    });
    if (!response.ok) {
      const data = await response.json().catch(() => ({}));
      throw new Error(data.error || "backup failed");
    }
    const url = URL.createObjectURL(await response.blob());
    const link = el("a");
    link.href = url;
    link.download = `${state.me.replace("@", "-at-")}.svbackup`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    $("bk-pass").value = $("bk-pass2").value = "";
    notice("");
  } catch (e) { notice(e.message); } finally { busy(form, false); }
});

$("signout").addEventListener("click", async () => {
  await api("POST", "/api/signout");
  const socket = state.socket;
  state.socket = null;
  state.missed = false;
  if (socket) socket.close();
  state.current = null;
  show(await api("GET", "/api/state"));
});

// -- the live feed --------------------------------------------------------------------

// Any closed socket may have missed events: the process closes a tab's socket with
// FELL_BEHIND (4001) when its queue overflowed, and a tab asleep or a process
// restarted loses some too. So the tab reconnects, with backoff and jitter, and
// once connected again re-reads everything it shows.
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30000;
const STABLE_MS = 10000;  // open this long before the backoff starts over

function connect() {
  if (state.socket && state.socket.readyState <= 1) return;
  const socket = new WebSocket(`ws://${location.host}/ws`);
  state.socket = socket;
  let stable = null;
  socket.onopen = () => {
    stable = setTimeout(() => { state.retry = RETRY_MIN_MS; }, STABLE_MS);
    if (state.missed) { state.missed = false; resync(); }
  };
  socket.onmessage = async (event) => {
    const data = JSON.parse(event.data);
    if (data.type === "download") {
      const bar = document.querySelector(`progress[data-download="${CSS.escape(data.message_id)}"]`);
      // Never backwards: the download's answer may have filled the bar before the
      // feed's last events arrive on this socket.
      if (bar) { bar.max = data.total; bar.value = Math.max(bar.value, data.done); bar.hidden = false; }
      return;
    }
    if (data.type === "alerts") { refreshAlerts(); return; }
    if (data.type === "typing") {
      // In a group the event names the member who types.
      if (state.current === data.conversation) showTyping(data.member || data.conversation, data.started);
      return;
    }
    if (data.type === "message" && state.current === data.conversation) showTyping(data.conversation, false);
    if (data.type === "message" || data.type === "changed" || data.type === "expired") {
      redraw(data.conversation);
    }
  };
  socket.onclose = () => {
    clearTimeout(stable);
    if (state.socket !== socket) return;  // signed out, or already replaced
    state.missed = true;
    if ($("workspace").hidden) return;
    setTimeout(connect, state.retry * (0.5 + Math.random() / 2));
    state.retry = Math.min(state.retry * 2, RETRY_MAX_MS);
  };
}

// Conversations events said changed, re-read one round at a time: a burst of events
// (hundreds of messages fetched at once) costs a round or two, not a re-read each.
const changed = new Set();
let redrawing = false;
async function redraw(conversation) {
  changed.add(conversation);
  if (redrawing) return;
  redrawing = true;
  try {
    while (changed.size) {
      const round = new Set(changed);
      changed.clear();
      // The open conversation is read first, so the list shows it as read.
      if (state.current && round.has(state.current)) await openConversation(state.current, false);
      await refreshList();
    }
  } finally { redrawing = false; }
}

// What the tab shows, read again: the chats and requests (groups among them, and
// the alerts), the open conversation with its members, and the devices if shown.
async function resync() {
  await refreshList();
  if (state.current) await openConversation(state.current, false);
  if ($("devices-panel").open) await refreshDevices();
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
    const count = r.unread ? el("span", "badge", String(r.unread)) : null;
    if (count) count.setAttribute("aria-label", `${r.unread} unread`);
    requests.append(row(r.id, `${when(r.ts)} · ${r.last_text}`, count, () => openConversation(r.id, true), r.id === state.current));
  }
  if (!data.requests.length) requests.append(el("li", "empty", "None."));
  $("request-count").hidden = !data.requests.length;
  $("request-count").textContent = String(data.requests.length);
  refreshAlerts();
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
  item.append(meta);
  if (m.receipts && m.receipts.length) item.append(receiptsView(m.receipts));
  if (m.quote) {
    const quote = el("blockquote", "quote");
    quote.append(el("span", "who", m.quote.author === state.me ? "You" : m.quote.author), el("span", "", m.quote.text));
    item.append(quote);
  }
  if (m.attachment) item.append(attachmentView(m));
  if (m.text) item.append(el("span", "body", m.text));
  if (m.id) {
    const actions = el("div", "actions");
    const action = (label, description, run) => {
      const button = el("button", "quiet", label);
      button.type = "button";
      button.setAttribute("aria-label", description);
      button.addEventListener("click", run);
      actions.append(button);
    };
    action("Reply", "Reply to this message", () => startReply(m));
    if (m.direction === "in") {
      action("Report", `Report this message from ${m.sender}`, () => openReport(m.id));
    }
    action("Delete for me", "Delete this message on this device", () => deleteMessage(m.id, false));
    if (m.direction === "out" && Date.now() - m.ts < 24 * 3600 * 1000) {
      action("Delete for everyone", "Delete this message for everyone", () => deleteMessage(m.id, true));
    }
    item.append(actions);
  }
  if (m.expires) {
    const left = el("span", "expires", `disappears ${when(m.expires)}`);
    left.dataset.expires = String(m.expires);
    item.append(left);
  }
  return item;
}

// A group message's receipts, per member: who read it, who has it, who not yet.
function receiptsView(receipts) {
  const box = el("p", "receipts");
  const named = (wanted) => receipts.filter((r) => r.state === wanted).map((r) => r.member);
  const parts = [["Read by", named("read")], ["Delivered to", named("delivered")], ["Not yet delivered to", named("sent")]];
  box.textContent = parts.filter(([, who]) => who.length).map(([label, who]) => `${label} ${who.join(", ")}`).join(" · ");
  for (const r of receipts) box.dataset[r.state] = `${box.dataset[r.state] || ""} ${r.member}`.trim();
  return box;
}

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1048576) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

function attachmentView(m) {
  const a = m.attachment;
  const box = el("div", "file");
  const url = `/api/attachments/${encodeURIComponent(m.id)}/content`;
  let preview = null;
  if (a.image && (a.downloaded || m.direction === "out")) {
    preview = el("img");
    preview.src = url;
  } else if (a.thumbnail) {
    preview = el("img");
    preview.src = a.thumbnail;
  }
  if (preview) { preview.alt = a.name; preview.className = "preview"; box.append(preview); }
  if (a.downloaded || m.direction === "out") {
    // No progress bar here: a download's late progress event would show one again,
    // part full, under the finished file.
    const link = el("a", "download", `${a.name} (${size(a.size)})`);
    link.href = url;
    link.download = a.name;
    box.append(link);
  } else {
    const bar = el("progress");
    bar.dataset.download = m.id;
    bar.hidden = true;
    bar.setAttribute("aria-label", `Downloading ${a.name}`);
    const button = el("button", "quiet", `${a.image ? "Show" : "Download"} ${a.name} (${size(a.size)})`);
    button.type = "button";
    button.addEventListener("click", async () => {
      button.disabled = true;
      bar.hidden = false;
      try {
        await api("POST", `/api/attachments/${encodeURIComponent(m.id)}/download`);
        // Done: full now, though the feed's last progress event may come after this.
        // The bar on the page now: a redraw meanwhile replaced the one built here.
        const shown = document.querySelector(`progress[data-download="${CSS.escape(m.id)}"]`) || bar;
        shown.value = shown.max;
        openConversation(state.current, false);
      } catch (e) { notice(e.message); button.disabled = false; }
    });
    box.append(button, bar);
  }
  return box;
}

// A small JPEG the recipient sees before downloading (drawn here: no image library
// in the process, and the file never leaves this machine unencrypted).
async function thumbnailOf(file) {
  if (!/^image\/(png|jpeg|gif|webp)$/.test(file.type)) return null;
  try {
    const bitmap = await createImageBitmap(file);
    for (const edge of [160, 96, 64]) {
      const scale = Math.min(1, edge / Math.max(bitmap.width, bitmap.height));
      const canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(bitmap.width * scale));
      canvas.height = Math.max(1, Math.round(bitmap.height * scale));
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      const url = canvas.toDataURL("image/jpeg", 0.6);
      if (url.length <= 16384) return url;
    }
  } catch (e) { /* not decodable here: no thumbnail */ }
  return null;
}

// An upload an earlier run of the app did not finish (it was closed or crashed)
// goes on when the same file is attached again: same name and size, and the app
// checks it is the same file before sending the rest.
async function pendingUploadOf(file) {
  const { pending } = await api("GET", "/api/uploads/pending");
  return pending.find((u) => u.name === file.name && u.size === file.size) || null;
}

async function announcePendingUploads() {
  const { pending } = await api("GET", "/api/uploads/pending");
  if (!pending.length) return;
  const list = pending.map((u) => `${u.name} (${Math.round(u.done * 100)} %)`).join(", ");
  notice(`Unfinished upload: ${list}. Attach the same file again to continue it.`);
}

function uploadFile(file, bar, resume) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    let query = `name=${encodeURIComponent(file.name)}&size=${file.size}&type=${encodeURIComponent(file.type || "application/octet-stream")}`;
    if (resume) query += `&resume=${encodeURIComponent(resume)}`;
    request.open("POST", `/api/uploads?${query}`);
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) { bar.max = event.total; bar.value = event.loaded; }
    };
    request.onload = () => {
      let data = {};
      try { data = JSON.parse(request.responseText); } catch (e) { /* shown below */ }
      if (request.status === 200) resolve(data);
      else reject(new Error(data.error || `upload failed (${request.status})`));
    };
    request.onerror = () => reject(new Error("the upload was interrupted"));
    request.send(file);
  });
}

// -- the message list -----------------------------------------------------------------
// A conversation can hold tens of thousands of messages, so only the rows near the
// visible window are in the page; two spacers stand for the others, as tall as those
// rows were when last drawn (estimated until drawn once). Older pages are read from
// the local process as the view nears the top; what the reader sees stays in place
// when rows are added above it, and the view follows new messages while at the bottom.

const ROW_ESTIMATE = 64;  // px for a row not drawn yet
const ROW_GAP = 6;  // px between rows: .messages .msg margin-bottom
const OVERSCAN = 800;  // px of rows drawn above and below the window
const PAGE = 200;  // messages per older page while scrolling
const JUMP_PAGE = 500;  // per page when jumping to the first message (the API's most)

const view = {
  msgs: [], heights: new Map(), nodes: new Map(), older: null, loading: null,
  stick: true, frame: 0, pending: 0, above: spacer(), below: spacer(),
};
const rowResize = new ResizeObserver(() => scheduleRender());

function ingest(m) {
  m.key = m.id || `pending:${++view.pending}`;
  return m;
}

function scheduleRender() {
  if (!view.frame) view.frame = requestAnimationFrame(() => { view.frame = 0; renderMessages(0); });
}

function rowHeight(m) {
  return (view.heights.get(m.key) ?? ROW_ESTIMATE) + ROW_GAP;
}

function spacer() {
  const item = el("li", "spacer");
  item.setAttribute("aria-hidden", "true");
  return item;
}

// Puts rows between the spacers, moving no row that stays (a focused button keeps focus).
function placeRows(list, rows) {
  if (list.firstChild !== view.above || list.lastChild !== view.below) list.replaceChildren(view.above, view.below);
  const keep = new Set(rows);
  for (const child of [...list.children]) {
    if (child !== view.above && child !== view.below && !keep.has(child)) child.remove();
  }
  let next = view.above.nextSibling;
  for (const node of rows) {
    if (node === next) next = next.nextSibling;
    else list.insertBefore(node, next);
  }
}

// Draws the rows around scrollTop + shift (shift: the height just added above).
function renderMessages(shift) {
  const list = $("messages");
  const msgs = view.msgs;
  const top = list.scrollTop + shift;
  const offsets = new Array(msgs.length + 1);
  offsets[0] = 0;
  for (let i = 0; i < msgs.length; i++) offsets[i + 1] = offsets[i] + rowHeight(msgs[i]);
  const total = offsets[msgs.length];
  const low = view.stick ? total - list.clientHeight - OVERSCAN : top - OVERSCAN;
  const high = view.stick ? total : top + list.clientHeight + OVERSCAN;
  let first = 0;
  while (first < msgs.length && offsets[first + 1] < low) first++;
  let last = first;
  while (last < msgs.length && offsets[last] <= high) last++;
  // The row kept in place: the first visible one already measured (rows drawn for the
  // first time around it are estimates, so only a known row stays where it was seen).
  let anchor = first;
  while (anchor < last && offsets[anchor + 1] <= top) anchor++;
  let measured = anchor;
  while (measured < last && !view.heights.has(msgs[measured].key)) measured++;
  if (measured < last) anchor = measured;
  const nodes = new Map();
  const rows = [];
  const size = view.older === null ? String(msgs.length) : "-1";
  for (let i = first; i < last; i++) {
    const m = msgs[i];
    const known = view.nodes.get(m.key);
    const node = known && known.m === m ? known.node : messageItem(m);
    if (node !== (known && known.node)) rowResize.observe(node);
    node.setAttribute("aria-setsize", size);
    node.setAttribute("aria-posinset", view.older === null ? String(i + 1) : "-1");
    nodes.set(m.key, { m, node });
    rows.push(node);
  }
  for (const [key, known] of view.nodes) {
    if (!nodes.has(key) || nodes.get(key).node !== known.node) rowResize.unobserve(known.node);
  }
  view.nodes = nodes;
  view.above.style.height = `${offsets[first]}px`;
  view.below.style.height = `${total - offsets[last]}px`;
  placeRows(list, rows);
  if (shift) list.scrollTop = top;
  let moved = 0;  // how much rows above the anchor grew when measured
  let changed = false;
  for (let i = first; i < last; i++) {
    const key = msgs[i].key;
    const height = rows[i - first].getBoundingClientRect().height;
    const before = view.heights.get(key) ?? ROW_ESTIMATE;
    if (height !== before) {
      changed = true;
      if (i < anchor) moved += height - before;
      view.heights.set(key, height);
    }
  }
  if (view.stick) list.scrollTop = list.scrollHeight;
  else if (moved) list.scrollTop += moved;
  if (changed) scheduleRender();  // the window may now cover more or fewer rows
  if (!view.stick && list.scrollTop < OVERSCAN && view.older !== null) loadOlder(PAGE);
}

// Reads the page before the oldest row held; true when one was added.
function loadOlder(limit) {
  if (view.loading) return view.loading;
  if (view.older === null) return Promise.resolve(false);
  const conversation = state.current;
  const path = `/api/conversations/${encodeURIComponent(conversation)}/messages?before=${view.older}&limit=${limit}`;
  view.loading = api("GET", path).then((data) => {
    if (state.current !== conversation) return false;
    const added = data.messages.map(ingest);
    view.msgs = added.concat(view.msgs);
    view.older = data.older;
    renderMessages(added.reduce((sum, m) => sum + rowHeight(m), 0));
    return true;
  }).catch((e) => { notice(e.message); return false; }).finally(() => { view.loading = null; });
  return view.loading;
}

// Shows the latest page: a fresh list for a newly opened conversation, else it
// replaces the rows from the page's first message on and keeps the older ones read.
function showLatest(data, switched) {
  const list = $("messages");
  const page = data.messages.map(ingest);
  const at = switched || !page.length ? -1 : view.msgs.findIndex((m) => m.key === page[0].key);
  if (at === -1) {
    view.msgs = page;
    view.older = data.older ?? null;
    if (switched) view.heights.clear();
  } else {
    view.msgs = view.msgs.slice(0, at).concat(page);
  }
  if (switched) view.stick = true;
  else view.stick = view.stick || list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  renderMessages(0);
}

async function jumpToFirst() {
  const list = $("messages");
  view.stick = false;
  while (view.older !== null && (await loadOlder(JUMP_PAGE)));
  view.stick = false;
  list.scrollTop = 0;
  renderMessages(0);
}

function jumpToLast() {
  view.stick = true;
  renderMessages(0);
}

$("messages").addEventListener("scroll", () => {
  const list = $("messages");
  view.stick = list.scrollHeight - list.scrollTop - list.clientHeight < 4;
  scheduleRender();
});
new ResizeObserver(() => scheduleRender()).observe($("messages"));

$("messages").addEventListener("keydown", (event) => {
  const list = $("messages");
  if (event.target.closest("button, a, input, textarea")) return;
  const step = Math.max(40, list.clientHeight * 0.9);
  if (event.key === "PageUp") list.scrollTop -= step;
  else if (event.key === "PageDown") list.scrollTop += step;
  else if (event.key === "ArrowUp") list.scrollTop -= 40;
  else if (event.key === "ArrowDown") list.scrollTop += 40;
  else if (event.key === "Home") jumpToFirst();
  else if (event.key === "End") jumpToLast();
  else return;
  event.preventDefault();
});

async function openConversation(id, focus) {
  const refreshing = state.current === id;
  let data;
  try {
    data = await api("GET", `/api/conversations/${encodeURIComponent(id)}/messages`);
  } catch (e) { notice(e.message); return; }
  // Closed (blocked, left, deleted) or switched while this re-read was under way.
  if (refreshing && state.current !== id) return;
  const switched = state.current !== data.id;
  if (switched) { cancelReply(); showTyping("", false); }
  state.current = data.id;
  state.kind = data.kind;
  $("empty").hidden = true;
  $("view").hidden = false;
  $("view-title").textContent = data.kind === "group"
    ? `${data.id} (${data.members.length} members)` : data.id;
  if (switched) state.lapsed = null;
  const lapsed = state.lapsed === data.id;
  const banner = $("banner");
  banner.hidden = !data.identity_changed && !lapsed;
  banner.textContent = data.identity_changed
    ? `The identity key of ${data.id} has changed. Messages are held until you check it with them.`
    : lapsed ? `The safety number with ${data.id} has changed: their key or devices are not the ones you verified. Sending waits until you compare it again (Verify safety number).` : "";
  $("request-bar").hidden = !data.request;
  $("request-bar").querySelector("p").textContent = data.kind === "group"
    ? `${data.invited_by || "Someone"} added you to this group. Its messages stay hidden until you accept; decline leaves it.`
    : "This person is not in your chats. Reply or accept to let them know you read it.";
  $("direct-tools").hidden = Boolean(data.request && data.kind === "group");
  $("direct-actions").hidden = data.kind !== "direct" || data.request;
  $("group-tools").hidden = data.kind !== "group" || data.request;
  $("composer").hidden = Boolean(data.request && data.kind === "group");
  if (data.kind === "direct") {
    $("verified-state").textContent = lapsed ? "Safety number changed" : data.verified ? "Verified" : "Not verified";
    $("verified-state").className = data.verified && !lapsed ? "verified" : "unverified";
    if (switched && data.verified) checkLapsed(data.id);
  } else if (!data.request) {
    showMembers(data.id.slice(1));
  }
  $("timer").value = String(data.timer || 0);
  showLatest(data, switched);
  if (switched) refreshList();
  if (focus) $("compose").focus();
}

// A verified contact whose key or devices changed since: said before sending is refused.
async function checkLapsed(peer) {
  let data;
  try { data = await api("GET", `/api/verify/${encodeURIComponent(peer)}/lapsed`); } catch (e) { return; }
  const was = state.lapsed === peer;
  if (data.lapsed) state.lapsed = peer;
  else if (was) state.lapsed = null;
  if (state.current === peer && was !== data.lapsed) openConversation(peer, false);
}

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const box = $("compose");
  const text = box.value;
  const file = $("file").files[0];
  clearTimeout(typingStop);
  typingSentTo = null;  // a sent message ends typing for the recipient
  if ((!text.trim() && !file) || !state.current) return;
  const conversation = state.current;
  const pending = ingest({ id: "", direction: "out", sender: state.me, text: text || (file && file.name), ts: Date.now(), state: "sending" });
  view.msgs.push(pending);
  jumpToLast();
  box.value = "";
  try {
    let upload = null;
    if (file) {
      const bar = $("upload-progress");
      bar.hidden = false;
      const unfinished = await pendingUploadOf(file);
      const done = await uploadFile(file, bar, unfinished && unfinished.id);
      upload = done.upload;
      const thumb = await thumbnailOf(file);
      if (thumb) await api("PUT", `/api/uploads/${upload}/thumbnail`, { thumbnail: thumb });
      bar.hidden = true;
      $("file").value = "";
    }
    const replyTo = state.replyTo;
    cancelReply();
    await api("POST", `/api/conversations/${encodeURIComponent(conversation)}/messages`, { text, upload, reply_to: replyTo });
    if (state.current === conversation) openConversation(conversation, false);
  } catch (e) {
    const at = view.msgs.indexOf(pending);
    if (at !== -1) { view.msgs[at] = { ...pending, state: "not sent" }; renderMessages(0); }
    box.value = text;
    notice(e.message);
    if (e.status === 409 && state.kind === "direct") checkLapsed(conversation);
  }
});

// A file over the limit is refused when chosen, before any of it is read or sent.
$("file").addEventListener("change", () => {
  const file = $("file").files[0];
  if (file && file.size > state.maxAttachment) {
    $("file").value = "";
    notice(`${file.name} is ${size(file.size)}: attachments are at most ${size(state.maxAttachment)}.`);
  }
});

$("timer").addEventListener("change", async () => {
  if (!state.current) return;
  try {
    await api("POST", `/api/conversations/${encodeURIComponent(state.current)}/timer`, { seconds: Number($("timer").value) });
  } catch (e) { notice(e.message); }
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

// -- groups ---------------------------------------------------------------------------

$("new-group").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("group-name").value.trim();
  if (!name) return;
  try {
    const made = await api("POST", "/api/groups", { name });
    $("group-name").value = "";
    await refreshList();
    openConversation(made.id, true);
  } catch (e) { notice(e.message); }
});

async function showMembers(name) {
  let data;
  try { data = await api("GET", `/api/groups/${encodeURIComponent(name)}/members`); } catch (e) { notice(e.message); return; }
  const list = $("members");
  list.replaceChildren();
  for (const m of data.members) {
    const item = el("li");
    item.append(el("span", "title", m.you ? `${m.address} (you)` : m.address));
    if (!m.you) {
      item.append(el("span", m.verified ? "verified" : "unverified", m.verified ? "Verified" : "Not verified"));
      const remove = el("button", "quiet", "Remove");
      remove.type = "button";
      remove.setAttribute("aria-label", `Remove ${m.address} from the group`);
      remove.addEventListener("click", async () => {
        try {
          await api("DELETE", `/api/groups/${encodeURIComponent(name)}/members/${encodeURIComponent(m.address)}`);
          showMembers(name);
        } catch (e) { notice(e.message); }
      });
      item.append(remove);
    }
    list.append(item);
  }
}

$("add-member").addEventListener("submit", async (event) => {
  event.preventDefault();
  const address = $("member-address").value.trim();
  if (!address || !state.current) return;
  const name = state.current.slice(1);
  try {
    await api("POST", `/api/groups/${encodeURIComponent(name)}/members`, { address });
    $("member-address").value = "";
    showMembers(name);
  } catch (e) { notice(e.message); }
});

$("leave-button").addEventListener("click", async () => {
  if (!state.current) return;
  try {
    await api("POST", `/api/groups/${encodeURIComponent(state.current.slice(1))}/leave`);
    state.current = null; $("view").hidden = true; $("empty").hidden = false;
    refreshList();
  } catch (e) { notice(e.message); }
});

// -- verification, blocking, reports ---------------------------------------------------

let shownDigits = "";
$("verify-button").addEventListener("click", async () => {
  if (!state.current) return;
  let data;
  try { data = await api("GET", `/api/verify/${encodeURIComponent(state.current)}`); } catch (e) { notice(e.message); return; }
  shownDigits = data.groups.join("");
  $("safety-digits").textContent = data.groups.join(" ");
  $("safety-qr").src = data.qr;
  $("mark-verified").hidden = data.verified;
  $("verify-dialog").showModal();
  $("mark-verified").hidden ? $("close-verify").focus() : $("mark-verified").focus();
});
$("close-verify").addEventListener("click", () => $("verify-dialog").close());
$("mark-verified").addEventListener("click", async () => {
  try {
    await api("POST", `/api/verify/${encodeURIComponent(state.current)}`, { digits: shownDigits });
    $("verify-dialog").close();
    state.lapsed = null;
    openConversation(state.current, false);
  } catch (e) { $("verify-dialog").close(); notice(e.message); }
});

async function block(report) {
  if (!state.current) return;
  const what = report ? "Block and report" : "Block";
  if (!confirm(`${what} ${state.current}? You will not receive their messages.`)) return;
  try {
    await api("POST", `/api/block/${encodeURIComponent(state.current)}`, { report });
    notice(`${state.current} is blocked.`);
    state.current = null; $("view").hidden = true; $("empty").hidden = false;
    refreshList();
  } catch (e) { notice(e.message); }
}
$("block-button").addEventListener("click", () => block(false));
$("block-report-button").addEventListener("click", () => block(true));

function startReply(m) {
  state.replyTo = m.id;
  $("replying-text").textContent = `Replying to ${m.direction === "out" ? "yourself" : m.sender}: ${m.text.slice(0, 80)}`;
  $("replying").hidden = false;
  $("compose").focus();
}
function cancelReply() {
  state.replyTo = null;
  $("replying").hidden = true;
}
$("cancel-reply").addEventListener("click", () => { cancelReply(); $("compose").focus(); });

async function deleteMessage(id, everyone) {
  const question = everyone
    ? "Delete this message for everyone? Their devices remove it; a copy they saved elsewhere stays."
    : "Delete this message from this device?";
  if (!confirm(question)) return;
  try {
    await api("POST", `/api/conversations/${encodeURIComponent(state.current)}/messages/${encodeURIComponent(id)}/delete`, { everyone });
    view.msgs = view.msgs.filter((m) => m.id !== id);  // it may be older than the latest page
    openConversation(state.current, false);
  } catch (e) { notice(e.message); }
}

let reporting = null;
function openReport(id) {
  reporting = id;
  $("report-reason").value = "";
  $("report-dialog").showModal();
  $("report-reason").focus();
}
$("close-report").addEventListener("click", () => $("report-dialog").close());
$("report-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const reason = $("report-reason").value.trim();
  if (!reason || !reporting) return;
  $("report-dialog").close();
  try {
    await api("POST", `/api/messages/${encodeURIComponent(reporting)}/report`, { reason });
    notice("Reported. The operator can verify the message was sent to you.");
  } catch (e) { notice(e.message); }
});

// -- security alerts and devices -------------------------------------------------------

async function refreshAlerts() {
  let data;
  try { data = await api("GET", "/api/alerts"); } catch (e) { return; }
  const list = $("alert-list");
  list.replaceChildren(...data.alerts.map((a) => el("li", "", `${a.address}: ${a.detail}`)));
  $("alerts").hidden = !data.alerts.length;
}
$("dismiss-alerts").addEventListener("click", async () => {
  await api("POST", "/api/alerts/dismiss");
  refreshAlerts();
});

async function refreshDevices() {
  let data;
  try { data = await api("GET", "/api/devices"); } catch (e) { notice(e.message); return; }
  const list = $("devices");
  list.replaceChildren();
  for (const d of data.devices) {
    const item = el("li");
    const added = new Date(d.added_day * 86400000).toLocaleDateString();
    item.append(el("span", "title", `Device ${d.id}${d.this_device ? " (this one)" : ""}`), ` · added ${added} · key ${d.identity}`);
    if (!d.this_device) {
      const remove = el("button", "quiet", "Remove");
      remove.type = "button";
      remove.setAttribute("aria-label", `Remove device ${d.id}`);
      remove.addEventListener("click", async () => {
        if (!confirm(`Remove device ${d.id}? It will receive nothing from now on.`)) return;
        try { await api("DELETE", `/api/devices/${d.id}`); refreshDevices(); } catch (e) { notice(e.message); }
      });
      item.append(" ", remove);
    }
    list.append(item);
  }
}
// The boxes stay disabled until the panel has loaded the settings, so a tick is
// never made on a box that still shows its default rather than the setting.
const settingBoxes = () => [$("receipts"), $("typing-setting")];
$("settings-panel").addEventListener("toggle", async () => {
  if (!$("settings-panel").open) return;
  for (const box of settingBoxes()) box.disabled = true;
  try {
    const settings = await api("GET", "/api/settings");
    $("receipts").checked = settings.receipts;
    $("typing-setting").checked = settings.typing;
    for (const box of settingBoxes()) box.disabled = false;
  } catch (e) { notice(e.message); }
});
$("receipts").addEventListener("change", async () => {
  try { await api("POST", "/api/settings", { receipts: $("receipts").checked }); } catch (e) { notice(e.message); }
});
$("typing-setting").addEventListener("change", async () => {
  try { await api("POST", "/api/settings", { typing: $("typing-setting").checked }); } catch (e) { notice(e.message); }
});

// -- typing indicators ----------------------------------------------------------------

let typingHide = null;
function showTyping(peer, started) {
  clearTimeout(typingHide);
  $("typing").textContent = started ? `${peer} is typing…` : "";
  if (started) typingHide = setTimeout(() => { $("typing").textContent = ""; }, 15000);
}

let typingSentTo = null;
let typingStop = null;
function typingTo(peer, started) {
  api("POST", `/api/conversations/${encodeURIComponent(peer)}/typing`, { started }).catch(() => {});
}
$("compose").addEventListener("input", () => {
  if (!state.current) return;
  const peer = state.current;
  if (typingSentTo !== peer) { typingSentTo = peer; typingTo(peer, true); }
  clearTimeout(typingStop);
  typingStop = setTimeout(() => { if (typingSentTo) typingTo(typingSentTo, false); typingSentTo = null; }, 3000);
});

$("devices-panel").addEventListener("toggle", () => { if ($("devices-panel").open) refreshDevices(); });
$("link-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const linked = await api("POST", "/api/devices/link", { code: $("link-code").value });
    $("link-code").value = "";
    notice(`Device ${linked.device_id} is linked.`);
    refreshDevices();
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
