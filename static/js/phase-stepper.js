// The phase stepper: walks one training step in the article's order from the server's trace,
// lights the diagram, fills the phase panel, and applies the step after the Update phase.
// Slow-motion play runs the phases on a timer. Shared by the demo page and the workshop pages.

import { request } from './api.js';
import { phaseList, phaseLights, renderPhase } from './phases.js';
import { h } from './ui.js';

export const SPEEDS = { slow: 2000, normal: 1000, fast: 500 };

/**
 * Bind the stepper. opts:
 *   el: {button, label, play, speed, panel, panelRoot}
 *   base(): REST prefix of the run shown (/api/sessions/ID or /api/rooms/CODE), or null
 *   frame(), config(), sample(): the current frame, config, chosen sample
 *   network: the network view (highlight())
 *   applyStep(): send one real step (the driver), or null (a follower never steps)
 *   onPhase(index, step): this screen moved to a phase (a presenter shares it); index -1 = off
 *   onTrace(trace): a trace arrived (the "Next update" edge view uses its update)
 *   canDrive(): whether this screen may step
 */
export function createPhaseStepper(opts) {
  const el = opts.el;
  const S = { trace: null, index: -1, phases: [], timer: null, playing: false, busy: false, waiters: [] };

  function L() {
    const f = opts.frame();
    return f?.weights?.length || (opts.config()?.layers?.length || 2) - 1;
  }

  async function fetchTrace() {
    const base = opts.base();
    if (!base) return null;
    const trace = await request('GET', `${base}/trace`);
    if (trace) opts.onTrace?.(trace);
    return trace;
  }

  /** Wait until the frame shown is at `step` (the WebSocket may trail a REST answer). */
  function frameAt(step) {
    if (opts.frame()?.step === step) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = { step, resolve };
      S.waiters.push(w);
      setTimeout(() => {
        S.waiters = S.waiters.filter((x) => x !== w);
        resolve(false);
      }, 10000);
    });
  }

  function isUpdate(k = S.index) {
    return k >= 0 && S.phases[k]?.kind === 'update';
  }

  /** Move to phase k of the trace of the current step (fetches it when needed). */
  async function show(k, { share = true, step = null } = {}) {
    if (k < 0) return off({ share });
    let frame = opts.frame();
    if (!frame) return;
    const want = step ?? frame.step;
    if (step !== null && frame.step !== step) {
      // A follower: the presenter's phase is for step `step`; an Update is shown once applied.
      if (!(frame.step === step + 1 && S.trace?.step === step)) await frameAt(step);
      frame = opts.frame();
    }
    if (!S.trace || S.trace.step !== want || S.traceBase !== opts.base()) {
      if (frame.step !== want) return;
      let trace = await fetchTrace();
      if (trace && trace.step !== opts.frame()?.step) trace = await fetchTrace(); // raced a step
      if (!trace || trace.step !== want) return;
      S.trace = trace;
      S.traceBase = opts.base();
      S.phases = phaseList(trace.update.length);
    }
    S.index = Math.max(0, Math.min(k, S.phases.length - 1));
    draw();
    if (share) opts.onPhase?.(S.index, S.trace.step);
    if (isUpdate() && share && opts.applyStep && opts.canDrive?.() !== false) opts.applyStep();
  }

  /** Leave the phase view: the diagram shows the whole network again. */
  function off({ share = true } = {}) {
    const was = S.index;
    S.index = -1;
    stopPlay();
    draw();
    if (share && was !== -1) opts.onPhase?.(-1, opts.frame()?.step ?? 0);
  }

  /** One phase on; after the Update phase, the first phase of the next step. */
  async function next() {
    if (S.busy) return;
    S.busy = true;
    opts.before?.();
    try {
      if (S.index === -1 || !S.trace) await show(0);
      else if (isUpdate()) {
        // The step was applied when the Update showed: wait for its frame, then trace it.
        const ok = await frameAt(S.trace.step + 1);
        if (ok) await show(0);
      } else await show(S.index + 1);
    } catch (err) {
      opts.onError?.(err);
      stopPlay();
    } finally {
      S.busy = false;
    }
  }

  function draw() {
    const phase = S.index >= 0 ? S.phases[S.index] : null;
    const nL = S.trace ? S.trace.update.length : L();
    el.label.textContent = phase ? phase.label : 'Phases';
    el.label.dataset.phase = phase ? String(S.index) : '';
    el.button?.setAttribute('aria-label', phase ? `Next phase (now: ${phase.label})` : 'Walk one step phase by phase');
    opts.network.highlight(phase ? phaseLights(phase, nL) : null);
    document.body.classList.toggle('in-phases', !!phase);
    if (el.panelRoot) el.panelRoot.hidden = !phase;
    if (!phase) return;
    const ws = S.trace.update.slice().sort((a, b) => a.layer - b.layer);
    renderPhase(el.panel, S.trace, phase, {
      L: nL,
      config: opts.config(),
      weights: ws.map((u) => u.W_old),
      biases: ws.map((u) => u.b_old),
      sample: Math.min(opts.sample?.() ?? 0, (S.trace.batch?.length || 1) - 1),
    });
    el.progress?.replaceChildren(
      ...S.phases.map((p, k) =>
        h('button', { type: 'button', class: `phase-dot${k === S.index ? ' on' : ''}${k < S.index ? ' done' : ''}`, title: p.label, 'aria-label': p.label, onclick: () => jump(k) }),
      ),
    );
  }

  function jump(k) {
    if (isUpdate()) return; // the step is applied: the next phases belong to the next step
    if (isUpdate(k) && !(opts.applyStep && opts.canDrive?.() !== false)) return;
    stopPlay();
    show(k).catch((err) => opts.onError?.(err));
  }

  // ---------------------------------------------------------------- slow motion

  function speedMs() {
    return SPEEDS[el.speed?.value] || SPEEDS.normal;
  }

  function tick() {
    if (!S.playing) return;
    next().finally(() => {
      if (S.playing) S.timer = setTimeout(tick, speedMs());
    });
  }

  function startPlay() {
    if (S.playing) return;
    S.playing = true;
    updatePlay();
    tick();
  }

  function stopPlay() {
    S.playing = false;
    clearTimeout(S.timer);
    S.timer = null;
    updatePlay();
  }

  function updatePlay() {
    if (!el.play) return;
    el.play.setAttribute('aria-pressed', String(S.playing));
    el.play.textContent = S.playing ? '❚❚ Slow' : '▶ Slow';
    el.play.title = S.playing ? 'Pause the slow-motion step' : 'Play the phases in slow motion, one every second or so';
  }

  el.button?.addEventListener('click', () => {
    stopPlay();
    next();
  });
  el.play?.addEventListener('click', () => (S.playing ? stopPlay() : startPlay()));
  el.close?.addEventListener('click', () => off());
  updatePlay();

  return {
    next,
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
      if (S.index >= 0) draw();
    },
    /** Forget the trace (a new session). */
    reset() {
      S.trace = null;
      off({ share: false });
    },
  };
}
