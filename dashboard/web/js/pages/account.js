// The signed-in user's own account: who they are, their roles, and MFA
// enrolment (a QR code for the authenticator app, the secret as text for
// typing in, then a code to confirm).

import { h, replace, field } from '../dom.js';
import { cc } from '../api.js';
import { session } from '../session.js';
import { time } from '../format.js';
import { errorNotice, showFieldErrors, toast } from '../dialog.js';

// drawQR paints the otpauth URL as a QR code on a canvas.
async function drawQR(text) {
  const { encode } = await import('../../vendor/uqr-0.1.3/index.mjs');
  const qr = encode(text, { ecc: 'M', border: 4 });
  const scale = 6, n = qr.size;
  const canvas = h('canvas', { class: 'qr', width: String(n * scale), height: String(n * scale), role: 'img', id: 'mfa-qr',
    'aria-label': 'QR code of the MFA secret for an authenticator app; the secret is also written out beside it.' });
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, n * scale, n * scale);
  ctx.fillStyle = '#000';
  qr.data.forEach((row, y) => row.forEach((on, x) => { if (on) ctx.fillRect(x * scale, y * scale, scale, scale); }));
  canvas.dataset.modules = String(n);
  return canvas;
}

export default {
  title: 'Account',
  async mount(root, { signal }) {
    const me = session.user();
    const box = h('div');
    root.append(h('h1', null, 'Your account'), box);
    let u;
    try { u = (await cc.get('/users/' + me.id, null, { signal })).data; } catch (err) { replace(box, errorNotice(err)); return; }
    const mfaBox = h('section', { class: 'panel', 'aria-labelledby': 'a-mfa', id: 'mfa' });
    replace(box, h('section', { class: 'panel' }, h('dl', { class: 'props' },
      h('dt', null, 'Username'), h('dd', null, u.username), h('dt', null, 'Email'), h('dd', null, u.email || '–'),
      h('dt', null, 'Roles'), h('dd', null, u.roles.join(', ') || 'none'), h('dt', null, 'Last sign-in'), h('dd', null, time(u.last_login)))), mfaBox);

    const drawMFA = () => {
      if (u.mfa_enabled) {
        replace(mfaBox, h('h2', { id: 'a-mfa' }, 'Multi-factor sign-in'), h('p', { id: 'mfa-state', data: { state: 'on' } }, 'MFA is on: signing in asks for a code from your authenticator app.'));
        return;
      }
      const start = h('button', { type: 'button', id: 'mfa-start' }, 'Set up MFA');
      replace(mfaBox, h('h2', { id: 'a-mfa' }, 'Multi-factor sign-in'), h('p', { id: 'mfa-state', data: { state: 'off' } }, 'MFA is off.'), start);
      start.addEventListener('click', enrol);
    };

    const enrol = async () => {
      let e;
      try { e = (await cc.post(`/users/${u.id}/mfa`)).data; } catch (err) { mfaBox.append(errorNotice(err)); return; }
      const code = h('input', { type: 'text', name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '6', required: true });
      const out = h('div', { 'aria-live': 'polite' });
      const form = h('form', { class: 'stack', id: 'mfa-verify', novalidate: true }, field('Code from the app', code), h('div', null, h('button', { type: 'submit' }, 'Turn MFA on')), out);
      replace(mfaBox, h('h2', { id: 'a-mfa' }, 'Multi-factor sign-in'),
        h('p', null, 'Scan the code with an authenticator app (or type the secret in), then enter the six digits it shows.'),
        await drawQR(e.otpauth_url),
        h('dl', { class: 'props' }, h('dt', null, 'Secret'), h('dd', { class: 'mono', id: 'mfa-secret' }, e.secret),
          h('dt', null, 'Link'), h('dd', { class: 'mono' }, e.otpauth_url)), form);
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        try {
          await cc.post(`/users/${u.id}/mfa/verify`, { code: code.value.trim() });
          u.mfa_enabled = true;
          drawMFA();
        } catch (err) {
          replace(out, errorNotice({ ...err, message: err.message, status: err.status, fields: showFieldErrors(form, err) }));
        }
      });
      code.focus();
    };
    drawMFA();

    // Your own password, proving the current one; sessions from before it
    // end, this one too.
    const current = h('input', { type: 'password', name: 'current_password', autocomplete: 'current-password', required: true });
    const next = h('input', { type: 'password', name: 'password', autocomplete: 'new-password', required: true });
    const out = h('div', { 'aria-live': 'polite' });
    const pwForm = h('form', { class: 'stack', id: 'password-form', novalidate: true },
      field('Current password', current), field('New password', next, '12 to 256 characters, not your username or email. Every session of yours ends, this one too.'),
      h('div', null, h('button', { type: 'submit' }, 'Change password')), out);
    pwForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const res = await cc.put(`/users/${u.id}/password`, { current_password: current.value, password: next.value });
        toast(res.data);
        session.expired();
      } catch (err) {
        current.value = '';
        replace(out, errorNotice({ ...err, message: err.message, status: err.status, fields: showFieldErrors(pwForm, err) }));
      }
    });
    box.append(h('section', { class: 'panel', 'aria-labelledby': 'a-pw' }, h('h2', { id: 'a-pw' }, 'Password'), pwForm));
  },
};
