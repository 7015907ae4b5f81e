// Users: the list with its filters, creating, editing (email, roles,
// enabled, password) and deleting, each as the roles allow.

import { h, replace, table, field, select, checkbox } from '../dom.js';
import { cc, newKey } from '../api.js';
import { session } from '../session.js';
import { config } from '../config.js';
import { badge } from '../status.js';
import { time, count } from '../format.js';
import { confirm, errorNotice, toast, showFieldErrors } from '../dialog.js';
import { navigate } from '../router.js';

// rolesField is a check box per built-in role plus other role names.
function rolesField(current = []) {
  const builtin = Object.keys(config.roles);
  const boxes = builtin.map(r => checkbox(r, { name: 'role', value: r, checked: current.includes(r) }));
  const other = h('input', { type: 'text', name: 'roles', value: current.filter(r => !builtin.includes(r)).join(', '), size: '30' });
  const el = h('fieldset', null, h('legend', null, 'Roles'), boxes.map(b => b.el), field('Other roles', other, 'Comma-separated; policies may test them.'));
  return { el, value: () => [...boxes.filter(b => b.input.checked).map(b => b.input.value), ...other.value.split(',').map(s => s.trim()).filter(Boolean)] };
}

export default {
  title: 'Users',
  mount(root, { query, signal }) {
    const role = h('input', { type: 'text', name: 'role', value: query.get('role') || '', size: '12' });
    const enabled = select([['', 'Any'], ['true', 'Enabled'], ['false', 'Disabled']], { name: 'enabled', value: query.get('enabled') || '' });
    const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter users' }, field('Role', role), field('Enabled', enabled), h('div', null, h('button', { type: 'submit' }, 'Apply')));
    filters.addEventListener('submit', (ev) => { ev.preventDefault(); navigate('/users?' + new URLSearchParams({ ...(role.value ? { role: role.value } : {}), ...(enabled.value ? { enabled: enabled.value } : {}) })); });
    const listBox = h('div', { id: 'user-list' });
    root.append(h('h1', null, 'Users'));
    if (session.can('users', 'create')) root.append(createForm());
    root.append(h('section', { class: 'panel', 'aria-labelledby': 'u-list' }, h('h2', { id: 'u-list' }, 'All users'), filters, listBox));

    function createForm() {
      const username = h('input', { type: 'text', name: 'username', required: true, autocomplete: 'off' });
      const email = h('input', { type: 'text', name: 'email', autocomplete: 'off' });
      const password = h('input', { type: 'password', name: 'password', required: true, autocomplete: 'new-password' });
      const roles = rolesField(['viewer']);
      const out = h('div', { 'aria-live': 'polite' });
      const form = h('form', { class: 'stack', id: 'user-form', novalidate: true },
        field('Username', username, '2 to 64 of A-Z a-z 0-9 . _ -'), field('Email', email), field('Password', password, '12 to 256 characters, not the username or the email.'),
        roles.el, h('div', null, h('button', { type: 'submit' }, 'Create user')), out);
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        try {
          await cc.post('/users', { username: username.value.trim(), email: email.value.trim(), password: password.value, roles: roles.value() }, { idempotencyKey: newKey() });
          replace(out, h('p', { class: 'notice' }, `User ${username.value.trim()} created.`));
          username.value = ''; email.value = ''; password.value = '';
          load();
        } catch (err) {
          replace(out, errorNotice({ ...err, message: err.message, status: err.status, fields: showFieldErrors(form, err) }));
        }
      });
      return h('section', { class: 'panel', 'aria-labelledby': 'u-new' }, h('h2', { id: 'u-new' }, 'New user'), form);
    }

    const edit = (u) => {
      const email = h('input', { type: 'text', name: 'email', value: u.email || '' });
      const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password' });
      const roles = rolesField(u.roles);
      const on = checkbox('Enabled (a disabled user cannot sign in; their tokens stop working)', { name: 'enabled', checked: u.enabled });
      const out = h('div', { 'aria-live': 'polite' });
      const save = h('button', { type: 'submit' }, 'Save');
      const close = h('button', { type: 'button', class: 'secondary' }, 'Close');
      const form = h('form', { class: 'stack', novalidate: true }, field('Email', email), field('New password', password, 'Leave empty to keep it. Changing it ends the user\'s sessions.'),
        roles.el, on.el, h('div', { class: 'actions' }, close, save), out);
      const dlg = h('dialog', { 'aria-label': 'Edit ' + u.username }, h('h2', null, 'Edit ', u.username), form);
      close.addEventListener('click', () => { dlg.close(); dlg.remove(); });
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const body = { email: email.value.trim(), roles: roles.value(), enabled: on.input.checked };
        if (password.value) body.password = password.value;
        try {
          await cc.put('/users/' + u.id, body);
          dlg.close(); dlg.remove();
          toast(`User ${u.username} saved.`);
          load();
        } catch (err) {
          replace(out, errorNotice({ ...err, message: err.message, status: err.status, fields: showFieldErrors(form, err) }));
        }
      });
      document.body.appendChild(dlg);
      dlg.showModal();
    };

    const remove = async (u) => {
      const ok = await confirm({ title: `Delete user ${u.username}?`, confirmLabel: 'Delete', danger: true,
        body: h('p', null, 'The user can no longer sign in and every token of theirs stops working. Their actions stay in the audit log.') });
      if (!ok) return;
      try { await cc.del('/users/' + u.id); toast(`User ${u.username} deleted.`); load(); } catch (err) { toast(err.message, { error: true }); }
    };

    const load = async () => {
      try {
        const res = await cc.get('/users', { role: query.get('role'), enabled: query.get('enabled'), limit: 200 }, { signal });
        const rows = res.data.map(u => h('tr', { data: { user: u.username } },
          h('td', null, u.username), h('td', null, u.email || ''), h('td', null, u.roles.join(', ')),
          h('td', null, badge(u.enabled ? 'active' : 'disabled')), h('td', null, u.mfa_enabled ? 'on' : 'off'),
          h('td', null, time(u.last_login)), h('td', null, time(u.created_at)),
          h('td', null, h('div', { class: 'row' },
            session.can('users', 'update') ? h('button', { type: 'button', class: 'secondary', on: { click: () => edit(u) } }, 'Edit…') : null,
            session.can('users', 'delete') && !session.isSelf(u.id) ? h('button', { type: 'button', class: 'secondary', on: { click: () => remove(u) } }, 'Delete…') : null))));
        replace(listBox, table(`${count(res.total)} users`, [{ label: 'Username' }, { label: 'Email' }, { label: 'Roles' }, { label: 'Account' }, { label: 'MFA' }, { label: 'Last sign-in' }, { label: 'Created' }, { label: '' }], rows, { id: 'users' }));
      } catch (err) {
        if (err.name !== 'AbortError') replace(listBox, errorNotice(err));
      }
    };
    load();
  },
};
