// The dashboard's entry point: configuration, session, the live
// connection, the shell (navigation, account, connection state) and the
// router.

import { loadConfig, config } from './config.js';
import { session } from './session.js';
import { live, POLL_MS } from './live.js';
import { h, replace } from './dom.js';
import { routes, allowed, start, navigate, here, onNavigate, href, render } from './router.js';
import { zoneName } from './format.js';
import { toast } from './dialog.js';

function renderNav(path) {
  const nav = document.getElementById('nav');
  if (!session.signedIn()) { nav.replaceChildren(); return; }
  const items = routes.filter(r => r.nav && allowed(r)).map(r => {
    const active = r.path === '/' ? path === '/' : path === r.path || path.startsWith(r.path + '/');
    return h('li', null, h('a', { href: href(r.path), 'aria-current': active ? 'page' : null }, r.nav));
  });
  replace(nav, h('ul', null, items));
}

function renderAccount() {
  const box = document.getElementById('account');
  const user = session.user();
  if (!user) { box.replaceChildren(); return; }
  const out = h('button', { type: 'button', class: 'secondary', on: { click: () => session.logout() } }, 'Sign out');
  replace(box, h('a', { href: href('/account'), title: 'Roles: ' + (user.roles || []).join(', ') }, user.username), out);
}

let liveTicker = null;
function renderLive(state) {
  const box = document.getElementById('live');
  clearInterval(liveTicker);
  const text = () => {
    switch (state) {
      case 'live': return 'Live';
      case 'connecting': return 'Connecting…';
      case 'reconnecting': {
        const s = Math.ceil(live.retryIn() / 1000);
        return `Reconnecting${s > 0 ? ` in ${s} s` : '…'}; refreshing every ${POLL_MS / 1000} s`;
      }
      default: return session.signedIn() ? 'Not connected' : '';
    }
  };
  const draw = () => replace(box, state === 'off' && !session.signedIn() ? '' : h('span', { class: 'live-' + state },
    h('span', { class: 'dot', 'aria-hidden': 'true' }), text()));
  box.className = 'live live-' + state;
  box.dataset.state = state;
  draw();
  if (state === 'reconnecting') liveTicker = setInterval(draw, 1000);
}

function renderFoot() {
  replace(document.getElementById('foot'),
    `Times are shown in ${zoneName()}.`, config.version ? ` Build ${config.version}.` : '',
    ' Orchestrator: ', h('code', null, config.orchestratorURL), '.');
}

async function boot() {
  try {
    await loadConfig();
  } catch (err) {
    replace(document.getElementById('main'), h('p', { class: 'notice error', role: 'alert' }, err.message));
    return;
  }
  renderFoot();
  session.restore();
  live.onState(renderLive);
  onNavigate(renderNav);
  session.onChange(async (reason) => {
    renderAccount();
    renderNav(here().path);
    if (reason === 'signed-in') live.start();
    if (reason === 'signed-out' || reason === 'expired') {
      live.stop();
      if (reason === 'expired') toast('Your session ended: sign in again.', { error: true });
      const { path } = here();
      navigate(path === '/login' ? '/login' : '/login?next=' + encodeURIComponent(path + location.search), { replace: true });
    }
  });
  if (session.signedIn()) {
    try {
      await session.loadUser();
    } catch (err) {
      if (err.status !== 401) toast('Could not read your user: ' + err.message, { error: true });
    }
  }
  renderAccount();
  if (session.signedIn()) live.start();
  start();
}

boot();
export { render };
