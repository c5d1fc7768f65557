// The presenter's page: drive the room's run and share the view (edge, mode, sample, guide step).
// The presenter token lives in the URL fragment (#token=..., never sent to the server in a URL)
// and in localStorage, and proves itself over the WebSocket with a `hello`.

import { bindShortcuts } from './a11y.js';
import { request } from './api.js';
import { $, LiveSocket, createLive, showStatus, showTransport, whenPlotly } from './live.js';

const root = $('room-root');
const CODE = root.dataset.code;
const KEY = `backprop-studio.presenter.${CODE}`;
const FPS = 30;

const S = { token: readToken(), presenter: false, playing: false, playSentAt: 0, spf: 1, config: null, socket: null, shareTimer: null };

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

const live = createLive({
  onUserView: share,
  refreshConfig: () => request('GET', `/api/rooms/${CODE}/config`),
  send: (msg) => send(msg),
  canDrive: () => S.presenter,
  // The room follows the presenter's phase (index -1: the phases are closed).
  onPhase: (index) => S.socket?.send({ type: 'phase', index }),
});

// ---------------------------------------------------------------- sharing the view

/** Send the view to the room, coalescing bursts (dragging through samples, guide clicks). */
function share() {
  clearTimeout(S.shareTimer);
  S.shareTimer = setTimeout(() => {
    if (S.presenter) S.socket?.send({ type: 'select', selection: live.view() });
  }, 60);
}

// ---------------------------------------------------------------- the stream

function onMessage(msg) {
  if (msg.type === 'frame') {
    live.onFrame(msg);
    // A play we just asked for may not show in frames for a moment: do not flicker back.
    if (msg.playing || !S.playing || performance.now() - S.playSentAt > 1500 || msg.diverged) S.playing = msg.playing;
    updateTransport();
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
    live.toasts.show(msg.message || 'The server rejected that.', 'error');
  }
}

function updateTransport() {
  showTransport(S.playing, S.presenter && !!S.socket?.open);
  live.refreshDrive();
}

function connect() {
  S.socket = new LiveSocket(`/ws/rooms/${CODE}`, {
    onMessage,
    onStatus(state, detail) {
      if (state !== 'connected') S.presenter = false;
      showStatus(state, detail);
      updateTransport();
    },
    onOpen() {
      if (S.token) S.socket.send({ type: 'hello', token: S.token });
    },
    onClose(ev) {
      if (ev.code === 4404) {
        showStatus('gone');
        $('room-gone').hidden = false;
        return false;
      }
      return true;
    },
  });
  S.socket.connect();
}

function send(msg) {
  if (!S.socket?.send(msg)) {
    live.toasts.show('Not connected to the server; retrying…', 'error', 3000);
    return false;
  }
  return true;
}

// ---------------------------------------------------------------- controls

function play() {
  if (live.state.frame?.diverged) {
    live.toasts.show('This run diverged: lower the learning rate and reset first.', 'error');
    return;
  }
  if (send({ type: 'play', steps_per_frame: S.spf, fps: FPS })) {
    S.playing = true;
    S.playSentAt = performance.now();
    updateTransport();
  }
}

function pause() {
  send({ type: 'pause' });
  S.playing = false;
  updateTransport();
}

const togglePlay = () => (S.playing ? pause() : play());
const step = () => {
  if (S.playing) pause();
  live.phaser.stopPlay();
  send({ type: 'step', count: 1 });
};
const reset = () => send({ type: 'reset' });

$('play-button').addEventListener('click', togglePlay);
$('step-button').addEventListener('click', step);
$('reset-button').addEventListener('click', reset);

$('lr-input').addEventListener('change', () => {
  const lr = Number($('lr-input').value);
  if (!(Number.isFinite(lr) && lr > 0)) {
    $('lr-input').setAttribute('aria-invalid', 'true');
    return;
  }
  $('lr-input').removeAttribute('aria-invalid');
  const optimizer = { ...(S.config?.optimizer || { name: 'sgd' }), learning_rate: lr };
  if (send({ type: 'set', optimizer }) && S.config) S.config.optimizer = optimizer;
});

$('spf-select').addEventListener('change', () => {
  S.spf = Math.max(1, Number($('spf-select').value) || 1);
  if (S.playing) send({ type: 'play', steps_per_frame: S.spf, fps: FPS });
});

$('copy-link').addEventListener('click', async () => {
  const url = root.dataset.joinUrl;
  try {
    await navigator.clipboard.writeText(url);
    live.toasts.show('Join link copied.', 'info', 2500);
  } catch {
    live.toasts.show(url, 'info', 10000);
  }
});

// Keyboard: Space play/pause, Right arrow step, R reset (the presenter's; a switch turns them
// off, never in a form control, row or checkbox). Escape closes the guide.
bindShortcuts({
  actions: { togglePlay, step, reset, back: () => live.timeline?.back(), nextPhase: () => { live.phaser.stopPlay(); live.phaser.next(); } },
  active: () => S.presenter,
});
document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && !ev.defaultPrevented && live.guide.isOpen()) live.guide.close();
});

$('guide-button').addEventListener('click', () => (live.guide.isOpen() ? live.guide.close() : live.guide.open(0)));

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
  $('lr-input').value = String(S.config?.optimizer?.learning_rate ?? '');
  const loaded = live.setSource({ base: `/api/rooms/${CODE}`, config: S.config, frame: null });
  connect(); // the first frame (the whole curve) comes over the socket
  await loaded;
}

init();

// Exposed for the tests and the console: read-only view of the state.
window.backpropRoom = { state: S, live };
