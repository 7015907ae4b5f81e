// Calls to the two APIs. The control center is this page's own origin;
// the orchestrator is another origin (CORS, no cookies: credentials are
// omitted and the token goes in the Authorization header). Every answer
// is the envelope {success, data | error, fields}; lists carry their
// paging in headers (X-Total-Count, X-Limit, X-Offset).

import { config } from './config.js';
import { session } from './session.js';

export class ApiError extends Error {
  constructor(status, message, { fields = [], requestId = '', retryAfter = '' } = {}) {
    super(message);
    this.status = status;
    this.fields = fields;
    this.requestId = requestId;
    this.retryAfter = retryAfter;
  }
}

// base is the URL of an API: 'cc' (control center) or 'orch'.
export function base(api) {
  return api === 'orch' ? config.orchestratorURL : '';
}

// call sends one request. opts: query (object; empty values left out),
// body (JSON), idempotencyKey, signal, anonymous (no token, no sign-in
// on 401), allowStatus (error statuses whose envelope is an answer, e.g.
// the health report's 503). It resolves to {data, status, total, limit, offset, headers}
// or throws an ApiError.
export async function call(api, method, path, opts = {}) {
  const url = new URL(base(api) + path, location.href);
  for (const [k, v] of Object.entries(opts.query || {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  }
  const headers = { Accept: 'application/json' };
  const token = session.token();
  if (token && !opts.anonymous) headers.Authorization = 'Bearer ' + token;
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey;
  let res;
  try {
    res = await fetch(url, {
      method, headers, credentials: 'omit', mode: 'cors', cache: 'no-store', redirect: 'error',
      referrerPolicy: 'no-referrer', signal: opts.signal,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    const where = api === 'orch' ? `the orchestrator (${config.orchestratorURL})` : 'the control center';
    throw new ApiError(0, `cannot reach ${where}: ${err.message}`);
  }
  let env = null;
  const text = await res.text();
  try { env = text ? JSON.parse(text) : null; } catch { env = null; }
  const num = (h) => { const v = res.headers.get(h); return v === null ? undefined : Number(v); };
  if (opts.allowStatus && opts.allowStatus.includes(res.status) && env) {
    return { data: env.data, status: res.status, error: env.error, headers: res.headers };
  }
  if (!res.ok || !env || env.success === false) {
    const message = (env && env.error) || `HTTP ${res.status}`;
    if (res.status === 401 && !opts.anonymous) session.expired();
    throw new ApiError(res.status, message, {
      fields: (env && env.fields) || [], requestId: res.headers.get('X-Request-Id') || '',
      retryAfter: res.headers.get('Retry-After') || '',
    });
  }
  return {
    data: env.data, status: res.status, headers: res.headers,
    total: num('X-Total-Count'), limit: num('X-Limit'), offset: num('X-Offset'),
  };
}

export const orch = {
  get: (path, query, opts = {}) => call('orch', 'GET', path, { ...opts, query }),
  post: (path, body, opts = {}) => call('orch', 'POST', path, { ...opts, body }),
  del: (path, opts = {}) => call('orch', 'DELETE', path, opts),
};

export const cc = {
  get: (path, query, opts = {}) => call('cc', 'GET', path, { ...opts, query }),
  post: (path, body, opts = {}) => call('cc', 'POST', path, { ...opts, body }),
  put: (path, body, opts = {}) => call('cc', 'PUT', path, { ...opts, body }),
  del: (path, opts = {}) => call('cc', 'DELETE', path, opts),
};

// newKey is an Idempotency-Key for one submission: a repeated click or a
// retry after a lost answer creates nothing twice.
export function newKey() {
  return crypto.randomUUID();
}
