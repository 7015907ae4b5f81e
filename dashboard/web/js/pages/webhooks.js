// Webhooks: endpoints (register, remove), an endpoint's deliveries with
// every attempt, and a retry. Webhook bookkeeping never goes out on the
// WebSocket (registrations carry secrets), so the deliveries shown are
// re-read every REFRESH_MS while the page is open.

import { h, replace, table, field, select } from '../dom.js';
import { orch, newKey } from '../api.js';
import { session } from '../session.js';
import { badge } from '../status.js';
import { time, shortID } from '../format.js';
import { confirm, errorNotice, toast, showFieldErrors } from '../dialog.js';
import { href, navigate } from '../router.js';

const REFRESH_MS = 5000;

export default {
  title: 'Webhooks',
  mount(root, { query, signal }) {
    const chosen = query.get('endpoint') || '';
    const listBox = h('section', { class: 'panel', 'aria-labelledby': 'w-list' }, h('h2', { id: 'w-list' }, 'Endpoints'));
    const delBox = h('section', { class: 'panel', 'aria-labelledby': 'w-del', id: 'deliveries' });
    root.append(h('h1', null, 'Webhooks'));
    if (session.can('webhooks', 'create')) root.append(createForm());
    root.append(listBox, delBox);

    function createForm() {
      const url = h('input', { type: 'url', name: 'url', required: true, size: '50', placeholder: 'https://your-system.example/webhook' });
      const evs = h('input', { type: 'text', name: 'events', required: true, size: '50', value: 'task.*, batch.*' });
      const secret = h('input', { type: 'text', name: 'secret', size: '40', autocomplete: 'off' });
      const desc = h('input', { type: 'text', name: 'description', size: '50' });
      const out = h('div', { 'aria-live': 'polite' });
      const form = h('form', { class: 'stack', id: 'webhook-form', novalidate: true },
        field('URL', url), field('Events', evs, 'Names or patterns, comma-separated: task.completed, task.*, *'),
        field('Secret', secret, 'Optional: 8 to 256 characters; generated when left empty. Shown only once.'), field('Description', desc),
        h('div', null, h('button', { type: 'submit' }, 'Register endpoint')), out);
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const body = { url: url.value.trim(), events: evs.value.split(',').map(s => s.trim()).filter(Boolean) };
        if (secret.value) body.secret = secret.value;
        if (desc.value.trim()) body.description = desc.value.trim();
        try {
          const { data } = await orch.post('/webhooks', body, { idempotencyKey: newKey() });
          replace(out, h('div', { class: 'notice warn', role: 'alert' }, h('strong', null, 'Endpoint registered. '),
            'Its signing secret is shown this once: ', h('code', { id: 'webhook-secret' }, data.secret)));
          url.value = ''; secret.value = ''; desc.value = '';
          loadList();
        } catch (err) {
          replace(out, errorNotice({ ...err, message: err.message, status: err.status, fields: showFieldErrors(form, err) }));
        }
      });
      return h('section', { class: 'panel', 'aria-labelledby': 'w-new' }, h('h2', { id: 'w-new' }, 'Register an endpoint'), form);
    }

    const remove = async (w) => {
      const ok = await confirm({ title: `Remove the endpoint ${w.url}?`, confirmLabel: 'Remove', danger: true,
        body: h('p', null, 'No event is sent to it any more and its queued deliveries are dropped. Its delivery log goes with it.') });
      if (!ok) return;
      try { await orch.del('/webhooks/' + w.id); toast('Endpoint removed.'); loadList(); } catch (err) { toast(err.message, { error: true }); }
    };

    const loadList = async () => {
      try {
        const res = await orch.get('/webhooks', { limit: 200 }, { signal });
        const rows = res.data.map(w => h('tr', { class: w.id === chosen ? 'selected' : null, data: { webhook: w.id } },
          h('td', null, h('a', { href: href('/webhooks?endpoint=' + w.id) }, w.url)), h('td', null, badge(w.status)),
          h('td', null, w.events.join(', ')), h('td', null, w.source), h('td', { class: 'num' }, String(w.consecutive_failures)),
          h('td', null, time(w.last_success_at)), h('td', null, w.disabled_reason || ''),
          h('td', null, session.can('webhooks', 'delete') && w.source === 'api' ? h('button', { type: 'button', class: 'secondary', on: { click: () => remove(w) } }, 'Remove…') : '')));
        replace(listBox, h('h2', { id: 'w-list' }, 'Endpoints'), rows.length
          ? table(null, [{ label: 'URL' }, { label: 'Status' }, { label: 'Events' }, { label: 'Source' }, { label: 'Failures in a row', num: true }, { label: 'Last success' }, { label: 'Disabled because' }, { label: '' }], rows, { id: 'webhooks' })
          : h('p', { class: 'muted' }, 'No endpoint is registered.'));
      } catch (err) {
        if (err.name !== 'AbortError') replace(listBox, h('h2', { id: 'w-list' }, 'Endpoints'), errorNotice(err));
      }
    };

    const statusFilter = select([['', 'Any'], ['pending', 'pending'], ['retrying', 'retrying'], ['delivered', 'delivered'], ['failed', 'failed']], { name: 'status', value: query.get('status') || '' });
    statusFilter.addEventListener('change', () => navigate('/webhooks?' + new URLSearchParams({ endpoint: chosen, ...(statusFilter.value ? { status: statusFilter.value } : {}) })));

    const retry = async (d) => {
      const ok = await confirm({ title: 'Deliver again?', confirmLabel: 'Retry',
        body: h('p', null, `Delivery ${d.id} (${d.event}) gets another round of attempts with the same webhook-id, so the receiver can tell it is the same event. A disabled endpoint is enabled again.`) });
      if (!ok) return;
      try { await orch.post(`/webhooks/deliveries/${d.id}/retry`); toast('Delivery queued again.'); loadDeliveries(); } catch (err) { toast(err.message, { error: true }); }
    };

    const loadDeliveries = async () => {
      if (!chosen) { replace(delBox, h('h2', { id: 'w-del' }, 'Deliveries'), h('p', { class: 'muted' }, 'Choose an endpoint to see its deliveries.')); return; }
      try {
        const res = await orch.get(`/webhooks/${chosen}/deliveries`, { limit: 100, status: statusFilter.value }, { signal });
        const rows = res.data.map(d => h('tr', { data: { delivery: d.id, status: d.status } },
          h('td', { class: 'mono' }, shortID(d.id)), h('td', null, d.event), h('td', null, badge(d.status)),
          h('td', { class: 'num' }, String(d.attempt)), h('td', null, d.status_code == null ? '–' : String(d.status_code)),
          h('td', null, time(d.updated_at)),
          h('td', null, h('details', null, h('summary', null, `${d.attempts.length} attempt${d.attempts.length === 1 ? '' : 's'}`),
            h('ol', null, d.attempts.map(a => h('li', null, time(a.at), ' ', badge(a.outcome), a.status_code != null ? ` HTTP ${a.status_code}` : '',
              ` ${a.latency_ms.toFixed(1)} ms`, a.error ? h('span', { class: 'error' }, ' ', a.error) : '', a.next_retry_at ? [' next ', time(a.next_retry_at)] : ''))))),
          h('td', null, session.can('webhooks', 'retry') && d.status !== 'delivered' && d.status !== 'pending'
            ? h('button', { type: 'button', class: 'secondary', data: { action: 'retry' }, on: { click: () => retry(d) } }, 'Retry…') : '')));
        replace(delBox, h('h2', { id: 'w-del' }, 'Deliveries'),
          h('div', { class: 'filters' }, field('Status', statusFilter)),
          h('p', { class: 'muted' }, `Newest first; refreshed every ${REFRESH_MS / 1000} s.`),
          rows.length ? table(null, [{ label: 'Id' }, { label: 'Event' }, { label: 'Status' }, { label: 'Attempts', num: true }, { label: 'Last HTTP' }, { label: 'Updated' }, { label: 'Attempts' }, { label: '' }], rows, { id: 'deliveries-table' })
            : h('p', { class: 'muted' }, 'No delivery yet.'));
      } catch (err) {
        if (err.name !== 'AbortError') replace(delBox, h('h2', { id: 'w-del' }, 'Deliveries'), errorNotice(err));
      }
    };

    loadList();
    loadDeliveries();
    // Reading the details of open attempts must not be interrupted.
    const timer = setInterval(() => { if (!delBox.querySelector('details[open]')) loadDeliveries(); }, REFRESH_MS);
    return () => clearInterval(timer);
  },
};
