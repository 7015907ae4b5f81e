// Submissions: the three workflow kinds and a batch (pasted as JSON or
// TOML). Each submission carries an Idempotency-Key, so a double click or
// a retry after a lost answer creates nothing twice; refusals show at
// their field paths, as the API names them.

import { h, field, select, checkbox, replace } from '../dom.js';
import { orch, newKey } from '../api.js';
import { session } from '../session.js';
import { navigate } from '../router.js';
import { errorNotice, showFieldErrors } from '../dialog.js';

const text = (name, props = {}) => h('input', { type: 'text', name, ...props });

// FORMS are the workflow submissions: their route, permission and fields.
const FORMS = [
  { id: 'servers', title: 'Servers', kind: 'servers', path: '/workflows/servers/create',
    fields: () => [['infra', 'Infra', text('infra', { required: true }), 'The infrastructure to work on, e.g. production.'],
      ['settings', 'Settings', text('settings'), 'Settings file, e.g. config.ncl (optional).']] },
  { id: 'taskserv', title: 'Task service', kind: 'taskservs', path: '/workflows/taskserv/create',
    fields: () => [['taskserv', 'Task service', text('taskserv', { required: true }), 'e.g. kubernetes'],
      ['operation', 'Operation', select([['create', 'create'], ['delete', 'delete']], { name: 'operation' })],
      ['infra', 'Infra', text('infra', { required: true })], ['settings', 'Settings', text('settings')]] },
  { id: 'cluster', title: 'Cluster', kind: 'clusters', path: '/workflows/cluster/create',
    fields: () => [['cluster_type', 'Cluster type', text('cluster_type', { required: true }), 'e.g. buildkit'],
      ['operation', 'Operation', select([['create', 'create'], ['delete', 'delete']], { name: 'operation' })],
      ['infra', 'Infra', text('infra', { required: true })], ['settings', 'Settings', text('settings')]] },
];

function workflowForm(spec) {
  const controls = spec.fields();
  const check = checkbox('Check mode (dry run: nothing is changed)', { name: 'check_mode' });
  const wait = checkbox('Wait for the provider to finish', { name: 'wait', checked: true });
  const out = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit' }, `Submit ${spec.title.toLowerCase()} workflow`);
  const form = h('form', { class: 'stack', id: 'form-' + spec.id, novalidate: true },
    controls.map(([, label, c, hint]) => field(label, c, hint)), check.el, wait.el, h('div', null, button), out);
  let key = newKey();
  form.addEventListener('input', () => { key = newKey(); });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { check_mode: check.input.checked, wait: wait.input.checked };
    for (const [name, , c] of controls) if (c.value.trim()) body[name] = c.value.trim();
    button.disabled = true;
    try {
      const { data: taskID } = await orch.post(spec.path, body, { idempotencyKey: key });
      navigate('/tasks/' + taskID);
    } catch (err) {
      const rest = showFieldErrors(form, err);
      replace(out, errorNotice({ ...err, message: err.message, status: err.status, fields: rest }));
    } finally {
      button.disabled = false;
    }
  });
  return h('section', { class: 'panel', 'aria-labelledby': 'h-' + spec.id }, h('h2', { id: 'h-' + spec.id }, spec.title), form);
}

// parseBatch reads the pasted document: JSON, or TOML 1.0.
async function parseBatch(source, format) {
  const trimmed = source.trim();
  if (!trimmed) throw new Error('Paste a batch first.');
  const asJSON = format === 'json' || (format === 'auto' && trimmed.startsWith('{'));
  if (asJSON) {
    try { return JSON.parse(trimmed); } catch (err) { throw new Error('Not valid JSON: ' + err.message); }
  }
  const toml = await import('../../vendor/smol-toml-1.9.1/dist/index.js');
  try {
    return toml.parse(trimmed);
  } catch (err) {
    throw new Error(`Not valid TOML${err.line ? ` (line ${err.line}, column ${err.column})` : ''}: ${String(err.message).split('\n')[0]}`);
  }
}

function batchForm() {
  const area = h('textarea', { name: 'batch', rows: '18', spellcheck: 'false', 'aria-describedby': 'batch-hint' });
  const format = select([['auto', 'Detect (JSON starts with {)'], ['json', 'JSON'], ['toml', 'TOML']], { name: 'format' });
  const out = h('div', { 'aria-live': 'polite', id: 'batch-result' });
  const button = h('button', { type: 'submit' }, 'Submit batch');
  const form = h('form', { class: 'stack', id: 'form-batch', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'batch-text' }, 'Batch'),
      h('span', { class: 'hint', id: 'batch-hint' }, 'The body of POST /batch/execute: name, version, parallel_limit, rollback_enabled and operations (id, type, dependencies, and server_configs, taskservs or clusters).'),
      Object.assign(area, { id: 'batch-text' })),
    field('Format', format), h('div', null, button), out);
  let key = newKey();
  area.addEventListener('input', () => { key = newKey(); });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    out.replaceChildren();
    let doc;
    try { doc = await parseBatch(area.value, format.value); } catch (err) {
      out.replaceChildren(h('div', { class: 'notice error', role: 'alert' }, err.message));
      return;
    }
    button.disabled = true;
    try {
      const { data } = await orch.post('/batch/execute', doc, { idempotencyKey: key });
      navigate('/batches/' + data.batch_id);
    } catch (err) {
      out.replaceChildren(errorNotice(err));
    } finally {
      button.disabled = false;
    }
  });
  return h('section', { class: 'panel', 'aria-labelledby': 'h-batch' }, h('h2', { id: 'h-batch' }, 'Batch'), form);
}

export default {
  title: 'Submit',
  mount(root) {
    root.append(h('h1', null, 'Submit work'));
    const forms = FORMS.filter(f => session.can(f.kind, 'create')).map(workflowForm);
    if (session.can('batches', 'create')) forms.push(batchForm());
    root.append(h('div', { class: 'grid' }, forms));
  },
};
