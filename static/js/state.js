// The page's state and its URL form: the whole configuration lives in the query string,
// so a link reproduces the setup. Pure functions plus one small store.

import { handFromString, handToString } from './hand-links.js';

const NUM = (s) => (s === null || s === '' ? undefined : Number(s));

/** View options that are not part of the session config, with their defaults. */
// log: a loss curve falls by decades; on a linear axis everything after the first steps is flat.
// discrete: the data plane's classes as hard regions (Playground's "discretize output").
export const VIEW_DEFAULTS = { mode: 'weights', sample: 0, sel: null, log: true, spf: 1, discrete: false };

/** Encode a selection: w.1.2.0 (weight layer 1, i=2, j=0) or b.1.0. */
export function selToString(sel) {
  if (!sel) return '';
  return sel.kind === 'bias' ? `b.${sel.layer}.${sel.j}` : `w.${sel.layer}.${sel.i}.${sel.j}`;
}

export function selFromString(s) {
  if (!s) return null;
  const p = s.split('.');
  const n = p.slice(1).map(Number);
  if (n.some((v) => !Number.isInteger(v) || v < 0)) return null;
  if (p[0] === 'w' && n.length === 3) return { kind: 'weight', layer: n[0], i: n[1], j: n[2] };
  if (p[0] === 'b' && n.length === 2) return { kind: 'bias', layer: n[0], j: n[1] };
  return null;
}

/** A resolved session config (+ view options) as URLSearchParams. Custom data is not in the link. */
export function configToParams(config, view = {}) {
  const q = new URLSearchParams();
  if (config) {
    if (config.preset) q.set('preset', config.preset);
    if (config.layers) q.set('layers', config.layers.join('-'));
    if (config.activation) q.set('act', config.activation);
    if (config.output_activation) q.set('out', config.output_activation);
    if (config.loss) q.set('loss', config.loss);
    const o = config.optimizer || {};
    if (o.name) q.set('opt', o.name);
    if (o.learning_rate !== undefined) q.set('lr', String(o.learning_rate));
    if (o.name === 'momentum' && o.momentum !== undefined) q.set('mom', String(o.momentum));
    q.set('batch', config.batch_size ? String(config.batch_size) : 'full');
    if (config.l2) q.set('l2', String(config.l2));
    if (config.l1) q.set('l1', String(config.l1));
    if (config.features && config.features.join('.') !== 'x1.x2') q.set('feat', config.features.join('.'));
    const stop = Object.entries(config.stop || {}).filter(([, v]) => v !== null && v !== undefined);
    if (stop.length) q.set('stop', stop.map(([k, v]) => `${k}:${v}`).join(','));
    if (config.init) q.set('init', config.init);
    if (config.bias) q.set('bias', config.bias);
    if (config.seed !== undefined && config.seed !== null) q.set('seed', String(config.seed));
    const d = config.dataset || {};
    if (d.name) {
      q.set('data', d.name);
      if (d.samples) q.set('n', String(d.samples));
      if (d.noise) q.set('noise', String(d.noise));
    } else if (d.csv || d.x) {
      q.set('data', 'custom');
    }
    if (d.test_fraction) q.set('test', String(d.test_fraction));
    if (d.standardize) q.set('std', '1');
  }
  const v = { ...VIEW_DEFAULTS, ...view };
  if (v.mode !== VIEW_DEFAULTS.mode) q.set('view', v.mode);
  if (v.sample) q.set('sample', String(v.sample));
  if (v.sel) q.set('sel', selToString(v.sel));
  if (v.log !== VIEW_DEFAULTS.log) q.set('log', v.log ? '1' : '0');
  if (v.spf !== VIEW_DEFAULTS.spf) q.set('spf', String(v.spf));
  if (v.discrete) q.set('discretize', '1');
  return q;
}

/**
 * URLSearchParams back to {config, view, custom}: config is a SessionConfigIn (preset +
 * overrides); custom is true when the link named uploaded data it cannot carry.
 */
export function paramsToConfig(q) {
  const c = {};
  const has = (k) => q.has(k) && q.get(k) !== '';
  if (has('preset')) c.preset = q.get('preset');
  if (has('layers')) {
    const layers = q.get('layers').split('-').map(Number);
    if (layers.length >= 2 && layers.every((n) => Number.isInteger(n) && n > 0)) c.layers = layers;
  }
  if (has('act')) c.activation = q.get('act');
  if (has('out')) c.output_activation = q.get('out');
  if (has('loss')) c.loss = q.get('loss');
  if (has('opt') || has('lr')) {
    c.optimizer = { name: q.get('opt') || 'sgd' };
    if (has('lr')) c.optimizer.learning_rate = NUM(q.get('lr'));
    if (has('mom')) c.optimizer.momentum = NUM(q.get('mom'));
  }
  if (has('batch')) c.batch_size = q.get('batch') === 'full' ? null : NUM(q.get('batch'));
  if (has('l2')) c.l2 = NUM(q.get('l2'));
  if (has('l1')) c.l1 = NUM(q.get('l1'));
  if (has('feat')) c.features = q.get('feat').split('.');
  if (has('stop')) c.stop = Object.fromEntries(q.get('stop').split(',').map((kv) => kv.split(':')).map(([k, v]) => [k, NUM(v)]));
  if (has('init')) c.init = q.get('init');
  if (has('bias')) c.bias = q.get('bias');
  if (has('seed')) c.seed = NUM(q.get('seed'));
  let custom = false;
  if (has('data')) {
    if (q.get('data') === 'custom') custom = true;
    else {
      c.dataset = { name: q.get('data') };
      if (has('n')) c.dataset.samples = NUM(q.get('n'));
      if (has('noise')) c.dataset.noise = NUM(q.get('noise'));
      if (has('test')) c.dataset.test_fraction = NUM(q.get('test'));
      if (has('std')) c.dataset.standardize = q.get('std') === '1';
    }
  }
  const view = { ...VIEW_DEFAULTS };
  if (has('view') && ['weights', 'gradients', 'update'].includes(q.get('view'))) view.mode = q.get('view');
  if (has('sample')) view.sample = Math.max(0, Math.floor(NUM(q.get('sample')) || 0));
  if (has('sel')) view.sel = selFromString(q.get('sel'));
  view.log = has('log') ? q.get('log') !== '0' : VIEW_DEFAULTS.log;
  if (has('spf')) view.spf = Math.max(1, Math.floor(NUM(q.get('spf')) || 1));
  view.discrete = has('discretize') && q.get('discretize') === '1';
  return { config: c, view, custom, testFraction: has('test') ? NUM(q.get('test')) : undefined };
}

/** Deep copy of a JSON value. */
export const clone = (v) => JSON.parse(JSON.stringify(v));

/** A config suitable for POST /api/sessions from a resolved one (drops nulls the server fills). */
export function toRequestConfig(config) {
  const c = clone(config);
  for (const k of Object.keys(c)) if (c[k] === null && k !== 'batch_size') delete c[k];
  if (c.dataset && typeof c.dataset === 'object') {
    for (const k of Object.keys(c.dataset)) if (c.dataset[k] === null) delete c.dataset[k];
  }
  return c;
}

// ---------------------------------------------------------------- the settings log in a link

/** Changes a link carries at most (the server's MAX_LINK_CHANGES: more, and a frame lists none). */
export const MAX_LINK_CHANGES = 100;

// A change's fields and their short names in the link (the same as the config's own keys).
const OPT_KEYS = [
  ['name', 'opt'],
  ['learning_rate', 'lr'],
  ['momentum', 'mom'],
  ['beta1', 'b1'],
  ['beta2', 'b2'],
  ['eps', 'eps'],
];
const OPTIMIZERS = ['sgd', 'momentum', 'adam'];

/** One change's PATCH body as `key=value,...` (values URI-encoded: a `+` would read as a space). */
function changeToString(set) {
  const parts = [];
  const o = set.optimizer || {};
  for (const [field, key] of OPT_KEYS) if (o[field] !== undefined) parts.push([key, o[field]]);
  if (set.full_batch) parts.push(['batch', 'full']);
  else if (set.batch_size !== undefined && set.batch_size !== null) parts.push(['batch', set.batch_size]);
  if (set.l2 !== undefined && set.l2 !== null) parts.push(['l2', set.l2]);
  if (set.l1 !== undefined && set.l1 !== null) parts.push(['l1', set.l1]);
  return parts.map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`).join(',');
}

/**
 * A frame's settings_log as the link's `changes` value: `step:key=value,...;step:...` ('' when no
 * change; null when the run changed its settings more often than a link carries).
 */
export function logToString(settingsLog) {
  if (!settingsLog) return '';
  if (!settingsLog.changes) return null;
  return settingsLog.changes.map((c) => `${c.step}:${handToString(c) ?? changeToString(c.set)}`).join(';');
}

/**
 * The link's `changes` value back to [{step, set}], `set` a PATCH body, checked against the link's
 * step: {changes} or {error} (a sentence). Ranges are the server's to check (a PATCH's 422).
 */
export function logFromString(text, step) {
  const changes = [];
  if (!text) return { changes };
  const entries = text.split(';');
  if (entries.length > MAX_LINK_CHANGES) return { error: `it lists ${entries.length} changes; a link carries at most ${MAX_LINK_CHANGES}` };
  let last = 0;
  for (const entry of entries) {
    const m = /^(\d+):(.*)$/.exec(entry);
    if (!m) return { error: `"${entry.slice(0, 40)}" is not step:setting=value` };
    const at = Number(m[1]);
    if (at < last) return { error: `its changes are not in step order (${at} after ${last})` };
    if (at > step) return { error: `a change at step ${at} is after the link\u2019s step, ${step}` };
    last = at;
    const hand = handFromString(m[2]); // an edit or drawn points (hand-links.js)
    if (hand?.error) return { error: `${hand.error} at step ${at}` };
    if (hand) {
      changes.push({ step: at, ...hand });
      continue;
    }
    const set = {};
    for (const pair of m[2] ? m[2].split(',') : []) {
      const eq = pair.indexOf('=');
      const key = eq > 0 ? pair.slice(0, eq) : pair;
      const raw = eq > 0 ? pair.slice(eq + 1) : '';
      const opt = OPT_KEYS.find(([, k]) => k === key);
      const num = raw === '' ? NaN : Number(raw);
      if (key === 'opt' && OPTIMIZERS.includes(raw)) (set.optimizer ||= {}).name = raw;
      else if (opt && key !== 'opt' && Number.isFinite(num)) (set.optimizer ||= {})[opt[0]] = num;
      else if (key === 'batch' && raw === 'full') set.full_batch = true;
      else if (key === 'batch' && Number.isInteger(num) && num > 0) set.batch_size = num;
      else if (key === 'l2' && Number.isFinite(num)) set.l2 = num;
      else if (key === 'l1' && Number.isFinite(num)) set.l1 = num;
      else return { error: `"${pair.slice(0, 40)}" at step ${at} is not a setting a run can change` };
    }
    changes.push({ step: at, set });
  }
  return { changes };
}

/** The config the run's step 0 started from: as created, with the settings a reset kept. */
export function startConfig(created, settingsLog) {
  const c = clone(created);
  if (settingsLog?.start) Object.assign(c, clone(settingsLog.start));
  return c;
}

/** The config in force at the frame's step: as created, with the settings_log's `now`. */
export function configAt(created, settingsLog) {
  const c = clone(created);
  if (settingsLog?.now) Object.assign(c, clone(settingsLog.now));
  return c;
}
