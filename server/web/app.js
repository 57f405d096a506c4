// The Outpost web page: REST for reads and writes, one EventSource for
// live events. The stream resumes after a dropped connection by itself
// (the browser sends Last-Event-ID); a "reset" event says a channel's
// history could not be continued, and the page refetches that channel.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { token: "", user: "", channels: [], cid: "", messages: new Map(), stream: null };

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { "Authorization": "Bearer " + state.token, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = res.status === 204 ? {} : await res.json();
  if (!res.ok) throw new Error(data.message || res.statusText);
  return data;
}

function setStatus(cls, text) {
  const el = $("status");
  el.className = cls;
  el.textContent = text;
}

async function signIn(token) {
  state.token = token.trim();
  const s = await api("POST", "/session"); // sets the cookie /events reads
  state.user = s.user_id;
  sessionStorage.setItem("outpost-token", state.token);
  $("user").textContent = state.user;
  $("signin").hidden = true;
  $("app").hidden = false;
  $("signout").hidden = false;
  const q = await api("POST", "/channels/query", { limit: 32, message_limit: 1 });
  state.channels = q.channels.map((c) => c.channel);
  renderChannels();
  openStream();
  if (state.channels.length > 0) selectChannel(state.channels[0].cid);
}

function renderChannels() {
  const ul = $("channels");
  ul.replaceChildren();
  for (const ch of state.channels) {
    const li = document.createElement("li");
    li.textContent = ch.name || ch.cid;
    li.dataset.cid = ch.cid;
    li.classList.toggle("selected", ch.cid === state.cid);
    li.onclick = () => selectChannel(ch.cid);
    ul.append(li);
  }
}

async function selectChannel(cid) {
  state.cid = cid;
  state.messages = new Map();
  const ch = state.channels.find((c) => c.cid === cid);
  $("channel-name").textContent = ch ? (ch.name || ch.cid) : cid;
  $("send").hidden = false;
  renderChannels();
  renderMessages();
  await refetch(cid);
}

// refetch loads the channel's latest messages and merges them by id with
// what the stream delivered meanwhile.
async function refetch(cid) {
  try {
    const r = await api("GET", "/channels/" + encodeURIComponent(cid) + "/messages?limit=100");
    if (cid !== state.cid) return;
    for (const m of r.messages) upsert(m);
    renderMessages();
  } catch (e) {
    $("error").textContent = "could not load messages: " + e.message;
  }
}

function upsert(m) {
  const old = state.messages.get(m.id);
  if (!old || (m.version || 0) >= (old.version || 0)) state.messages.set(m.id, m);
}

// byServerOrder orders messages as the server does: by the seq of their
// message.new event where the server gives it, else by time, then id.
function byServerOrder(a, b) {
  if (a.seq && b.seq) return a.seq - b.seq;
  const ta = timeKey(a.created_at), tb = timeKey(b.created_at);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

// timeKey makes a server time (RFC 3339 in UTC, trailing zeros of the
// fraction left out) comparable as a string: the fraction padded to 9
// digits. Date would keep milliseconds only.
function timeKey(t) {
  const m = /^(.*?)(?:\.(\d+))?Z$/.exec(t || "");
  if (!m) return t || "";
  return m[1] + "." + (m[2] || "").padEnd(9, "0") + "Z";
}

function renderMessages() {
  const ol = $("messages");
  const list = [...state.messages.values()]
    .filter((m) => !m.deleted_at)
    .sort(byServerOrder);
  ol.replaceChildren(...list.map((m) => {
    const li = document.createElement("li");
    li.dataset.id = m.id;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = m.user_id;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = m.text;
    const when = document.createElement("span");
    when.className = "when";
    when.textContent = new Date(m.created_at).toLocaleTimeString();
    li.append(who, text, when);
    return li;
  }));
  ol.scrollTop = ol.scrollHeight;
}

function openStream() {
  if (state.stream) state.stream.close();
  const params = new URLSearchParams();
  for (const ch of state.channels) params.append("cid", ch.cid);
  const es = new EventSource("/events?" + params);
  state.stream = es;
  setStatus("connecting", "connecting");
  es.onopen = () => setStatus("online", "online");
  es.onerror = () => {
    // The browser reconnects by itself unless the server refused us.
    if (es.readyState === EventSource.CLOSED) setStatus("offline", "offline: sign in again");
    else setStatus("offline", "offline, reconnecting");
  };
  es.onmessage = (e) => {
    const ev = JSON.parse(e.data);
    if (ev.cid !== state.cid) return;
    if (ev.type === "channel.truncated") {
      // Every message before the truncate is gone for good.
      state.messages.clear();
      renderMessages();
      refetch(ev.cid);
      return;
    }
    if (!ev.message) return;
    if (ev.redacted || ev.message.redacted) {
      // Removed for good (a hard delete, a truncate): never shown again.
      state.messages.delete(ev.message.id);
      renderMessages();
    } else if (ev.type === "message.new" || ev.type === "message.updated" ||
        ev.type === "message.deleted" || ev.type === "message.undeleted") {
      upsert(ev.message);
      renderMessages();
    }
  };
  es.addEventListener("reset", (e) => {
    const r = JSON.parse(e.data);
    if (r.cid === state.cid) refetch(r.cid);
  });
  es.addEventListener("inaccessible", (e) => {
    const r = JSON.parse(e.data);
    state.channels = state.channels.filter((c) => c.cid !== r.cid);
    renderChannels();
  });
  es.addEventListener("expired", () => {
    es.close();
    setStatus("offline", "token expired: sign in again");
  });
}

async function send(text) {
  const id = (crypto.randomUUID ? crypto.randomUUID() : Math.random().toString(16).slice(2) + Date.now().toString(16));
  const cid = state.cid;
  const r = await api("POST", "/channels/" + encodeURIComponent(cid) + "/messages", { message: { id, text } });
  if (cid === state.cid) { upsert(r.message); renderMessages(); }
}

async function signOut() {
  if (state.stream) state.stream.close();
  await fetch("/session", { method: "DELETE" });
  sessionStorage.removeItem("outpost-token");
  location.reload();
}

window.addEventListener("DOMContentLoaded", () => {
  $("signin").onsubmit = (e) => {
    e.preventDefault();
    signIn($("token").value).catch((err) => { $("signin-error").textContent = err.message; });
  };
  $("send").onsubmit = (e) => {
    e.preventDefault();
    const input = $("text");
    send(input.value).then(() => { input.value = ""; $("error").textContent = ""; },
      (err) => { $("error").textContent = "not sent: " + err.message; });
  };
  $("signout").onclick = signOut;
  const saved = sessionStorage.getItem("outpost-token");
  if (saved) signIn(saved).catch(() => sessionStorage.removeItem("outpost-token"));
});
