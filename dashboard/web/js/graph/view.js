// The batch graph drawn on one <canvas>: pan (drag, arrow keys with
// Shift), zoom (wheel, + and -, 0 to fit), hit-testing for the pointer
// and a keyboard focus that walks the graph (arrows: along a layer, to a
// dependency, to a dependent; Enter selects). Only what is in view is
// drawn, nodes of one status in one fill, text only when it can be read;
// redraws are coalesced to one per animation frame and at most one every
// MIN_FRAME_MS while events stream in. The list beside the graph is its
// accessible equivalent.

import { NODE_W, NODE_H, GAP_Y } from './layout.js';
import { color, statusInfo } from '../status.js';

const MIN_FRAME_MS = 100;
const MAX_SCALE = 2.5;

export class GraphView {
  // model: {ids, status (array of strings), progress (Float64Array),
  // deps, layout}. hooks: onSelect(i), onFocus(i), tip (element).
  constructor(canvas, model, hooks = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d', { alpha: false });
    this.m = model;
    this.hooks = hooks;
    this.scale = 1;
    this.tx = 0;
    this.ty = 0;
    this.focus = -1;
    this.selected = -1;
    this.marked = new Set();
    this.dirty = new Set();
    this.full = true;
    this.frame = 0;
    this.timer = 0;
    this.lastDraw = 0;
    this.drawn = false;
    this.resize = new ResizeObserver(() => this.fitCanvas());
    this.resize.observe(canvas);
    this.fitCanvas();
    this.fit();
    this.listen();
  }

  destroy() {
    this.resize.disconnect();
    cancelAnimationFrame(this.frame);
    clearTimeout(this.timer);
  }

  fitCanvas() {
    const r = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    this.w = Math.max(1, r.width);
    this.h = Math.max(1, r.height);
    this.canvas.width = Math.round(this.w * dpr);
    this.canvas.height = Math.round(this.h * dpr);
    this.dpr = dpr;
    this.invalidate(true);
  }

  // fit shows the whole graph.
  fit() {
    const b = this.m.layout.bounds;
    const s = Math.min(this.w / (b.maxX - b.minX + 40), this.h / (b.maxY - b.minY + 40), 1.2);
    this.scale = Math.max(s, 0.002);
    this.tx = this.w / 2 - ((b.minX + b.maxX) / 2) * this.scale;
    this.ty = this.h / 2 - ((b.minY + b.maxY) / 2) * this.scale;
    this.invalidate(true);
  }

  zoom(factor, cx = this.w / 2, cy = this.h / 2) {
    const s = Math.min(MAX_SCALE, Math.max(0.002, this.scale * factor));
    this.tx = cx - ((cx - this.tx) * s) / this.scale;
    this.ty = cy - ((cy - this.ty) * s) / this.scale;
    this.scale = s;
    this.invalidate(true);
  }

  // invalidate asks for a whole redraw: at once (the next frame) for the
  // user's own moves, throttled otherwise.
  invalidate(now = false) {
    this.full = true;
    this.schedule(now);
  }

  // touch says node i changed (its status or progress): the next frame
  // repaints it alone, so a stream of changes costs what it changes, not
  // what the graph holds.
  touch(i) {
    this.dirty.add(i);
    this.schedule(false);
  }

  schedule(now) {
    if (this.frame || (this.timer && !now)) return;
    const wait = now ? 0 : Math.max(0, this.lastDraw + MIN_FRAME_MS - performance.now());
    if (this.timer && now) { clearTimeout(this.timer); this.timer = 0; }
    const go = () => { this.timer = 0; this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); }); };
    if (wait > 0) this.timer = setTimeout(go, wait);
    else go();
  }

  // viewport is the part of the world in view, nodes' half sizes added.
  viewport() {
    const s = this.scale;
    return { x0: (-this.tx) / s - NODE_W / 2, x1: (this.w - this.tx) / s + NODE_W / 2,
      y0: (-this.ty) / s - NODE_H / 2, y1: (this.h - this.ty) / s + NODE_H / 2 };
  }

  // visible calls fn for each node in view.
  visible(fn) {
    const { x, y, layers } = this.m.layout;
    const { x0, x1, y0, y1 } = this.viewport();
    const step = NODE_H + GAP_Y;
    const l0 = Math.max(0, Math.floor(y0 / step)), l1 = Math.min(layers.length - 1, Math.ceil(y1 / step));
    for (let L = l0; L <= l1; L++) {
      const row = layers[L];
      if (!row.length || y[row[0]] < y0 || y[row[0]] > y1) continue;
      let lo = 0, hi = row.length;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (x[row[mid]] < x0) lo = mid + 1; else hi = mid; }
      for (let k = lo; k < row.length && x[row[k]] <= x1; k++) fn(row[k]);
    }
  }

  draw() {
    const t0 = performance.now();
    const { ctx } = this;
    const s = this.scale;
    if (this.full || !this.drawn) this.drawAll();
    else {
      ctx.setTransform(this.dpr * s, 0, 0, this.dpr * s, this.dpr * this.tx, this.dpr * this.ty);
      const { x, y } = this.m.layout;
      const v = this.viewport();
      const list = [...this.dirty].filter(i => x[i] >= v.x0 && x[i] <= v.x1 && y[i] >= v.y0 && y[i] <= v.y1);
      this.drawNodes(list);
      if (list.length) this.drawMarks(null);
    }
    this.full = false;
    this.dirty.clear();
    this.lastDraw = performance.now();
    this.drawMs = this.lastDraw - t0;
    if (this.hooks.onDraw) this.hooks.onDraw(this.drawMs);
    if (!this.drawn) { this.drawn = true; if (this.hooks.onFirstDraw) this.hooks.onFirstDraw(); }
  }

  drawAll() {
    const { ctx, m } = this;
    const { x, y, children } = m.layout;
    const s = this.scale;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, this.w, this.h);
    ctx.setTransform(this.dpr * s, 0, 0, this.dpr * s, this.dpr * this.tx, this.dpr * this.ty);
    const shown = [];
    this.visible(i => shown.push(i));
    const inView = new Set(shown);
    // Edges touching a node in view, dependency's bottom to dependent's
    // top; left out when the nodes are specks and thousands are in view
    // (they would only grey the picture).
    if (NODE_W * s >= 3 || shown.length < 3000) {
      ctx.beginPath();
      for (const i of shown) {
        for (const d of m.deps[i]) { ctx.moveTo(x[d], y[d] + NODE_H / 2); ctx.lineTo(x[i], y[i] - NODE_H / 2); }
        for (const c of children[i]) if (!inView.has(c)) { ctx.moveTo(x[i], y[i] + NODE_H / 2); ctx.lineTo(x[c], y[c] - NODE_H / 2); }
      }
      ctx.strokeStyle = s < 0.2 ? 'rgba(90,100,120,0.25)' : 'rgba(90,100,120,0.6)';
      ctx.lineWidth = Math.max(1 / s, 1);
      ctx.stroke();
    }
    this.drawNodes(shown);
    this.drawMarks(inView);
    this.shown = shown.length;
  }

  // drawNodes paints nodes over whatever is there: one fill per status,
  // then progress bars and glyphs (the status is never the colour alone)
  // and, when readable, their id and status word.
  drawNodes(list) {
    const { ctx, m } = this;
    const { x, y } = m.layout;
    const byStatus = new Map();
    for (const i of list) {
      const st = m.status[i];
      let l = byStatus.get(st);
      if (!l) byStatus.set(st, (l = []));
      l.push(i);
    }
    for (const [st, l] of byStatus) {
      ctx.fillStyle = color(st);
      ctx.beginPath();
      for (const i of l) ctx.rect(x[i] - NODE_W / 2, y[i] - NODE_H / 2, NODE_W, NODE_H);
      ctx.fill();
    }
    const px = NODE_W * this.scale;
    if (px < 24) return;
    ctx.fillStyle = 'rgba(17,24,39,0.55)';
    ctx.beginPath();
    for (const i of list) {
      const p = Math.max(0, Math.min(100, m.progress[i])) / 100;
      if (p > 0) ctx.rect(x[i] - NODE_W / 2, y[i] + NODE_H / 2 - 5, NODE_W * p, 5);
    }
    ctx.fill();
    ctx.textBaseline = 'middle';
    const big = px >= 90;
    ctx.font = `bold ${big ? 15 : 22}px system-ui, sans-serif`;
    for (const i of list) {
      ctx.fillStyle = textColor(m.status[i]);
      ctx.fillText(statusInfo(m.status[i]).glyph, x[i] - NODE_W / 2 + 6, big ? y[i] - 8 : y[i]);
    }
    if (!big) return;
    ctx.font = '13px system-ui, sans-serif';
    for (const i of list) {
      ctx.fillStyle = textColor(m.status[i]);
      ctx.fillText(clip(ctx, m.ids[i], NODE_W - 30), x[i] - NODE_W / 2 + 24, y[i] - 8);
      ctx.fillText(clip(ctx, `${statusInfo(m.status[i]).word} · ${Math.round(m.progress[i])} %`, NODE_W - 12), x[i] - NODE_W / 2 + 6, y[i] + 10);
    }
  }

  // drawMarks outlines the nodes chosen for a rollback, the selection and
  // the keyboard focus (inView: the nodes in view; null: check each).
  drawMarks(inView) {
    const s = this.scale;
    this.ctx.lineWidth = Math.max(2 / s, 2);
    const shown = (i) => (inView ? inView.has(i) : true);
    for (const i of this.marked) if (shown(i)) this.outline(i, '#111827', 6);
    if (this.selected >= 0) this.outline(this.selected, '#111827', 3);
    if (this.focus >= 0) this.outline(this.focus, '#ffb020', 8 / s);
  }

  outline(i, style, pad) {
    const { x, y } = this.m.layout;
    this.ctx.strokeStyle = style;
    this.ctx.strokeRect(x[i] - NODE_W / 2 - pad / 2, y[i] - NODE_H / 2 - pad / 2, NODE_W + pad, NODE_H + pad);
  }

  // hit is the node under a point of the canvas, -1 for none.
  hit(px, py) {
    const { x, y, layers } = this.m.layout;
    const wx = (px - this.tx) / this.scale, wy = (py - this.ty) / this.scale;
    const L = Math.round(wy / (NODE_H + GAP_Y));
    const row = layers[L];
    if (!row || Math.abs(wy - L * (NODE_H + GAP_Y)) > NODE_H / 2) return -1;
    let lo = 0, hi = row.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1, c = x[row[mid]];
      if (wx < c - NODE_W / 2) hi = mid - 1;
      else if (wx > c + NODE_W / 2) lo = mid + 1;
      else return row[mid];
    }
    return -1;
  }

  // show brings node i into view (centred when it is outside) and, with
  // zoomIn, makes it readable.
  show(i, zoomIn = false) {
    const { x, y } = this.m.layout;
    if (zoomIn && this.scale < 0.6) this.scale = 0.8;
    const sx = x[i] * this.scale + this.tx, sy = y[i] * this.scale + this.ty;
    const m = 40;
    if (zoomIn || sx < m || sx > this.w - m || sy < m || sy > this.h - m) {
      this.tx = this.w / 2 - x[i] * this.scale;
      this.ty = this.h / 2 - y[i] * this.scale;
    }
    this.invalidate(true);
  }

  setFocus(i, announce = true) {
    if (i < 0) return;
    this.focus = i;
    this.show(i);
    if (announce && this.hooks.onFocus) this.hooks.onFocus(i);
  }

  select(i) {
    this.selected = i;
    this.invalidate(true);
    if (this.hooks.onSelect) this.hooks.onSelect(i);
  }

  // neighbour is where an arrow key leads from node i.
  neighbour(i, key) {
    const { layer, layers, children, x } = this.m.layout;
    const row = layers[layer[i]];
    const k = row.indexOf(i);
    const nearest = (list) => list.reduce((b, c) => (b < 0 || Math.abs(x[c] - x[i]) < Math.abs(x[b] - x[i]) ? c : b), -1);
    switch (key) {
      case 'ArrowLeft': return k > 0 ? row[k - 1] : -1;
      case 'ArrowRight': return k < row.length - 1 ? row[k + 1] : -1;
      case 'ArrowUp': return nearest(this.m.deps[i]);
      case 'ArrowDown': return nearest(children[i]);
    }
    return -1;
  }

  listen() {
    const c = this.canvas;
    let drag = null;
    c.addEventListener('pointerdown', (ev) => {
      c.setPointerCapture(ev.pointerId);
      drag = { x: ev.clientX, y: ev.clientY, tx: this.tx, ty: this.ty, moved: false };
    });
    c.addEventListener('pointermove', (ev) => {
      const r = c.getBoundingClientRect();
      if (drag) {
        const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
        if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
        this.tx = drag.tx + dx;
        this.ty = drag.ty + dy;
        this.invalidate(true);
        return;
      }
      this.tip(this.hit(ev.clientX - r.left, ev.clientY - r.top), ev.clientX - r.left, ev.clientY - r.top);
    });
    c.addEventListener('pointerleave', () => this.tip(-1));
    c.addEventListener('pointerup', (ev) => {
      const r = c.getBoundingClientRect();
      if (drag && !drag.moved) {
        const i = this.hit(ev.clientX - r.left, ev.clientY - r.top);
        if (i >= 0) { this.focus = i; this.select(i); }
      }
      drag = null;
    });
    c.addEventListener('wheel', (ev) => {
      ev.preventDefault();
      const r = c.getBoundingClientRect();
      this.zoom(Math.exp(-ev.deltaY * 0.0015), ev.clientX - r.left, ev.clientY - r.top);
    }, { passive: false });
    c.addEventListener('focus', () => { if (this.focus < 0 && this.m.ids.length) this.setFocus(this.m.layout.layers[0][0]); });
    c.addEventListener('keydown', (ev) => {
      const pan = 80;
      if (ev.key.startsWith('Arrow') && ev.shiftKey) {
        const d = { ArrowLeft: [pan, 0], ArrowRight: [-pan, 0], ArrowUp: [0, pan], ArrowDown: [0, -pan] }[ev.key];
        this.tx += d[0]; this.ty += d[1]; this.invalidate(true);
      } else if (ev.key.startsWith('Arrow')) {
        const n = this.neighbour(this.focus < 0 ? 0 : this.focus, ev.key);
        if (n >= 0) this.setFocus(n);
      } else if (ev.key === 'Enter' || ev.key === ' ') {
        if (this.focus >= 0) this.select(this.focus);
      } else if (ev.key === '+' || ev.key === '=') this.zoom(1.25);
      else if (ev.key === '-') this.zoom(0.8);
      else if (ev.key === '0') this.fit();
      else if (ev.key === 'Home') this.setFocus(this.m.layout.layers[0][0]);
      else return;
      ev.preventDefault();
    });
  }

  tip(i, px, py) {
    const el = this.hooks.tip;
    if (!el) return;
    if (i < 0) { el.hidden = true; return; }
    el.hidden = false;
    el.textContent = `${this.m.ids[i]}: ${statusInfo(this.m.status[i]).word}, ${Math.round(this.m.progress[i])} %`;
    el.style.left = Math.min(px + 14, this.w - 200) + 'px';
    el.style.top = (py + 14) + 'px';
  }
}

// textColor is legible on a status's fill: dark on the pale ones.
function textColor(status) {
  return status === 'Pending' || status === 'Skipped' ? '#111827' : '#ffffff';
}

function clip(ctx, text, width) {
  if (ctx.measureText(text).width <= width) return text;
  let s = text;
  while (s.length > 1 && ctx.measureText(s + '…').width > width) s = s.slice(0, -1);
  return s + '…';
}
