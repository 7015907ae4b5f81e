// Policies: the list, and an editor of rules whose conditions the server
// compiles on save; a condition it cannot compile comes back with the
// compiler's message, shown under that condition.

import { h, replace, table, field, select, checkbox } from '../dom.js';
import { cc, newKey } from '../api.js';
import { session } from '../session.js';
import { config } from '../config.js';
import { time } from '../format.js';
import { confirm, errorNotice, toast, showFieldErrors } from '../dialog.js';

function ruleEditor(rule, k, onRemove) {
  const effect = select([['Allow', 'Allow'], ['Deny', 'Deny']], { name: `rules[${k}].effect`, value: rule.effect || 'Deny' });
  const resource = h('input', { type: 'text', name: `rules[${k}].resource`, value: rule.resource || 'tasks:*', size: '24' });
  const acts = ['*', ...config.actions].map(a => checkbox(a, { name: `rules[${k}].action`, value: a, checked: (rule.action || []).includes(a) }));
  const cond = h('textarea', { name: `rules[${k}].condition`, rows: '3', spellcheck: 'false' });
  cond.value = rule.condition || '';
  const el = h('fieldset', { class: 'rule', data: { rule: String(k) } }, h('legend', null, `Rule ${k + 1}`),
    field('Effect', effect), field('Resource', resource, `kind:pattern, a kind among ${config.kinds.join(', ')} (or *); the pattern matches the route's id, * for any.`),
    h('fieldset', null, h('legend', null, 'Actions'), h('div', { class: 'row' }, acts.map(a => a.el)), h('span', { class: 'field-error', id: `rules-${k}-action-error` })),
    field('Condition', cond, 'CEL over user (id, username, roles, role), request (method, path, ip, action) and resource (kind, id); empty: always.'),
    h('div', null, h('button', { type: 'button', class: 'secondary', on: { click: onRemove } }, 'Remove rule')));
  return { el, value: () => ({ effect: effect.value, resource: resource.value.trim(), action: acts.filter(a => a.input.checked).map(a => a.input.value), condition: cond.value.trim() }) };
}

export default {
  title: 'Policies',
  mount(root, { signal }) {
    const listBox = h('section', { class: 'panel', 'aria-labelledby': 'p-list' }, h('h2', { id: 'p-list' }, 'Policies'));
    const editBox = h('section', { class: 'panel', 'aria-labelledby': 'p-edit', id: 'policy-editor' });
    root.append(h('h1', null, 'Policies'),
      h('p', { class: 'muted' }, 'A Deny whose condition holds refuses, over every role; else a role or an Allow whose condition holds allows; else the answer is no.'),
      listBox, editBox);

    const openEditor = (p) => {
      const canSave = p.id ? session.can('policies', 'update') : session.can('policies', 'create');
      const name = h('input', { type: 'text', name: 'name', value: p.name || '', required: true });
      const version = h('input', { type: 'text', name: 'version', value: p.version || '1.0', size: '8' });
      const desc = h('input', { type: 'text', name: 'description', value: p.description || '', size: '50' });
      const on = checkbox('Enabled', { name: 'enabled', checked: p.enabled !== false });
      const rulesBox = h('div', { class: 'stack' });
      let editors = [];
      const drawRules = (rules) => {
        editors = rules.map((r, k) => ruleEditor(r, k, () => drawRules(editors.map(e => e.value()).filter((_, j) => j !== k))));
        replace(rulesBox, editors.map(e => e.el));
      };
      drawRules(p.rules && p.rules.length ? p.rules : [{ effect: 'Deny', resource: 'tasks:*', action: ['cancel'], condition: '' }]);
      const out = h('div', { 'aria-live': 'polite' });
      const form = h('form', { class: 'stack', id: 'policy-form', novalidate: true },
        field('Name', name), field('Version', version), field('Description', desc), on.el,
        h('h3', null, 'Rules'), rulesBox,
        h('div', { class: 'row' }, h('button', { type: 'button', class: 'secondary', on: { click: () => drawRules([...editors.map(e => e.value()), { effect: 'Allow', resource: '*:*', action: ['read'] }]) } }, 'Add rule'),
          canSave ? h('button', { type: 'submit' }, p.id ? 'Save policy' : 'Create policy') : null), out);
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const body = { name: name.value.trim(), version: version.value.trim(), description: desc.value.trim(), enabled: on.input.checked, rules: editors.map(e => e.value()) };
        try {
          if (p.id) await cc.put('/policies/' + p.id, body);
          else await cc.post('/policies', body, { idempotencyKey: newKey() });
          toast(`Policy ${body.name} saved.`);
          replace(editBox);
          load();
        } catch (err) {
          const rest = showFieldErrors(form, err);
          replace(out, errorNotice({ ...err, message: err.message, status: err.status, fields: rest }));
        }
      });
      replace(editBox, h('h2', { id: 'p-edit' }, p.id ? `Policy ${p.name}` : 'New policy'), form);
      name.focus();
    };

    const remove = async (p) => {
      const ok = await confirm({ title: `Delete policy ${p.name}?`, confirmLabel: 'Delete', danger: true,
        body: h('p', null, 'Its rules stop applying at once, on every instance. A deletion that would leave you unable to manage policies is refused.') });
      if (!ok) return;
      try { await cc.del('/policies/' + p.id); toast('Policy deleted.'); load(); } catch (err) { toast(err.message, { error: true }); }
    };

    const load = async () => {
      try {
        const res = await cc.get('/policies', { limit: 200 }, { signal });
        const rows = res.data.map(p => h('tr', { data: { policy: p.name } },
          h('td', null, h('button', { type: 'button', class: 'link', on: { click: () => openEditor(p) } }, p.name)), h('td', null, p.version),
          h('td', null, p.enabled ? 'yes' : 'no'), h('td', { class: 'num' }, String(p.rules.length)), h('td', null, p.description || ''), h('td', null, time(p.updated_at)),
          h('td', null, session.can('policies', 'delete') ? h('button', { type: 'button', class: 'secondary', on: { click: () => remove(p) } }, 'Delete…') : '')));
        replace(listBox, h('h2', { id: 'p-list' }, 'Policies'),
          session.can('policies', 'create') ? h('p', null, h('button', { type: 'button', id: 'policy-new', on: { click: () => openEditor({}) } }, 'New policy')) : null,
          rows.length ? table(null, [{ label: 'Name' }, { label: 'Version' }, { label: 'Enabled' }, { label: 'Rules', num: true }, { label: 'Description' }, { label: 'Updated' }, { label: '' }], rows, { id: 'policies' })
            : h('p', { class: 'muted' }, 'No policy: the built-in roles decide alone.'));
      } catch (err) {
        if (err.name !== 'AbortError') replace(listBox, h('h2', { id: 'p-list' }, 'Policies'), errorNotice(err));
      }
    };
    load();
  },
};
