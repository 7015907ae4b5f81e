// The signed-in session: the token and the user, kept in this tab's
// sessionStorage (gone when the tab closes; never localStorage, never a
// cookie, never a URL). The token is refreshed before it expires; tabs
// of this origin that share a token (a tab opened from another copies
// its sessionStorage) hear of the new one over a BroadcastChannel, since
// a refresh revokes the old token.

import { cc } from './api.js';
import { config } from './config.js';

const KEY = 'provisioning.session';
let state = null; // {token, expiresAt, user: {id, username, email, roles}}
let refreshTimer = null;
const listeners = new Set();
const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('provisioning.session') : null;

function claims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part));
  } catch {
    return {};
  }
}

function save() {
  if (state) sessionStorage.setItem(KEY, JSON.stringify(state));
  else sessionStorage.removeItem(KEY);
}

function notify(reason) {
  for (const fn of listeners) fn(reason);
}

function schedule() {
  clearTimeout(refreshTimer);
  if (!state) return;
  const c = claims(state.token);
  const exp = Date.parse(state.expiresAt);
  const lifetime = c.iat && c.exp ? (c.exp - c.iat) * 1000 : 3600e3;
  const at = exp - Math.min(5 * 60e3, lifetime / 5);
  refreshTimer = setTimeout(() => session.refresh().catch(() => {}), Math.max(5e3, at - Date.now()));
}

function set(next, reason) {
  state = next;
  save();
  schedule();
  notify(reason);
}

if (channel) {
  channel.onmessage = (ev) => {
    const m = ev.data || {};
    if (!state || m.old !== state.token) return;
    if (m.type === 'token') set({ ...state, token: m.token, expiresAt: m.expiresAt }, 'refreshed');
    if (m.type === 'logout') set(null, 'signed-out');
  };
}

export const session = {
  token: () => (state ? state.token : ''),
  user: () => (state ? state.user : null),
  signedIn: () => !!state,
  onChange(fn) { listeners.add(fn); return () => listeners.delete(fn); },

  // restore picks up this tab's session after a reload.
  restore() {
    try { state = JSON.parse(sessionStorage.getItem(KEY) || 'null'); } catch { state = null; }
    if (state && !(Date.parse(state.expiresAt) > Date.now() + 5e3)) state = null;
    save();
    schedule();
  },

  async login(username, password, mfaCode) {
    const body = { username, password };
    if (mfaCode) body.mfa_code = mfaCode;
    const { data } = await cc.post('/auth/login', body, { anonymous: true });
    set({ token: data.token, expiresAt: data.expires_at, user: data.user }, 'signed-in');
  },

  // loadUser reads the user's current roles (the token's may be stale:
  // the APIs decide with the current ones).
  async loadUser() {
    if (!state) return;
    const sub = claims(state.token).sub || (state.user && state.user.id);
    const { data } = await cc.get('/users/' + encodeURIComponent(sub));
    state = { ...state, user: { id: data.id, username: data.username, email: data.email, roles: data.roles, mfa_enabled: data.mfa_enabled } };
    save();
    notify('user');
  },

  async refresh() {
    if (!state) return;
    const old = state.token;
    const { data } = await cc.post('/auth/refresh');
    if (!state || state.token !== old) return;
    set({ ...state, token: data.token, expiresAt: data.expires_at }, 'refreshed');
    if (channel) channel.postMessage({ type: 'token', old, token: data.token, expiresAt: data.expires_at });
  },

  // logout revokes the token on the server, then forgets it.
  async logout() {
    if (!state) return;
    const old = state.token;
    try { await cc.post('/auth/logout'); } catch { /* forgotten below either way */ }
    if (channel) channel.postMessage({ type: 'logout', old });
    set(null, 'signed-out');
  },

  // expired is called on a 401: the token is no longer good.
  expired() {
    if (state) set(null, 'expired');
  },

  // can says whether one of the user's roles grants action on kind. The
  // APIs decide for real (policies may allow more or deny some): the page
  // only leaves out what the roles do not offer.
  can(kind, action) {
    const roles = (state && state.user && state.user.roles) || [];
    return roles.some(r => (config.roles[r] || []).includes(kind + ':' + action));
  },

  // isSelf says whether id is the signed-in user.
  isSelf(id) {
    return !!(state && state.user && state.user.id === id);
  },
};
