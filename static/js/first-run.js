// The first run, asked for the moment this module arrives (issue 21, a slow link).
// The page's other modules take seconds to arrive over a slow link; the session and its data
// and its socket are three more round trips after them. This module imports nothing, so it runs
// first (an async script at the end of index.html) and starts them while the rest downloads;
// main.js takes them when it would have asked (or throws them away, if its link says otherwise).
// Only a plain link (nothing or `?preset=` in the address) is guessed at: anything else waits.

/** The request body the page will start with when the address holds nothing else; else null. */
export function plainRequest(search, defaultPreset) {
  const q = new URLSearchParams(search);
  const keys = [...new Set(q.keys())];
  if (keys.some((k) => k !== 'preset') || q.getAll('preset').length > 1) return null;
  const preset = q.get('preset') || defaultPreset;
  return preset ? { preset } : null;
}

/** POST the session, then GET its data and open its socket: {request, session, data, socket}. */
function start(body) {
  const json = (res) => (res.ok ? res.json() : Promise.reject(new Error(String(res.status))));
  const session = fetch('/api/sessions', {
    method: 'POST',
    priority: 'high', // ahead of the modules still queued for the six connections
    headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  }).then(json);
  const data = session.then((s) => fetch(`/api/sessions/${encodeURIComponent(s.id)}/data`, { priority: 'high', headers: { Accept: 'application/json' } }).then(json));
  const socket = session.then(openSocket);
  // Whoever takes them handles a failure (by asking again); untaken, it is nobody's error.
  for (const p of [session, data, socket]) p.catch(() => {});
  return { request: body, session, data, socket };
}

/**
 * The session's socket, opened once the session is there (its handshake is one more round
 * trip): {ws, messages, release}, the messages it gets kept until api.js's LiveSocket takes it.
 */
function openSocket(s) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${proto}//${location.host}/ws/sessions/${encodeURIComponent(s.id)}?frames=packed`);
  const messages = [];
  const keep = (ev) => messages.push(ev);
  ws.addEventListener('message', keep);
  return { ws, messages, release: () => ws.removeEventListener('message', keep) };
}

const body = globalThis.document?.body && globalThis.location ? plainRequest(location.search, document.body.dataset.defaultPreset) : null;
let early = body ? start(body) : null;

/** The early run if it was asked for with exactly this request body (once; later: null). */
export function takeFirstRun(requestBody) {
  const got = early;
  early = null;
  if (!got) return null;
  if (JSON.stringify(got.request) === JSON.stringify(requestBody)) return got;
  // Another start after all (a stored CSV, say): the early session is nobody's; let it go.
  got.socket.then((e) => e.ws.close()).catch(() => {});
  got.session.then((s) => fetch(`/api/sessions/${encodeURIComponent(s.id)}`, { method: 'DELETE' })).catch(() => {});
  return null;
}
