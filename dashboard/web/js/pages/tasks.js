// Tasks: the server's filters, paging and a jump to an id, with statuses
// kept live for the rows shown. Filters are declared in FILTERS: each is
// one query parameter of GET /tasks, so the search API's parameters
// (name prefix, workflow, infra, time ranges, sort) slot in as entries.

import { h, replace, table, field, select } from '../dom.js';
import { orch } from '../api.js';
import { live } from '../live.js';
import { badge, viewStatus, rank, TERMINAL } from '../status.js';
import { time, count, shortID, percent } from '../format.js';
import { href, navigate } from '../router.js';
import { errorNotice } from '../dialog.js';
import { metrics } from '../metrics.js';

const STATUSES = ['Pending', 'Running', 'Completed', 'Failed', 'Cancelled'];
const ID = /^[0-9A-HJKMNP-TV-Z]{26}$/i;

// FILTERS are the query parameters of GET /tasks the page offers.
export const FILTERS = [
  { name: 'status', label: 'Status', kind: 'select', options: [['', 'Any'], ...STATUSES.map(s => [s, s])] },
  { name: 'batch_id', label: 'Batch id', kind: 'text', placeholder: '26-character batch id',
    check: v => (!v || ID.test(v) ? '' : 'a batch id has 26 letters and digits') },
];
const SIZES = [25, 50, 100, 200];

function progressCell(t) {
  return [h('progress', { max: '100', value: String(t.progress || 0), 'aria-label': `progress of ${t.name || t.id}` }),
    h('span', { class: 'pct' }, percent(t.progress))];
}

function row(t) {
  return h('tr', { data: { task: t.id, status: t.status } },
    h('td', null, h('a', { href: href('/tasks/' + t.id), class: 'mono', title: t.id }, shortID(t.id))),
    h('td', null, t.name), h('td', null, t.workflow), h('td', null, badge(t.status)),
    h('td', null, progressCell(t)),
    h('td', null, t.batch_id ? h('a', { href: href('/batches/' + t.batch_id), title: t.batch_id }, (t.operation_id || '') + ' ' + shortID(t.batch_id)) : ''),
    h('td', null, time(t.created_at)), h('td', null, time(t.started_at)), h('td', null, time(t.completed_at)));
}

export default {
  title: 'Tasks',
  mount(root, { query, signal }) {
    const q = Object.fromEntries(query);
    const limit = SIZES.includes(Number(q.limit)) ? Number(q.limit) : 50;
    const offset = Math.max(0, Number(q.offset) || 0);
    const controls = {};
    const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter tasks' });
    for (const f of FILTERS) {
      const c = f.kind === 'select' ? select(f.options, { name: f.name, value: q[f.name] || '' })
        : h('input', { type: 'text', name: f.name, value: q[f.name] || '', placeholder: f.placeholder, size: '30' });
      controls[f.name] = c;
      form.append(field(f.label, c));
      if (f.kind === 'select') c.addEventListener('change', () => apply());
    }
    const size = select(SIZES.map(n => [String(n), String(n)]), { name: 'limit', value: String(limit) });
    size.addEventListener('change', () => apply());
    form.append(field('Per page', size), h('div', null, h('button', { type: 'submit' }, 'Apply')));
    const jump = h('input', { type: 'search', name: 'id', placeholder: 'task or batch id', size: '30' });
    const jumpForm = h('form', { class: 'filters', role: 'search', 'aria-label': 'Go to an id' },
      field('Go to id', jump), h('div', null, h('button', { type: 'submit', class: 'secondary' }, 'Go')));
    const status = h('div', { 'aria-live': 'polite' });
    const results = h('div', { id: 'task-results' });
    root.append(h('h1', null, 'Tasks'), form, jumpForm, status, results);

    function apply(extra = {}) {
      const next = new URLSearchParams();
      for (const f of FILTERS) {
        const v = controls[f.name].value.trim();
        const problem = f.check && f.check(v);
        if (problem) { status.replaceChildren(h('p', { class: 'notice error', role: 'alert' }, `${f.label}: ${problem}`)); controls[f.name].focus(); return; }
        if (v) next.set(f.name, v);
      }
      if (size.value !== '50') next.set('limit', size.value);
      for (const [k, v] of Object.entries(extra)) if (v) next.set(k, v);
      metrics.filterChangedAt = performance.now();
      navigate('/tasks' + (next.toString() ? '?' + next : ''), { replace: false });
    }
    form.addEventListener('submit', (ev) => { ev.preventDefault(); apply(); });
    jumpForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const id = jump.value.trim();
      if (!ID.test(id)) { status.replaceChildren(h('p', { class: 'notice error', role: 'alert' }, 'An id has 26 letters and digits.')); return; }
      try { await orch.get('/tasks/' + id, null, { signal }); navigate('/tasks/' + id); return; } catch (err) { if (err.status !== 404) { status.replaceChildren(errorNotice(err)); return; } }
      try { await orch.get('/batch/operations/' + id, null, { signal }); navigate('/batches/' + id); } catch (err) {
        status.replaceChildren(err.status === 404 ? h('p', { class: 'notice error', role: 'alert' }, `No task or batch has the id ${id}.`) : errorNotice(err));
      }
    });

    const shown = new Map(); // task id -> {task, tr}
    let fresh = 0;
    const params = { limit, offset };
    for (const f of FILTERS) if (q[f.name]) params[f.name] = q[f.name];
    const signature = new URLSearchParams(params).toString();

    const load = async () => {
      results.dataset.state = 'loading';
      try {
        const res = await orch.get('/tasks', params, { signal });
        shown.clear();
        fresh = 0;
        const rows = res.data.map(t => { const tr = row(t); shown.set(t.id, { task: t, tr }); return tr; });
        const total = res.total || 0;
        const first = total ? offset + 1 : 0, last = offset + res.data.length;
        const page = (o) => { const p = new URLSearchParams(query); if (o) p.set('offset', String(o)); else p.delete('offset'); return href('/tasks' + (p.toString() ? '?' + p : '')); };
        replace(results,
          h('div', { class: 'pager' },
            h('span', { id: 'task-count' }, `${count(first)}–${count(last)} of ${count(total)} tasks`),
            offset > 0 ? h('a', { href: page(Math.max(0, offset - limit)), rel: 'prev' }, '← Newer') : null,
            last < total ? h('a', { href: page(offset + limit), rel: 'next' }, 'Older →') : null,
            h('span', { id: 'new-tasks' })),
          rows.length ? table(null, [{ label: 'Id' }, { label: 'Name' }, { label: 'Workflow' }, { label: 'Status' }, { label: 'Progress' },
            { label: 'Batch' }, { label: 'Created' }, { label: 'Started' }, { label: 'Completed' }], rows, { id: 'tasks' })
            : h('p', { class: 'muted' }, 'No task matches.'));
        results.dataset.state = 'ready';
        results.dataset.query = signature;
        if (metrics.filterChangedAt) { metrics.filterAnsweredMs = performance.now() - metrics.filterChangedAt; metrics.filterChangedAt = 0; }
      } catch (err) {
        if (err.name === 'AbortError') return;
        results.dataset.state = 'error';
        replace(results, errorNotice(err));
      }
    };

    const update = (id, change) => {
      const s = shown.get(id);
      if (!s) return;
      change(s.task);
      const tr = row(s.task);
      s.tr.replaceWith(tr);
      s.tr = tr;
    };
    const matchesNew = (f) => offset === 0 && (!params.status || params.status === 'Pending') &&
      (!params.batch_id || (f.metadata && f.metadata.batch_id === params.batch_id));
    const off = live.subscribe((f) => {
      const id = f.metadata && f.metadata.task_id;
      switch (f.event_type) {
        case 'TaskStatusChanged': {
          const st = viewStatus(f.data.status);
          update(id, t => {
            if (rank(st) < rank(t.status)) return;
            t.status = st;
            if (st === 'Running' && !t.started_at) t.started_at = f.timestamp;
            if (TERMINAL.has(st)) { t.completed_at = f.timestamp; if (st === 'Completed') t.progress = 100; }
          });
          break;
        }
        case 'TaskProgress':
          update(id, t => { if (!TERMINAL.has(t.status)) t.progress = f.data.progress; });
          break;
        case 'TaskCreated':
          if (matchesNew(f)) {
            fresh++;
            const slot = results.querySelector('#new-tasks');
            if (slot) replace(slot, h('button', { type: 'button', class: 'link', on: { click: load } }, `${fresh} new: show`));
          }
          break;
      }
    });
    const offPoll = live.onPoll(load);
    load();
    return () => { off(); offPoll(); };
  },
};
