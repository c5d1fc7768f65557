// Wiring: session lifecycle, the WebSocket stream, one render per animation frame with the
// newest frame only, the URL as the single source of the configuration.

import { api, ApiError, SessionSocket, latestOnly } from './api.js';
import { configToParams, paramsToConfig, toRequestConfig, clone } from './state.js';
import { createNetworkView } from './network-view.js';
import { CompactSeries, LossHistory, createLossView } from './loss-view.js';
import { applySettings, createTroubleView, describeChanges } from './trouble.js';
import { renderChain, renderChainMessage, lossFormula } from './chain-view.js';
import { createMatrixView } from './matrix-view.js';
import { createDataView } from './data-view.js';
import { createControls } from './controls.js';
import { createGuide } from './guide.js';
import { bindShortcuts } from './a11y.js';
import { biasName, defaultSel as defaultSelFor, isValidSel, layerSizes, weightName } from './nn.js';
import { fmt, formula } from './mathml.js';
import { createToasts, createTooltip, h } from './ui.js';
import { createPhaseStepper } from './phase-stepper.js';
import { createTimeline, isLookBack } from './timeline.js';
import { realUpdate, paramName } from './nn.js';
import { createSlopeView } from './slope-view.js';

const $ = (id) => document.getElementById(id);
const CSV_KEY = 'backprop-studio.csv';
const FPS = 30;
const NETWORK_MS = 45; // the network diagram's shortest redraw interval while playing (~20/s)

const S = {
  id: null,
  config: null,
  frame: null,
  data: null,
  socket: null,
  playing: false,
  playSentAt: 0,
  connected: false,
  datasets: [],
  view: { mode: 'weights', sample: 0, sel: null, log: true, spf: 1 },
  dirty: false,
  lastLossDraw: 0,
  lastNetDraw: 0,
  lastDataDraw: 0,
  lastMatrixDraw: 0,
  pending: { loss: false, data: false, matrix: false },
  matrixSig: '',
  prof: { renders: 0, render: 0, frames: 0 },
  cost: {},
  trace: null, // the newest trace (GET .../trace): the "Next update" view's real step
  openAt: null, // step=n from the link: go there once the session is up
};

const history = new LossHistory();
const toasts = createToasts($('toasts'));
const tooltip = createTooltip(document.body);

const network = createNetworkView($('network-plot'), { onSelect: select, tooltip });
const lossView = createLossView($('loss-plot'));
const matrixView = createMatrixView($('matrix-panel'), { onSelect: select, tooltip });
const troubleView = createTroubleView($('trouble-panel'), { onFix: applyFix });
const dataView = createDataView($('data-plot'), {
  onSample: (k) => {
    setSample(k);
  },
});

// One step in phases (the article's order) and time travel (seek).
const phaser = createPhaseStepper({
  el: { button: $('phase-button'), label: $('phase-label'), play: $('phase-play'), speed: $('phase-speed'), panel: $('phase-body'), panelRoot: $('panel-phase'), progress: $('phase-progress'), close: $('phase-close') },
  base: () => (S.id ? `/api/sessions/${encodeURIComponent(S.id)}` : null),
  frame: () => S.frame,
  config: () => S.config,
  sample: () => S.view.sample,
  network: { highlight: (spec) => network.highlight(spec) },
  applyStep: () => send({ type: 'step', count: 1 }),
  before: () => S.playing && pause(),
  onTrace: (trace) => {
    S.trace = trace;
    schedule();
  },
  onError: (err) => toasts.show(`Could not trace this step: ${err.message}`, 'error'),
});
const timeline = createTimeline(
  { input: $('timeline'), label: $('timeline-label'), back: $('back-button'), root: $('timeline-row') },
  { onSeek: (n) => seek(n) },
);

/** Go to step n of the run (0..head): the server answers with that step's frame. */
function seek(n) {
  if (S.playing) pause();
  send({ type: 'seek', step: n });
}

const slopeView = createSlopeView($('slope-view'));
const sliceFetch = latestOnly(
  () => (S.id && S.view.sel && S.frame && !S.frame.diverged ? api.slice(S.id, S.view.sel) : null),
  400,
  (slice) => {
    if (!slice) return;
    $('slope-view').hidden = false;
    slopeView.render(slice, paramName(S.view.sel, sizes().length - 1, S.config?.bias === 'shared'));
  },
  () => ($('slope-view').hidden = true),
);

const traceFetch = latestOnly(
  () => (S.id && S.view.mode === 'update' && S.frame && !S.frame.update && (S.config?.optimizer?.name || 'sgd') !== 'sgd' && S.trace?.step !== S.frame.step ? api.trace(S.id) : null),
  250,
  (trace) => {
    if (!trace) return;
    S.trace = trace;
    schedule();
  },
  () => {},
);

// ---------------------------------------------------------------- sizes and selection

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
  S.view.sel = sel;
  syncPicker();
  chainFetch.invalidate();
  chainFetch.trigger();
  sliceFetch.trigger();
  writeUrl();
  schedule();
}

function syncPicker() {
  const sz = sizes();
  const L = sz.length - 1;
  const sel = S.view.sel || defaultSel();
  const kind = $('pick-kind');
  const layer = $('pick-layer');
  const pi = $('pick-i');
  const pj = $('pick-j');
  kind.value = sel.kind;
  const opts = (n) => Array.from({ length: n }, (_, k) => h('option', { value: String(k) }, String(k)));
  layer.replaceChildren(...Array.from({ length: L }, (_, l) => h('option', { value: String(l) }, sel.kind === 'bias' ? biasName(l, L) : weightName(l, L))));
  layer.value = String(sel.layer);
  pi.replaceChildren(...opts(sz[sel.layer] || 0));
  pi.disabled = sel.kind === 'bias';
  pi.value = String(sel.i ?? 0);
  pj.replaceChildren(...opts(sz[sel.layer + 1] || 0));
  pj.value = String(sel.j);
}

function pickerChanged() {
  const kind = $('pick-kind').value;
  const layer = Number($('pick-layer').value);
  const sz = sizes();
  const i = Math.min(Number($('pick-i').value) || 0, (sz[layer] || 1) - 1);
  const j = Math.min(Number($('pick-j').value) || 0, (sz[layer + 1] || 1) - 1);
  select(kind === 'bias' ? { kind, layer, j } : { kind, layer, i, j });
}
for (const id of ['pick-kind', 'pick-layer', 'pick-i', 'pick-j']) $(id).addEventListener('change', pickerChanged);

// ---------------------------------------------------------------- fetches (newest only)

const chainFetch = latestOnly(
  () => (S.id && S.view.sel ? api.chain(S.id, S.view.sel) : null),
  200,
  (chain) => {
    if (!chain) return;
    timed('chain', () => renderChain($('chain-panel'), chain, { optimizer: S.config?.optimizer?.name, lossName: S.config?.loss }));
  },
  (err) => {
    if (err.status !== 404) renderChainMessage($('chain-panel'), err.message);
  },
);

const matrixFetch = latestOnly(
  () => (S.id ? api.matrix(S.id) : null),
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

// ---------------------------------------------------------------- rendering

function schedule() {
  if (S.dirty) return;
  S.dirty = true;
  requestAnimationFrame(render);
}

function render(now) {
  S.dirty = false;
  const f = S.frame;
  if (!f) return;
  setText($('step-count'), String(f.step));
  setText($('loss-value'), f.loss === null || f.loss === undefined ? '—' : String(Number(f.loss.toPrecision(6))));
  const hasTest = f.test_loss !== null && f.test_loss !== undefined;
  document.querySelector('.test-readout').hidden = !hasTest;
  if (hasTest) setText($('test-loss-value'), String(Number(f.test_loss.toPrecision(6))));
  // While playing, the diagram redraws at most every NETWORK_MS: its SVG is re-rasterised at
  // each change, which on a machine without GPU raster costs more than everything else on the
  // page together (benchmarks/page.py: 44 -> 51 rendered frames/s on 2 shared cores).
  if (!S.playing || now - S.lastNetDraw >= NETWORK_MS) {
    S.lastNetDraw = now;
    const real = S.view.mode === 'update' ? realUpdate(f, S.trace) : null;
    const optimizer = S.config?.optimizer?.name;
    timed('network', () => network.update(f, S.data, { mode: S.view.mode, sample: S.view.sample, selection: S.view.sel, real, optimizer }));
  } else schedule();

  // While playing, a heavy redraw waits at least `ms` and 8x its own last cost (each panel
  // takes at most an eighth of the main thread), so the page stays responsive and keeps
  // animating on a slow machine (it shows the newest frame, never a backlog).
  const due = (key, last, ms) => {
    if (!S.pending[key]) return false;
    if (now - S[last] < Math.max(ms, 8 * (S.cost[key] || 0)) && S.playing) {
      schedule();
      return false;
    }
    S[last] = now;
    S.pending[key] = false;
    return true;
  };
  const t0 = performance.now();
  if (due('loss', 'lastLossDraw', 150)) timed('loss', () => lossView.render(history, { log: S.view.log, marker: { step: f.step, loss: f.loss }, revision: S.id || 'run' }));
  timeline.update(f, history);
  if (due('data', 'lastDataDraw', 250)) timed('data', () => dataView.update(f, { sample: S.view.sample }));
  if (due('matrix', 'lastMatrixDraw', 150)) timed('matrix', () => matrixView.update(f));
  S.prof.renders += 1;
  S.prof.render += performance.now() - t0;

  troubleView.update(f.trouble, S.config);
  const banner = $('diverged-banner');
  banner.hidden = !f.diverged;
  if (f.diverged) {
    const lr = f.learning_rate ?? S.config?.optimizer?.learning_rate;
    $('diverged-text').textContent = `At step ${f.step} the error stopped being a finite number: the learning rate α = ${fmt(lr)} is too large for this network. Lower it (try ${fmt(lr / 10)}) and reset.`;
  }
  updatePlayButton();
}

/** Change a text only when it differs: the page renders 30-60 times a second while playing. */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
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

function markAll() {
  S.pending.loss = S.pending.data = S.pending.matrix = true;
  schedule();
}

function updatePlayButton() {
  const b = $('play-button');
  b.setAttribute('aria-pressed', String(S.playing));
  setText(b.querySelector('.play-icon'), S.playing ? '❚❚' : '▶');
  setText(b.querySelector('.play-label'), S.playing ? 'Pause' : 'Play');
  b.classList.toggle('playing', S.playing);
  document.body.classList.toggle('is-playing', S.playing);
  const off = !S.connected;
  for (const id of ['play-button', 'step-button', 'reset-button', 'phase-button', 'phase-play']) $(id).disabled = off;
}

// ---------------------------------------------------------------- stream

function onMessage(msg) {
  if (msg.type === 'frame') {
    S.prof.frames += 1;
    // A look back (seek) keeps the curve as it is: the run's later steps stay until a new branch.
    if (!isLookBack(msg)) history.addFrame(msg);
    S.frame = msg;
    document.body.dataset.serverPlaying = String(msg.playing); // what the server last said
    phaser.onFrame(msg);
    if (S.view.mode === 'update') traceFetch.trigger();
    if (msg.diverged && S.playing) S.playing = false;
    else if (!msg.playing && S.playing && performance.now() - S.playSentAt > 1500) S.playing = false;
    S.pending.loss = S.pending.data = S.pending.matrix = true;
    schedule();
    // The socket's first frame repeats the one the session was created with: its chain is
    // already being fetched (it was fetched twice at start).
    if (msg.step !== S.chainAt) {
      chainFetch.trigger();
      sliceFetch.trigger();
    }
    S.chainAt = null;
  } else if (msg.type === 'error') {
    toasts.show(msg.message || 'The server rejected that.', 'error');
  }
}

function setStatus(state, detail) {
  const el = $('connection-status');
  el.dataset.state = state;
  S.connected = state === 'connected';
  const text = {
    connecting: 'Connecting…',
    connected: 'Connected',
    reconnecting: `Reconnecting${detail ? ` in ${Math.max(1, Math.round(detail / 1000))} s` : ''}…`,
    gone: 'Session lost',
  }[state];
  el.textContent = text || state;
  updatePlayButton();
}

function send(msg) {
  if (!S.socket || !S.socket.send(msg)) {
    toasts.show('Not connected to the server; retrying…', 'error', 3000);
    return false;
  }
  return true;
}

function play() {
  if (S.frame?.diverged) {
    toasts.show('This run diverged: lower the learning rate and reset first.', 'error');
    return;
  }
  if (send({ type: 'play', steps_per_frame: S.view.spf, fps: FPS })) {
    S.playing = true;
    S.playSentAt = performance.now();
    updatePlayButton();
  }
}

function pause() {
  send({ type: 'pause' });
  S.playing = false;
  updatePlayButton();
}

function togglePlay() {
  if (S.playing) pause();
  else play();
}

function step() {
  if (S.playing) pause();
  phaser.stopPlay();
  send({ type: 'step', count: 1 });
}

function reset() {
  send({ type: 'reset' });
}

// ---------------------------------------------------------------- sessions

function connect() {
  S.socket?.close();
  const id = S.id;
  S.socket = new SessionSocket(id, {
    onMessage,
    onStatus: setStatus,
    onOpen: () => {
      if (S.playing) {
        S.socket.send({ type: 'play', steps_per_frame: S.view.spf, fps: FPS });
        S.playSentAt = performance.now();
      }
    },
    onGone: () => recreate(),
  });
  S.socket.connect();
}

async function recreate() {
  const wasPlaying = S.playing;
  notice('The server restarted and this session was gone, so a new one was started from the configuration in the link (back at step 0).');
  for (let attempt = 0; ; attempt++) {
    try {
      const resp = await api.createSession(toRequestConfig(S.config));
      await adopt(resp, { keepPlaying: wasPlaying, deleteOld: false });
      return;
    } catch (err) {
      if (err.status && err.status !== 429 && err.status < 500) {
        toasts.show(`Could not start a new session: ${err.message}`, 'error', 0);
        return;
      }
      setStatus('reconnecting', Math.min(5000, 500 * 2 ** attempt));
      await new Promise((r) => setTimeout(r, Math.min(5000, 500 * 2 ** attempt)));
    }
  }
}

async function adopt(resp, { keepPlaying = false, deleteOld = true } = {}) {
  const oldId = S.id;
  S.socket?.close();
  S.socket = null;
  // Later, so requests still in flight for the old session do not meet a 404.
  if (deleteOld && oldId && oldId !== resp.id) setTimeout(() => api.deleteSession(oldId).catch(() => {}), 3000);
  S.id = resp.id;
  S.config = resp.config;
  S.playing = keepPlaying;
  S.matrixSig = '';
  S.trace = null;
  phaser.reset();
  S.matrixItems = null;
  S.chainAt = resp.frame.step;
  history.clear();
  history.addFrame({ ...resp.frame, first_step: resp.frame.first_step ?? resp.frame.step - (resp.frame.losses?.length || 1) + 1 });
  S.frame = resp.frame;
  S.data = null;
  if (!validSel(S.view.sel)) S.view.sel = defaultSel();
  network.reset();
  controls.setConfig(S.config, S.datasets);
  $('loss-formula').replaceChildren(formula(lossFormula(S.config.loss)));
  syncPicker();
  writeUrl();
  connect();
  chainFetch.invalidate();
  chainFetch.trigger();
  sliceFetch.invalidate();
  sliceFetch.trigger();
  matrixFetch.trigger();
  markAll();
  if (S.openAt) {
    const n = S.openAt;
    S.openAt = null;
    openAtStep(n);
  }
  try {
    const data = await api.data(S.id);
    if (S.id !== resp.id) return;
    S.data = data;
    dataView.setData(data);
    showScale(data);
    network.reset();
    const n = data.x.length;
    S.view.sample = Math.min(S.view.sample, n - 1);
    $('sample-input').max = String(n);
    $('sample-input').value = String(S.view.sample + 1);
    $('sample-of').textContent = `of ${n}`;
    // The matrices need no second fetch: draw the ones that came with the data's names; if
    // they have not come yet, the fetch in flight draws them with the data.
    if (S.matrixItems) matrixView.setMatrix(S.matrixItems, data);
    markAll();
  } catch (err) {
    toasts.show(`Could not load the data: ${err.message}`, 'error');
  }
}

/** Create a session from a request config; on failure show the message and keep the old one. */
async function startSession(config, { onError, keepOld = false } = {}) {
  try {
    const resp = await api.createSession(config);
    await adopt(resp, { deleteOld: !keepOld });
    return true;
  } catch (err) {
    if (onError) onError(err.message);
    else toasts.show(err.message, 'error', 8000);
    if (S.config) controls.setConfig(S.config, S.datasets);
    return false;
  }
}

/** A link's step=n: run the same seed and config forward to step n (the same run, bit for bit). */
async function openAtStep(n) {
  const id = S.id;
  let chunk = 1000; // steps per request: smaller when the server finds it too much work (422)
  try {
    for (let at = S.frame?.step ?? 0; at < n && S.id === id; ) {
      let frame;
      try {
        frame = await api.step(id, Math.min(n - at, chunk));
      } catch (err) {
        if (err.status !== 422 || chunk === 1) throw err;
        chunk = Math.max(1, Math.floor(chunk / 4));
        continue;
      }
      if (S.id !== id) return;
      onMessage({ ...frame, type: 'frame' });
      at = frame.step;
    }
  } catch (err) {
    toasts.show(`Could not open at step ${n}: ${err.message}`, 'error');
  }
}

function baseConfig() {
  const c = toRequestConfig(S.config);
  delete c.preset;
  return c;
}

function datasetInfo(name) {
  return S.datasets.find((d) => d.name === name);
}

// ---------------------------------------------------------------- URL

function writeUrl() {
  if (!S.config) return;
  const q = configToParams(S.config, S.view);
  const url = `${location.pathname}?${q}`;
  if (url !== `${location.pathname}${location.search}`) history_.replaceState(null, '', url);
}
const history_ = window.history;

function notice(text) {
  $('notice-text').textContent = text;
  $('notice').hidden = false;
}
$('notice-close').addEventListener('click', () => ($('notice').hidden = true));

// ---------------------------------------------------------------- controls

const controls = createControls({
  onSet(patch) {
    if (!send({ type: 'set', ...patch })) return;
    if (patch.optimizer) S.config.optimizer = { ...S.config.optimizer, ...patch.optimizer };
    if (patch.full_batch) S.config.batch_size = null;
    if (patch.batch_size) S.config.batch_size = patch.batch_size;
    if (patch.l2 !== undefined) S.config.l2 = patch.l2;
    writeUrl();
    setTimeout(() => matrixFetch.trigger(), 150);
  },
  onSpf(k) {
    S.view.spf = k;
    if (S.playing) send({ type: 'play', steps_per_frame: k, fps: FPS });
    writeUrl();
  },
  onConfig(patch) {
    startSession({ ...baseConfig(), ...patch });
  },
  onPreset(name) {
    if (!name) return;
    startSession({ preset: name });
  },
  onDataset(dataset, changedName) {
    const info = datasetInfo(dataset.name);
    const c = baseConfig();
    const layers = c.layers.slice();
    if (info) {
      layers[0] = info.inputs;
      layers[layers.length - 1] = info.outputs;
    }
    if (changedName && info?.parameters?.samples && !dataset.samples) dataset.samples = info.parameters.samples;
    if (changedName) switchDataset(c, { ...c, layers, dataset }, info);
    else startSession({ ...c, layers, dataset });
  },
  onTestSplit(fraction) {
    const c = baseConfig();
    startSession({ ...c, dataset: { ...c.dataset, test_fraction: fraction } });
  },
  onRegenerate() {
    const c = baseConfig();
    startSession({ ...c, seed: (c.seed ?? 0) + 1 });
  },
  async onCsv(text, targets, fileName, testFraction) {
    const header = (text.split(/\r?\n/, 1)[0] || '').split(',');
    const nOut = targets.length || 1;
    const nIn = header.length - nOut;
    if (header.length < 2 || nIn < 1) {
      controls.setCsvError(`${fileName}: the first line must be a header with at least two columns.`);
      return;
    }
    const c = baseConfig();
    const layers = [nIn, ...c.layers.slice(1, -1), nOut];
    const scaled = $('scale-toggle').checked;
    const dataset = { csv: text, test_fraction: testFraction, standardize: scaled, scale_targets: scaled };
    if (targets.length) dataset.targets = targets;
    const ok = await startSession({ ...c, layers, dataset }, { onError: (m) => controls.setCsvError(`${fileName}: ${m}`) });
    if (ok) {
      controls.setCsvError('');
      try {
        sessionStorage.setItem(CSV_KEY, JSON.stringify(dataset));
      } catch {
        /* storage full or disabled: the link just cannot restore the data */
      }
      toasts.show(`Loaded ${fileName}.`, 'info', 3000);
    }
  },
});

// ---------------------------------------------------------------- data-set switch, fixes

// The run before the last data-set switch: Undo goes back to it (same session, same step).
let beforeSwitch = null;

function stashHistory() {
  const saved = { train: history.train, test: history.test, hasTest: history.hasTest };
  history.train = new CompactSeries();
  history.test = new CompactSeries();
  return saved;
}

function forgetSwitch() {
  const old = beforeSwitch;
  beforeSwitch = null;
  $('switch-notice').hidden = true;
  if (old && old.id !== S.id) api.deleteSession(old.id).catch(() => {});
}

/** Switch data set with the settings that train it; say what changed; keep the old run for Undo. */
async function switchDataset(before, plain, info) {
  forgetSwitch();
  const target = info?.settings ? applySettings(plain, info.settings) : plain;
  const changes = describeChanges(before, target);
  const saved = { id: S.id, config: S.config, plain, history: stashHistory() };
  const ok = await startSession(target, { keepOld: true });
  if (!ok) {
    Object.assign(history, saved.history);
    return;
  }
  offerUndo(saved);
  const name = plain.dataset.name;
  $('switch-text').textContent = changes.length
    ? `Switched to ${name} with the settings that train it: ${changes.join(', ')}.`
    : `Switched to ${name}; your settings already suit it.`;
  $('switch-keep').hidden = !changes.length;
}

/** Show the notice whose Undo returns to `saved` (a kept session, its config and curve). */
function offerUndo(saved) {
  beforeSwitch = saved;
  $('switch-keep').hidden = true;
  $('switch-notice').hidden = false;
}

/**
 * Reset, with a way back: past step 0 the run is kept aside (a new session at step 0 from the
 * same config and seed is the same start, bit for bit) and the notice offers Undo.
 */
async function undoableReset() {
  const f = S.frame;
  if (!f || f.step === 0 || f.diverged || !S.config) {
    reset();
    return;
  }
  forgetSwitch();
  if (S.playing) pause();
  const saved = { id: S.id, config: S.config, plain: null, history: stashHistory() };
  const ok = await startSession(toRequestConfig(S.config), { keepOld: true });
  if (!ok) {
    Object.assign(history, saved.history);
    return;
  }
  offerUndo(saved);
  $('switch-text').textContent = `Reset to step 0. The run at step ${f.step} is kept until you dismiss this.`;
}

$('switch-undo').addEventListener('click', async () => {
  const old = beforeSwitch;
  if (!old) return;
  beforeSwitch = null;
  $('switch-notice').hidden = true;
  const dropped = S.id;
  try {
    const frame = await api.getSession(old.id);
    await adopt({ id: old.id, config: old.config, frame }, { deleteOld: false });
    Object.assign(history, old.history);
    history.addFrame({ ...frame, losses: [], first_step: frame.step + 1 });
    history.version += 1;
    markAll();
  } catch {
    // The old session is gone (a restart, or idle too long): start its configuration again.
    await startSession(toRequestConfig(old.config), { keepOld: true });
  }
  toasts.show('Back to the earlier run.', 'info', 3000);
  if (dropped && dropped !== S.id) setTimeout(() => api.deleteSession(dropped).catch(() => {}), 3000);
});

$('switch-keep').addEventListener('click', async () => {
  const old = beforeSwitch;
  if (!old) return;
  forgetSwitch();
  if (await startSession(old.plain)) {
    toasts.show('Kept your settings: the panel above the plots says if they stop this network from learning.', 'info', 6000);
  }
});
$('switch-close').addEventListener('click', forgetSwitch);

/** Apply a trouble's fix: the learning rate over the socket (state kept), the rest as a new run. */
function applyFix(fix) {
  const rest = { ...fix };
  delete rest.optimizer;
  if (fix.optimizer && !Object.keys(rest).length) {
    controls.el.lr.value = String(fix.optimizer.learning_rate);
    controls.el.lr.dispatchEvent(new Event('change'));
    reset();
    return;
  }
  const c = baseConfig();
  const next = { ...c, ...rest };
  if (fix.optimizer) next.optimizer = { ...c.optimizer, ...fix.optimizer };
  if (rest.dataset) next.dataset = { ...c.dataset, ...rest.dataset };
  startSession(next);
}

/** The custom data's scaling in words, beside the toggle. */
function showScale(data) {
  const el = $('scale-info');
  const d = S.config?.dataset || {};
  const custom = !d.name;
  $('scale-toggle').checked = custom ? d.standardize !== false : $('scale-toggle').checked;
  if (!custom || !data) {
    el.hidden = true;
    return;
  }
  const parts = [];
  const s = data.input_scale;
  if (s) (data.feature_names || []).forEach((f, k) => parts.push(`${f} = ${fmt(s.mean[k])} + ${fmt(s.std[k])}·X${k + 1}`));
  const t = data.targets_scaled ? data.target_scale : null;
  if (t) {
    const pick = (v) => (Array.isArray(v) ? v[0] : v);
    const lo = pick(t.min);
    const hi = pick(t.max);
    parts.push(`${data.target_names?.[0] ?? 'y'} = ${fmt(lo)} + ${fmt(hi - lo)}·Y`);
  }
  el.textContent = parts.length ? `Scaled: ${parts.join('; ')}. The data table shows the original units.` : 'Not scaled: the network sees the numbers as they are in the file.';
  el.hidden = false;
}

$('scale-toggle').addEventListener('change', () => {
  const c = baseConfig();
  if (c.dataset?.name) return; // the built-in sets are scaled already; the toggle is for CSVs
  const on = $('scale-toggle').checked;
  startSession({ ...c, dataset: { ...c.dataset, standardize: on, scale_targets: on } });
});

$('play-button').addEventListener('click', togglePlay);
$('step-button').addEventListener('click', step);
$('reset-button').addEventListener('click', undoableReset);
$('diverged-reset').addEventListener('click', reset);
$('diverged-fix').addEventListener('click', () => {
  const lr = (S.frame?.learning_rate ?? S.config.optimizer.learning_rate) / 10;
  controls.el.lr.value = String(Number(lr.toPrecision(3)));
  controls.el.lr.dispatchEvent(new Event('change'));
  reset();
});

for (const r of document.querySelectorAll('input[name="mode"]')) {
  r.addEventListener('change', () => {
    if (r.checked) setMode(r.value);
  });
}

function setMode(mode) {
  S.view.mode = mode;
  if (mode === 'update') traceFetch.trigger();
  for (const r of document.querySelectorAll('input[name="mode"]')) r.checked = r.value === mode;
  writeUrl();
  schedule();
}

function setSample(k) {
  const n = S.data?.x?.length || 1;
  S.view.sample = Math.max(0, Math.min(n - 1, k));
  $('sample-input').value = String(S.view.sample + 1);
  writeUrl();
  S.pending.data = true;
  schedule();
}
$('sample-input').addEventListener('change', () => setSample((Number($('sample-input').value) || 1) - 1));

$('log-toggle').addEventListener('change', () => {
  S.view.log = $('log-toggle').checked;
  S.pending.loss = true;
  writeUrl();
  schedule();
});

$('share-button').addEventListener('click', async () => {
  const url = new URL(location.href);
  if (S.frame?.step) url.searchParams.set('step', String(S.frame.step));
  else url.searchParams.delete('step');
  try {
    await navigator.clipboard.writeText(url.href);
    toasts.show('Link copied: it reproduces this exact setup.', 'info', 3000);
  } catch {
    toasts.show(url.href, 'info', 10000);
  }
});

const guide = createGuide($('guide'), {
  button: $('guide-button'),
  onAction(a) {
    if (a.mode) setMode(a.mode);
    if (a.select === 'last') select(defaultSel());
    if (a.select === 'first') select({ kind: 'weight', layer: 0, i: 0, j: 0 });
  },
});
$('guide-button').addEventListener('click', () => (guide.isOpen() ? guide.close() : guide.open(0)));

// Keyboard: Space play/pause, Right arrow step, R reset; a switch turns them off, and they never
// fire in a form control, a row or a checkbox (WCAG 2.1.4). Escape closes the guide.
bindShortcuts({
  actions: { togglePlay, step, reset: undoableReset, back: () => timeline.back(), nextPhase: () => { phaser.stopPlay(); phaser.next(); } },
});
document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && !ev.defaultPrevented && guide.isOpen()) guide.close();
});

let resizeTimer = null;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    network.resize();
    lossView.resize();
    markAll();
  }, 150);
});

// ---------------------------------------------------------------- start

async function init() {
  const query = new URLSearchParams(location.search);
  const parsed = paramsToConfig(query);
  Object.assign(S.view, parsed.view);
  const at = Number(query.get('step'));
  if (Number.isInteger(at) && at > 0) S.openAt = at;
  $('log-toggle').checked = S.view.log;
  controls.el.spf.value = String(S.view.spf);
  for (const r of document.querySelectorAll('input[name="mode"]')) r.checked = r.value === S.view.mode;
  let config = parsed.config;
  if (parsed.custom) {
    let saved = null;
    try {
      saved = JSON.parse(sessionStorage.getItem(CSV_KEY) || 'null');
    } catch {
      saved = null;
    }
    if (saved) config.dataset = saved;
    else {
      delete config.layers;
      notice('This link used uploaded data, which links cannot carry; showing the preset\u2019s data instead. Upload the CSV again to continue.');
    }
  }
  if (!Object.keys(config).length) config = { preset: document.body.dataset.defaultPreset || 'article' };
  const [presets, datasets] = await Promise.all([api.presets().catch(() => []), api.datasets().catch(() => [])]);
  S.datasets = datasets;
  controls.setPresets(presets);
  controls.setDatasets(datasets);
  const ok = await startSession(config);
  if (!ok) {
    notice('The link\u2019s configuration was rejected by the server; started the article\u2019s example instead.');
    await startSession({ preset: 'article' });
  }
}

init().catch((err) => {
  toasts.show(err instanceof ApiError ? err.message : String(err), 'error', 0);
});

// Exposed for the tests and the console: read-only view of the state.
window.backpropStudio = { state: S, history, clone, phaser };
