// The visualiser page: the session behind it (created from the URL, re-created after a server
// restart), the settings sidebar, CSV upload, the data-set switch with Undo and the share link.
// The panels and their rendering are live.js; play, pause, step and the keys are transport.js.

import { takeFirstRun } from './first-run.js';
import { api, ApiError, SessionSocket, primeGet, primeSocket } from './api.js';
import { configToParams, paramsToConfig, toRequestConfig, clone, configAt, startConfig, logToString, logFromString, MAX_LINK_CHANGES } from './state.js';
import { CompactSeries } from './loss-view.js';
import { applySettings, describeChanges, fallPercent, fixLabel, pair } from './trouble.js';
import { createControls } from './controls.js';
import { configForCsv, withDataset } from './studio.js';
import { fmt } from './mathml.js';
import { $, createLive, showStatus } from './live.js';
import { createTransport } from './transport.js';
import { createStopRules } from './stop-rules.js';
import { createIntro, createOffline, foldableTrouble } from './first-minute.js';

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
  openAt: null, // {step, changes} from the link: replayed once the session is up
  created: null, // the session's config as created (the frame's settings_log is relative to it)
  logKey: 'null', // the last frame's settings_log, as JSON: the controls follow when it changes
  replaying: false, // opening a link: the address bar keeps the link until the step is reached
  applied: null, // the fix applied last, followed until it has taken its trial's steps
});
S.view.spf = 1;

const transport = createTransport({
  live,
  send: (msg) => send(msg),
  enabled: () => S.connected && !S.replaying, // a link's replay steps the run: hands off
  spf: () => S.view.spf,
  reset: () => undoableReset(),
  swallow: () => !S.connected, // offline: the keys do nothing, Space never scrolls the page
  online: () => S.connected,
});
const offline = createOffline({ retry: () => S.socket?.retryNow() });
createIntro({ onTour: () => $('guide-button').click() });
foldableTrouble();

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
    followSettings(msg);
    scheduleUrl();
    syncRate(msg);
    followFix(msg);
    stopRules.onFrame(msg);
  } else if (msg.type === 'error') {
    toasts.show(msg.message || 'The server rejected that.', 'error');
  }
}

/** The α box shows the run's rate: a seek, a fix or another tab may have changed it. */
function syncRate(msg) {
  const lr = msg.learning_rate;
  const box = controls.el.lr;
  if (lr === null || lr === undefined || document.activeElement === box || Number(box.value) === lr) return;
  box.value = String(lr);
}

function setStatus(state, detail) {
  S.connected = state === 'connected';
  showStatus(state, detail, { connected: 'Connected', gone: 'Session lost' });
  offline.update(state, detail);
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
  const link = linkState();
  const step = S.frame?.step ?? 0;
  const replay = link.carries && (step > 0 || link.changes.length > 0);
  notice(
    replay
      ? `The server restarted and this session was gone, so the run was started again from the link and replayed to step ${step}, bit for bit.`
      : 'The server restarted and this session was gone, so a new one was started from the configuration in the link (back at step 0).',
  );
  const config = replay ? link.config : S.config;
  for (let attempt = 0; ; attempt++) {
    try {
      const resp = await api.createSession(toRequestConfig(config));
      if (replay) S.openAt = { step, changes: link.changes };
      // Not while replaying: play would step the run between the link's changes.
      await adopt(resp, { keepPlaying: wasPlaying && !replay, deleteOld: false });
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
  if (S.applied?.id && S.applied.id !== resp.id) {
    S.applied = null; // another run now: the fix's outcome no longer describes it
    showOutcome();
  }
  S.id = resp.id;
  transport.playing = keepPlaying;
  S.created = clone(resp.created ?? resp.config);
  S.logKey = 'null';
  keepCsv(S.created.dataset);
  const loaded = live.setSource({ base: `/api/sessions/${encodeURIComponent(resp.id)}`, config: resp.config, frame: resp.frame });
  if (!followSettings(resp.frame)) controls.setConfig(S.config, S.datasets);
  stopRules.setConfig(S.config);
  if (S.openAt) replaying(true); // the address bar keeps the link until its step is reached
  writeUrl();
  connect();
  if (S.openAt) {
    const at = S.openAt;
    S.openAt = null;
    openAt(at);
  }
  await loaded;
}

/**
 * The controls show the settings in force at the frame's step (after a seek back, before a
 * change, the older ones): recomputed when the frame's settings_log changes. True if it did.
 */
function followSettings(frame) {
  const log = frame?.settings_log ?? null;
  const key = JSON.stringify(log);
  if (!S.created || key === S.logKey) return false;
  S.logKey = key;
  S.config = configAt(S.created, log);
  controls.setConfig(S.config, S.datasets);
  return true;
}

/** The early session (first-run.js) if it was made; else a new one, as usual. */
async function createFirst(config, first) {
  const made = first && (await first.session.catch(() => null));
  if (!made) return api.createSession(config);
  primeGet(`/api/sessions/${encodeURIComponent(made.id)}/data`, first.data);
  const socket = await first.socket.catch(() => null);
  if (socket) primeSocket(socket); // connect() takes it: open already, its first frame kept
  return made;
}

/** Create a session from a request config; on failure show the message and keep the old one. */
async function startSession(config, { onError, keepOld = false, first = null } = {}) {
  try {
    const resp = await createFirst(config, first);
    await adopt(resp, { deleteOld: !keepOld });
    return true;
  } catch (err) {
    if (onError) onError(err.message);
    else toasts.show(err.message, 'error', 8000);
    if (S.config) controls.setConfig(S.config, S.datasets);
    return false;
  }
}

/**
 * A link's step and settings log: run the same seed and config forward, applying each change
 * at its step (PATCH, as the run had it), to the link's step: the same run, bit for bit.
 */
async function openAt({ step: n, changes }) {
  const id = S.id;
  try {
    for (const change of changes) {
      await stepTo(id, change.step);
      let frame;
      try {
        // An edit or drawn points are posted as the run had them; a settings change PATCHed.
        if (change.edit) frame = await api.edit(id, change.edit);
        else if (change.points) frame = await api.points(id, change.points);
        else frame = await api.patch(id, change.set);
      } catch (err) {
        throw new Error(`the server refused its ${change.set ? 'settings change' : change.edit ? 'edit' : 'drawn points'} at step ${change.step}: ${err.message}`);
      }
      if (S.id !== id) return;
      onMessage({ ...frame, type: 'frame' });
    }
    await stepTo(id, n);
  } catch (err) {
    if (S.id !== id || err.gone) return;
    notice(`This link cannot reproduce its run: ${err.message}. Showing step ${S.frame?.step ?? 0} of the run it describes instead of step ${n}.`);
  } finally {
    if (S.id === id) {
      replaying(false);
      writeUrl();
    }
  }
}

function replaying(on) {
  S.replaying = on;
  transport.render();
}

/** Step the session `id` to `target` over REST, in chunks the server accepts; throws why not. */
async function stepTo(id, target) {
  let chunk = 1000; // steps per request: smaller when the server finds it too much work (422)
  for (let at = S.frame?.step ?? 0; at < target; ) {
    let frame;
    try {
      frame = await api.step(id, Math.min(target - at, chunk));
    } catch (err) {
      if (err.status === 422 && chunk > 1) {
        chunk = Math.max(1, Math.floor(chunk / 4));
        continue;
      }
      throw new Error(`stepping to ${target} failed at step ${at}: ${err.message}`);
    }
    if (S.id !== id) throw Object.assign(new Error('another run was started'), { gone: true });
    onMessage({ ...frame, type: 'frame' });
    if (frame.step <= at) throw new Error(`the run diverged at step ${frame.step}, before step ${target}`);
    at = frame.step;
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

/**
 * The link to this run at this step: the config step 0 started from, the step, and the settings
 * log (`changes=step:key=value,...;...`). `carries` is false when the log is too long for a link.
 */
function linkState() {
  const log = S.frame?.settings_log ?? null;
  const config = S.created ? startConfig(S.created, log) : S.config;
  const q = configToParams(config, S.view);
  const d = S.created?.dataset;
  if (d && !d.name) q.set('csv', csvKey(d));
  const text = logToString(log);
  const step = S.frame?.step ?? 0;
  if (text === null) return { query: `${q}`, carries: false, count: log.count, config, changes: [] };
  if (step) q.set('step', String(step));
  // Written by hand: ':', ',', ';' and '=' may stand in a query, and read better unescaped.
  const query = text ? `${q}&changes=${text}` : `${q}`;
  return { query, carries: true, config, changes: log?.changes || [] };
}

function writeUrl() {
  clearTimeout(urlTimer);
  urlTimer = null;
  if (!S.config || S.replaying) return;
  urlAt = performance.now();
  const url = `${location.pathname}?${linkState().query}`;
  if (url !== `${location.pathname}${location.search}`) history_.replaceState(null, '', url);
}
const history_ = window.history;

// The address bar follows the step: at most once a second while playing (browsers limit
// replaceState), every 250 ms otherwise; the last change is always written.
let urlTimer = null;
let urlAt = -Infinity;
function scheduleUrl() {
  if (urlTimer || S.replaying) return;
  const wait = Math.max(0, urlAt + (transport.playing ? 1000 : 250) - performance.now());
  urlTimer = setTimeout(writeUrl, wait);
}

/** A short fingerprint of uploaded data (FNV-1a of its text and options), to know it again. */
function csvKey(d) {
  const text = JSON.stringify([d.csv ?? d.x ?? null, d.y ?? null, d.targets ?? null, d.test_fraction ?? 0, d.standardize !== false, d.scale_targets !== false]);
  let h = 0x811c9dc5;
  for (let k = 0; k < text.length; k++) h = Math.imul(h ^ text.charCodeAt(k), 0x01000193) >>> 0;
  return h.toString(36);
}

/** Keep uploaded data in this tab, so its link can find it again (links cannot carry it). */
function keepCsv(d) {
  if (!d || d.name || !d.csv) return;
  const kept = { csv: d.csv, test_fraction: d.test_fraction, standardize: d.standardize, scale_targets: d.scale_targets };
  if (d.targets) kept.targets = d.targets;
  try {
    sessionStorage.setItem(CSV_KEY, JSON.stringify(kept));
  } catch {
    /* storage full or disabled: the link just cannot restore the data */
  }
}

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
    const plain = withDataset(c, dataset, changedName, info); // as the presenter's page (studio.js)
    if (info && info.inputs !== 2) delete plain.features; // features are of (x1, x2)
    if (changedName) switchDataset(c, plain, info);
    else startSession(plain);
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
    const made = configForCsv(baseConfig(), text, targets, testFraction, $('scale-toggle').checked);
    if (made.error) {
      controls.setCsvError(`${fileName}: ${made.error}`);
      return;
    }
    const ok = await startSession(made.config, { onError: (m) => controls.setCsvError(`${fileName}: ${m}`) });
    if (ok) {
      controls.setCsvError('');
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
  const saved = { id: S.id, config: S.config, created: S.created, plain, history: stashHistory() };
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
  const saved = { id: S.id, config: S.config, created: S.created, plain: null, history: stashHistory() };
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
    await adopt({ id: old.id, config: old.config, created: old.created, frame }, { deleteOld: false });
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

/**
 * Apply a fix the server tried on a copy (trouble.js): a new rate at this step, or rewound to
 * the step before the trouble began (seek, then set: the old future goes), or a change of the
 * network or its data as a new run from step 0. `S.applied` then follows the run until it has
 * taken as many steps as the trial, and the panel says whether the fix worked.
 */
function applyFix(fix, tried) {
  const rest = { ...fix };
  delete rest.optimizer;
  delete rest.rewind_to;
  const label = fixLabel(fix);
  if (transport.playing) transport.pause();
  if (!Object.keys(rest).length) {
    const from = fix.rewind_to ?? S.frame?.step ?? 0;
    if (from !== S.frame?.step) send({ type: 'seek', step: from });
    send({ type: 'set', optimizer: { ...S.config.optimizer, ...fix.optimizer } });
    S.applied = { id: S.id, label, from, steps: tried.steps, margin: tried.margin, lr: fix.optimizer.learning_rate, E0: null, E1: null };
  } else {
    const c = baseConfig();
    const next = { ...c, ...rest };
    if (fix.optimizer) next.optimizer = { ...c.optimizer, ...fix.optimizer };
    if (rest.dataset) next.dataset = { ...c.dataset, ...rest.dataset };
    S.applied = { id: null, label, from: 0, steps: tried.steps, margin: tried.margin, lr: null, E0: null, E1: null };
    startSession(next).then((ok) => {
      if (!ok) S.applied = null;
      else if (S.applied) {
        S.applied.id = S.id;
        followFix(S.frame);
      }
    });
  }
  showOutcome();
}

/** The applied fix's numbers, from the run's own frames: E at its step and `steps` later. */
function followFix(msg) {
  const a = S.applied;
  if (!a || !msg || a.id !== S.id) return;
  if (a.E0 === null && msg.step === a.from && (a.lr === null || msg.learning_rate === a.lr)) a.E0 = msg.loss;
  const target = a.from + a.steps;
  const first = msg.first_step ?? msg.step;
  if (a.E0 !== null && a.E1 === null && first <= target && target <= msg.step) {
    const k = target - first;
    a.E1 = msg.losses?.length > k ? msg.losses[k] : msg.step === target ? msg.loss : null;
  }
  showOutcome();
}

/** Whether the applied fix worked, in words: computed from the run's E, not the trial's. */
function showOutcome() {
  const a = S.applied;
  const view = live.troubleView;
  if (!view) return;
  if (!a) {
    view.setOutcome(null);
    return;
  }
  const at = `Fix applied (${a.label}) from step ${a.from}`;
  if (a.E1 === null || a.E0 === null) {
    view.setOutcome(`${at}: in ${a.steps} steps this panel says whether it worked (the copy it was tried on fell by more than half).`, null);
    return;
  }
  const [e0, e1] = pair(a.E0, a.E1);
  const worked = a.E1 <= (1 - a.margin) * a.E0;
  const fell = a.E1 < a.E0 ? `E fell by ${fallPercent(a.E0, a.E1)}` : null;
  const verdict = worked ? `It worked: ${fell}.` : `It did not work: ${fell ? `${fell}, less than half` : 'E did not fall'}.`;
  view.setOutcome(`${at}: ${a.steps} steps later, at step ${a.from + a.steps}, E ${e0} → ${e1}. ${verdict}`, worked);
}

/** The custom data's scaling in words, beside the toggle. */
function showScale(data) {
  const el = $('scale-info');
  const d = S.config?.dataset || {};
  const custom = !d.name;
  if (custom) {
    // The box shows the run's real scaling: both on, both off, or (one of them) mixed.
    const inputs = d.standardize !== false;
    const targets = d.scale_targets !== false;
    $('scale-toggle').checked = inputs && targets;
    $('scale-toggle').indeterminate = inputs !== targets;
  }
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
  writeUrl();
  const link = linkState();
  const href = new URL(`${location.pathname}?${link.query}`, location.href).href;
  const step = S.frame?.step ?? 0;
  const d = S.created?.dataset;
  let said = `Link copied: it opens this run at step ${step}, bit for bit.`;
  if (!link.carries) said = `Link copied, but this run changed its settings ${link.count} times, more than a link carries (${MAX_LINK_CHANGES}): it opens at step 0, with the settings the run started from.`;
  else if (d && !d.name) said = `Link copied: it opens this run at step ${step} in this browser tab only; elsewhere your uploaded data is not there (a link cannot carry it).`;
  try {
    await navigator.clipboard.writeText(href);
    toasts.show(said, 'info', link.carries ? 3000 : 10000);
  } catch {
    toasts.show(href, 'info', 10000);
  }
});

// ---------------------------------------------------------------- start

async function init() {
  const query = new URLSearchParams(location.search);
  const parsed = paramsToConfig(query);
  Object.assign(S.view, parsed.view);
  live.setDiscrete(S.view.discrete); // the data plane as the link had it
  const at = query.has('step') ? Number(query.get('step')) : 0;
  const step = Number.isInteger(at) && at > 0 ? at : 0;
  const log = logFromString(query.get('changes') || '', step);
  const changes = log.changes || [];
  if (log.error) notice(`This link\u2019s settings log cannot be read (${log.error}), so it cannot reproduce its run; showing its configuration at step 0 instead.`);
  else if (step || changes.length) S.openAt = { step, changes };
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
    // This tab's data is the link's only if it is the same (the link names it by fingerprint).
    if (saved && query.has('csv') && csvKey(saved) !== query.get('csv')) saved = null;
    if (saved) config.dataset = saved;
    else {
      delete config.layers;
      const run = S.openAt ? ` at step ${step}${changes.length ? ` with ${changes.length} settings change${changes.length === 1 ? '' : 's'}` : ''}` : '';
      notice(`This link used uploaded data, which links cannot carry, so it cannot reproduce its run${run}; showing the preset\u2019s data at step 0 instead. Upload the CSV again to continue.`);
      S.openAt = null;
    }
  }
  if (!Object.keys(config).length) config = { preset: document.body.dataset.defaultPreset || 'article' };
  const [presets, datasets] = await Promise.all([api.presets().catch(() => []), api.datasets().catch(() => [])]);
  S.datasets = datasets;
  controls.setPresets(presets);
  controls.setDatasets(datasets);
  // Asked for while the modules downloaded, when the link is a plain one (first-run.js).
  const ok = await startSession(config, { first: takeFirstRun(config) });
  if (!ok) {
    S.openAt = null; // the link's run cannot start: its step and changes mean nothing for another
    notice('The link\u2019s configuration was rejected by the server; started the article\u2019s example instead.');
    await startSession({ preset: 'article' });
  }
}

init().catch((err) => {
  toasts.show(err instanceof ApiError ? err.message : String(err), 'error', 0);
});

// Exposed for the tests and the console: read-only view of the state.
window.backpropStudio = { state: S, history, clone, phaser: live.phaser };
