// The presenter's page: drive the room's run and share the view (edge, mode, sample, guide step).
// The presenter token lives in the URL fragment (#token=..., never sent to the server in a URL)
// and in localStorage, and proves itself in the WebSocket's handshake (a subprotocol, so no cap
// ever turns the presenter away: docs/api.md, Version 3), or with a `hello` if it cannot go there.

import { request, setPatience } from './api.js';
import { $, LiveSocket, createLive, showStatus, whenPlotly } from './live.js';
import { createWaitNotice } from './patience.js';
import { createQuizPresenter, createQuizProjector } from './questions.js';
import { createRunFollower, createStudio } from './studio.js';
import { createTransport } from './transport.js';

const root = $('room-root');
const CODE = root.dataset.code;
const KEY = `backprop-studio.presenter.${CODE}`;

const S = { token: readToken(), presenter: false, spf: 1, config: null, socket: null, shareTimer: null };

/** The token from the fragment (remembered) or from an earlier visit; back into the fragment. */
function readToken() {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  let token = match ? decodeURIComponent(match[1]) : null;
  try {
    if (token) localStorage.setItem(KEY, token);
    else token = localStorage.getItem(KEY);
  } catch {
    /* storage disabled: the fragment alone must do */
  }
  if (token && !match) history.replaceState(null, '', `${location.pathname}#token=${encodeURIComponent(token)}`);
  return token;
}

// A 429 is temporary: say so, wait, try again (patience.js).
const notice = createWaitNotice();
setPatience(notice);

const PRESENTER_PROTOCOL = 'bp.presenter';
/** What the handshake offers: the token as a subprotocol, when it is one's valid characters. */
const protocols = () => (S.token && /^[A-Za-z0-9_-]{1,200}$/.test(S.token) ? [PRESENTER_PROTOCOL, `bp.token.${S.token}`] : undefined);

const live = createLive({
  onUserView: share,
  refreshConfig: () => request('GET', `/api/rooms/${CODE}/config`),
  send: (msg) => send(msg),
  canDrive: () => S.presenter,
  // The room follows the presenter's phase (index -1: the phases are closed).
  onPhase: (index) => S.socket?.send({ type: 'phase', index }),
  // The room's run as a GIF is the presenter's to take away (docs/api.md).
  exporter: () => (S.token ? { 'X-Presenter-Token': S.token } : null),
  onFix: (fix) => studio.applyFix(fix), // the guardrails' fixes, for the whole room
});
const transport = createTransport({ live, send: (msg) => send(msg), online: () => !!S.socket?.open, enabled: () => S.presenter && !!S.socket?.open, spf: () => S.spf });
// The main page's settings sidebar: a change sends `configure`, the room keeps its code.
const studio = createStudio({ send: (msg) => send(msg), onSpf: setSpf, toasts: live.toasts });
const follower = createRunFollower({ live, base: `/api/rooms/${CODE}` });

// Questions tied to the next step (docs/api.md): the card under the join box.
const quiz = createQuizPresenter(document.querySelector('.present-side'), {
  send: (msg) => send(msg),
  selection: () => live.view().edge,
  layers: () => S.config?.layers,
  exportCsv: () => downloadCsv(),
});

// The projector shows the hall the question and, after the reveal, the bars (read-only).
const hallQuiz = document.querySelector('.projector-mark') ? createQuizProjector() : null;

/** GET questions.csv with the token in a header (never in a URL), saved as a file. */
async function downloadCsv() {
  try {
    const r = await fetch(`/api/rooms/${CODE}/questions.csv`, { headers: { 'X-Presenter-Token': S.token || '' } });
    if (!r.ok) throw new Error((await r.json().catch(() => ({}))).detail || `HTTP ${r.status}`);
    const a = Object.assign(document.createElement('a'), { href: URL.createObjectURL(await r.blob()), download: `questions-${CODE}.csv` });
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  } catch (err) {
    live.toasts.show(`Could not export the answers: ${err.message}`, 'error');
  }
}

// ---------------------------------------------------------------- sharing the view

/** Send the view to the room, coalescing bursts (dragging through samples, guide clicks). */
function share() {
  quiz.refresh(); // the menu names the edge on screen
  clearTimeout(S.shareTimer);
  S.shareTimer = setTimeout(() => {
    if (S.presenter) S.socket?.send({ type: 'select', selection: live.view() });
  }, 60);
}

// ---------------------------------------------------------------- the stream

function onMessage(msg) {
  if (msg.type !== 'error') notice.clear('socket');
  hallQuiz?.onMessage(msg);
  if (quiz.onMessage(msg)) return; // question, tally, revealed: questions.js
  if (msg.type === 'frame') {
    follower.onFrame(msg);
    studio.onFrame(msg);
    live.onFrame(msg);
    transport.onFrame(msg);
  } else if (msg.type === 'configured') {
    // The room's run was replaced (from this page or the presenter's other screen).
    follower.configured().then((config) => {
      S.config = config;
      studio.setConfig(config);
      share();
    }, (err) => live.toasts.show(err.message, 'error'));
  } else if (msg.type === 'welcome') {
    S.presenter = true;
    $('no-token').hidden = true;
    updateTransport();
    share(); // after a reconnect, the room gets this screen's view again
  } else if (msg.type === 'room') {
    const n = msg.participants;
    $('headcount-n').textContent = String(n);
    $('headcount').title = `${n} participant${n === 1 ? '' : 's'} following`;
    $('join-count').textContent = String(n);
    $('join-count-label').textContent = n === 1 ? 'participant' : 'participants';
  } else if (msg.type === 'select') {
    live.applyView(msg.selection); // another presenter tab moved: stay in step with it
  } else if (msg.type === 'error') {
    if (/presenter token/.test(msg.message)) $('no-token').hidden = false;
    if (!Number.isFinite(msg.retry_after)) live.toasts.show(msg.message || 'The server rejected that.', 'error');
  }
}

const updateTransport = () => transport.render();

// ---------------------------------------------------------------- capacity

/** The server's own sentence (docs/api.md): how many forks it keeps at full speed. */
function showCapacity(capacity) {
  const el = $('capacity');
  el.hidden = !capacity;
  if (capacity) el.textContent = `${capacity.text[0].toUpperCase()}${capacity.text.slice(1)}.`;
}

/** Measurements move as the room and its forks play: look again every few seconds. */
async function refreshCapacity() {
  if (document.visibilityState === 'visible') {
    try {
      showCapacity((await request('GET', `/api/rooms/${CODE}/capacity`)).capacity);
    } catch {
      /* the room's own messages say what went wrong */
    }
  }
  setTimeout(refreshCapacity, CAPACITY_SECONDS * 1000);
}
const CAPACITY_SECONDS = 5;

function connect() {
  const handlers = {
    onMessage,
    onRefused: (message, wait) => notice.show('socket', message, wait),
    onStatus(state, detail) {
      if (state !== 'connected') S.presenter = false;
      showStatus(state, detail);
      updateTransport();
    },
    onOpen() {
      // The handshake already proved the token (welcome follows); else prove it now.
      if (S.token && socket.ws?.protocol !== PRESENTER_PROTOCOL) socket.send({ type: 'hello', token: S.token });
    },
    onClose(ev) {
      if (ev.code === 4404) {
        showStatus('gone');
        $('room-gone').hidden = false;
        return false;
      }
      return true;
    },
  };
  const socket = new LiveSocket(`/ws/rooms/${CODE}`, handlers, protocols());
  S.socket = socket;
  socket.connect();
}

function send(msg) {
  if (!S.socket?.send(msg)) {
    live.toasts.show('Not connected to the server; retrying…', 'error', 3000);
    return false;
  }
  return true;
}

// ---------------------------------------------------------------- controls

function setSpf(k) {
  S.spf = Math.max(1, Number(k) || 1);
  transport.resume();
}

$('copy-link').addEventListener('click', async () => {
  const url = root.dataset.joinUrl;
  try {
    await navigator.clipboard.writeText(url);
    live.toasts.show('Join link copied.', 'info', 2500);
  } catch {
    live.toasts.show(url, 'info', 10000);
  }
});

// ---------------------------------------------------------------- start

async function init() {
  const host = new URL(root.dataset.joinUrl).hostname;
  $('localhost-hint').hidden = !['localhost', '127.0.0.1', '[::1]', '::1'].includes(host);
  if (!S.token) $('no-token').hidden = false;
  updateTransport();
  await whenPlotly();
  try {
    S.config = await request('GET', `/api/rooms/${CODE}/config`);
  } catch (err) {
    if (err.status === 404) {
      showStatus('gone');
      $('room-gone').hidden = false;
      return;
    }
    live.toasts.show(err.message, 'error', 0);
  }
  studio.setConfig(S.config);
  studio.load(); // the presets and data sets of the menus
  const loaded = live.setSource({ base: `/api/rooms/${CODE}`, config: S.config, frame: null });
  connect(); // the first frame (the whole curve) comes over the socket
  refreshCapacity();
  await loaded;
}

init();

// Exposed for the tests and the console: read-only view of the state.
window.backpropRoom = { state: S, live };
