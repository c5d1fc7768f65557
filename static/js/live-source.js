// The live page's run: a new source (room or session, its config, first frame and data), the
// data again after drawn points, and each frame of the stream.

import { request } from './api.js';
import { lossFormula } from './chain-view.js';
import { logSignature, pointsSignature } from './hand-edits.js';
import { formula } from './mathml.js';
import { isLookBack } from './timeline.js';
import { $ } from './live-state.js';

// The chain panel and the slope view under it, refreshed together while playing: each change
// lays the page out again, the slope is the costliest panel of a playing page, and a second
// is as fast as anyone reads the numbers.
const EXPLAIN_MS = 1000;

/** Forget the run shown: every field of S that belongs to a run, and each panel's own. */
function resetRun(L, { base, config, frame }) {
  const S = L.state;
  S.base = base;
  S.config = config;
  S.frame = frame || null;
  S.data = null;
  S.matrixSig = '';
  S.matrixItems = null;
  S.chainAt = frame?.step ?? null;
  S.chainStale = false;
  S.sliceStale = false;
  S.learningRate = frame?.learning_rate ?? config?.optimizer?.learning_rate ?? null;
  S.trace = null;
  S.logSig = logSignature(frame);
  S.pointsSig = pointsSignature(frame);
  L.phaser.reset();
  L.troubleView?.reset();
  L.history.clear();
  if (frame) L.history.addFrame({ ...frame, first_step: frame.first_step ?? frame.step - (frame.losses?.length || 1) + 1 });
  L.network.reset();
  L.thumbs.reset();
  S.netKey = null;
  S.dataWait = true;
}

/** The chain rule and the slope asked again (a new parameter, new numbers at the same step). */
function refetchExplain(L) {
  L.chainFetch.invalidate();
  L.chainFetch.trigger();
  L.sliceFetch.invalidate();
  L.sliceFetch.trigger();
}

/** The sample field's bounds for `n` samples. */
function showSampleCount(n) {
  $('sample-input').max = String(n);
  $('sample-of').textContent = `of ${n}`;
}

/** The chain panel and the slope for a new step: now, later while playing, or once near. */
function explainStep(L, msg) {
  const S = L.state;
  // The socket's first frame repeats the source's: its chain is already being fetched.
  if (msg.step !== S.chainAt) {
    // While playing, an off-screen chain panel is fetched again only once it comes near.
    if (L.near.chain() || !L.moving()) {
      // While playing, the chain panel and the slope's note under it are refreshed together,
      // at most every EXPLAIN_MS, and each is labelled with its step: a note refreshed on its
      // own clock contradicted the chain above it. Each change lays the page out again, and
      // the slice is 42 forward passes; skipped, both are fetched at a later frame or when
      // the run rests: the run's last frame always has both.
      const t = performance.now();
      if (!L.moving() || !(t - S.last.explain < EXPLAIN_MS)) {
        S.last.explain = t;
        S.chainStale = S.sliceStale = false;
        L.chainFetch.trigger();
        L.sliceFetch.trigger();
      } else {
        S.chainStale = S.sliceStale = true;
        L.checkAtRest();
      }
    } else S.chainStale = true;
  }
  S.chainAt = null;
}

/** The frame's learning rate, when someone else changed it: the config and matrices follow. */
function followLearningRate(L, msg, refreshConfig) {
  const S = L.state;
  const lr = msg.learning_rate;
  if (lr !== undefined && lr !== null && lr !== S.learningRate) {
    S.learningRate = lr;
    if (S.config?.optimizer) S.config.optimizer.learning_rate = lr;
    // Someone else (the presenter) changed the optimizer's settings: the chain panel's
    // notes and the matrices follow. A page that made the change itself refetches alone.
    if (refreshConfig) {
      refreshConfig().then((c) => c && S.base && (S.config = c), () => {});
      L.matrixFetch.trigger();
    }
  }
}

/** {setSource, reloadData, onFrame} over the live parts `L`. */
export function createSource(L, { onData, refreshConfig }) {
  const S = L.state;

  /**
   * Show another run: a room or a session, its config and first frame (the whole curve).
   * Everything but the data is set before this returns; the promise ends with the data.
   */
  async function setSource({ base, config, frame }) {
    resetRun(L, { base, config, frame });
    const waited = setTimeout(() => {
      if (S.base === base && S.dataWait) {
        S.dataWait = false; // slow or failed: draw without the names
        L.schedule();
      }
    }, 1000);
    if (config) $('loss-formula').replaceChildren(formula(lossFormula(config.loss)));
    if (!L.validSel(S.view.sel)) S.view.sel = L.defaultSel();
    L.syncPicker();
    refetchExplain(L);
    L.matrixFetch.trigger();
    if (L.landscape && !$('landscape-view').hidden) L.landscape.reset();
    L.markAll();
    try {
      const data = await request('GET', `${base}/data`);
      if (S.base !== base) return;
      clearTimeout(waited);
      S.dataWait = false;
      S.data = data;
      L.dataView.setData(data);
      // Filled in the same task: a table painted empty, then filled, shifts its columns.
      if (S.frame) L.timed('data', () => L.drawPanel('data', S.frame));
      L.hand.onData(data);
      onData?.(data);
      L.network.reset();
      showSampleCount(data.x.length);
      L.setSample(S.view.sample);
      // No second fetch: the matrices already here are drawn again with the data's names.
      if (S.matrixItems) L.matrixView.setMatrix(S.matrixItems, data); // built when next drawn
      L.markAll();
    } catch (err) {
      if (S.base === base) S.dataWait = false;
      L.schedule();
      L.toasts.show(`Could not load the data: ${err.message}`, 'error');
    }
  }

  /** The data again: the drawn points changed (an edit of the training set, logged). */
  let dataLoading = null;
  async function reloadData() {
    if (dataLoading) {
      dataLoading.again = true; // one more once this one is in: the newest points win
      return;
    }
    const base = S.base;
    dataLoading = { again: false };
    try {
      const data = await request('GET', `${base}/data`);
      if (S.base !== base) return;
      S.data = data;
      L.dataView.setData(data);
      if (S.frame) L.timed('data', () => L.drawPanel('data', S.frame));
      L.hand.onData(data);
      showSampleCount(data.x.length);
    } catch (err) {
      if (S.base === base) L.toasts.show(`Could not load the drawn points: ${err.message}`, 'error');
    } finally {
      const again = dataLoading.again;
      dataLoading = null;
      if (again && S.base === base) reloadData();
    }
  }

  /** A change logged at the frame's own step (an edit, drawn points): the panels that show it. */
  function followLog(msg) {
    const sig = logSignature(msg);
    if (sig === S.logSig) return; // most frames: nothing logged since the last one
    S.logSig = sig;
    // Same step, new numbers: the chain rule and the slope (E went somewhere) are asked again.
    if (msg.step === S.frame?.step) refetchExplain(L);
    const points = pointsSignature(msg);
    if (points !== S.pointsSig) {
      S.pointsSig = points;
      reloadData();
    }
  }

  /** A frame from the stream. */
  function onFrame(msg) {
    S.prof.frames += 1;
    followLog(msg);
    // A look back (seek) keeps the curve as it is: the run's later steps stay until a new branch.
    if (!isLookBack(msg)) L.history.addFrame(msg);
    S.frame = msg;
    L.hand.onFrame();
    const said = String(msg.playing); // what the server last said (written when it changes)
    if (document.body.dataset.serverPlaying !== said) document.body.dataset.serverPlaying = said;
    L.phaser.onFrame(msg);
    L.claims.onFrame(msg);
    L.landscape?.onFrame(msg);
    L.thumbs.onFrame(msg);
    if (S.view.mode === 'update') L.traceFetch.trigger();
    if (!S.config?.layers || L.sizes().join() !== S.config.layers.join()) L.syncPicker();
    S.pending.loss = S.pending.data = S.pending.matrix = true;
    L.schedule();
    explainStep(L, msg);
    followLearningRate(L, msg, refreshConfig);
  }

  return { setSource, reloadData, onFrame };
}
