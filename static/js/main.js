// The visualiser page: the session behind it (created from the URL, re-created after a server
// restart), the settings sidebar, CSV upload, the data-set switch with Undo and the share link.
// The panels and their rendering are live.js; play, pause, step and the keys are transport.js.

import { api, ApiError, SessionSocket } from './api.js';
import { configToParams, paramsToConfig, toRequestConfig, clone } from './state.js';
import { CompactSeries } from './loss-view.js';
import { applySettings, describeChanges } from './trouble.js';
import { createControls } from './controls.js';
import { fmt } from './mathml.js';
import { $, createLive, showStatus } from './live.js';
import { createTransport } from './transport.js';
import { createStopRules } from './stop-rules.js';

const CSV_KEY = 'backprop-studio.csv';

const live = createLive({
  send: (msg) => send(msg),
  canDrive: () => S.connected,
  onViewChange: () => writeUrl(),
  onFix: applyFix,
  onData: showScale,
});
const { history, toasts } = live;

// The page's state is the visualiser's (frame, config, view, data) plus the session's.
const S = Object.assign(live.state, {
  id: null,
  socket: null,
  connected: false,
  datasets: [],
  openAt: null, // step=n from the link: go there once the session is up
});
S.view.spf = 1;

const transport = createTransport({
  live,
  send: (msg) => send(msg),
  enabled: () => S.connected,
  spf: () => S.view.spf,
  reset: () => undoableReset(),
});

const stopRules = createStopRules({
  onSet: (patch) => {
    if (!send({ type: 'set', ...patch })) return;
    S.config.stop = Object.keys(patch.stop).length ? patch.stop : null;
    writeUrl();
  },
  rules: () => S.config?.stop,
});

// ---------------------------------------------------------------- stream

function onMessage(msg) {
  if (msg.type === 'frame') {
    live.onFrame(msg);
    transport.onFrame(msg);
    stopRules.onFrame(msg);
  } else if (msg.type === 'error') {
    toasts.show(msg.message || 'The server rejected that.', 'error');
  }
}

function setStatus(state, detail) {
  S.connected = state === 'connected';
  showStatus(state, detail, { connected: 'Connected', gone: 'Session lost' });
  transport.render();
}

function send(msg) {
  if (!S.socket || !S.socket.send(msg)) {
    toasts.show('Not connected to the server; retrying…', 'error', 3000);
    return false;
  }
  return true;
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
    onOpen: () => transport.resume(),
    onGone: () => recreate(),
  });
  S.socket.connect();
}

async function recreate() {
  const wasPlaying = transport.playing;
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
  transport.playing = keepPlaying;
  const loaded = live.setSource({ base: `/api/sessions/${encodeURIComponent(resp.id)}`, config: resp.config, frame: resp.frame });
  controls.setConfig(S.config, S.datasets);
  stopRules.setConfig(S.config);
  writeUrl();
  connect();
  if (S.openAt) {
    const n = S.openAt;
    S.openAt = null;
    openAtStep(n);
  }
  await loaded;
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
    if (patch.l1 !== undefined) S.config.l1 = patch.l1;
    if (patch.stop !== undefined) S.config.stop = Object.keys(patch.stop).length ? patch.stop : null;
    writeUrl();
    setTimeout(() => live.refreshMatrix(), 150);
  },
  onSpf(k) {
    S.view.spf = k;
    transport.resume();
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
    if (info && info.inputs !== 2) delete c.features; // features are of (x1, x2)
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
  if (transport.playing) transport.pause();
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
    live.markAll();
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

$('diverged-reset').addEventListener('click', reset);
$('diverged-fix').addEventListener('click', () => {
  const lr = (S.frame?.learning_rate ?? S.config.optimizer.learning_rate) / 10;
  controls.el.lr.value = String(Number(lr.toPrecision(3)));
  controls.el.lr.dispatchEvent(new Event('change'));
  reset();
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
window.backpropStudio = { state: S, history, clone, phaser: live.phaser };
