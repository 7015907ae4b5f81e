// The overview: each component's health, tasks and batches by status,
// the host's load, throughput, recent failures and the latest events.

import { h, replace, table, throttle } from '../dom.js';
import { orch } from '../api.js';
import { live } from '../live.js';
import { session } from '../session.js';
import { badge, viewStatus } from '../status.js';
import { time, count, duration, shortID } from '../format.js';
import { href } from '../router.js';
import { errorNotice } from '../dialog.js';

// Finished tasks per 10-second bucket over the last five minutes, as this
// tab saw them (counted from its first event on, on every page).
const BUCKET = 10e3, WINDOW = 5 * 60e3;
const finished = new Map();
live.subscribe((f) => {
  if (f.event_type !== 'TaskStatusChanged') return;
  const s = f.data && f.data.status;
  if (s !== 'completed' && s !== 'failed') return;
  const b = Math.floor(Date.now() / BUCKET);
  finished.set(b, (finished.get(b) || 0) + 1);
  for (const k of finished.keys()) if (k < b - WINDOW / BUCKET) finished.delete(k);
});
const seenSince = Date.now();

function throughput() {
  const now = Date.now();
  let n = 0;
  for (const [k, v] of finished) if (k * BUCKET >= now - WINDOW) n += v;
  const span = Math.min(WINDOW, now - seenSince) / 60e3;
  return { n, perMinute: span > 0.05 ? n / span : 0 };
}

export default {
  title: 'Overview',
  mount(root, { signal }) {
    const healthBox = h('section', { class: 'panel', 'aria-labelledby': 'ov-health' }, h('h2', { id: 'ov-health' }, 'Health'), h('p', { class: 'loading' }, 'Checking…'));
    const countsBox = h('section', { class: 'panel', 'aria-labelledby': 'ov-counts' }, h('h2', { id: 'ov-counts' }, 'Work'), h('p', { class: 'loading' }, 'Loading…'));
    const failBox = h('section', { class: 'panel', 'aria-labelledby': 'ov-fail' }, h('h2', { id: 'ov-fail' }, 'Recent failures'), h('p', { class: 'loading' }, 'Loading…'));
    const feedBox = h('section', { class: 'panel', 'aria-labelledby': 'ov-feed' }, h('h2', { id: 'ov-feed' }, 'Latest events'));
    root.append(h('h1', null, 'Overview'), h('div', { class: 'grid' }, healthBox, countsBox), failBox, feedBox);

    const loadHealth = async () => {
      try {
        const res = await orch.get('/state/system/health', null, { signal, allowStatus: [503] });
        const rep = res.data || { components: {}, details: {} };
        const rows = Object.keys(rep.components || {}).sort().map(name => h('tr', null,
          h('td', null, name.replace(/_/g, ' ')), h('td', null, badge(rep.components[name])),
          h('td', null, (rep.details || {})[name] || '')));
        replace(healthBox, h('h2', { id: 'ov-health' }, 'Health'),
          h('p', null, 'Overall: ', badge(rep.overall_status), ' checked ', time(rep.last_check)),
          table(null, [{ label: 'Component' }, { label: 'Status' }, { label: 'Detail' }], rows, { id: 'health' }));
      } catch (err) {
        if (err.name !== 'AbortError') replace(healthBox, h('h2', { id: 'ov-health' }, 'Health'), errorNotice(err));
      }
    };

    const loadCounts = async () => {
      if (!session.can('system', 'read')) {
        replace(countsBox, h('h2', { id: 'ov-counts' }, 'Work'), h('p', { class: 'muted' }, 'Your roles do not include the system figures.'));
        return;
      }
      try {
        const [{ data: m }, { data: st }] = await Promise.all([
          orch.get('/state/system/metrics', null, { signal }), orch.get('/state/statistics', null, { signal })]);
        const pending = m.active_workflows;
        const card = (label, n, status) => h('div', { class: 'card', data: { count: status || label } },
          h('span', { class: 'n' }, count(n)), status ? badge(status) : h('span', null, label));
        const tp = throughput();
        const load = m.system_load || {};
        replace(countsBox, h('h2', { id: 'ov-counts' }, 'Work'),
          h('div', { class: 'cards' },
            card('Pending or running', pending), card('', m.completed_workflows, 'Completed'),
            card('', m.failed_workflows, 'Failed'), card('', m.cancelled_workflows, 'Cancelled'),
            card('Batches running', m.active_batches), card('Batches in all', m.total_batches)),
          h('dl', { class: 'props', id: 'figures' },
            h('dt', null, 'Throughput'), h('dd', { id: 'throughput' }, `${tp.perMinute.toFixed(1)} tasks finished a minute (${tp.n} in the last ${Math.round(Math.min(WINDOW, Date.now() - seenSince) / 60e3 * 10) / 10} min, seen live)`),
            h('dt', null, 'Mean task time'), h('dd', null, duration(st.average_workflow_duration)),
            h('dt', null, 'Mean batch time'), h('dd', null, duration(st.average_batch_duration)),
            h('dt', null, 'Storage'), h('dd', null, st.storage_usage),
            h('dt', null, 'Host'), h('dd', null, load.cpu_usage == null ? 'not sampled'
              : `CPU ${load.cpu_usage.toFixed(0)} %, memory ${Math.round(load.memory_usage)} of ${Math.round(load.memory_total || 0)} MB, disk ${load.disk_usage.toFixed(0)} %`),
            h('dt', null, 'Sampled'), h('dd', null, time(m.sampled_at))));
      } catch (err) {
        if (err.name !== 'AbortError') replace(countsBox, h('h2', { id: 'ov-counts' }, 'Work'), errorNotice(err));
      }
    };

    const loadFailures = async () => {
      if (!session.can('tasks', 'read')) { failBox.remove(); return; }
      try {
        const res = await orch.get('/tasks', { status: 'Failed', limit: 10 }, { signal });
        const rows = res.data.map(t => h('tr', null,
          h('td', null, h('a', { href: href('/tasks/' + t.id) }, t.name || shortID(t.id))),
          h('td', null, t.workflow), h('td', null, time(t.completed_at)), h('td', null, t.error || '')));
        replace(failBox, h('h2', { id: 'ov-fail' }, 'Recent failures'), rows.length
          ? table(`${count(res.total)} failed in all; the latest:`, [{ label: 'Task' }, { label: 'Workflow' }, { label: 'Failed at' }, { label: 'Error' }], rows)
          : h('p', { class: 'muted' }, 'No task has failed.'));
      } catch (err) {
        if (err.name !== 'AbortError') replace(failBox, h('h2', { id: 'ov-fail' }, 'Recent failures'), errorNotice(err));
      }
    };

    const drawFeed = () => {
      const frames = live.recent().slice(-50).reverse();
      const rows = frames.map(f => {
        const md = f.metadata || {};
        const about = md.batch_id && md.aggregate === 'batch' ? h('a', { href: href('/batches/' + md.batch_id) }, shortID(md.batch_id))
          : md.task_id ? h('a', { href: href('/tasks/' + md.task_id) }, shortID(md.task_id)) : shortID(md.aggregate_id);
        return h('tr', { data: { seq: f.seq } }, h('td', { class: 'num' }, f.seq), h('td', null, time(f.timestamp)),
          h('td', null, f.event_type), h('td', null, about), h('td', null, md.status ? badge(viewStatus(md.status)) : ''));
      });
      replace(feedBox, h('h2', { id: 'ov-feed' }, 'Latest events'),
        h('p', { class: 'muted' }, 'As this tab received them over its live connection, newest first.'),
        rows.length ? h('div', { class: 'feed' }, table(null, [{ label: 'Seq', num: true }, { label: 'Time' }, { label: 'Event' }, { label: 'About' }, { label: 'Status' }], rows, { id: 'feed' }))
          : h('p', { class: 'muted' }, 'Nothing has happened since this tab connected.'));
    };

    loadHealth(); loadCounts(); loadFailures(); drawFeed();
    const counts = throttle(() => { loadCounts(); loadFailures(); }, 3000);
    const feed = throttle(drawFeed, 1000);
    const offFrames = live.subscribe((f) => {
      feed();
      if (/StatusChanged$|Created$/.test(f.event_type)) counts();
    });
    const offPoll = live.onPoll(() => { loadHealth(); loadCounts(); loadFailures(); });
    const healthTimer = setInterval(loadHealth, 15000);
    return () => { offFrames(); offPoll(); clearInterval(healthTimer); counts.cancel(); feed.cancel(); };
  },
};
