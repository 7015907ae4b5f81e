// The page's routes: paths under /ui/, each a page module loaded on
// demand. A page exports {title, mount(root, ctx)}; mount may return a
// cleanup function, and ctx.signal is aborted when the page is left.

import { h, replace } from './dom.js';
import { session } from './session.js';

const BASE = '/ui';

// routes: need is a [kind, action] the user's roles must grant; any is a
// list of which one suffices. public pages need no session.
export const routes = [
  { path: '/login', load: () => import('./pages/login.js'), public: true },
  { path: '/', nav: 'Overview', load: () => import('./pages/overview.js') },
  { path: '/tasks', nav: 'Tasks', need: ['tasks', 'read'], load: () => import('./pages/tasks.js') },
  { path: '/tasks/:id', need: ['tasks', 'read'], load: () => import('./pages/task.js') },
  { path: '/batches', nav: 'Batches', need: ['batches', 'read'], load: () => import('./pages/batches.js') },
  { path: '/batches/:id', need: ['batches', 'read'], load: () => import('./pages/batch.js') },
  { path: '/submit', nav: 'Submit', any: [['servers', 'create'], ['taskservs', 'create'], ['clusters', 'create'], ['batches', 'create']], load: () => import('./pages/submit.js') },
  { path: '/recovery', nav: 'Recovery', need: ['checkpoints', 'read'], load: () => import('./pages/recovery.js') },
  { path: '/webhooks', nav: 'Webhooks', need: ['webhooks', 'read'], load: () => import('./pages/webhooks.js') },
  { path: '/users', nav: 'Users', need: ['users', 'read'], load: () => import('./pages/users.js') },
  { path: '/policies', nav: 'Policies', need: ['policies', 'read'], load: () => import('./pages/policies.js') },
  { path: '/audit', nav: 'Audit log', need: ['audit', 'read'], load: () => import('./pages/audit.js') },
  { path: '/account', load: () => import('./pages/account.js') },
];

// allowed says whether the signed-in user's roles offer a route.
export function allowed(route) {
  if (route.public) return true;
  if (!session.signedIn()) return false;
  if (route.need) return session.can(...route.need);
  if (route.any) return route.any.some(([k, a]) => session.can(k, a));
  return true;
}

function match(path) {
  const parts = path.split('/').filter(Boolean);
  for (const r of routes) {
    const rp = r.path.split('/').filter(Boolean);
    if (rp.length !== parts.length) continue;
    const params = {};
    let ok = true;
    rp.forEach((p, i) => {
      if (p.startsWith(':')) params[p.slice(1)] = decodeURIComponent(parts[i]);
      else if (p !== parts[i]) ok = false;
    });
    if (ok) return { route: r, params };
  }
  return null;
}

export function href(path) {
  return BASE + path;
}

let current = null; // {cleanup, abort}
const listeners = new Set();

export function onNavigate(fn) { listeners.add(fn); }

// navigate goes to a path of the page (without /ui).
export function navigate(path, { replace: rep = false } = {}) {
  if (rep) history.replaceState(null, '', href(path));
  else history.pushState(null, '', href(path));
  render();
}

// here is the current path without /ui, and its query.
export function here() {
  const p = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) || '/' : '/';
  return { path: p, query: new URLSearchParams(location.search) };
}

export async function render() {
  const main = document.getElementById('main');
  const { path, query } = here();
  if (current) {
    current.abort.abort();
    if (typeof current.cleanup === 'function') current.cleanup();
    current = null;
  }
  for (const fn of listeners) fn(path);
  const m = match(path);
  if (!m) {
    replace(main, h('h1', null, 'Not found'), h('p', null, 'The dashboard has no page at ', h('code', null, location.pathname), '.'));
    return;
  }
  if (!m.route.public && !session.signedIn()) {
    navigate('/login?next=' + encodeURIComponent(path + location.search), { replace: true });
    return;
  }
  if (!allowed(m.route)) {
    document.title = 'Not permitted · provisioning';
    replace(main, h('h1', null, 'Not permitted'),
      h('p', null, 'Your roles do not include this page. Ask an administrator if you need it.'));
    main.focus();
    return;
  }
  const abort = new AbortController();
  const mine = { cleanup: null, abort };
  current = mine;
  let mod;
  try {
    mod = (await m.route.load()).default;
  } catch (err) {
    replace(main, h('h1', null, 'The dashboard was updated'),
      h('p', null, 'This page belongs to an older build. ', h('a', { href: location.href }, 'Reload'), ' to get the new one.'));
    return;
  }
  if (current !== mine) return;
  document.title = `${mod.title} · provisioning`;
  main.replaceChildren();
  try {
    mine.cleanup = await mod.mount(main, { params: m.params, query, signal: abort.signal });
  } catch (err) {
    if (err.name === 'AbortError') return;
    main.appendChild(h('p', { class: 'notice error', role: 'alert' }, err.message));
  }
  if (current !== mine && typeof mine.cleanup === 'function') mine.cleanup();
}

// start renders the current path and follows links and history.
export function start() {
  window.addEventListener('popstate', render);
  document.addEventListener('click', (ev) => {
    const a = ev.target.closest && ev.target.closest('a[href]');
    if (!a || a.target || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith(BASE + '/') && url.pathname !== BASE) return;
    ev.preventDefault();
    history.pushState(null, '', url.pathname + url.search);
    render();
  });
  render();
}
