#!/usr/bin/env node
// A small, complete Node.js client of provisioning (axios for HTTP, ws for
// the WebSocket).
//
// As a module:
//
//   import { ProvisioningClient } from './provisioning-client.mjs';
//   const c = new ProvisioningClient('http://localhost:9090', 'http://localhost:9080');
//   await c.login('admin', 'password');          // mfaCode as third argument when enrolled
//   const taskId = await c.createServers({ infra: 'production', settings: 'config.ncl' });
//   const status = await c.watch(taskId, (event) => console.log(event.event_type, event.data));
//
// As a command (exit 0 on success, 1 when a watched task did not complete,
// 2 on bad usage, 3 on API errors):
//
//   PROVISIONING_PASSWORD=... node provisioning-client.mjs submit --infra production
//   node provisioning-client.mjs watch TASK_ID
//   node provisioning-client.mjs verify SECRET < body.json   (headers in WEBHOOK_* variables)
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import axios from 'axios';
import WebSocket from 'ws';

const MEDIA_TYPE = 'application/vnd.provisioning.v1+json';

/** An answer that is not a success: the HTTP status and the server's message. */
export class APIError extends Error {
  constructor(status, message, fields = []) {
    super(`${status}: ${message}`);
    this.status = status;
    this.serverMessage = message;
    this.fields = fields;
  }
}

export class ProvisioningClient {
  constructor(orchestrator = 'http://localhost:9090', control = 'http://localhost:9080', token = null) {
    this.orchestrator = orchestrator.replace(/\/$/, '');
    this.control = control.replace(/\/$/, '');
    this.token = token;
    this.expiresAt = null;
    this.http = axios.create({ timeout: 30000, headers: { Accept: MEDIA_TYPE }, validateStatus: () => true });
  }

  async call(method, base, path, { body, params, headers = {}, page = false } = {}) {
    if (!path.startsWith('/auth/')) await this.refreshIfDue();
    const h = { ...headers };
    if (this.token) h.Authorization = `Bearer ${this.token}`;
    const res = await this.http.request({ method, url: base + path, data: body, params, headers: h });
    const env = res.data;
    if (typeof env !== 'object' || env === null || res.status >= 300 || !env.success) {
      const msg = env && typeof env === 'object' ? env.error : `not a provisioning answer: ${String(env).slice(0, 200)}`;
      throw new APIError(res.status, msg || res.statusText, (env && env.fields) || []);
    }
    return page ? { items: env.data, headers: res.headers } : env.data;
  }

  /** Refresh the token in its last five minutes. */
  async refreshIfDue() {
    if (!this.token || !this.expiresAt) return;
    const left = this.expiresAt - Date.now();
    if (left > 0 && left < 5 * 60 * 1000) await this.refresh();
  }

  keep(data) {
    this.token = data.token;
    this.expiresAt = data.expires_at ? Date.parse(data.expires_at) : null;
  }

  async login(username, password, mfaCode) {
    this.token = null;
    const body = { username, password };
    if (mfaCode) body.mfa_code = mfaCode;
    const data = await this.call('POST', this.control, '/auth/login', { body });
    this.keep(data);
    return data;
  }

  async refresh() {
    const data = await this.call('POST', this.control, '/auth/refresh', { body: { token: this.token } });
    this.keep(data);
    return data;
  }

  async logout() {
    try {
      return await this.call('POST', this.control, '/auth/logout');
    } finally {
      this.token = null;
    }
  }

  async createServers({ infra, settings, checkMode = false, wait = true, idempotencyKey }) {
    const body = { infra, check_mode: checkMode, wait };
    if (settings) body.settings = settings;
    const headers = idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {};
    return this.call('POST', this.orchestrator, '/workflows/servers/create', { body, headers });
  }

  async executeBatch(batch, idempotencyKey) {
    const headers = idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {};
    return this.call('POST', this.orchestrator, '/batch/execute', { body: batch, headers });
  }

  async task(id) {
    return this.call('GET', this.orchestrator, `/tasks/${encodeURIComponent(id)}`);
  }

  /** Every task, following the Link rel="next" header page after page. */
  async *tasks(status) {
    let path = '/tasks';
    let params = { limit: 100, ...(status ? { status } : {}) };
    for (;;) {
      const { items, headers } = await this.call('GET', this.orchestrator, path, { params, page: true });
      yield* items;
      const next = /<([^>]+)>;\s*rel="next"/.exec(headers.link || '');
      if (!next || items.length === 0) return;
      const url = new URL(next[1], this.orchestrator);
      path = url.pathname;
      params = Object.fromEntries(url.searchParams);
    }
  }

  /** Open the WebSocket; resolves once connected. onEvent gets each frame
   *  ({event_type, timestamp, data, metadata, seq}). */
  subscribe({ taskId, batchId, types, since } = {}, onEvent) {
    const url = new URL(this.orchestrator.replace(/^http/, 'ws') + '/ws');
    if (taskId) url.searchParams.set('task_id', taskId);
    if (batchId) url.searchParams.set('batch_id', batchId);
    if (types) url.searchParams.set('events', types.join(','));
    if (since) url.searchParams.set('since', String(since));
    const headers = this.token ? { Authorization: `Bearer ${this.token}` } : {};
    const ws = new WebSocket(url, { headers });
    ws.on('message', (data) => onEvent(JSON.parse(data.toString())));
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
      ws.once('unexpected-response', (req, res) => {
        let body = '';
        res.on('data', (c) => { body += c; });
        res.on('end', () => {
          let msg = body.trim() || 'handshake refused';
          try { msg = JSON.parse(body).error; } catch { /* keep the text */ }
          reject(new APIError(res.statusCode, msg));
        });
      });
    });
  }

  /**
   * Follow a task until it ends; resolves with its final status as the
   * REST API spells it (Completed, Failed, Cancelled): events spell
   * statuses in lower case, so the end seen live is read back from the task.
   */
  async watch(taskId, onEvent = console.log) {
    let finish;
    const done = new Promise((resolve) => { finish = resolve; });
    const terminal = (s) => ['completed', 'failed', 'cancelled', 'skipped', 'rolledback'].includes(String(s).toLowerCase());
    // Subscribe first, then read the state: no event falls in between.
    const ws = await this.subscribe({ taskId }, (event) => {
      onEvent(event);
      const d = event.data || {};
      if (event.event_type === 'TaskStatusChanged' && d.task_id === taskId && terminal(d.status)) this.task(taskId).then((t) => finish(t.status), () => finish(d.status));
    });
    ws.on('close', async () => finish((await this.task(taskId)).status));
    const now = await this.task(taskId);
    if (terminal(now.status)) finish(now.status);
    const status = await done;
    ws.close();
    return status;
  }
}

/** Check a webhook delivery's signature; throws when it is not genuine.
 *  headers: the request's headers (lower-case names, as Node gives them);
 *  body: the raw bytes exactly as received. */
export function verifyWebhook(secret, headers, body, toleranceSeconds = 300, now = Date.now() / 1000) {
  const raw = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const same = (a, b) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
  if (headers['webhook-signature']) {
    const id = headers['webhook-id'];
    const ts = headers['webhook-timestamp'];
    if (!id || !/^\d+$/.test(ts || '')) throw new Error('webhook-id or webhook-timestamp missing');
    if (Math.abs(now - Number(ts)) > toleranceSeconds) throw new Error('webhook-timestamp too far from now (replay?)');
    const expected = createHmac('sha256', secret).update(`${id}.${ts}.`).update(raw).digest('base64');
    for (const sig of headers['webhook-signature'].split(' ')) {
      const [version, value] = sig.split(',', 2);
      if (version === 'v1' && value && same(value, expected)) return;
    }
    throw new Error('no webhook-signature matches');
  }
  const sig = headers['x-provisioning-signature'] || '';
  const expected = 'sha256=' + createHmac('sha256', secret).update(raw).digest('hex');
  if (!same(sig, expected)) throw new Error('X-Provisioning-Signature does not match');
}

async function main(argv) {
  const [cmd, ...rest] = argv;
  const arg = (name) => { const i = rest.indexOf(name); return i >= 0 ? rest[i + 1] : undefined; };
  if (cmd === 'verify') {
    const headers = {};
    for (const [name, v] of [['webhook-id', 'WEBHOOK_ID'], ['webhook-timestamp', 'WEBHOOK_TIMESTAMP'],
      ['webhook-signature', 'WEBHOOK_SIGNATURE'], ['x-provisioning-signature', 'X_PROVISIONING_SIGNATURE']]) {
      if (process.env[v] !== undefined) headers[name] = process.env[v];
    }
    try {
      verifyWebhook(rest[0], headers, readFileSync(0));
    } catch (e) {
      console.error(`invalid: ${e.message}`);
      return 1;
    }
    console.log('valid');
    return 0;
  }
  if (!['submit', 'tasks', 'watch'].includes(cmd)) {
    console.error('usage: provisioning-client.mjs submit --infra INFRA | tasks | watch TASK_ID | verify SECRET');
    return 2;
  }
  const c = new ProvisioningClient(process.env.PROVISIONING_SERVER, process.env.PROVISIONING_CONTROL_SERVER,
    process.env.PROVISIONING_TOKEN);
  try {
    if (!c.token) {
      await c.login(process.env.PROVISIONING_USERNAME || 'admin', process.env.PROVISIONING_PASSWORD, process.env.PROVISIONING_MFA_CODE);
    }
    if (cmd === 'submit') {
      console.log(await c.createServers({ infra: arg('--infra'), settings: arg('--settings') }));
    } else if (cmd === 'tasks') {
      for await (const t of c.tasks()) console.log(t.id, t.name, t.status);
    } else {
      const status = await c.watch(rest[0], (e) => console.log(e.seq, e.event_type, JSON.stringify(e.data)));
      console.log(status);
      return status.toLowerCase() === 'completed' ? 0 : 1;
    }
    return 0;
  } catch (e) {
    if (!(e instanceof APIError)) throw e;
    console.error(`error: ${e.serverMessage} (HTTP ${e.status})`);
    for (const f of e.fields) console.error(`  ${f.field}: ${f.message}`);
    return 3;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
