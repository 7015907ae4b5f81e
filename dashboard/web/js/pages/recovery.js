// Recovery: checkpoints, rollbacks (to a checkpoint, or of chosen tasks
// and operations) and restores, each behind a confirmation that says what
// it will do; the rollbacks' statistics; a started rollback followed live.

import { h, replace, table, field, throttle } from '../dom.js';
import { orch, newKey } from '../api.js';
import { live } from '../live.js';
import { session } from '../session.js';
import { badge, viewStatus } from '../status.js';
import { time, count, duration, shortID } from '../format.js';
import { confirm, errorNotice, toast, showFieldErrors } from '../dialog.js';

export default {
  title: 'Recovery',
  mount(root, { signal }) {
    const statsBox = h('section', { class: 'panel', 'aria-labelledby': 'r-stats' }, h('h2', { id: 'r-stats' }, 'Rollbacks'));
    const activeBox = h('div', { id: 'rollback-active', 'aria-live': 'polite' });
    const listBox = h('section', { class: 'panel', 'aria-labelledby': 'r-cps' }, h('h2', { id: 'r-cps' }, 'Checkpoints'));
    root.append(h('h1', null, 'Recovery'), activeBox);
    let active = null; // {id, data}

    if (session.can('checkpoints', 'create')) {
      const name = h('input', { type: 'text', name: 'name', required: true, maxlength: '63' });
      const desc = h('input', { type: 'text', name: 'description', maxlength: '1024', size: '50' });
      const out = h('div', { 'aria-live': 'polite' });
      const form = h('form', { class: 'stack', id: 'checkpoint-form', novalidate: true },
        field('Name', name, 'Letters, digits, . _ and -, e.g. before_major_update.'), field('Description', desc),
        h('div', null, h('button', { type: 'submit' }, 'Create checkpoint')), out);
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        try {
          const res = await orch.post('/rollback/checkpoints', { name: name.value.trim(), description: desc.value.trim() }, { idempotencyKey: newKey() });
          replace(out, h('p', { class: 'notice' }, `Checkpoint ${res.data} created.`));
          name.value = ''; desc.value = '';
          loadList();
        } catch (err) {
          replace(out, errorNotice({ ...err, message: err.message, status: err.status, fields: showFieldErrors(form, err) }));
        }
      });
      root.append(h('section', { class: 'panel', 'aria-labelledby': 'r-new' }, h('h2', { id: 'r-new' }, 'New checkpoint'),
        h('p', { class: 'muted' }, 'Records where the views are now: a later rollback can undo what completes after it, a restore can set the views back to it.'), form));
    }
    root.append(listBox);
    if (session.can('rollbacks', 'execute')) root.append(byOperations());
    root.append(statsBox);

    const startRollback = async (body, what) => {
      try {
        const res = await orch.post('/rollback/execute', body, { query: { wait: 0 }, idempotencyKey: newKey() });
        active = { id: res.data.rollback_id, data: res.data };
        drawActive();
        loadStats();
      } catch (err) {
        replace(activeBox, errorNotice(err));
      }
    };

    function byOperations() {
      const ids = h('textarea', { name: 'operation_ids', rows: '4', spellcheck: 'false' });
      const form = h('form', { class: 'stack', id: 'rollback-ops-form', novalidate: true },
        field('Tasks and operations', ids, 'One per line: a task id, <batch id>/<operation id>, or an operation id that only one batch has.'),
        h('div', null, h('button', { type: 'submit', class: 'secondary' }, 'Roll these back…')));
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const list = ids.value.split(/[\s,]+/).map(s => s.trim()).filter(Boolean);
        if (!list.length) return;
        const ok = await confirm({
          title: `Roll back ${list.length} item${list.length === 1 ? '' : 's'}?`, confirmLabel: 'Start the rollback', danger: true,
          body: [h('p', null, "The CLI's delete runs for every completed task they name (for an operation: each of its completed tasks), one at a time, the latest completed first."),
            h('ul', null, list.slice(0, 20).map(i => h('li', { class: 'mono' }, i)), list.length > 20 ? h('li', null, `and ${list.length - 20} more`) : null),
            h('p', null, 'Nothing starts if any of them cannot be rolled back; running tasks are never touched.')],
        });
        if (ok) startRollback({ operation_ids: list });
      });
      return h('section', { class: 'panel', 'aria-labelledby': 'r-ops' }, h('h2', { id: 'r-ops' }, 'Roll back tasks or operations'), form);
    }

    const drawActive = async () => {
      if (!active) return;
      let p = null;
      try { p = (await orch.get(`/state/workflows/${active.id}/progress`, null, { signal })).data; } catch { /* shown from the start answer */ }
      const st = p ? p.status : active.data.status;
      replace(activeBox, h('div', { class: 'notice', id: 'rollback-status', data: { status: st } },
        h('strong', null, 'Rollback ', h('span', { class: 'mono' }, shortID(active.id)), ': '), badge(st),
        p ? ` ${p.completed_steps} of ${p.total_steps} compensations done${p.current_step ? `, now ${p.current_step}` : ''}.` : ` ${active.data.operations_total} tasks to undo.`,
        active.done ? ` ${active.done.executed} executed, ${active.done.failed} failed, in ${duration(active.done.duration_seconds)}.` : ''));
    };

    const loadList = async () => {
      try {
        const res = await orch.get('/rollback/checkpoints', { limit: 100 }, { signal });
        const rows = res.data.map(cp => h('tr', { data: { checkpoint: cp.id } },
          h('td', null, cp.name), h('td', { class: 'mono' }, shortID(cp.id)), h('td', null, time(cp.created_at)),
          h('td', { class: 'num' }, cp.seq), h('td', null, cp.size), h('td', null, cp.description || ''),
          h('td', null, h('div', { class: 'row' },
            session.can('rollbacks', 'execute') ? h('button', { type: 'button', class: 'secondary', data: { action: 'rollback' }, on: { click: () => rollbackTo(cp) } }, 'Roll back to it…') : null,
            session.can('rollbacks', 'restore') ? h('button', { type: 'button', class: 'secondary', data: { action: 'restore' }, on: { click: () => restore(cp) } }, 'Restore views…') : null))));
        replace(listBox, h('h2', { id: 'r-cps' }, 'Checkpoints'), rows.length
          ? table(`${count(res.total)} checkpoints, newest first`, [{ label: 'Name' }, { label: 'Id' }, { label: 'Created' }, { label: 'Stream position', num: true }, { label: 'Size' }, { label: 'Description' }, { label: 'Actions' }], rows, { id: 'checkpoints' })
          : h('p', { class: 'muted' }, 'No checkpoint yet.'));
      } catch (err) {
        if (err.name !== 'AbortError') replace(listBox, h('h2', { id: 'r-cps' }, 'Checkpoints'), errorNotice(err));
      }
    };

    const rollbackTo = async (cp) => {
      let detail = null;
      try { detail = (await orch.get('/rollback/checkpoints/' + cp.id, null, { signal })).data; } catch { /* the dialog says less */ }
      const ok = await confirm({
        title: `Roll back to checkpoint ${cp.name}?`, confirmLabel: 'Start the rollback', danger: true,
        body: [h('p', null, `Every task that completed after this checkpoint (stream position ${cp.seq}, `, time(cp.created_at), ") is undone by the CLI's delete of the same thing, the latest completed first, one at a time."),
          detail ? h('p', null, `${count(detail.operations_count)} tasks had completed at the checkpoint; they are not touched.`) : null,
          h('p', null, 'Tasks already undone, dry runs and deletes are left out. If any target is still being worked on (its batch runs, or another rollback has it), nothing starts. Running tasks are never touched: cancel them first if they must not finish.')],
      });
      if (ok) startRollback({ checkpoint_id: cp.id });
    };

    const restore = async (cp) => {
      const ok = await confirm({
        title: `Restore the views to checkpoint ${cp.name}?`, confirmLabel: 'Restore', danger: true,
        body: [h('p', null, 'Tasks and batches are shown as they were at the checkpoint: whatever was created after it leaves the lists; whatever finished after it shows its state then.'),
          h('p', null, 'This changes views, not the world, and rewrites no history: every event stays readable. To undo work done after the checkpoint, roll back to it first.'),
          h('p', null, 'It is refused while tasks, batches or rollbacks run.')],
      });
      if (!ok) return;
      try {
        const res = await orch.post('/rollback/restore/' + cp.id);
        toast(res.data);
      } catch (err) {
        replace(activeBox, errorNotice(err));
      }
    };

    const loadStats = async () => {
      if (!session.can('rollbacks', 'read')) { statsBox.remove(); return; }
      try {
        const { data: s } = await orch.get('/rollback/statistics', null, { signal });
        replace(statsBox, h('h2', { id: 'r-stats' }, 'Rollbacks'), h('dl', { class: 'props' },
          h('dt', null, 'Rollbacks'), h('dd', null, `${s.total_rollbacks} (${s.completed_rollbacks} completed, ${s.failed_rollbacks} failed, ${s.running_rollbacks} running)`),
          h('dt', null, 'Success rate'), h('dd', null, `${s.success_rate.toFixed(0)} %`),
          h('dt', null, 'Mean duration'), h('dd', null, duration(s.average_rollback_time)),
          h('dt', null, 'Checkpoints'), h('dd', null, String(s.total_checkpoints)),
          h('dt', null, 'Restores'), h('dd', null, String(s.total_restores))));
      } catch (err) {
        if (err.name !== 'AbortError') replace(statsBox, h('h2', { id: 'r-stats' }, 'Rollbacks'), errorNotice(err));
      }
    };

    const follow = throttle(drawActive, 1000);
    const off = live.subscribe((f) => {
      if (f.event_type === 'CheckpointCreated' || f.event_type === 'StateRestored') { loadList(); loadStats(); }
      if (f.event_type === 'RollbackCompleted' && active && f.data.rollback_id === active.id) {
        active.done = f.data;
        active.data.status = viewStatus(f.data.status);
        drawActive();
        loadStats();
        return;
      }
      if (active && !active.done && f.event_type === 'TaskStatusChanged') follow();
    });
    const offPoll = live.onPoll(() => { loadList(); loadStats(); drawActive(); });
    loadList();
    loadStats();
    return () => { off(); offPoll(); follow.cancel(); };
  },
};
