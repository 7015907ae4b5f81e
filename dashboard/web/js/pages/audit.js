// The audit log with the server's filters (user, action, resource,
// result, time range) and paging, newest first.

import { h, replace, table, field, select } from '../dom.js';
import { cc } from '../api.js';
import { badge } from '../status.js';
import { time, count, localToRFC3339 } from '../format.js';
import { href, navigate } from '../router.js';
import { errorNotice } from '../dialog.js';

const FILTERS = [
  { name: 'user_id', label: 'User id' },
  { name: 'action', label: 'Action', hint: 'e.g. auth.login, batch.execute' },
  { name: 'resource', label: 'Resource', hint: 'e.g. tasks, or users/<id>: what lies under it too' },
];

export default {
  title: 'Audit log',
  mount(root, { query, signal }) {
    const limit = 50;
    const offset = Math.max(0, Number(query.get('offset')) || 0);
    const controls = FILTERS.map(f => ({ f, c: h('input', { type: 'text', name: f.name, value: query.get(f.name) || '', size: '22' }) }));
    const result = select([['', 'Any'], ['success', 'success'], ['failure', 'failure'], ['denied', 'denied']], { name: 'result', value: query.get('result') || '' });
    const toLocal = (iso) => { if (!iso) return ''; const d = new Date(iso); if (Number.isNaN(d.getTime())) return ''; const p = (n) => String(n).padStart(2, '0'); return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`; };
    const from = h('input', { type: 'datetime-local', name: 'from', value: toLocal(query.get('from')) });
    const to = h('input', { type: 'datetime-local', name: 'to', value: toLocal(query.get('to')) });
    const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter the audit log' },
      controls.map(({ f, c }) => field(f.label, c, f.hint)), field('Result', result),
      field('From', from, 'In your time zone'), field('To', to, 'In your time zone'), h('div', null, h('button', { type: 'submit' }, 'Apply')));
    const box = h('div', { id: 'audit-results' });
    root.append(h('h1', null, 'Audit log'), form, box);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const q = new URLSearchParams();
      for (const { f, c } of controls) if (c.value.trim()) q.set(f.name, c.value.trim());
      if (result.value) q.set('result', result.value);
      if (from.value) q.set('from', localToRFC3339(from.value));
      if (to.value) q.set('to', localToRFC3339(to.value));
      navigate('/audit' + (q.toString() ? '?' + q : ''));
    });
    const params = { limit, offset };
    for (const k of ['user_id', 'action', 'resource', 'result', 'from', 'to']) if (query.get(k)) params[k] = query.get(k);
    (async () => {
      try {
        const res = await cc.get('/audit/logs', params, { signal });
        const page = (o) => { const p = new URLSearchParams(query); p.set('offset', String(o)); return href('/audit?' + p); };
        const rows = res.data.map(a => h('tr', null, h('td', null, time(a.timestamp)), h('td', { class: 'mono' }, a.user_id || '–'),
          h('td', null, a.action), h('td', { class: 'mono' }, a.resource), h('td', null, badge(a.result)),
          h('td', null, h('details', null, h('summary', null, 'details'), h('pre', null, JSON.stringify(a.details, null, 2))))));
        replace(box, h('div', { class: 'pager' }, `${count(res.total)} records`,
          offset > 0 ? h('a', { href: page(Math.max(0, offset - limit)), rel: 'prev' }, '← Newer') : null,
          offset + res.data.length < res.total ? h('a', { href: page(offset + limit), rel: 'next' }, 'Older →') : null),
        table(null, [{ label: 'Time' }, { label: 'User' }, { label: 'Action' }, { label: 'Resource' }, { label: 'Result' }, { label: 'Details' }], rows, { id: 'audit' }));
      } catch (err) {
        if (err.name !== 'AbortError') replace(box, errorNotice(err));
      }
    })();
  },
};
