// One task: what it runs, where it is, its output and error, its
// snapshots, its event history (for those who may read history), and a
// cancel behind a confirmation.

import { h, replace, table, throttle } from '../dom.js';
import { orch } from '../api.js';
import { live } from '../live.js';
import { session } from '../session.js';
import { badge, TERMINAL } from '../status.js';
import { time, duration, percent } from '../format.js';
import { href } from '../router.js';
import { confirm, errorNotice, toast } from '../dialog.js';

export default {
  title: 'Task',
  mount(root, { params, signal }) {
    const id = params.id;
    const head = h('div');
    const body = h('div', { id: 'task-body' }, h('p', { class: 'loading' }, 'Loading…'));
    const snaps = h('section', { class: 'panel', 'aria-labelledby': 't-snaps' });
    const hist = h('section', { class: 'panel', 'aria-labelledby': 't-hist' });
    root.append(head, body, snaps, hist);
    let task = null;

    const cancel = async () => {
      const ok = await confirm({
        title: `Cancel task ${task.name || id}?`, confirmLabel: 'Cancel the task', danger: true,
        body: [h('p', null, task.status === 'Pending'
          ? 'The task has not started: it will be marked Cancelled and never run.'
          : 'The task is running: its process group is sent SIGTERM, then SIGKILL after the grace period, and it ends Cancelled. What it already changed stays changed.'),
        task.batch_id ? h('p', null, 'It belongs to a batch: the batch stops scheduling new tasks, and rolls back if it has rollback enabled.') : null],
      });
      if (!ok) return;
      try {
        const res = await orch.post(`/tasks/${id}/cancel`);
        toast(res.data);
      } catch (err) {
        toast(err.message, { error: true });
      }
      load();
    };

    const load = async () => {
      try {
        const [{ data: t }, prog] = await Promise.all([
          orch.get('/tasks/' + id, null, { signal }),
          orch.get(`/state/workflows/${id}/progress`, null, { signal }).catch(() => null)]);
        task = t;
        const canCancel = session.can('tasks', 'cancel') && !TERMINAL.has(t.status);
        replace(head, h('h1', null, 'Task ', h('span', { class: 'mono' }, t.name || id)),
          h('div', { class: 'row' }, badge(t.status),
            h('progress', { max: '100', value: String(t.progress || 0), 'aria-label': 'progress' }), h('span', { class: 'pct', id: 'task-progress' }, percent(t.progress)),
            t.current_step ? h('span', null, 'Step: ', t.current_step) : null,
            prog && prog.data.estimated_time_remaining != null && !TERMINAL.has(t.status) ? h('span', { class: 'muted' }, 'about ', duration(prog.data.estimated_time_remaining), ' left') : null,
            h('span', { class: 'spacer' }),
            canCancel ? h('button', { type: 'button', class: 'danger', id: 'cancel-task', on: { click: cancel } }, 'Cancel task…') : null));
        const deps = (t.dependencies || []).map(d => h('a', { href: href('/tasks/' + d), class: 'mono' }, d));
        replace(body, h('div', { class: 'grid' },
          h('section', { class: 'panel', 'aria-labelledby': 't-what' }, h('h2', { id: 't-what' }, 'What it runs'),
            h('dl', { class: 'props' },
              h('dt', null, 'Id'), h('dd', { class: 'mono' }, t.id),
              h('dt', null, 'Workflow'), h('dd', null, t.workflow, t.operation ? ` (${t.operation})` : ''),
              h('dt', null, 'Command'), h('dd', { class: 'mono' }, t.command),
              h('dt', null, 'Arguments'), h('dd', null, (t.args || []).length ? h('ol', null, t.args.map(a => h('li', { class: 'mono' }, a))) : '–'),
              h('dt', null, 'Timeout'), h('dd', null, duration(t.timeout_seconds)),
              t.batch_id ? [h('dt', null, 'Batch'), h('dd', null, h('a', { href: href('/batches/' + t.batch_id) }, t.batch_id), ' operation ', h('code', null, t.operation_id))] : null,
              deps.length ? [h('dt', null, 'Waits for'), h('dd', null, deps.map((d, i) => [i ? ', ' : '', d]))] : null,
              t.compensates ? [h('dt', null, 'Undoes'), h('dd', null, h('a', { href: href('/tasks/' + t.compensates) }, t.compensates))] : null)),
          h('section', { class: 'panel', 'aria-labelledby': 't-when' }, h('h2', { id: 't-when' }, 'When'),
            h('dl', { class: 'props' },
              h('dt', null, 'Created'), h('dd', null, time(t.created_at)),
              h('dt', null, 'Started'), h('dd', null, time(t.started_at)),
              h('dt', null, 'Ended'), h('dd', null, time(t.completed_at)),
              h('dt', null, 'Attempts'), h('dd', null, String(t.attempts)),
              h('dt', null, 'Steps'), h('dd', null, `${t.completed_steps} of ${t.total_steps || '?'}`)))),
        h('section', { class: 'panel', 'aria-labelledby': 't-out' }, h('h2', { id: 't-out' }, 'Output'),
          t.output ? h('pre', { id: 'task-output' }, t.output) : h('p', { class: 'muted' }, 'No output yet.')),
        t.error ? h('section', { class: 'panel', 'aria-labelledby': 't-err' }, h('h2', { id: 't-err', class: 'error' }, 'Error'), h('pre', { id: 'task-error' }, t.error)) : null);
        root.dataset.status = t.status;
      } catch (err) {
        if (err.name !== 'AbortError') replace(body, errorNotice(err));
      }
      loadSnapshots();
      loadHistory();
    };

    const loadSnapshots = async () => {
      try {
        const res = await orch.get(`/state/workflows/${id}/snapshots`, { limit: 100 }, { signal });
        replace(snaps, h('h2', { id: 't-snaps' }, 'Snapshots'), table(null, [{ label: 'Seq', num: true }, { label: 'Time' }, { label: 'State' }, { label: 'Details' }],
          res.data.map(s => h('tr', null, h('td', { class: 'num' }, s.seq), h('td', null, time(s.timestamp)), h('td', null, badge(s.state)),
            h('td', null, s.details ? h('code', null, JSON.stringify(s.details)) : '')))));
      } catch (err) {
        if (err.name !== 'AbortError') replace(snaps, h('h2', { id: 't-snaps' }, 'Snapshots'), errorNotice(err));
      }
    };

    const loadHistory = async () => {
      if (!session.can('audit', 'read')) {
        replace(hist, h('h2', { id: 't-hist' }, 'Event history'), h('p', { class: 'muted' }, 'Reading history needs the audit permission, which your roles do not include.'));
        return;
      }
      try {
        const res = await orch.get(`/state/workflows/${id}/history`, { limit: 200 }, { signal });
        replace(hist, h('h2', { id: 't-hist' }, 'Event history'), table(`${res.total} events`, [{ label: 'Seq', num: true }, { label: 'Time' }, { label: 'Type' }, { label: 'Actor' }, { label: 'Data' }],
          res.data.map(e => h('tr', null, h('td', { class: 'num' }, e.seq), h('td', null, time(e.time)), h('td', null, e.type), h('td', null, e.actor || ''),
            h('td', null, h('details', null, h('summary', null, 'data'), h('pre', null, JSON.stringify(e.data, null, 2))))))));
      } catch (err) {
        if (err.name !== 'AbortError') replace(hist, h('h2', { id: 't-hist' }, 'Event history'), errorNotice(err));
      }
    };

    const reload = throttle(load, 1000);
    const off = live.subscribe((f) => {
      if (!f.metadata || f.metadata.task_id !== id) return;
      if (f.event_type === 'TaskProgress' && task && !TERMINAL.has(task.status)) {
        const el = document.getElementById('task-progress');
        if (el) el.textContent = percent(f.data.progress);
      }
      reload();
    });
    const offPoll = live.onPoll(load);
    load();
    return () => { off(); offPoll(); reload.cancel(); };
  },
};
