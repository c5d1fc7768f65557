// The transport, once for every page: play, pause, step, reset, back one step and the next
// phase, on the top bar's buttons and on the single-key shortcuts (a11y.js), with the play
// button showing what this screen asked for until the server's frames say otherwise.

import { bindShortcuts } from './a11y.js';
import { $, setText } from './live.js';
import { setAttr, setFlag } from './ui.js';
import { createScreenReaderViews } from './screen-reader.js';

const FPS = 30;
const GRACE_MS = 1500; // a play or pause just sent may not show in frames for a moment

/**
 * Bind the transport of `live` (live.js). Options:
 *   send(msg): send on the page's socket; false when not sent
 *   enabled(): whether this screen may drive now (the buttons and the keys follow)
 *   spf(): steps per frame while playing
 *   reset(): the reset action (default: the server's reset)
 *   swallow(): whether the shortcut keys are kept from the page while they cannot act (offline)
 *   online(): whether the page's socket is open (offline, Play shows that nothing plays here)
 */
export function createTransport({ live, send, enabled = () => true, spf = () => 1, reset = null, swallow = () => false, online = () => true }) {
  const T = { playing: false, sentAt: -Infinity };

  function render() {
    const b = $('play-button');
    // Offline nothing plays on this screen, whatever the last frame said: Play is shown unpressed
    // (and disabled, below); the server's frames say again once the socket is back.
    const shown = T.playing && online();
    setAttr(b, 'aria-pressed', String(shown)); // every frame: only what changed is written
    setText(b.querySelector('.play-icon'), shown ? '❚❚' : '▶');
    // One toggle, one name (issue 21): "Play", pressed while playing; the icon shows which.
    setText(b.querySelector('.play-label'), 'Play');
    b.classList.toggle('playing', shown);
    document.body.classList.toggle('is-playing', shown);
    const on = enabled();
    for (const id of ['play-button', 'step-button', 'reset-button']) setFlag($(id), 'disabled', !on);
    live.refreshDrive();
  }

  function setPlaying(on) {
    T.playing = on;
    T.sentAt = performance.now();
    render();
  }

  function play() {
    if (live.state.frame?.diverged) {
      live.toasts.show('This run diverged: lower the learning rate and reset first.', 'error');
      return;
    }
    if (send({ type: 'play', steps_per_frame: spf(), fps: FPS })) setPlaying(true);
  }

  function pause() {
    send({ type: 'pause' });
    setPlaying(false);
  }

  const togglePlay = () => (T.playing ? pause() : play());

  function step() {
    if (T.playing) pause();
    live.phaser.stopPlay();
    send({ type: 'step', count: 1 });
  }

  const doReset = reset || (() => send({ type: 'reset' }));

  /** A frame arrived: follow the server's play state (a diverged run stops at once). */
  let recheck = null;
  function onFrame(msg) {
    clearTimeout(recheck);
    const since = performance.now() - T.sentAt;
    if (msg.diverged) T.playing = false;
    else if (msg.playing !== T.playing && since > GRACE_MS) T.playing = !!msg.playing;
    else if (msg.playing !== T.playing) {
      // Within the grace the frame may predate what was just asked; if it stays the last word
      // (a run that stopped at once, no frame after it), it is followed when the grace ends.
      recheck = setTimeout(() => onFrame(msg), GRACE_MS - since + 10);
    }
    render();
    reader.onFrame(msg);
  }

  // STEP and E said aloud, the diagram as a table, the charts named (screen-reader.js).
  const reader = createScreenReaderViews({ live, playing: () => T.playing });

  $('play-button').addEventListener('click', togglePlay);
  $('step-button').addEventListener('click', step);
  $('reset-button').addEventListener('click', () => doReset());

  // Keyboard: Space play/pause, Right arrow step, Left arrow back, "." next phase, "," the
  // previous one, R reset; in the phase view the arrows move by a phase (a whole step would
  // leave it). A switch turns them off, and they never fire in a form control, a row or a
  // checkbox (WCAG 2.1.4).
  const inPhases = () => live.phaser.index >= 0;
  const nextPhase = () => {
    live.phaser.stopPlay();
    live.phaser.next();
  };
  const prevPhase = () => {
    live.phaser.stopPlay();
    live.phaser.prev();
  };
  bindShortcuts({
    toggle: $('shortcuts-toggle'),
    actions: {
      togglePlay,
      step: () => (inPhases() ? nextPhase() : step()),
      reset: () => doReset(),
      back: () => (inPhases() ? prevPhase() : live.timeline?.back()),
      nextPhase,
      prevPhase,
    },
    active: enabled,
    swallow,
  });

  const transport = {
    get playing() {
      return T.playing;
    },
    /** Set the play state without sending (a new run that keeps playing, a fork that starts paused). */
    set playing(on) {
      T.playing = on;
      render();
    },
    play,
    pause,
    togglePlay,
    step,
    reset: doReset,
    onFrame,
    render,
    /** Send the play again (new steps per frame, a reconnect) when playing. */
    resume() {
      if (T.playing && send({ type: 'play', steps_per_frame: spf(), fps: FPS })) T.sentAt = performance.now();
    },
  };
  live.useTransport(transport);
  return transport;
}

/** The workshop pages' α field: a valid rate goes to the run (state kept), a bad one is marked. */
export function bindLearningRate(input, send, config) {
  input.addEventListener('change', () => {
    const lr = Number(input.value);
    if (!(Number.isFinite(lr) && lr > 0)) {
      input.setAttribute('aria-invalid', 'true');
      return;
    }
    input.removeAttribute('aria-invalid');
    const c = config();
    const optimizer = { ...(c?.optimizer || { name: 'sgd' }), learning_rate: lr };
    if (send({ type: 'set', optimizer }) && c) c.optimizer = optimizer;
  });
}
