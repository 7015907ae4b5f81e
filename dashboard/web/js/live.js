// The one WebSocket of this tab. It carries every event of the stream;
// pages subscribe to what they show. After a disconnect it reconnects
// with since=<last seq + 1>, so the server replays what happened
// meanwhile and nothing is missed. While it is down, pages that asked
// for it are refreshed every POLL_MS (never faster): the fallback when a
// proxy blocks WebSockets.
//
// The token travels as a WebSocket subprotocol (browsers cannot set
// headers on a WebSocket, and a token in a URL ends up in logs); the
// server answers with the plain protocol name.

import { config } from './config.js';
import { session } from './session.js';
import { metrics } from './metrics.js';

const PROTOCOL = 'provisioning.v1';
const BEARER = 'base64url.bearer.provisioning.';
export const POLL_MS = 5000;
const RECENT = 200;

let ws = null;
let state = 'off';
let lastSeq = 0;
let failures = 0;
let retryTimer = null;
let pollTimer = null;
let retryAt = 0;
const subscribers = new Set();
const stateListeners = new Set();
const pollers = new Set();
const recent = [];
let recentStart = 0;

function b64url(s) {
  const bytes = new TextEncoder().encode(s);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function setState(s) {
  state = s;
  for (const fn of stateListeners) fn(s);
}

function remember(frame) {
  if (recent.length < RECENT) recent.push(frame);
  else { recent[recentStart] = frame; recentStart = (recentStart + 1) % RECENT; }
}

function deliver(frame) {
  if (typeof frame.seq !== 'number' || frame.seq <= lastSeq) return;
  lastSeq = frame.seq;
  metrics.frames++;
  if (frame.event_type.endsWith('StatusChanged')) metrics.statusFrames++;
  remember(frame);
  for (const fn of subscribers) {
    try { fn(frame); } catch (err) { console.error('live subscriber', err); }
  }
}

function connect() {
  clearTimeout(retryTimer);
  const token = session.token();
  if (!token) { setState('off'); return; }
  const url = config.orchestratorURL.replace(/^http/, 'ws') + '/ws' + (lastSeq ? `?since=${lastSeq + 1}` : '');
  setState(failures ? 'reconnecting' : 'connecting');
  const sock = new WebSocket(url, [PROTOCOL, BEARER + b64url(token)]);
  ws = sock;
  sock.onopen = () => {
    if (ws !== sock) return;
    const back = failures > 0;
    failures = 0;
    stopPolling();
    setState('live');
    // What the pages read from the APIs while the socket was down may be
    // stale or an error: they read it once more (the events they missed
    // are replayed besides).
    if (back) for (const fn of pollers) fn();
  };
  sock.onmessage = (ev) => {
    if (ws !== sock) return;
    let frame;
    try { frame = JSON.parse(ev.data); } catch { return; }
    deliver(frame);
  };
  sock.onclose = () => {
    if (ws !== sock) return;
    ws = null;
    if (state === 'off') return;
    failures++;
    metrics.reconnects++;
    // A server that went away for a restart is back within seconds: try
    // again soon, then back off.
    const delay = Math.min(15000, 500 * 2 ** Math.min(failures - 1, 5)) * (1 + Math.random() * 0.2);
    retryAt = Date.now() + delay;
    setState('reconnecting');
    startPolling();
    retryTimer = setTimeout(connect, delay);
    if (failures === 3) checkSession();
  };
}

// checkSession asks the control center whether the token still works: a
// WebSocket refused with 401 looks like any other failed connection.
async function checkSession() {
  try {
    const { cc } = await import('./api.js');
    const user = session.user();
    if (user) await cc.get('/users/' + encodeURIComponent(user.id));
  } catch { /* a 401 signs the page out (api.js) */ }
}

function startPolling() {
  if (pollTimer) return;
  pollTimer = setInterval(() => { for (const fn of pollers) fn(); }, POLL_MS);
}

function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = null;
}

export const live = {
  start() {
    if (ws || state !== 'off') return;
    failures = 0;
    connect();
  },
  // stop closes the socket (sign-out) and forgets the position: the next
  // user starts from now.
  stop() {
    setState('off');
    clearTimeout(retryTimer);
    stopPolling();
    if (ws) { const s = ws; ws = null; s.close(1000, 'signed out'); }
    lastSeq = 0;
    recent.length = 0;
    recentStart = 0;
  },
  // reconnectNow skips the wait of a pending reconnect.
  reconnectNow() { if (!ws && state !== 'off') connect(); },
  subscribe(fn) { subscribers.add(fn); return () => subscribers.delete(fn); },
  onState(fn) { stateListeners.add(fn); fn(state); return () => stateListeners.delete(fn); },
  // onPoll calls fn every POLL_MS while the socket is down, and once when
  // it is back.
  onPoll(fn) { pollers.add(fn); return () => pollers.delete(fn); },
  state: () => state,
  lastSeq: () => lastSeq,
  retryIn: () => Math.max(0, retryAt - Date.now()),
  // recent is the last events this tab received, oldest first.
  recent: () => recent.slice(recentStart).concat(recent.slice(0, recentStart)),
};
