// Building the DOM without HTML strings: every text goes in as a text
// node, so nothing an API returns can become markup (the page's
// Content-Security-Policy also requires Trusted Types for script sinks,
// which this code never uses).

// h creates an element. props: class, id, text, for, on: {event: fn},
// data: {key: value}, and any other attribute (false/null/undefined leave
// it out, true sets it empty). Children are nodes, strings, numbers,
// arrays of them, or null/false (skipped).
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
      else if (k === 'data') for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = dv;
      else if (k === 'value') el.value = v;
      else if (k === 'checked' || k === 'selected' || k === 'disabled') el[k] = !!v;
      else el.setAttribute(k === 'htmlFor' ? 'for' : k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// replace empties el and appends children.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// field is a labelled form control with an optional hint and a place for
// its error (shown by showFieldErrors).
let fieldSeq = 0;
export function field(label, control, hint) {
  if (!control.id) control.id = 'f' + (++fieldSeq);
  const hintEl = hint ? h('span', { class: 'hint', id: control.id + '-hint' }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  const err = h('span', { class: 'field-error', id: control.id + '-error', role: 'alert' });
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), hintEl, control, err);
}

// checkbox is a labelled check box.
export function checkbox(label, props = {}) {
  const input = h('input', { type: 'checkbox', ...props });
  return { input, el: h('label', { class: 'check' }, input, label) };
}

// select builds a <select> of [value, label] pairs.
export function select(options, props = {}) {
  return h('select', props, options.map(([v, l]) => h('option', { value: v, selected: v === props.value }, l)));
}

// table builds a table: columns [{label, num}], rows of cell arrays.
export function table(caption, columns, rows, props = {}) {
  return h('div', { class: 'table-wrap' }, h('table', props,
    caption ? h('caption', null, caption) : null,
    h('thead', null, h('tr', null, columns.map(c => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label)))),
    h('tbody', null, rows)));
}

// throttle runs fn at most once every ms milliseconds, the last call
// winning (trailing edge).
export function throttle(fn, ms) {
  let timer = null, last = 0, pending = false;
  const run = () => { timer = null; last = performance.now(); pending = false; fn(); };
  const t = () => {
    pending = true;
    if (timer) return;
    const wait = Math.max(0, last + ms - performance.now());
    timer = setTimeout(run, wait);
  };
  t.cancel = () => { if (timer) clearTimeout(timer); timer = null; pending = false; };
  t.pending = () => pending;
  return t;
}
