// The phase stepper's walk through one step: the trace fetched for the frame's step, a phase
// shown, the next and previous ones (seeking back past an applied Update), a dot's jump.

import { request } from './api.js';
import { phaseList } from './phases.js';

/** {layers, drivable, isUpdate, frameAt, show, off, next, prev, jump} over the stepper's parts P. */
export function createPhaseWalk(P) {
  const { S, opts } = P;

  /** The number of weight layers of the run shown. */
  function layers() {
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
    P.draw();
    if (share) opts.onPhase?.(S.index, S.trace.step);
    if (isUpdate() && share && opts.applyStep && opts.canDrive?.() !== false) opts.applyStep();
  }

  /** Leave the phase view: the diagram shows the whole network again. */
  function off({ share = true } = {}) {
    const was = S.index;
    S.index = -1;
    P.stopPlay();
    P.draw();
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
      P.stopPlay();
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
      P.syncButtons();
    }
  }

  function jump(k) {
    if (k === S.index || S.busy) return;
    if (isUpdate(k) && !drivable()) return;
    P.stopPlay();
    S.busy = true;
    goTo(k)
      .catch((err) => opts.onError?.(err))
      .finally(() => {
        S.busy = false;
        P.syncButtons();
      });
  }

  return { layers, drivable, isUpdate, frameAt, show, off, next, prev, jump };
}
