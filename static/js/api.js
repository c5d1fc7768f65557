// REST and WebSocket client for the public API (docs/api.md). Same origin only.

import { packedPath, unpackFrame } from './frame-codec.js';
import { backoffMs, retryAfterMs } from './patience.js';

/** An API error with the server's {"detail": ...} message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Turn FastAPI's `detail` (a string or a list of validation errors) into one sentence. */
export function detailMessage(payload, status) {
  const d = payload && payload.detail;
  if (typeof d === 'string') return d;
  if (Array.isArray(d) && d.length) {
    return d
      .map((e) => {
        const loc = Array.isArray(e.loc) ? e.loc.filter((p) => p !== 'body').join('.') : '';
        return loc ? `${loc}: ${e.msg}` : String(e.msg ?? e);
      })
      .join('; ');
  }
  if (d && typeof d === 'object') return JSON.stringify(d);
  return `The server answered ${status}.`;
}

// Answers that mean "not now" (over a rate limit, a peer unavailable): temporary, so a page
// that set patience (the workshop pages) retries its reads after them instead of failing.
const TEMPORARY = new Set([429, 503]);
let patience = null;

/** Retry reads answered 429 or 503: `notice` (patience.js) says so while they wait. */
export function setPatience(notice) {
  patience = notice;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// GETs already on their way (first-run.js asks for the first session's data early): the next
// request for the same path takes the answer instead of asking again, once.
const primed = new Map();

/** The next GET of `path` takes `promise`'s answer (or, if it fails, asks as usual). */
export function primeGet(path, promise) {
  primed.set(path, promise);
}

/** fetch() a JSON endpoint; throws ApiError with a readable message on any failure. */
export async function request(method, path, body) {
  if (method === 'GET' && primed.has(path)) {
    const early = primed.get(path);
    primed.delete(path);
    try {
      return await early;
    } catch {
      // asked again below, with the usual retries and messages
    }
  }
  const init = { method, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const key = `${method} ${path}`;
  for (let attempt = 0; ; attempt++) {
    let res;
    try {
      res = await fetch(path, init);
    } catch {
      patience?.clear(key);
      throw new ApiError(0, 'The server cannot be reached.');
    }
    let payload = null;
    if (res.status !== 204) {
      try {
        payload = await res.json();
      } catch {
        payload = null;
      }
    }
    if (patience && method === 'GET' && TEMPORARY.has(res.status)) {
      const wait = backoffMs(attempt, { base: 1000, cap: 30000, retryAfterMs: retryAfterMs(res.headers.get('Retry-After')) });
      patience.show(key, detailMessage(payload, res.status), wait);
      await sleep(wait);
      continue;
    }
    patience?.clear(key);
    if (res.status === 204) return null;
    if (!res.ok) throw new ApiError(res.status, detailMessage(payload, res.status));
    return payload;
  }
}

const enc = encodeURIComponent;

/** A list the page was served with (`presets`, `datasets`: base.html), or undefined: ask for it. */
function served(key) {
  try {
    const list = JSON.parse(globalThis.document?.getElementById('catalog')?.textContent || '{}')[key];
    return Array.isArray(list) ? Promise.resolve(list) : undefined;
  } catch {
    return undefined;
  }
}

export const api = {
  presets: () => served('presets') ?? request('GET', '/api/presets'),
  datasets: () => served('datasets') ?? request('GET', '/api/datasets'),
  createSession: (config) => request('POST', '/api/sessions', config),
  getSession: (id) => request('GET', `/api/sessions/${enc(id)}`),
  config: (id) => request('GET', `/api/sessions/${enc(id)}/config`),
  deleteSession: (id) => request('DELETE', `/api/sessions/${enc(id)}`),
  data: (id) => request('GET', `/api/sessions/${enc(id)}/data`),
  matrix: (id) => request('GET', `/api/sessions/${enc(id)}/matrix`),
  step: (id, count) => request('POST', `/api/sessions/${enc(id)}/step`, { count }),
  patch: (id, change) => request('PATCH', `/api/sessions/${enc(id)}`, change),
  edit: (id, body) => request('POST', `/api/sessions/${enc(id)}/edit`, body),
  points: (id, body) => request('POST', `/api/sessions/${enc(id)}/points`, body),
  trace: (id) => request('GET', `/api/sessions/${enc(id)}/trace`),
  seek: (id, step) => request('POST', `/api/sessions/${enc(id)}/seek`, { step }),
  slice: (id, sel) => {
    const q = new URLSearchParams({ kind: sel.kind, layer: String(sel.layer), j: String(sel.j) });
    if (sel.kind === 'weight') q.set('i', String(sel.i));
    return request('GET', `/api/sessions/${enc(id)}/slice?${q}`);
  },
  chain: (id, sel) => {
    const q = new URLSearchParams({ kind: sel.kind, layer: String(sel.layer), j: String(sel.j) });
    if (sel.kind === 'weight') q.set('i', String(sel.i));
    return request('GET', `/api/sessions/${enc(id)}/chain?${q}`);
  },
};

/** ws(s):// URL for a path on this origin. */
export function wsUrl(path) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}${path}`;
}

/**
 * A WebSocket on a path of this origin that reconnects with backoff (0.25 s doubling to 5 s).
 * onClose(event) may return false to stop reconnecting (the room is gone).
 * A refusal (an `error` with `retry_after`, then close 1013 or 4429: a cap, a full room) is
 * temporary: the next try waits at least `retry_after`, from 2 s doubling to 30 s.
 * Callbacks: onMessage(msg), onStatus(state, detail), onOpen(), onClose(event),
 * onRefused(message, waitMs) (a refusal, and how long until the next try).
 * `protocols`: subprotocols to offer (the presenter's page proves its token so).
 */
// Sockets opened early (first-run.js opens the first session's): the next LiveSocket on the same
// URL takes one, with the messages it received meanwhile, instead of opening another.
const primedSockets = [];

/** Offer an early socket ({ws, messages, release}: first-run.js) to the next LiveSocket on its URL. */
export function primeSocket(early) {
  primedSockets.push(early);
}

/** The early socket on `url`, still open or opening, taken once; else null. */
function takeSocket(url) {
  const k = primedSockets.findIndex((e) => e.ws.url === url);
  if (k < 0) return null;
  const [early] = primedSockets.splice(k, 1);
  early.release();
  return early.ws.readyState <= WebSocket.OPEN ? early : null;
}

export class LiveSocket {
  constructor(path, handlers = {}, protocols = undefined) {
    this.path = path;
    this.h = handlers;
    this.protocols = protocols;
    this.ws = null;
    this.closed = false;
    this.attempt = 0;
    this.timer = null;
    this.refusal = null; // the last `error` with `retry_after`: {message, ms}
  }

  connect() {
    if (this.closed) return;
    this.h.onStatus?.('connecting');
    let ws;
    const url = wsUrl(packedPath(this.path));
    const early = this.protocols ? null : takeSocket(url);
    try {
      ws = early?.ws ?? new WebSocket(url, this.protocols);
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.closed || ws !== this.ws) return;
      // Not attempt = 0 here: a refused connection opens too (to read why); a frame resets it.
      this.h.onStatus?.('connected');
      this.h.onOpen?.();
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      let msg;
      try {
        msg = unpackFrame(JSON.parse(ev.data));
      } catch {
        return;
      }
      if (msg && msg.type !== 'error') this.attempt = 0;
      if (msg?.type === 'error' && Number.isFinite(msg.retry_after)) {
        this.refusal = { message: msg.message, ms: msg.retry_after * 1000 };
      }
      this.h.onMessage?.(msg);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      if (this.closed) return;
      if (this.h.onClose?.(ev) === false) {
        this.closed = true;
        return;
      }
      this.retry(ev.code === 1013 || ev.code === 4429);
    };
    ws.onerror = () => {};
    // An early socket: what it met before it was taken, in order, as if it happened now.
    if (early) {
      queueMicrotask(() => {
        if (ws.readyState === WebSocket.OPEN) ws.onopen();
        for (const ev of early.messages) ws.onmessage(ev);
      });
    }
  }

  /** Connect again after a backoff; `refused` (a cap, a full room): slower, up to 30 s. */
  retry(refused = false) {
    if (this.closed || this.timer) return;
    // Jitter (x0.5 to x1.5): a hall of browsers refused together does not return together.
    const [base, cap] = refused ? [2000, 30000] : [250, 5000];
    const refusal = refused ? this.refusal : null;
    this.refusal = null;
    const wait = backoffMs(this.attempt, { base, cap, retryAfterMs: refusal?.ms || 0 });
    this.attempt += 1;
    this.h.onStatus?.('reconnecting', wait);
    if (refused) this.h.onRefused?.(refusal?.message || 'The server is busy.', wait);
    this.timer = setTimeout(() => this.retryNow(), wait);
    // A server that went away (not one that refused us): while the page is seen, ask /healthz
    // often, so the page is back within a second of the server instead of a backoff later.
    if (!refused) this.probe();
  }

  /** Poll /healthz (every 300-500 ms, while the page is visible) until it answers; then connect. */
  probe() {
    clearTimeout(this.probeTimer);
    const again = () => {
      this.probeTimer = setTimeout(() => this.probe(), 300 + Math.random() * 200);
    };
    if (this.closed || !this.timer) return;
    if (document.visibilityState !== 'visible') {
      document.addEventListener('visibilitychange', () => this.probe(), { once: true });
      return;
    }
    fetch('/healthz', { cache: 'no-store' }).then(
      (res) => (res.ok && this.timer ? this.retryNow() : again()),
      () => again(),
    );
  }

  /** Connect now instead of when the backoff ends ("Retry now", a healthy probe). */
  retryNow() {
    if (this.closed) return;
    clearTimeout(this.timer);
    clearTimeout(this.probeTimer);
    const waiting = !!this.timer;
    this.timer = null;
    if (waiting) this.reconnect();
  }

  /** What the backoff timer does: connect again (subclasses may check first). */
  reconnect() {
    this.connect();
  }

  get open() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /** Send a message; false when the socket is not open. */
  send(msg) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.probeTimer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      try {
        ws.close(1000);
      } catch {
        /* already closed */
      }
    }
  }
}

/**
 * A session's WebSocket with automatic reconnect and exponential backoff.
 * Before reconnecting it asks GET /api/sessions/{id}: a 404 means the session is gone
 * (say, the server restarted) and `onGone` is called instead.
 * Callbacks: onMessage(msg), onStatus(state, detail), onOpen(), onGone().
 */
export class SessionSocket extends LiveSocket {
  constructor(sessionId, handlers = {}) {
    super(`/ws/sessions/${encodeURIComponent(sessionId)}`, handlers);
    this.id = sessionId;
  }

  /** Before reconnecting, ask whether the session still exists. */
  async reconnect() {
    if (this.closed) return;
    try {
      await api.getSession(this.id);
    } catch (err) {
      if (this.closed) return;
      if (err.status === 404) {
        this.closed = true;
        this.h.onStatus?.('gone');
        this.h.onGone?.();
        return;
      }
      this.retry();
      return;
    }
    this.connect();
  }
}

/**
 * Call `fn` at most once per `minMs`, newest-only: a call while one is in flight
 * schedules exactly one trailing call; results of superseded calls are dropped.
 * Returns {trigger, invalidate}.
 */
export function latestOnly(fn, minMs, onResult, onError) {
  let inflight = false;
  let dirty = false;
  let last = -Infinity;
  let timer = null;
  let seq = 0;
  const run = () => {
    timer = null;
    if (inflight) {
      dirty = true;
      return;
    }
    const wait = last + minMs - performance.now();
    if (wait > 0) {
      timer = setTimeout(run, wait);
      return;
    }
    inflight = true;
    dirty = false;
    last = performance.now();
    const mine = ++seq;
    Promise.resolve()
      .then(fn)
      .then(
        (r) => {
          if (mine === seq) onResult(r);
        },
        (e) => {
          if (mine === seq) onError?.(e);
        },
      )
      .finally(() => {
        inflight = false;
        if (dirty) trigger();
      });
  };
  const trigger = () => {
    if (timer) return;
    if (inflight) {
      dirty = true;
      return;
    }
    run();
  };
  const invalidate = () => {
    seq += 1;
    last = -Infinity;
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    if (inflight) dirty = true;
  };
  return { trigger, invalidate };
}
