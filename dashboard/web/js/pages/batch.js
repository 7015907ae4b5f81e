// A batch as its dependency graph: every operation from the start, the
// pending ones included, coloured live by status with its progress; an
// operation's tasks on demand in the panel beside it; the same
// operations as a list below (the accessible equivalent of the canvas);
// cancel, and rollback of selected operations, behind confirmations.

import { h, replace, table, field, select, throttle } from '../dom.js';
import { orch, newKey } from '../api.js';
import { live } from '../live.js';
import { session } from '../session.js';
import { badge, viewStatus, rank, TERMINAL, statusInfo } from '../status.js';
import { time, count, percent, shortID } from '../format.js';
import { href } from '../router.js';
import { confirm, errorNotice, toast } from '../dialog.js';
import { layout } from '../graph/layout.js';
import { GraphView } from '../graph/view.js';
import { metrics } from '../metrics.js';

const OP_STATUSES = ['Pending', 'Running', 'Completed', 'Failed', 'Cancelled', 'Skipped', 'RolledBack'];
const PAGE = 50;

// Model is the batch as the page keeps it: REST's answer, then events.
class Model {
  constructor(b) {
    this.b = b;
    const ops = b.operations;
    this.ids = ops.map(o => o.id);
    this.index = new Map(this.ids.map((id, i) => [id, i]));
    this.deps = ops.map(o => (o.dependencies || []).map(d => this.index.get(d)).filter(i => i !== undefined));
    this.status = ops.map(o => o.status);
    this.progress = Float64Array.from(ops.map(o => o.progress || 0));
    this.tasks = ops.map(o => (o.results && o.results.tasks) || []);
    this.comps = ops.map(o => (o.results && o.results.compensations) || []);
    this.byTask = new Map();
    this.tasks.forEach((list, i) => list.forEach(t => { if (t.task_id) this.byTask.set(t.task_id, { op: i, t }); }));
    this.comps.forEach((list, i) => list.forEach(t => { if (t.task_id) this.byTask.set(t.task_id, { op: i, t, comp: true }); }));
    this.layout = layout(this.deps);
  }

  opProgress(i) {
    const list = this.tasks[i];
    if (!list.length) return 0;
    let s = 0;
    for (const t of list) s += t.status === 'Completed' ? 100 : (t.progress || 0);
    return Math.round((s / list.length) * 10) / 10;
  }

  // apply folds one event of this batch; it returns the operation it
  // changed (-1: the batch itself, undefined: nothing).
  apply(f) {
    const d = f.data || {};
    switch (f.event_type) {
      case 'BatchStatusChanged':
        this.b.status = viewStatus(d.status);
        this.b.progress = d.progress;
        this.b.completed_at = f.timestamp;
        if (d.error) this.b.error = d.error;
        metrics.statusChanges++;
        return -1;
      case 'BatchCancelRequested':
        this.b.cancel_requested = true;
        return -1;
      case 'OperationStatusChanged': {
        const i = this.index.get(d.operation_id);
        if (i === undefined) return undefined;
        this.status[i] = viewStatus(d.status);
        if (typeof d.progress === 'number') this.progress[i] = d.progress;
        metrics.statusChanges++;
        return i;
      }
      case 'TaskCreated': {
        const i = this.index.get(d.operation_id);
        if (i === undefined) return undefined;
        if (d.compensates) {
          const t = { task_id: d.task_id, name: d.name, status: 'Pending', progress: 0 };
          this.comps[i].push(t);
          this.byTask.set(d.task_id, { op: i, t, comp: true });
        } else {
          const t = this.tasks[i].find(x => !x.task_id && x.name === d.name) || this.tasks[i].find(x => x.task_id === d.task_id);
          if (!t) return undefined;
          t.task_id = d.task_id;
          this.byTask.set(d.task_id, { op: i, t });
        }
        return i;
      }
      case 'TaskStatusChanged': {
        const e = this.byTask.get(d.task_id);
        if (!e) return undefined;
        const st = viewStatus(d.status);
        if (rank(st) < rank(e.t.status)) return undefined;
        const was = e.t.status;
        e.t.status = st;
        if (st === 'Running' && !e.t.started_at) e.t.started_at = f.timestamp;
        if (TERMINAL.has(st)) {
          e.t.completed_at = f.timestamp;
          if (d.output) e.t.output = d.output;
          if (d.error) e.t.error = d.error;
          if (st === 'Completed') e.t.progress = 100;
        }
        if (!e.comp) {
          if (st === 'Running' && was !== 'Running') this.b.running_tasks++;
          if (TERMINAL.has(st) && was === 'Running') this.b.running_tasks = Math.max(0, this.b.running_tasks - 1);
          if (st === 'Completed' && was !== 'Completed') this.b.completed_tasks++;
          this.progress[e.op] = this.opProgress(e.op);
        }
        metrics.statusChanges++;
        return e.op;
      }
      case 'TaskProgress': {
        const e = this.byTask.get(d.task_id);
        if (!e || TERMINAL.has(e.t.status)) return undefined;
        e.t.progress = d.progress;
        if (!e.comp) this.progress[e.op] = this.opProgress(e.op);
        return e.op;
      }
    }
    return undefined;
  }
}

export default {
  title: 'Batch',
  async mount(root, { params, signal }) {
    const id = params.id;
    root.dataset.graph = 'loading';
    const head = h('div', { id: 'batch-head' }, h('h1', null, 'Batch ', h('span', { class: 'mono' }, shortID(id))), h('p', { class: 'loading' }, 'Loading…'));
    root.append(head);
    // Events that arrive while the batch loads are applied after it.
    const early = [];
    let model = null, view = null;
    const offEarly = live.subscribe((f) => { if (!model && f.metadata && f.metadata.batch_id === id) early.push(f); });
    let b;
    try {
      b = (await orch.get('/batch/operations/' + id, null, { signal })).data;
    } catch (err) {
      offEarly();
      if (err.name === 'AbortError') return undefined;
      replace(head, h('h1', null, 'Batch ', h('span', { class: 'mono' }, id)), errorNotice(err));
      return undefined;
    }
    model = new Model(b);
    offEarly();
    for (const f of early) model.apply(f);

    const marked = new Set(); // operations chosen for a rollback
    const tip = h('div', { class: 'graph-tip', hidden: true, 'aria-hidden': 'true' });
    const canvas = h('canvas', { tabindex: '0', role: 'img', id: 'graph',
      'aria-label': `Dependency graph of ${model.ids.length} operations. Arrow keys move between operations (left and right along a layer, up to a dependency, down to a dependent), Enter shows one, + and - zoom, 0 fits, Shift with arrows pans. The list below holds the same operations.` });
    const announce = h('div', { class: 'sr-only', 'aria-live': 'polite', id: 'graph-focus' });
    const tools = h('div', { class: 'graph-tools' },
      h('button', { type: 'button', title: 'Zoom in', 'aria-label': 'Zoom in', on: { click: () => view.zoom(1.4) } }, '+'),
      h('button', { type: 'button', title: 'Zoom out', 'aria-label': 'Zoom out', on: { click: () => view.zoom(1 / 1.4) } }, '−'),
      h('button', { type: 'button', title: 'Fit the whole graph', on: { click: () => view.fit() } }, 'Fit'));
    const graphBox = h('div', { class: 'graph-box' }, canvas, tools, tip);
    const detail = h('section', { class: 'panel detail-panel', 'aria-labelledby': 'op-title', id: 'op-detail' },
      h('h2', { id: 'op-title' }, 'Operation'), h('p', { class: 'muted' }, 'Select an operation in the graph or the list to see its tasks.'));
    const legend = h('div', { class: 'legend', 'aria-label': 'Legend' }, OP_STATUSES.map(s => badge(s)));
    const summary = h('div', { class: 'row', id: 'batch-summary' });
    const actions = h('div', { class: 'row' });
    const notices = h('div', { 'aria-live': 'polite' });
    const listBox = h('section', { class: 'panel', 'aria-labelledby': 'op-list' });
    replace(head, h('h1', null, 'Batch ', h('span', null, b.name), ' ', h('span', { class: 'mono muted' }, shortID(id))), summary, actions, notices);
    root.append(legend, h('div', { class: 'batch-layout' }, graphBox, detail), announce, listBox);

    const drawSummary = () => {
      const bb = model.b;
      root.dataset.status = bb.status;
      replace(summary, badge(bb.status),
        h('progress', { max: '100', value: String(bb.progress || 0), 'aria-label': 'batch progress' }), h('span', { class: 'pct' }, percent(bb.progress)),
        h('span', null, `${count(bb.completed_tasks)} of ${count(bb.total_tasks)} tasks completed, ${count(bb.running_tasks)} running; ${count(model.ids.length)} operations, parallel limit ${bb.parallel_limit}`),
        h('span', { class: 'muted' }, 'created ', time(bb.created_at)), bb.completed_at ? h('span', { class: 'muted' }, 'ended ', time(bb.completed_at)) : null,
        bb.error ? h('span', { class: 'error' }, bb.error) : null);
      const canCancel = session.can('batches', 'cancel') && bb.status === 'Running';
      const canRollback = session.can('rollbacks', 'execute') && bb.status !== 'Running';
      replace(actions,
        canCancel ? h('button', { type: 'button', class: 'danger', id: 'cancel-batch', on: { click: cancelBatch } }, bb.cancel_requested ? 'Cancelling…' : 'Cancel batch…') : null,
        canRollback ? h('button', { type: 'button', class: 'secondary', id: 'rollback-selected', disabled: !marked.size, on: { click: rollbackSelected } },
          `Roll back ${marked.size} selected operation${marked.size === 1 ? '' : 's'}…`) : null);
    };

    const cancelBatch = async () => {
      const running = model.b.running_tasks;
      const ok = await confirm({
        title: `Cancel batch ${model.b.name}?`, confirmLabel: 'Cancel the batch', danger: true,
        body: [h('p', null, `Every running task of the batch (${running} now) is stopped: its process group gets SIGTERM, then SIGKILL after the grace period. Operations not started are skipped and the batch ends Cancelled.`),
          h('p', null, 'Nothing is rolled back: what completed stays done (roll it back afterwards if you need to).')],
      });
      if (!ok) return;
      try {
        const res = await orch.post(`/batch/operations/${id}/cancel`);
        toast(res.data);
      } catch (err) {
        replace(notices, errorNotice(err));
      }
    };

    const rollbackSelected = async () => {
      const ops = [...marked].map(i => model.ids[i]);
      const done = [...marked].reduce((n, i) => n + model.tasks[i].filter(t => t.status === 'Completed').length, 0);
      const ok = await confirm({
        title: `Roll back ${ops.length} operation${ops.length === 1 ? '' : 's'}?`, confirmLabel: 'Start the rollback', danger: true,
        body: [h('p', null, `The CLI's delete runs for each of the ${done} completed tasks of ${ops.join(', ')}, one at a time, the latest completed first. Tasks not completed, or already undone, are left alone.`),
          h('p', null, 'The rollback is a workflow of its own: it goes on if you leave this page, and its tasks appear under their operations here.')],
      });
      if (!ok) return;
      try {
        const res = await orch.post('/rollback/execute', { operation_ids: ops.map(o => `${id}/${o}`) }, { query: { wait: 0 }, idempotencyKey: newKey() });
        const r = res.data;
        replace(notices, h('p', { class: 'notice', id: 'rollback-started' }, `Rollback ${r.rollback_id} ${r.status === 'Running' ? 'started' : r.status.toLowerCase()}: ${r.operations_total} tasks to undo.`));
        marked.clear();
        view.marked.clear();
        drawSummary(); drawList(); view.invalidate(true);
      } catch (err) {
        replace(notices, errorNotice(err));
      }
    };

    let selected = -1;
    const drawDetail = () => {
      if (selected < 0) return;
      const i = selected;
      const taskRows = (list) => list.map(t => h('tr', null,
        h('td', null, t.task_id ? h('a', { href: href('/tasks/' + t.task_id) }, t.name) : t.name),
        h('td', null, badge(t.status)), h('td', { class: 'num' }, percent(t.status === 'Completed' ? 100 : t.progress))));
      const cols = [{ label: 'Task' }, { label: 'Status' }, { label: 'Progress', num: true }];
      const eligible = session.can('rollbacks', 'execute') && model.b.status !== 'Running' && model.tasks[i].some(t => t.status === 'Completed');
      replace(detail, h('h2', { id: 'op-title' }, 'Operation ', h('span', { class: 'mono' }, model.ids[i])),
        h('dl', { class: 'props' },
          h('dt', null, 'Status'), h('dd', null, badge(model.status[i])),
          h('dt', null, 'Progress'), h('dd', null, percent(model.progress[i])),
          h('dt', null, 'Type'), h('dd', null, b.operations[i].type),
          h('dt', null, 'Depends on'), h('dd', null, model.deps[i].length ? model.deps[i].map((d, k) => [k ? ', ' : '', h('button', { type: 'button', class: 'link', on: { click: () => choose(d) } }, model.ids[d])]) : 'nothing')),
        eligible ? h('label', { class: 'check' }, h('input', { type: 'checkbox', checked: marked.has(i), on: { change: (ev) => mark(i, ev.target.checked) } }), 'Selected for rollback') : null,
        h('h3', null, `Tasks (${model.tasks[i].length})`), table(null, cols, taskRows(model.tasks[i]), { id: 'op-tasks' }),
        model.comps[i].length ? [h('h3', null, 'Compensations'), table(null, cols, taskRows(model.comps[i]))] : null);
    };
    const choose = (i) => { view.focus = i; view.select(i); view.show(i, true); };
    const mark = (i, on) => {
      if (on) marked.add(i); else marked.delete(i);
      view.marked = marked;
      view.invalidate(true);
      drawSummary(); drawList(); drawDetail();
    };

    // The list: the same operations, filtered and paged, in layer order.
    const order = model.layout.layers.flat();
    const filterStatus = select([['', 'Any'], ...OP_STATUSES.map(s => [s, statusInfo(s).word])], { name: 'op-status' });
    const filterText = h('input', { type: 'search', name: 'op-id', placeholder: 'part of an id', size: '20' });
    let page = 0;
    const shownRows = new Map(); // operation -> its row on this page
    const eligible = (i) => session.can('rollbacks', 'execute') && model.b.status !== 'Running' && model.tasks[i].some(t => t.status === 'Completed');
    const opRow = (i) => {
      const done = model.tasks[i].filter(t => t.status === 'Completed').length;
      return h('tr', { class: i === selected ? 'selected' : null, data: { op: model.ids[i], status: model.status[i] } },
        h('td', null, eligible(i) ? h('input', { type: 'checkbox', 'aria-label': 'select ' + model.ids[i] + ' for rollback', checked: marked.has(i), on: { change: (ev) => mark(i, ev.target.checked) } }) : ''),
        h('td', null, h('button', { type: 'button', class: 'link mono', on: { click: () => choose(i) } }, model.ids[i])),
        h('td', null, b.operations[i].type), h('td', null, badge(model.status[i])),
        h('td', null, h('progress', { max: '100', value: String(model.progress[i]), 'aria-label': 'progress of ' + model.ids[i] }), h('span', { class: 'pct' }, percent(model.progress[i]))),
        h('td', { class: 'num' }, `${done} / ${model.tasks[i].length}`),
        h('td', null, model.deps[i].map(d => model.ids[d]).join(', ')));
    };
    // patchRows redraws the rows of the operations events changed, in
    // place: a stream of events costs the rows it touches, and the focus
    // stays where the user put it.
    const patchRows = (changed) => {
      for (const i of changed) {
        const tr = shownRows.get(i);
        if (!tr || tr.contains(document.activeElement)) continue;
        const next = opRow(i);
        tr.replaceWith(next);
        shownRows.set(i, next);
      }
    };
    const drawList = () => {
      const st = filterStatus.value, text = filterText.value.trim().toLowerCase();
      const rows = order.filter(i => (!st || model.status[i] === st) && (!text || model.ids[i].toLowerCase().includes(text)));
      const pages = Math.max(1, Math.ceil(rows.length / PAGE));
      page = Math.min(page, pages - 1);
      shownRows.clear();
      const trs = rows.slice(page * PAGE, (page + 1) * PAGE).map(i => { const tr = opRow(i); shownRows.set(i, tr); return tr; });
      const pager = h('div', { class: 'pager' },
        h('button', { type: 'button', class: 'secondary', disabled: page === 0, on: { click: () => { page--; drawList(); } } }, '← Previous'),
        h('span', null, `Page ${page + 1} of ${pages} (${count(rows.length)} operations)`),
        h('button', { type: 'button', class: 'secondary', disabled: page >= pages - 1, on: { click: () => { page++; drawList(); } } }, 'Next →'));
      replace(listBox, h('h2', { id: 'op-list' }, 'Operations'),
        h('div', { class: 'filters' }, field('Status', filterStatus), field('Id contains', filterText)),
        pager, table(null, [{ label: 'Rollback' }, { label: 'Operation' }, { label: 'Type' }, { label: 'Status' }, { label: 'Progress' }, { label: 'Tasks done', num: true }, { label: 'Depends on' }], trs, { id: 'op-table' }));
    };
    filterStatus.addEventListener('change', () => { page = 0; drawList(); });
    filterText.addEventListener('input', () => { page = 0; drawList(); });

    view = new GraphView(canvas, model, {
      tip,
      onSelect: (i) => { selected = i; drawDetail(); drawList(); },
      onFocus: (i) => { announce.textContent = `${model.ids[i]}: ${statusInfo(model.status[i]).word}, ${Math.round(model.progress[i])} %, ${model.tasks[i].length} tasks, layer ${model.layout.layer[i] + 1}`; },
      onDraw: (ms) => { metrics.drawMs = ms; metrics.maxDrawMs = Math.max(metrics.maxDrawMs || 0, ms); },
      onFirstDraw: () => setTimeout(() => {
        metrics.graphReadyAt = performance.now();
        root.dataset.graph = 'ready';
      }, 0),
    });
    drawSummary();
    drawList();

    // Live: fold the batch's events; redraw what they changed, coalesced.
    const changedOps = new Set();
    const lists = throttle(() => {
      drawSummary();
      patchRows(changedOps);
      if (changedOps.has(selected)) drawDetail();
      changedOps.clear();
    }, 500);
    let wasRunning = model.b.status === 'Running';
    const off = live.subscribe((f) => {
      if (!f.metadata || f.metadata.batch_id !== id) return;
      const changed = model.apply(f);
      if (changed === undefined) return;
      if (changed >= 0) { view.touch(changed); changedOps.add(changed); }
      if (wasRunning && model.b.status !== 'Running') {
        // The batch ended: rollback becomes possible, every row may change.
        wasRunning = false;
        lists.cancel();
        changedOps.clear();
        drawSummary(); drawList(); drawDetail();
        return;
      }
      lists();
    });
    const reload = async () => {
      try {
        const fresh = (await orch.get('/batch/operations/' + id, null, { signal })).data;
        const m = new Model(fresh);
        if (m.ids.length !== model.ids.length) return;
        Object.assign(model, { b: m.b, status: m.status, progress: m.progress, tasks: m.tasks, comps: m.comps, byTask: m.byTask });
        view.invalidate(true);
        drawSummary(); drawList(); drawDetail();
      } catch { /* the next poll tries again */ }
    };
    const offPoll = live.onPoll(reload);
    return () => { off(); offPoll(); lists.cancel(); view.destroy(); };
  },
};
