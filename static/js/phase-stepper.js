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
      // A mini-batch without the sample shown: show its first one, so the diagram, the data
      // table and the worked neuron are about the same sample.
      const batch = trace.batch;
      if (share && drivable() && Array.isArray(batch) && batch.length && !batch.includes(opts.sample?.() ?? 0)) opts.setSample?.(batch[0]);
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

  /** Whether this screen may step and seek (a follower's phases follow the presenter). */
  function drivable() {
    return !!opts.applyStep && opts.canDrive?.() !== false;
  }

  /**
   * Go to phase k of the step shown. Once the Update showed, the step is applied: an earlier
   * phase seeks back to the step's start first (the same state, bit for bit), so the diagram
   * shows the weights that phase works with.
   */
  async function goTo(k) {
    if (k === S.index) return;
    if (isUpdate() && k < S.index) {
      if (!opts.seek || !drivable()) return;
      const step = S.trace.step;
      await frameAt(step + 1); // the Update's own step first: a seek before it would be undone
      opts.seek(step);
      if (!(await frameAt(step))) return;
    }
    await show(k);
  }

  /** One phase back; from a step's first phase, the previous step's Update (it re-applies). */
  async function prev() {
    if (S.busy || S.index === -1 || !S.trace) return;
    S.busy = true;
    opts.before?.();
    try {
      if (S.index > 0) await goTo(S.index - 1);
      else if (S.trace.step > 0 && opts.seek && drivable()) {
        const step = S.trace.step - 1;
        opts.seek(step);
        if (await frameAt(step)) await show(phaseList(S.trace.update.length).length - 1);
      }
    } catch (err) {
      opts.onError?.(err);
    } finally {
      S.busy = false;
      syncButtons();
    }
  }

  /** The previous-phase button: off where there is no phase before this one. */
  function syncButtons() {
    const drive = drivable();
    for (const b of [el.prev, el.next]) if (b) b.hidden = !drive; // a follower's phases follow the presenter
    if (!el.prev) return;
    const first = S.index <= 0 && !(S.index === 0 && S.trace?.step > 0 && opts.seek);
    el.prev.disabled = first || !drive;
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
    syncButtons();
    if (!phase) return;
    const ws = S.trace.update.slice().sort((a, b) => a.layer - b.layer);
    renderPhase(el.panel, S.trace, phase, {
      L: nL,
      config: opts.config(),
      weights: ws.map((u) => u.W_old),
      biases: ws.map((u) => u.b_old),
      sample: opts.sample?.() ?? 0, // a data sample: its column in the batch is looked up
      // A phone's panel shows four columns of each matrix (six would pass its edge); read
      // once per phase drawn, never per frame.
      maxCols: el.panel.clientWidth > 0 && el.panel.clientWidth < 520 ? 4 : 6,
    });
    const canJump = (k) => k !== S.index && (drivable() || (!isUpdate(k) && !isUpdate()));
    // The dots are drawn again: a keyboard's focus stays on the dot it was on.
    const focused = el.progress?.contains(document.activeElement) ? [...el.progress.children].indexOf(document.activeElement) : -1;
    el.progress?.replaceChildren(
      ...S.phases.map((p, k) =>
        h('button', {
          type: 'button',
          class: `phase-dot${k === S.index ? ' on' : ''}${k < S.index ? ' done' : ''}`,
          title: p.label,
          'aria-label': p.label,
          'aria-current': k === S.index ? 'step' : null,
          disabled: canJump(k) || k === S.index ? null : '',
          onclick: () => jump(k),
        }),
      ),
    );
    if (focused >= 0) el.progress.children[focused]?.focus({ preventScroll: true });
  }

  function jump(k) {
    if (k === S.index || S.busy) return;
    if (isUpdate(k) && !drivable()) return;
    stopPlay();
    S.busy = true;
    goTo(k)
      .catch((err) => opts.onError?.(err))
      .finally(() => {
        S.busy = false;
        syncButtons();
      });
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
      if (S.index >= 0) draw();
    },
    /** Forget the trace (a new session). */
    reset() {
      S.trace = null;
      off({ share: false });
    },
  };
}
