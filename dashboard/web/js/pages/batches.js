// Batches: the server's status filter and paging, statuses kept live.

import { h, replace, table, field, select } from '../dom.js';
import { orch } from '../api.js';
import { live } from '../live.js';
import { badge, viewStatus } from '../status.js';
import { time, count, shortID, percent } from '../format.js';
import { href, navigate } from '../router.js';
import { errorNotice } from '../dialog.js';

const STATUSES = ['Running', 'Completed', 'Failed', 'Cancelled', 'RolledBack'];

function row(b) {
  return h('tr', { data: { batch: b.batch_id, status: b.status } },
    h('td', null, h('a', { href: href('/batches/' + b.batch_id), title: b.batch_id }, b.name || shortID(b.batch_id))),
    h('td', { class: 'mono' }, shortID(b.batch_id)), h('td', null, badge(b.status)),
    h('td', null, h('progress', { max: '100', value: String(b.progress || 0), 'aria-label': 'progress of ' + b.name }), h('span', { class: 'pct' }, percent(b.progress))),
    h('td', { class: 'num' }, `${count(b.completed_tasks)} / ${count(b.total_tasks)}`), h('td', { class: 'num' }, count((b.operations || []).length)),
    h('td', null, time(b.created_at)), h('td', null, time(b.completed_at)));
}

export default {
  title: 'Batches',
  mount(root, { query, signal }) {
    const status = select([['', 'Any'], ...STATUSES.map(s => [s, s])], { name: 'status', value: query.get('status') || '' });
    const offset = Math.max(0, Number(query.get('offset')) || 0);
    const limit = 50;
    status.addEventListener('change', () => navigate('/batches' + (status.value ? '?status=' + status.value : '')));
    const results = h('div', { id: 'batch-results' });
    root.append(h('h1', null, 'Batches'), h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter batches', on: { submit: e => e.preventDefault() } }, field('Status', status)), results);
    const shown = new Map();
    const load = async () => {
      try {
        const res = await orch.get('/batch/operations', { status: status.value, limit, offset }, { signal });
        shown.clear();
        const rows = res.data.map(b => { const tr = row(b); shown.set(b.batch_id, { b, tr }); return tr; });
        const p = (o) => href('/batches?' + new URLSearchParams({ ...(status.value ? { status: status.value } : {}), offset: String(o) }));
        replace(results, h('div', { class: 'pager' }, `${count(res.total)} batches`,
          offset > 0 ? h('a', { href: p(Math.max(0, offset - limit)), rel: 'prev' }, '← Newer') : null,
          offset + res.data.length < res.total ? h('a', { href: p(offset + limit), rel: 'next' }, 'Older →') : null),
        rows.length ? table(null, [{ label: 'Name' }, { label: 'Id' }, { label: 'Status' }, { label: 'Progress' }, { label: 'Tasks done', num: true },
          { label: 'Operations', num: true }, { label: 'Created' }, { label: 'Ended' }], rows, { id: 'batches' }) : h('p', { class: 'muted' }, 'No batch matches.'));
        results.dataset.state = 'ready';
      } catch (err) {
        if (err.name !== 'AbortError') replace(results, errorNotice(err));
      }
    };
    const off = live.subscribe((f) => {
      const id = f.metadata && f.metadata.batch_id;
      if (f.event_type === 'BatchCreated' && offset === 0) { load(); return; }
      const s = shown.get(id);
      if (!s) return;
      if (f.event_type === 'BatchStatusChanged') { s.b.status = viewStatus(f.data.status); s.b.progress = f.data.progress; s.b.completed_at = f.timestamp; }
      else if (f.event_type === 'TaskStatusChanged' && f.data.status === 'completed') s.b.completed_tasks++;
      else return;
      const tr = row(s.b); s.tr.replaceWith(tr); s.tr = tr;
    });
    const offPoll = live.onPoll(load);
    load();
    return () => { off(); offPoll(); };
  },
};
