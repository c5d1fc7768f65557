// The workshop pages' visualiser: the main page's panels fed by a WebSocket of frames, with a
// view (edge, mode, sample, guide step) that a presenter shares and a participant follows.
// Used by present.js and room.js; the single-user page keeps its own wiring in main.js.

import { latestOnly, request } from './api.js';
import { LossHistory, createLossView } from './loss-view.js';
import { createNetworkView } from './network-view.js';
import { lossFormula, renderChain, renderChainMessage } from './chain-view.js';
import { createMatrixView } from './matrix-view.js';
import { createDataView } from './data-view.js';
import { createTroubleView } from './trouble.js';
import { createGuide, GUIDE_STEPS } from './guide.js';
import { biasName, defaultSel as defaultSelFor, isValidSel, layerSizes, weightName } from './nn.js';
import { fmt, formula } from './mathml.js';
import { createToasts, createTooltip, h } from './ui.js';
import { createPhaseStepper } from './phase-stepper.js';
import { createTimeline, isLookBack } from './timeline.js';
import { realUpdate, paramName } from './nn.js';
import { createSlopeView } from './slope-view.js';

export const $ = (id) => document.getElementById(id);

export { LiveSocket } from './api.js';

/** Show a connection state in the top bar's status pill. */
export function showStatus(state, detail) {
  const el = $('connection-status');
  el.dataset.state = state;
  el.textContent =
    {
      connecting: 'Connecting…',
      connected: 'Live',
      reconnecting: `Reconnecting${detail ? ` in ${Math.max(1, Math.round(detail / 1000))} s` : ''}…`,
      gone: 'Ended',
    }[state] || state;
}

/** Update the play button for `playing`, and enable the transport when `enabled`. */
export function showTransport(playing, enabled) {
  const b = $('play-button');
  b.setAttribute('aria-pressed', String(playing));
  b.querySelector('.play-icon').textContent = playing ? '❚❚' : '▶';
  b.querySelector('.play-label').textContent = playing ? 'Pause' : 'Play';
  b.classList.toggle('playing', playing);
  for (const id of ['play-button', 'step-button', 'reset-button']) $(id).disabled = !enabled;
}

/**
 * Wire the panels. `onUserView(view)` runs when the person at this screen changes the view
 * (clicks an edge, switches mode, picks a sample, moves through the guide); changes made by
 * applyView() never call it. Returns the controller the page drives.
 */
export function createLive({ onUserView, refreshConfig, send, canDrive, onPhase } = {}) {
  const S = {
    base: null, // REST prefix of the run shown: /api/rooms/CODE or /api/sessions/ID
    config: null,
    frame: null,
    data: null,
    view: { mode: 'weights', sample: 0, sel: null, log: true, guide: null }, // log: E's tail stays readable
    applying: false,
    dirty: false,
    last: { loss: 0, data: 0, matrix: 0 },
    pending: { loss: false, data: false, matrix: false },
    matrixSig: '',
    learningRate: null,
    trace: null, // the newest trace: the "Next update" view's real step
  };
  const history = new LossHistory();
  const toasts = createToasts($('toasts'));
  const tooltip = createTooltip(document.body);
  const network = createNetworkView($('network-plot'), { onSelect: (sel) => userChange(() => select(sel)), tooltip });
  const lossView = createLossView($('loss-plot'));
  const matrixView = createMatrixView($('matrix-panel'), { onSelect: (sel) => userChange(() => select(sel)), tooltip });
  const dataView = createDataView($('data-plot'), { onSample: (k) => userChange(() => setSample(k)) });
  const drives = () => !!send && (canDrive ? canDrive() : true);
  // One step in phases (the presenter's phase follows to the room) and time travel.
  const phaser = createPhaseStepper({
    el: { button: $('phase-button'), label: $('phase-label'), play: $('phase-play'), speed: $('phase-speed'), panel: $('phase-body'), panelRoot: $('panel-phase'), progress: $('phase-progress'), close: $('phase-close') },
    base: () => S.base,
    frame: () => S.frame,
    config: () => S.config,
    sample: () => S.view.sample,
    network: { highlight: (spec) => network.highlight(spec) },
    applyStep: send ? () => send({ type: 'step', count: 1 }) : null,
    canDrive: drives,
    onPhase: (k, step) => drives() && onPhase?.(k, step),
    onTrace: (trace) => {
      S.trace = trace;
      schedule();
    },
    onError: (err) => toasts.show(`Could not trace this step: ${err.message}`, 'error'),
  });
  const timeline = $('timeline')
    ? createTimeline(
        { input: $('timeline'), label: $('timeline-label'), back: $('back-step-button'), root: $('timeline-row') },
        { onSeek: (n) => drives() && send({ type: 'seek', step: n }) },
      )
    : null;
  const traceFetch = latestOnly(
    () => (S.base && S.view.mode === 'update' && S.frame && !S.frame.update && (S.config?.optimizer?.name || 'sgd') !== 'sgd' && S.trace?.step !== S.frame.step ? request('GET', `${S.base}/trace`) : null),
    250,
    (trace) => {
      if (!trace) return;
      S.trace = trace;
      schedule();
    },
    () => {},
  );
  // Rooms show why a run is stuck (a lesson for everyone); the fixes need a new run, so none here.
  const troubleView = $('trouble-panel') ? createTroubleView($('trouble-panel'), {}) : null;
  const guide = createGuide($('guide'), {
    button: $('guide-button'),
    onAction(a) {
      if (a.mode) setMode(a.mode);
      if (a.select === 'last') select(defaultSel());
      if (a.select === 'first') select({ kind: 'weight', layer: 0, i: 0, j: 0 });
    },
    onStep(k) {
      S.view.guide = k;
      if (!S.applying) onUserView?.(view(), { guide: true, closed: k === null });
    },
  });

  /** Run a change the person made, then report the new view. */
  function userChange(fn) {
    fn();
    if (!S.applying) onUserView?.(view(), {});
  }

  // ---------------------------------------------------------------- selection

  function sizes() {
    return layerSizes(S.frame, S.config);
  }

  function validSel(sel) {
    return isValidSel(sel, sizes());
  }

  function defaultSel() {
    return defaultSelFor(sizes());
  }

  function select(sel) {
    if (!validSel(sel)) return;
    S.view.sel = sel.kind === 'bias' ? { kind: 'bias', layer: sel.layer, j: sel.j } : { kind: 'weight', layer: sel.layer, i: sel.i, j: sel.j };
    syncPicker();
    chainFetch.invalidate();
    chainFetch.trigger();
    sliceFetch.invalidate();
    sliceFetch.trigger();
    schedule();
  }

  function syncPicker() {
    const sz = sizes();
    const L = sz.length - 1;
    if (L < 1) return;
    const sel = S.view.sel || defaultSel();
    const opts = (n) => Array.from({ length: n }, (_, k) => h('option', { value: String(k) }, String(k)));
    $('pick-kind').value = sel.kind;
    $('pick-layer').replaceChildren(...Array.from({ length: L }, (_, l) => h('option', { value: String(l) }, sel.kind === 'bias' ? biasName(l, L) : weightName(l, L))));
    $('pick-layer').value = String(sel.layer);
    $('pick-i').replaceChildren(...opts(sz[sel.layer] || 0));
    $('pick-i').disabled = sel.kind === 'bias';
    $('pick-i').value = String(sel.i ?? 0);
    $('pick-j').replaceChildren(...opts(sz[sel.layer + 1] || 0));
    $('pick-j').value = String(sel.j);
  }

  function pickerChanged() {
    const kind = $('pick-kind').value;
    const layer = Number($('pick-layer').value);
    const sz = sizes();
    const i = Math.min(Number($('pick-i').value) || 0, (sz[layer] || 1) - 1);
    const j = Math.min(Number($('pick-j').value) || 0, (sz[layer + 1] || 1) - 1);
    userChange(() => select(kind === 'bias' ? { kind, layer, j } : { kind, layer, i, j }));
  }
  for (const id of ['pick-kind', 'pick-layer', 'pick-i', 'pick-j']) $(id).addEventListener('change', pickerChanged);

  function setMode(mode) {
    if (!['weights', 'gradients', 'update'].includes(mode)) return;
    S.view.mode = mode;
    for (const r of document.querySelectorAll('input[name="mode"]')) r.checked = r.value === mode;
    if (mode === 'update') traceFetch.trigger();
    schedule();
  }
  for (const r of document.querySelectorAll('input[name="mode"]')) {
    r.addEventListener('change', () => r.checked && userChange(() => setMode(r.value)));
  }

  function setSample(k) {
    const n = S.data?.x?.length || 1;
    S.view.sample = Math.max(0, Math.min(n - 1, Math.floor(Number(k) || 0)));
    $('sample-input').value = String(S.view.sample + 1);
    S.pending.data = true;
    schedule();
  }
  $('sample-input').addEventListener('change', () => userChange(() => setSample((Number($('sample-input').value) || 1) - 1)));

  $('log-toggle').addEventListener('change', () => {
    S.view.log = $('log-toggle').checked;
    S.pending.loss = true;
    schedule();
  });

  /** The shareable view: what a participant following this screen sees. */
  function view() {
    return { edge: S.view.sel, mode: S.view.mode, sample: S.view.sample, guide: S.view.guide };
  }

  /** Show someone else's view (the presenter's) without reporting it as this person's. */
  function applyView(v) {
    if (!v || typeof v !== 'object') return;
    S.applying = true;
    try {
      // The guide first: its steps carry actions (mode, edge) the rest of the view overrides.
      const step = Number.isInteger(v.guide) && v.guide >= 0 && v.guide < GUIDE_STEPS.length ? v.guide : null;
      if (step === null && guide.isOpen()) guide.close();
      else if (step !== null && (!guide.isOpen() || S.view.guide !== step)) guide.open(step, { remote: true });
      if (typeof v.mode === 'string') setMode(v.mode);
      if (Number.isInteger(v.sample)) setSample(v.sample);
      if (v.edge) select(v.edge);
    } finally {
      S.applying = false;
    }
  }

  // ---------------------------------------------------------------- fetches (newest only)

  const chainFetch = latestOnly(
    () => (S.base && S.view.sel ? request('GET', `${S.base}/chain?${chainQuery(S.view.sel)}`) : null),
    200,
    (chain) => chain && renderChain($('chain-panel'), chain, { optimizer: S.config?.optimizer?.name, lossName: S.config?.loss }),
    (err) => err.status !== 404 && renderChainMessage($('chain-panel'), err.message),
  );

  const matrixFetch = latestOnly(
    () => (S.base ? request('GET', `${S.base}/matrix`) : null),
    300,
    (items) => {
      if (!items) return;
      const sig = JSON.stringify(items.map((it) => [it.equation, it.A.shape, it.delta.shape, it.result_shape]));
      S.matrixItems = items;
      if (sig !== S.matrixSig) {
        S.matrixSig = sig;
        matrixView.setMatrix(items, S.data || S.config);
      }
      if (S.frame) matrixView.update(S.frame);
    },
    () => {},
  );

  const slopeView = $('slope-view') ? createSlopeView($('slope-view')) : null;
  const sliceFetch = latestOnly(
    () => (slopeView && S.base && S.view.sel && S.frame && !S.frame.diverged ? request('GET', `${S.base}/slice?${chainQuery(S.view.sel)}`) : null),
    400,
    (slice) => {
      if (!slice) return;
      $('slope-view').hidden = false;
      slopeView.render(slice, paramName(S.view.sel, sizes().length - 1, S.config?.bias === 'shared'));
    },
    () => ($('slope-view').hidden = true),
  );

  function chainQuery(sel) {
    const q = new URLSearchParams({ kind: sel.kind, layer: String(sel.layer), j: String(sel.j) });
    if (sel.kind === 'weight') q.set('i', String(sel.i));
    return q;
  }

  // ---------------------------------------------------------------- sources and frames

  /** Show another run: a room or a session, its config and first frame (the whole curve). */
  async function setSource({ base, config, frame }) {
    S.base = base;
    S.config = config;
    S.frame = frame || null;
    S.data = null;
    S.matrixSig = '';
    S.matrixItems = null;
    S.chainAt = frame?.step ?? null;
    S.learningRate = frame?.learning_rate ?? config?.optimizer?.learning_rate ?? null;
    S.trace = null;
    phaser.reset();
    history.clear();
    if (frame) history.addFrame(frame);
    network.reset();
    if (config) $('loss-formula').replaceChildren(formula(lossFormula(config.loss)));
    if (!validSel(S.view.sel)) S.view.sel = defaultSel();
    syncPicker();
    chainFetch.invalidate();
    chainFetch.trigger();
    sliceFetch.invalidate();
    sliceFetch.trigger();
    matrixFetch.trigger();
    markAll();
    try {
      const data = await request('GET', `${base}/data`);
      if (S.base !== base) return;
      S.data = data;
      dataView.setData(data);
      network.reset();
      const n = data.x.length;
      $('sample-input').max = String(n);
      $('sample-of').textContent = `of ${n}`;
      setSample(S.view.sample);
      // No second fetch: the matrices already here are drawn again with the data's names.
      if (S.matrixItems) matrixView.setMatrix(S.matrixItems, data);
      markAll();
    } catch (err) {
      toasts.show(`Could not load the data: ${err.message}`, 'error');
    }
  }

  /** A frame from the stream. */
  function onFrame(msg) {
    // A look back (seek) keeps the curve as it is: the run's later steps stay until a new branch.
    if (!isLookBack(msg)) history.addFrame(msg);
    S.frame = msg;
    phaser.onFrame(msg);
    if (S.view.mode === 'update') traceFetch.trigger();
    if (!S.config?.layers || sizes().join() !== S.config.layers.join()) syncPicker();
    S.pending.loss = S.pending.data = S.pending.matrix = true;
    schedule();
    // The socket's first frame repeats the source's: its chain is already being fetched.
    if (msg.step !== S.chainAt) {
      chainFetch.trigger();
      sliceFetch.trigger();
    }
    S.chainAt = null;
    const lr = msg.learning_rate;
    if (lr !== undefined && lr !== null && lr !== S.learningRate) {
      // The presenter changed the optimizer's settings: the chain panel's notes follow.
      S.learningRate = lr;
      if (S.config?.optimizer) S.config.optimizer.learning_rate = lr;
      refreshConfig?.().then((c) => c && S.base && (S.config = c), () => {});
      matrixFetch.trigger();
    }
  }

  // ---------------------------------------------------------------- rendering

  function schedule() {
    if (S.dirty) return;
    S.dirty = true;
    requestAnimationFrame(render);
  }

  function markAll() {
    S.pending.loss = S.pending.data = S.pending.matrix = true;
    schedule();
  }

  function render(now) {
    S.dirty = false;
    const f = S.frame;
    if (!f) return;
    $('step-count').textContent = String(f.step);
    $('loss-value').textContent = f.loss === null || f.loss === undefined ? '—' : String(Number(f.loss.toPrecision(6)));
    const hasTest = f.test_loss !== null && f.test_loss !== undefined;
    document.querySelector('.test-readout').hidden = !hasTest;
    if (hasTest) $('test-loss-value').textContent = String(Number(f.test_loss.toPrecision(6)));
    const real = S.view.mode === 'update' ? realUpdate(f, S.trace) : null;
    network.update(f, S.data, { mode: S.view.mode, sample: S.view.sample, selection: S.view.sel, real, optimizer: S.config?.optimizer?.name });
    troubleView?.update(f.trouble, S.config);
    if (timeline) {
      timeline.update(f, history);
      $('timeline').disabled = !drives() || $('timeline').disabled;
    }
    const due = (key, ms) => {
      if (!S.pending[key]) return false;
      if (now - S.last[key] < ms && f.playing) {
        schedule();
        return false;
      }
      S.last[key] = now;
      S.pending[key] = false;
      return true;
    };
    if (due('loss', 66)) lossView.render(history, { log: S.view.log, marker: { step: f.step, loss: f.loss } });
    if (due('data', 100)) dataView.update(f, { sample: S.view.sample });
    if (due('matrix', 100)) matrixView.update(f);
  }

  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      network.resize();
      lossView.resize();
      markAll();
    }, 150);
  });

  return {
    state: S,
    history,
    toasts,
    guide,
    setSource,
    onFrame,
    view,
    applyView,
    fmt,
    phaser,
    timeline,
    /** Re-read whether this screen drives (the controls follow). */
    refreshDrive() {
      schedule();
      for (const id of ['phase-button', 'phase-play']) if ($(id)) $(id).disabled = !drives();
    },
  };
}

/** Nothing to wait for: each view loads Plotly when it needs it (plotly-loader.js). */
export async function whenPlotly() {}
