// Confirmations and notices. Every action that changes something the
// user may not undo asks first, saying exactly what will happen.

import { h } from './dom.js';

// confirm shows a modal dialog and resolves to true when the user
// confirms. body is nodes or text; confirmLabel names the action.
export function confirm({ title, body, confirmLabel = 'Confirm', danger = false }) {
  return new Promise((resolve) => {
    const ok = h('button', { type: 'button', class: danger ? 'danger' : null, data: { confirm: '1' } }, confirmLabel);
    const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
    const heading = h('h2', { id: 'dlg-title' }, title);
    const dlg = h('dialog', { 'aria-labelledby': 'dlg-title', class: 'confirm' },
      heading, h('div', null, body), h('div', { class: 'actions' }, cancel, ok));
    const done = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    ok.addEventListener('click', () => done(true));
    cancel.addEventListener('click', () => done(false));
    dlg.addEventListener('cancel', (ev) => { ev.preventDefault(); done(false); });
    document.body.appendChild(dlg);
    dlg.showModal();
    cancel.focus();
  });
}

// toast shows a short message in the corner (announced politely).
export function toast(message, { error = false } = {}) {
  const box = document.getElementById('toasts');
  const el = h('div', { class: 'toast' + (error ? ' error' : '') }, message);
  box.appendChild(el);
  setTimeout(() => el.remove(), error ? 10000 : 6000);
}

// errorNotice shows an API error where it happened, with the fields a
// 422 names (their paths as the API gives them).
export function errorNotice(err) {
  const items = (err.fields || []).map(f => h('li', null, h('code', null, f.field), ': ', f.message));
  return h('div', { class: 'notice error', role: 'alert' },
    h('strong', null, err.status ? `Refused (${err.status}): ` : 'Failed: '), err.message,
    err.retryAfter ? h('span', null, ` Retry in ${err.retryAfter} s.`) : null,
    items.length ? h('ul', { class: 'field-errors' }, items) : null,
    err.requestId ? h('div', { class: 'muted' }, 'Request id ', h('code', null, err.requestId)) : null);
}

// showFieldErrors marks the controls of a form whose names match the
// fields of a 422 and returns the errors no control took.
export function showFieldErrors(form, err) {
  for (const el of form.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute('aria-invalid');
  for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
  const rest = [];
  for (const f of (err && err.fields) || []) {
    const control = form.querySelector(`[name="${CSS.escape(f.field)}"]`);
    if (!control) { rest.push(f); continue; }
    control.setAttribute('aria-invalid', 'true');
    const slot = document.getElementById(control.id + '-error');
    if (slot) slot.textContent = f.message;
  }
  return rest;
}
