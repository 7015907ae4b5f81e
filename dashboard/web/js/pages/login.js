// Sign-in: username, password and, for accounts with MFA, the current
// code of the authenticator app.

import { h, field } from '../dom.js';
import { session } from '../session.js';
import { navigate } from '../router.js';
import { errorNotice } from '../dialog.js';

export default {
  title: 'Sign in',
  mount(root, { query }) {
    if (session.signedIn()) { navigate(safeNext(query.get('next')), { replace: true }); return; }
    const user = h('input', { type: 'text', name: 'username', autocomplete: 'username', required: true, autofocus: true });
    const pass = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
    const mfa = h('input', { type: 'text', name: 'mfa_code', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6}', maxlength: '6' });
    const status = h('div', { 'aria-live': 'polite' });
    const submit = h('button', { type: 'submit' }, 'Sign in');
    const form = h('form', { class: 'stack panel', id: 'login', novalidate: true },
      field('Username', user),
      field('Password', pass),
      field('MFA code', mfa, 'Six digits from your authenticator app, if your account has MFA.'),
      h('div', null, submit), status);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      submit.disabled = true;
      status.replaceChildren(h('span', { class: 'muted' }, 'Signing in…'));
      try {
        await session.login(user.value.trim(), pass.value, mfa.value.trim());
        navigate(safeNext(query.get('next')), { replace: true });
      } catch (err) {
        status.replaceChildren(errorNotice(err));
        pass.value = '';
        mfa.value = '';
        pass.focus();
      } finally {
        submit.disabled = false;
      }
    });
    root.append(h('h1', null, 'Sign in'), form);
    user.focus();
  },
};

// safeNext keeps a return path inside the dashboard.
function safeNext(next) {
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/login') ? next : '/';
}
