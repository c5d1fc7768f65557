// The visualiser, once for every page: the panels (network, curve, chain, matrices, data,
// trouble, phases, timeline, slope, guide) fed by a WebSocket of frames, one render scheduler,
// and a view (edge, mode, sample, guide step) a presenter shares and a participant follows.
// main.js, present.js and room.js build on it; transport.js holds play, pause, step and keys.

import { latestOnly, request } from './api.js';
import { LossHistory, createLossView } from './loss-view.js';
import { createNetworkView } from './network-view.js';
import { lossFormula, renderChain, renderChainMessage } from './chain-view.js';
import { createMatrixView } from './matrix-view.js';
import { createDataView, targetRange } from './data-view.js';
import { createNeuronThumbs } from './neuron-thumbs.js';
import { createHandEdits, logSignature, pointsSignature } from './hand-edits.js';
import { createTroubleView } from './trouble.js';
import { createGuide, GUIDE_STEPS } from './guide.js';
import { biasName, defaultSel as defaultSelFor, isValidSel, layerSizes, paramName, realUpdate, weightName } from './nn.js';
import { fmt, formula } from './mathml.js';
import { createToasts, createTooltip, h, layAlone, setFixedText, setFlag, setText } from './ui.js';
import { createPhaseStepper } from './phase-stepper.js';
import { createClaimsView } from './claims-view.js';
import { createTimeline, isLookBack } from './timeline.js';
import { createSlopeView } from './slope-view.js';
import { nextTask, watchNear, whenIdle } from './visibility.js';

export const $ = (id) => document.getElementById(id);

export { LiveSocket } from './api.js';

const NETWORK_MS = 45; // the network diagram's shortest redraw interval while playing (~20/s)
// The chain panel and the slope view under it, refreshed together while playing: each change
// lays the page out again, the slope is the costliest panel of a playing page, and a second
// is as fast as anyone reads the numbers.
const EXPLAIN_MS = 1000;

/** A share 0..1 as the page prints it: "97.5%" (one decimal, so 1 sample in 1,000 shows). */
export function percent(share) {
  return `${(share * 100).toFixed(1)}%`;
}
const STATUS_TEXT = { connecting: 'Connecting…', connected: 'Live', gone: 'Ended' };

/** Show a connection state in the top bar's status pill; `text` overrides the words per state. */
export function showStatus(state, detail, text = {}) {
  const el = $('connection-status');
  el.dataset.state = state;
  const words = { ...STATUS_TEXT, ...text };
  el.textContent = state === 'reconnecting' ? `Reconnecting${detail ? ` in ${Math.max(1, Math.round(detail / 1000))} s` : ''}…` : words[state] || state;
}

export { setText }; // the pages' one way to write a changing text (ui.js)

/**
 * Wire the panels. Options:
 *   send(msg): send on this page's socket (null: a follower never sends)
 *   canDrive(): whether this screen may step, seek and walk phases now
 *   onUserView(view, {guide, closed}): the person at this screen changed the shareable view
 *     (changes made by applyView() never call it)
 *   onViewChange(): any change of the view (the main page writes its URL)
 *   refreshConfig(): the run's config again, when the frame says someone else changed α
 *   onPhase(index, step): this screen moved to a phase
 *   onFix(fix): a trouble's one-click fix (none: the lesson only)
 *   onData(data): the run's data arrived
 *   exporter(): the headers a GIF export sends (a presenter's token), or null: no export here
 * Returns the controller the page drives.
 */
export function createLive({ onUserView, onViewChange, refreshConfig, send, canDrive, onPhase, onFix, onData, exporter = () => ({}) } = {}) {
  const S = {
    base: null, // REST prefix of the run shown: /api/rooms/CODE or /api/sessions/ID
    config: null,
    frame: null,
    data: null,
    view: { mode: 'weights', sample: 0, sel: null, log: true, guide: null, discrete: false }, // log: E's tail stays readable
    applying: false,
    dirty: false,
    last: { draw: 0, loss: 0, data: 0, matrix: 0, network: 0, explain: -Infinity },
    pending: { loss: false, data: false, matrix: false },
    matrixSig: '',
    matrixItems: null,
    learningRate: null,
    trace: null, // the newest trace: the "Next update" view's real step
    prof: { renders: 0, render: 0, frames: 0 },
    cost: {},
  };
  let transport = null; // play state and pause, once the page made one (transport.js)
  const playing = () => !!transport?.playing;
  const history = new LossHistory();
  const toasts = createToasts($('toasts'));
  const tooltip = createTooltip(document.body);
  const network = createNetworkView($('network-plot'), {
    onSelect: (sel) => userChange(() => select(sel)),
    tooltip,
    legend: $('node-legend'),
    onStale: () => {
      S.netKey = null;
      schedule();
    },
  });
  const lossView = createLossView($('loss-plot'));
  const matrixView = createMatrixView($('matrix-panel'), { onSelect: (sel) => userChange(() => select(sel)), tooltip });
  const dataView = createDataView($('data-plot'), { onSample: (k) => userChange(() => setSample(k)), onNeuron: (who) => thumbs.setPicked(who), onDiscrete: (on) => userChange(() => setDiscrete(on)) });
  // Each neuron over the input plane beside its node (GET …/neurons); a click puts it on the plane.
  const thumbs = createNeuronThumbs($('network-plot'), {
    svg: network.element,
    base: () => S.base,
    near: () => near.network?.() ?? true,
    moving: () => moving(),
    outputRange: () => (S.data ? targetRange(S.data) : null),
    onPick: (who) => {
      dataView.showNeuron(who);
      if (who && !near.data()) $('panel-data')?.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    },
  });
  for (const id of ['chain-panel', 'data-plot']) if ($(id)) layAlone($(id)); // numbers change inside while playing
  // Panels near the screen draw while playing; the others wait until they come near or the run
  // rests, then draw in idle time (a phone's first screen shows two of six panels).
  const near = {};
  for (const key of ['network', 'loss', 'data', 'matrix', 'chain']) {
    near[key] = watchNear($(`panel-${key}`), (on) => on && wake(key));
  }
  const drives = () => !!send && (canDrive ? canDrive() : true);
  // Edits and drawn points (issue 22, items 7 and 8): a field in the chain panel, a bar under the plane.
  const hand = createHandEdits({ chainRoot: $('panel-chain'), dataRoot: $('panel-data'), state: S, send: (m) => (send ? send(m) : false), drives, toast: (t) => toasts.show(t, 'error') });
  const pauseFirst = () => playing() && transport.pause();
  // One step in phases (the presenter's phase follows to the room) and time travel.
  const phaser = createPhaseStepper({
    el: { button: $('phase-button'), prev: $('phase-prev'), next: $('phase-next'), label: $('phase-label'), play: $('phase-play'), speed: $('phase-speed'), panel: $('phase-body'), panelRoot: $('panel-phase'), progress: $('phase-progress'), close: $('phase-close') },
    base: () => S.base,
    frame: () => S.frame,
    config: () => S.config,
    sample: () => S.view.sample,
    network: { highlight: (spec) => network.highlight(spec) },
    applyStep: send ? () => send({ type: 'step', count: 1 }) : null,
    seek: send ? (n) => send({ type: 'seek', step: n }) : null,
    setSample: (k) => userChange(() => setSample(k)),
    before: pauseFirst,
    canDrive: drives,
    onPhase: (k, step) => drives() && onPhase?.(k, step),
    onTrace: (trace) => {
      S.trace = trace;
      schedule();
    },
    onError: (err) => toasts.show(`Could not trace this step: ${err.message}`, 'error'),
  });
  // The article's closing claims: a note in the phase view and the Guide, measured on one click.
  const claims = createClaimsView({ base: () => S.base, frame: () => S.frame, playing });
  $('phase-body')?.after(claims.mount('phase'));
  // The step-back button: `back-step-button` on the workshop pages, `back-button` on the main one.
  const timeline = $('timeline')
    ? createTimeline(
        { input: $('timeline'), label: $('timeline-label'), back: $('back-step-button') || $('back-button'), root: $('timeline-row') },
        {
          onSeek: (n) => {
            if (!drives()) return;
            pauseFirst();
            send({ type: 'seek', step: n });
          },
          enabled: drives,
        },
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
  // Rooms show why a run is stuck (a lesson for everyone); fixes only where the page has onFix.
  // Fixes are tried on a copy of the run by the server (GET …/fixes) before one is offered.
  const fetchFixes = () => (S.base ? request('GET', `${S.base}/fixes`) : Promise.reject(new Error('no run')));
  const troubleView = $('trouble-panel') ? createTroubleView($('trouble-panel'), onFix ? { onFix, fetchFixes } : { fetchFixes }) : null;
  const guide = createGuide($('guide'), {
    button: $('guide-button'),
    demos: { claims: () => claims.mount('guide') },
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
  $('guide-button')?.addEventListener('click', () => (guide.isOpen() ? guide.close() : guide.open(0)));
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && !ev.defaultPrevented && guide.isOpen()) guide.close();
  });

  /** Run a change the person made, then report the new view. */
  function userChange(fn) {
    fn();
    if (!S.applying) onUserView?.(view(), {});
  }

  /** The view changed (any way): the page may keep it somewhere (the main page's URL). */
  function viewChanged() {
    onViewChange?.();
  }

  // ---------------------------------------------------------------- selection

  /** Layer sizes of the current frame: [n_in, n_h1, ..., n_out]. */
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
    hand.onSelect();
    viewChanged();
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
    viewChanged();
    schedule();
  }
  for (const r of document.querySelectorAll('input[name="mode"]')) {
    r.addEventListener('change', () => r.checked && userChange(() => setMode(r.value)));
  }

  function setSample(k) {
    const n = S.data?.x?.length || 1;
    S.view.sample = Math.max(0, Math.min(n - 1, Math.floor(Number(k) || 0)));
    $('sample-input').value = String(S.view.sample + 1);
    phaser.redraw(); // the worked neuron follows the sample
    viewChanged();
    S.pending.data = true;
    schedule();
  }
  $('sample-input').addEventListener('change', () => userChange(() => setSample((Number($('sample-input').value) || 1) - 1)));

  $('log-toggle').addEventListener('change', () => {
    S.view.log = $('log-toggle').checked;
    S.pending.loss = true;
    viewChanged();
    schedule();
  });

  /** The shareable view: what a participant following this screen sees. */
  function view() {
    return { edge: S.view.sel, mode: S.view.mode, sample: S.view.sample, guide: S.view.guide, discrete: S.view.discrete };
  }

  /** The data plane's classes as hard regions, or not (the toggle, a link, the presenter). */
  function setDiscrete(on) {
    S.view.discrete = !!on;
    dataView.setDiscrete(S.view.discrete);
    viewChanged();
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
      if (typeof v.discrete === 'boolean') setDiscrete(v.discrete);
    } finally {
      S.applying = false;
    }
  }

  // ---------------------------------------------------------------- fetches (newest only)

  const chainFetch = latestOnly(
    () => (S.base && S.view.sel ? request('GET', `${S.base}/chain?${chainQuery(S.view.sel)}`) : null),
    200,
    (chain) => chain && timed('chain', () => renderChain($('chain-panel'), chain, { optimizer: S.config?.optimizer?.name, lossName: S.config?.loss })),
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
      S.pending.matrix = true; // drawn by the scheduler: near the screen soon, else when idle
      schedule();
    },
    () => {},
  );

  const slopeView = $('slope-view')
    ? createSlopeView($('slope-view'), {
        // A click on the curve sets the parameter to that point's value (hand-edits.js).
        onPick: (v) => S.view.sel && hand.editTo(v),
        canPick: drives,
      })
    : null;
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

  // The error landscape and the GIF export (docs/api.md): their modules load only on
  // the first click, so the first screen never pays for them (issue 13's page speed).
  let landscape = null;
  $('landscape-open')?.addEventListener('click', async () => {
    const open = $('landscape-view').hidden;
    $('landscape-view').hidden = !open;
    $('landscape-open').setAttribute('aria-expanded', String(open));
    $('landscape-open').textContent = open ? 'Hide' : 'Show the landscape';
    if (!open || landscape) return;
    const { createLandscapeView } = await import('./landscape-view.js');
    landscape = createLandscapeView($('landscape-view'), { base: () => S.base, frame: () => S.frame, config: () => S.config, sel: () => S.view.sel, playing: moving });
    landscape.refresh();
  });
  if ($('export-animation')) {
    if (!exporter?.()) $('export-row').hidden = true;
    $('export-animation').addEventListener('click', async () => {
      const { exportAnimation } = await import('./export-animation.js');
      const el = { button: $('export-animation'), progress: $('export-progress'), status: $('export-status'), link: $('export-link') };
      if (S.base) exportAnimation({ base: S.base, headers: exporter?.() || {}, withLandscape: $('export-landscape').checked, el, frame: S.frame });
    });
  }

  function chainQuery(sel) {
    const q = new URLSearchParams({ kind: sel.kind, layer: String(sel.layer), j: String(sel.j) });
    if (sel.kind === 'weight') q.set('i', String(sel.i));
    return q;
  }

  // ---------------------------------------------------------------- sources and frames

  /**
   * Show another run: a room or a session, its config and first frame (the whole curve).
   * Everything but the data is set before this returns; the promise ends with the data.
   */
  async function setSource({ base, config, frame }) {
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
    phaser.reset();
    troubleView?.reset();
    history.clear();
    if (frame) history.addFrame({ ...frame, first_step: frame.first_step ?? frame.step - (frame.losses?.length || 1) + 1 });
    network.reset();
    thumbs.reset();
    S.netKey = null;
    S.dataWait = true;
    const waited = setTimeout(() => {
      if (S.base === base && S.dataWait) {
        S.dataWait = false; // slow or failed: draw without the names
        schedule();
      }
    }, 1000);
    if (config) $('loss-formula').replaceChildren(formula(lossFormula(config.loss)));
    if (!validSel(S.view.sel)) S.view.sel = defaultSel();
    syncPicker();
    chainFetch.invalidate();
    chainFetch.trigger();
    sliceFetch.invalidate();
    sliceFetch.trigger();
    matrixFetch.trigger();
    if (landscape && !$('landscape-view').hidden) landscape.reset();
    markAll();
    try {
      const data = await request('GET', `${base}/data`);
      if (S.base !== base) return;
      clearTimeout(waited);
      S.dataWait = false;
      S.data = data;
      dataView.setData(data);
      // Filled in the same task: a table painted empty, then filled, shifts its columns.
      if (S.frame) timed('data', () => drawPanel('data', S.frame));
      hand.onData(data);
      onData?.(data);
      network.reset();
      const n = data.x.length;
      $('sample-input').max = String(n);
      $('sample-of').textContent = `of ${n}`;
      setSample(S.view.sample);
      // No second fetch: the matrices already here are drawn again with the data's names.
      if (S.matrixItems) matrixView.setMatrix(S.matrixItems, data); // built when next drawn
      markAll();
    } catch (err) {
      if (S.base === base) S.dataWait = false;
      schedule();
      toasts.show(`Could not load the data: ${err.message}`, 'error');
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
      dataView.setData(data);
      if (S.frame) timed('data', () => drawPanel('data', S.frame));
      hand.onData(data);
      $('sample-input').max = String(data.x.length);
      $('sample-of').textContent = `of ${data.x.length}`;
    } catch (err) {
      if (S.base === base) toasts.show(`Could not load the drawn points: ${err.message}`, 'error');
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
    if (msg.step === S.frame?.step) {
      // Same step, new numbers: the chain rule and the slope (E went somewhere) are asked again.
      chainFetch.invalidate();
      chainFetch.trigger();
      sliceFetch.invalidate();
      sliceFetch.trigger();
    }
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
    if (!isLookBack(msg)) history.addFrame(msg);
    S.frame = msg;
    hand.onFrame();
    const said = String(msg.playing); // what the server last said (written when it changes)
    if (document.body.dataset.serverPlaying !== said) document.body.dataset.serverPlaying = said;
    phaser.onFrame(msg);
    claims.onFrame(msg);
    landscape?.onFrame(msg);
    thumbs.onFrame(msg);
    if (S.view.mode === 'update') traceFetch.trigger();
    if (!S.config?.layers || sizes().join() !== S.config.layers.join()) syncPicker();
    S.pending.loss = S.pending.data = S.pending.matrix = true;
    schedule();
    // The socket's first frame repeats the source's: its chain is already being fetched.
    if (msg.step !== S.chainAt) {
      // While playing, an off-screen chain panel is fetched again only once it comes near.
      if (near.chain() || !moving()) {
        // While playing, the chain panel and the slope's note under it are refreshed together,
        // at most every EXPLAIN_MS, and each is labelled with its step: a note refreshed on its
        // own clock contradicted the chain above it. Each change lays the page out again, and
        // the slice is 42 forward passes; skipped, both are fetched at a later frame or when
        // the run rests: the run's last frame always has both.
        const t = performance.now();
        if (!moving() || !(t - S.last.explain < EXPLAIN_MS)) {
          S.last.explain = t;
          S.chainStale = S.sliceStale = false;
          chainFetch.trigger();
          sliceFetch.trigger();
        } else {
          S.chainStale = S.sliceStale = true;
          checkAtRest();
        }
      } else S.chainStale = true;
    }
    S.chainAt = null;
    const lr = msg.learning_rate;
    if (lr !== undefined && lr !== null && lr !== S.learningRate) {
      S.learningRate = lr;
      if (S.config?.optimizer) S.config.optimizer.learning_rate = lr;
      // Someone else (the presenter) changed the optimizer's settings: the chain panel's
      // notes and the matrices follow. A page that made the change itself refetches alone.
      if (refreshConfig) {
        refreshConfig().then((c) => c && S.base && (S.config = c), () => {});
        matrixFetch.trigger();
      }
    }
  }

  // ---------------------------------------------------------------- rendering

  function schedule() {
    if (S.dirty) return;
    S.dirty = true;
    requestAnimationFrame(render);
  }

  /** Whether the run is playing here (the server says so, or this page asked it to). */
  function moving() {
    return !!S.frame?.playing || playing();
  }

  /** A panel came near the screen: draw what it skipped. */
  function wake(key) {
    if (key === 'network') thumbs.sync(); // maps skipped while it was out of sight
    if (key === 'chain') {
      if (S.chainStale) {
        S.chainStale = S.sliceStale = false;
        chainFetch.trigger();
        sliceFetch.trigger();
      }
      return;
    }
    schedule();
  }

  // While playing, a panel skipped off screen is drawn once the run rests: checked now and then.
  let restCheck = null;
  function checkAtRest() {
    if (restCheck) return;
    restCheck = setTimeout(() => {
      restCheck = null;
      if (!moving()) {
        if (S.chainStale) wake('chain');
        if (S.sliceStale) {
          S.sliceStale = false;
          sliceFetch.trigger();
        }
        schedule();
      } else checkAtRest();
    }, 400);
  }

  const PANELS = ['loss', 'data', 'matrix'];
  let restQueued = false;
  /**
   * At rest (the first frames, a step, a seek) each panel draws in a task of its own after the
   * network: those near the screen next, the others in idle time. One long task of everything
   * was most of the page's blocking time at load (Lighthouse, mobile).
   */
  function queueRest() {
    if (restQueued) return;
    const soon = PANELS.some((k) => S.pending[k] && near[k]());
    if (!soon && !PANELS.some((k) => S.pending[k])) return;
    restQueued = true;
    (soon ? nextTask : whenIdle)(() => {
      restQueued = false;
      if (!S.frame || moving()) return; // the frame loop draws while playing
      const key = PANELS.find((k) => S.pending[k] && near[k]()) || PANELS.find((k) => S.pending[k]);
      if (!key) return;
      S.pending[key] = false;
      S.last[key] = performance.now();
      timed(key, () => drawPanel(key, S.frame));
      queueRest();
    });
  }

  function drawPanel(key, f) {
    if (key === 'loss') lossView.render(history, { log: S.view.log, marker: { step: f.step, loss: f.loss }, revision: S.base || 'run' });
    else if (key === 'data') dataView.update(f, { sample: S.view.sample });
    else if (matrixView.update(f, { chunk: !near.matrix() })) S.pending.matrix = true; // layers left
  }

  function markAll() {
    S.pending.loss = S.pending.data = S.pending.matrix = true;
    schedule();
  }

  /** Run fn and add its time to S.prof[key] (ms): a cheap built-in profile of the page. */
  function timed(key, fn) {
    const t = performance.now();
    fn();
    const dt = performance.now() - t;
    S.prof[key] = (S.prof[key] || 0) + dt;
    S.prof[`${key}N`] = (S.prof[`${key}N`] || 0) + 1;
    S.cost[key] = 0.7 * (S.cost[key] || dt) + 0.3 * dt;
  }

  // While playing, a heavy redraw waits at least `ms` and 8x its own last cost (each panel
  // takes at most an eighth of the main thread), so the page stays responsive and keeps
  // animating on a slow machine (it shows the newest frame, never a backlog).
  const PLAYING_MS = { loss: 150, data: 250, matrix: 150 };
  function due(key, now) {
    if (!S.pending[key]) return false;
    if (!near[key]()) {
      checkAtRest(); // off screen: drawn when it comes near or the run rests
      return false;
    }
    if (now - S.last[key] < Math.max(PLAYING_MS[key], 8 * (S.cost[key] || 0))) {
      schedule();
      return false;
    }
    S.last[key] = now;
    S.pending[key] = false;
    return true;
  }

  /** While playing: at most one heavy panel (the curve, the data, the matrices) per frame. */
  function drawOnePanel(now, f) {
    const key = PANELS.find((k) => due(k, now));
    if (key) timed(key, () => drawPanel(key, f));
  }

  /** Epoch and (classification sets) accuracy beside STEP and E, in fixed boxes. */
  function showEpochAndAccuracy(f) {
    const epoch = $('epoch-value');
    if (epoch && f.epoch !== undefined) setFixedText(epoch, String(f.epoch), 5);
    for (const [key, sel, id] of [['accuracy', '.acc-readout', 'accuracy-value'], ['test_accuracy', '.test-acc-readout', 'test-accuracy-value']]) {
      const v = f[key];
      const has = typeof v === 'number';
      setFlag(document.querySelector(sel), 'hidden', !has);
      if (has) setFixedText($(id), percent(v), 6);
    }
  }

  function render(now) {
    S.dirty = false;
    const f = S.frame;
    if (!f) return;
    const moving = !!f.playing || playing();
    // While playing, the page writes a frame at most every NETWORK_MS (~20 times a second, as
    // the diagram always did): each write is a style, layout and paint of the page, and frames
    // come 30 a second; between writes the browser has whole frames free for scrolling and input.
    if (moving && now - S.last.draw < NETWORK_MS) {
      // A frame between writes: a panel that is due draws here, alone (a frame that wrote the
      // numbers, the diagram and a panel or two was a 50-80 ms long task at 4x CPU slowdown).
      S.gap = true;
      drawOnePanel(now, f);
      schedule();
      return;
    }
    S.last.draw = now;
    // Boxes of fixed width (app.css .readouts dd): 5 and 8 characters.
    setFixedText($('step-count'), String(f.step), 5);
    setFixedText($('loss-value'), f.loss === null || f.loss === undefined ? '—' : String(Number(f.loss.toPrecision(6))), 8);
    const hasTest = f.test_loss !== null && f.test_loss !== undefined;
    setFlag(document.querySelector('.test-readout'), 'hidden', !hasTest);
    if (hasTest) setFixedText($('test-loss-value'), String(Number(f.test_loss.toPrecision(6))), 8);
    showEpochAndAccuracy(f);
    // While playing, the diagram redraws at most every NETWORK_MS: its SVG is re-rasterised at
    // each change, which on a machine without GPU raster costs more than everything else on the
    // page together (benchmarks/page.py: 44 -> 51 rendered frames/s on 2 shared cores).
    // What the diagram shows: drawn again only when one of these changed (at load the page
    // renders several times while the chain, matrices and data arrive; each redraw of the
    // diagram cost a style and layout pass). Until the data come (their names and activations
    // label the diagram) it waits, briefly: drawing it twice was a long task on a phone.
    const optimizer = S.config?.optimizer?.name;
    const netKey = [f, S.data, S.view.mode, S.view.sample, S.view.sel, S.view.mode === 'update' ? S.trace : null, optimizer];
    const netSame = S.netKey && netKey.every((v, k) => v === S.netKey[k]);
    if (netSame || (S.dataWait && !moving)) {
      /* nothing new for the diagram */
    } else if (moving && !near.network()) checkAtRest();
    else if (!moving || now - S.last.network >= NETWORK_MS) {
      S.last.network = now;
      S.netKey = netKey;
      const real = S.view.mode === 'update' ? realUpdate(f, S.trace) : null;
      timed('network', () => network.update(f, S.data, { mode: S.view.mode, sample: S.view.sample, selection: S.view.sel, real, optimizer }));
      thumbs.sync();
    } else schedule();

    const t0 = performance.now();
    if (timeline) {
      timeline.update(f, history);
      setFlag($('timeline'), 'disabled', !drives() || $('timeline').disabled);
    }
    if (!moving) queueRest();
    else if (!S.gap) drawOnePanel(now, f); // no frame between writes here (a slow machine)
    else if (PANELS.some((k) => S.pending[k] && near[k]())) schedule(); // drawn in a frame between
    S.gap = false;
    S.prof.renders += 1;
    S.prof.render += performance.now() - t0;

    troubleView?.update(f.trouble, S.config, f, moving);
    const banner = $('diverged-banner');
    if (banner) {
      setFlag(banner, 'hidden', !f.diverged);
      if (f.diverged) {
        const lr = f.learning_rate ?? S.config?.optimizer?.learning_rate;
        $('diverged-text').textContent = `At step ${f.step} the error stopped being a finite number: the learning rate α = ${fmt(lr)} is too large for this network. Lower it (try ${fmt(lr / 10)}) and reset.`;
      }
    }
  }

  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      network.resize();
      S.netKey = null;
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
    setMode,
    setSample,
    setDiscrete,
    select,
    defaultSel,
    markAll,
    fmt,
    phaser,
    timeline,
    troubleView,
    /** Fetch the matrices again (the page changed a setting they show). */
    refreshMatrix: () => matrixFetch.trigger(),
    /** The page's transport (transport.js): the render cadence and pauses follow its play state. */
    useTransport(t) {
      transport = t;
    },
    /**
     * Re-read whether this screen drives (the controls follow). The transport asks at every
     * frame; only a change does work (redrawing the draw bar and its rings at each of 30-60
     * frames a second cost a style pass and a canvas each: benchmarks/page.py at 4x).
     */
    refreshDrive() {
      const on = drives();
      if (on === S.drove) return;
      S.drove = on;
      schedule();
      hand.refresh();
      slopeView?.refresh(); // its ring to drag is the driver's
      for (const id of ['phase-button', 'phase-play']) if ($(id)) setFlag($(id), 'disabled', !on);
    },
  };
}

/** Nothing to wait for: each view loads Plotly when it needs it (plotly-loader.js). */
export async function whenPlotly() {}
