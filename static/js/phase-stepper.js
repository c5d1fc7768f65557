// The phase stepper: walks one training step in the article's order from the server's trace,
// lights the diagram, fills the phase panel, and applies the step after the Update phase.
// Slow-motion play runs the phases on a timer. Shared by the demo page and the workshop pages.
// Its parts: phase-walk.js (the walk), phase-view.js (drawing), phase-slowmo.js (the timer).

import { createPhaseWalk } from './phase-walk.js';
import { drawPhase, syncButtons } from './phase-view.js';
import { createSlowMotion } from './phase-slowmo.js';

export { SPEEDS } from './phase-slowmo.js';

/**
 * Bind the stepper. opts:
 *   el: {button, label, play, speed, panel, panelRoot}
 *   base(): REST prefix of the run shown (/api/sessions/ID or /api/rooms/CODE), or null
 *   frame(), config(), sample(): the current frame, config, chosen sample
 *   network: the network view (highlight())
 *   applyStep(): send one real step (the driver), or null (a follower never steps)
 *   seek(n): send a seek to step n (the driver: going back past an applied Update), or null
 *   setSample(k): show data sample k everywhere (the worked neuron's, when the one shown is
 *     not in this step's mini-batch)
 *   onPhase(index, step): this screen moved to a phase (a presenter shares it); index -1 = off
 *   onTrace(trace): a trace arrived (the "Next update" edge view uses its update)
 *   canDrive(): whether this screen may step
 */
export function createPhaseStepper(opts) {
  const el = opts.el;
  const S = { trace: null, index: -1, phases: [], timer: null, playing: false, busy: false, waiters: [] };
  // The parts share P: the state, the elements, the options, and each other's operations.
  const P = { S, el, opts };
  P.draw = () => drawPhase(P);
  P.syncButtons = () => syncButtons(P);
  Object.assign(P, createPhaseWalk(P), createSlowMotion(P));
  const { next, prev, show, off, isUpdate } = P;
  const { startPlay, stopPlay, updatePlay } = P;

  el.button?.addEventListener('click', () => {
    stopPlay();
    next();
  });
  el.next?.addEventListener('click', () => {
    stopPlay();
    next();
  });
  el.prev?.addEventListener('click', () => {
    stopPlay();
    prev();
  });
  el.play?.addEventListener('click', () => (S.playing ? stopPlay() : startPlay()));
  el.close?.addEventListener('click', () => off());
  updatePlay();

  return {
    next,
    prev,
    show,
    off,
    stopPlay,
    togglePlay: () => (S.playing ? stopPlay() : startPlay()),
    get index() {
      return S.index;
    },
    get trace() {
      return S.trace;
    },
    get phases() {
      return S.phases;
    },
    /** A frame arrived: leave the phases if the run moved elsewhere (a seek, a reset, play). */
    onFrame(frame) {
      S.waiters = S.waiters.filter((w) => {
        if (w.step === frame.step) w.resolve(true);
        return w.step !== frame.step;
      });
      if (S.index === -1 || !S.trace) return;
      // A seek (back, the timeline) leaves the phases; so does any step but the Update's own.
      const lr = S.trace.optimizer?.learning_rate;
      const sameSettings = isUpdate() || lr === undefined || frame.learning_rate === undefined || frame.learning_rate === lr;
      const ours = !frame.seeked && sameSettings && (isUpdate() ? frame.step === S.trace.step + 1 : frame.step === S.trace.step);
      if (!ours && !S.busy) off({ share: false });
    },
    /** Redraw (the sample changed). */
    redraw() {
      if (S.index >= 0) P.draw();
    },
    /** Forget the trace (a new session). */
    reset() {
      S.trace = null;
      off({ share: false });
    },
  };
}
