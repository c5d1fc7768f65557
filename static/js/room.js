// A participant's page: follow the room's run and the presenter's view live; fork the network
// into a private session (same page, controls enabled) and come back to the room.

import { focusOn } from './a11y.js';
import { request, setPatience } from './api.js';
import { $, LiveSocket, createLive, showStatus, whenPlotly } from './live.js';
import { createWaitNotice } from './patience.js';
import { createQuizParticipant, voterId } from './questions.js';
import { createRunFollower } from './studio.js';
import { bindLearningRate, createTransport } from './transport.js';

const root = $('room-root');
const CODE = root.dataset.code;
const ROOM = `/api/rooms/${CODE}`;

const S = {
  mode: 'room', // 'room' | 'fork'
  following: true,
  presenterView: null, // the presenter's latest selection, to catch up when following again
  forkId: null,
  config: null,
  socket: null,
  forking: false,
};

// A 429 or a full room is temporary: say so, wait, try again (patience.js).
const notice = createWaitNotice();
setPatience(notice);

const live = createLive({
  onUserView(_view, { closed }) {
    // Closing the guide card only hides it; any other change means "let me look myself".
    if (S.mode === 'room' && S.following && !closed) setFollowing(false, { tell: true });
  },
  refreshConfig: () => (S.mode === 'room' ? request('GET', `${ROOM}/config`) : Promise.resolve(null)),
  // A fork drives its own run: its own phases and timeline. In the room, nothing is sent.
  send: (msg) => send(msg),
  canDrive: () => S.mode === 'fork',
  exporter: () => null, // the room's GIF is the presenter's; participants see the landscape
});
// The presenter may replace the room's run (a new data set, network...): follow it (studio.js).
const follower = createRunFollower({ live, base: ROOM, active: () => S.mode === 'room' });
const transport = createTransport({ live, send: (msg) => send(msg), online: () => !!S.socket?.open, enabled: () => S.mode === 'fork' && !!S.socket?.open });

// ---------------------------------------------------------------- following

function setFollowing(on, { tell = false } = {}) {
  S.following = on;
  const b = $('follow-button');
  b.setAttribute('aria-pressed', String(on));
  b.textContent = on ? 'Following presenter' : 'Follow presenter';
  b.title = on ? 'Stop following: look around on your own' : "Follow the presenter's selected edge, view and guide step again";
  if (on && S.presenterView) live.applyView(S.presenterView);
  if (tell) live.toasts.show('You are looking around on your own. “Follow presenter” catches up again.', 'info', 4000);
}

$('follow-button').addEventListener('click', () => setFollowing(!S.following));

// ---------------------------------------------------------------- the room's stream

// Questions tied to the next step (docs/api.md): a floating card.
const quiz = createQuizParticipant({ send: (msg) => S.mode === 'room' && !!S.socket?.send(msg) });

function onRoomMessage(msg) {
  if (msg.type !== 'error') notice.clear('socket');
  if (quiz.onMessage(msg)) return; // question, revealed: questions.js
  if (msg.type === 'frame') {
    follower.onFrame(msg);
    live.onFrame(msg);
  } else if (msg.type === 'configured') {
    S.presenterView = null; // it named the old network's edges
    follower.configured().then((config) => S.mode === 'room' && (S.config = config), (err) => live.toasts.show(err.message, 'error'));
  } else if (msg.type === 'select') {
    S.presenterView = msg.selection;
    if (S.following) live.applyView(msg.selection);
  } else if (msg.type === 'phase') {
    // The presenter walks a step phase by phase: show the same phase of the same step.
    if (Number.isInteger(msg.index)) live.phaser.show(msg.index, { share: false, step: Number.isInteger(msg.step) ? msg.step : null }).catch(() => {});
  } else if (msg.type === 'room') {
    showHeadcount(msg.participants);
    $('presenter-away').hidden = msg.presenter;
  } else if (msg.type === 'error' && !Number.isFinite(msg.retry_after)) {
    live.toasts.show(msg.message || 'The server rejected that.', 'error', 8000); // a refusal: the banner
  }
}

function showHeadcount(n) {
  $('headcount-n').textContent = String(n);
  $('headcount').title = `${n} participant${n === 1 ? '' : 's'} in this room`;
}

function connectRoom() {
  S.socket = new LiveSocket(`/ws/rooms/${CODE}?voter=${voterId(CODE)}`, {
    onMessage: onRoomMessage,
    onStatus: showStatus,
    onRefused: (message, wait) => notice.show('socket', message, wait),
    onClose(ev) {
      if (ev.code === 4404) {
        roomGone('This workshop room has ended.');
        return false;
      }
      return true; // 4429 (full), 1013 (busy) included: a seat frees up, try again with backoff
    },
  });
  S.socket.connect();
}

function roomGone(text) {
  showStatus('gone');
  $('room-gone-text').textContent = text;
  $('room-gone').hidden = false;
  $('fork-button').disabled = true;
}

// ---------------------------------------------------------------- fork and back

async function fork() {
  if (S.forking || S.mode === 'fork') return;
  S.forking = true;
  $('fork-button').disabled = true;
  try {
    const created = await request('POST', `${ROOM}/fork`);
    S.socket?.close();
    notice.clear('socket');
    S.mode = 'fork';
    quiz.hide(); // the room's questions are the room's: back in the room, the next one shows
    S.forkId = created.id;
    S.config = created.config;
    transport.playing = false;
    showMode();
    $('fork-text').textContent = `You forked the room’s network at step ${created.frame.step}: train it, change α, break it. The room goes on without you.`;
    $('lr-input').value = String(created.config.optimizer?.learning_rate ?? '');
    const loaded = live.setSource({ base: `/api/sessions/${encodeURIComponent(created.id)}`, config: created.config, frame: created.frame });
    S.socket = new LiveSocket(`/ws/sessions/${encodeURIComponent(created.id)}`, {
      onMessage: onForkMessage,
      onRefused: (message, wait) => notice.show('socket', message, wait),
      onStatus(state, detail) {
        showStatus(state, detail);
        updateTransport();
      },
      onClose(ev) {
        if (ev.code === 4404) {
          live.toasts.show('Your copy expired on the server; back to the room.', 'error', 6000);
          backToRoom();
          return false;
        }
        return true;
      },
    });
    S.socket.connect();
    // The Fork button is gone now: focus the banner that says what happened (Tab goes on to α).
    if (focusWasOnFork()) focusOn($('fork-banner'), { scroll: false });
    await loaded;
  } catch (err) {
    live.toasts.show(`Could not fork: ${err.message}`, 'error', 8000);
  } finally {
    S.forking = false;
    $('fork-button').disabled = false;
  }
}

/** True when the keyboard focus was on the Fork button, or fell to the page when it went away. */
function focusWasOnFork() {
  const a = document.activeElement;
  return !a || a === document.body || a === $('fork-button');
}

function onForkMessage(msg) {
  if (msg.type !== 'error') notice.clear('socket');
  if (msg.type === 'frame') {
    live.onFrame(msg);
    transport.onFrame(msg);
  } else if (msg.type === 'error' && !Number.isFinite(msg.retry_after)) {
    live.toasts.show(msg.message || 'The server rejected that.', 'error');
  }
}

async function backToRoom() {
  const id = S.forkId;
  S.socket?.close();
  notice.clear('socket');
  S.mode = 'room';
  S.forkId = null;
  transport.playing = false;
  const hadFocus = !document.activeElement || document.activeElement === document.body || document.activeElement === $('back-button');
  showMode();
  if (hadFocus) focusOn($('fork-button'), { scroll: false }); // where the Back button was
  await enterRoom();
  setFollowing(true);
  // Last: nothing of this page asks for the copy any more once the room is the source.
  if (id) request('DELETE', `/api/sessions/${encodeURIComponent(id)}`).catch(() => {});
}

async function enterRoom() {
  try {
    S.config = await request('GET', `${ROOM}/config`);
  } catch (err) {
    if (err.status === 404) roomGone('This workshop room has ended. Check the code with the presenter.');
    else live.toasts.show(err.message, 'error', 0);
    return;
  }
  const loaded = live.setSource({ base: ROOM, config: S.config, frame: null });
  connectRoom(); // the room's frame (whole curve), the presenter's view and the head count follow
  await loaded;
}

function showMode() {
  const forked = S.mode === 'fork';
  $('transport').hidden = !forked;
  $('fork-banner').hidden = !forked;
  $('back-button').hidden = !forked;
  $('fork-button').hidden = forked;
  $('follow-button').hidden = forked;
  $('headcount').hidden = forked;
  $('presenter-away').hidden = true;
  $('room-chip-label').textContent = forked ? 'Your copy of' : 'Workshop';
  document.body.classList.toggle('is-forked', forked);
  updateTransport();
}

const updateTransport = () => transport.render();

$('fork-button').addEventListener('click', fork);
$('back-button').addEventListener('click', backToRoom);

// ---------------------------------------------------------------- controls of the fork

function send(msg) {
  if (S.mode !== 'fork' || !S.socket?.send(msg)) {
    live.toasts.show('Not connected to your copy; retrying…', 'error', 3000);
    return false;
  }
  return true;
}

bindLearningRate($('lr-input'), (msg) => send(msg), () => S.config);

// ---------------------------------------------------------------- start

async function init() {
  showMode();
  setFollowing(true);
  await whenPlotly();
  await enterRoom();
}

init();

// Exposed for the tests and the console: read-only view of the state.
window.backpropRoom = { state: S, live };
