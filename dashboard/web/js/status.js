// The statuses the APIs speak and how each reads: a word and a glyph
// beside its colour, never the colour alone. The WebSocket's events carry
// statuses in snake lower case ("rolled_back"); the REST views in
// PascalCase ("RolledBack"); viewStatus turns the first into the second.

import { h } from './dom.js';

const KNOWN = {
  Pending: { glyph: '○', word: 'Pending' },
  Running: { glyph: '▶', word: 'Running' },
  Completed: { glyph: '✓', word: 'Completed' },
  Failed: { glyph: '✗', word: 'Failed' },
  Cancelled: { glyph: '⊘', word: 'Cancelled' },
  Skipped: { glyph: '↷', word: 'Skipped' },
  RolledBack: { glyph: '↺', word: 'Rolled back' },
  // Health, deliveries, endpoints, audit results.
  Healthy: { glyph: '✓', word: 'Healthy' },
  Degraded: { glyph: '!', word: 'Degraded' },
  Unhealthy: { glyph: '✗', word: 'Unhealthy' },
  pending: { glyph: '○', word: 'pending', cls: 'pending' },
  retrying: { glyph: '↻', word: 'retrying', cls: 'retrying' },
  delivered: { glyph: '✓', word: 'delivered', cls: 'delivered' },
  failed: { glyph: '✗', word: 'failed', cls: 'failed' },
  active: { glyph: '●', word: 'active', cls: 'active' },
  disabled: { glyph: '⏸', word: 'disabled', cls: 'disabled' },
  success: { glyph: '✓', word: 'success', cls: 'success' },
  failure: { glyph: '✗', word: 'failure', cls: 'failure' },
  denied: { glyph: '⛔', word: 'denied', cls: 'denied' },
};

// TERMINAL statuses of tasks, operations and batches.
export const TERMINAL = new Set(['Completed', 'Failed', 'Cancelled', 'Skipped', 'RolledBack']);

// rank orders a task's statuses: a late event never moves a task back.
export function rank(status) {
  if (!status || status === 'Pending') return 0;
  if (status === 'Running') return 1;
  return 2;
}

export function statusInfo(status) {
  return KNOWN[status] || { glyph: '?', word: String(status || 'unknown') };
}

// statusClass is the CSS class of a status (st-completed, st-rolledback).
export function statusClass(status) {
  const info = KNOWN[status];
  return 'st-' + String((info && info.cls) || status || 'unknown').toLowerCase();
}

// badge is a status as glyph and word, coloured by its class.
export function badge(status) {
  const info = statusInfo(status);
  return h('span', { class: 'badge ' + statusClass(status), data: { status: status || '' } },
    h('span', { class: 'glyph', 'aria-hidden': 'true' }, info.glyph), info.word);
}

// viewStatus turns an event's status ("rolled_back") into the views'
// ("RolledBack").
export function viewStatus(s) {
  if (!s) return s;
  return s.split('_').map(w => w.charAt(0).toUpperCase() + w.slice(1)).join('');
}

// color is a status's colour from the style sheet's custom properties.
const colors = new Map();
export function color(status) {
  let c = colors.get(status);
  if (!c) {
    const name = '--' + statusClass(status);
    c = getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#7b8496';
    colors.set(status, c);
  }
  return c;
}
