// The presenter's whole studio: the main page's settings sidebar (controls.js) driving a room.
// Where the main page starts a new session, the room's page sends `configure` (the room keeps
// its code; every page in it gets the new run, docs/api.md, Version 3). And, for every page of a
// room, following a run that was replaced: the new run's config and data, from its first frame.

import { api, request } from './api.js';
import { createControls } from './controls.js';
import { FACTS } from './facts.js';
import { toRequestConfig } from './state.js';
import { applySettings } from './trouble.js';

const $ = (id) => document.getElementById(id);

/** The config after a data-set change, as it is: the data's widths at both ends (pure). */
export function withDataset(base, dataset, changedName, info) {
  const layers = base.layers.slice();
  if (info) {
    layers[0] = info.inputs;
    layers[layers.length - 1] = info.outputs;
  }
  const d = { ...dataset };
  if (changedName && info?.parameters?.samples && !d.samples) d.samples = info.parameters.samples;
  return { ...base, layers, dataset: d };
}

/** ... and with the settings that train the new data set, when the set itself changed. */
export function configForDataset(base, dataset, changedName, info) {
  const plain = withDataset(base, dataset, changedName, info);
  return changedName && info?.settings ? applySettings(plain, info.settings) : plain;
}

/** The config for an uploaded CSV, or {error} when its header cannot be read (pure). */
export function configForCsv(base, text, targets, testFraction, scaled) {
  const header = (text.split(/\r?\n/, 1)[0] || '').split(',');
  const nOut = targets.length || 1;
  const nIn = header.length - nOut;
  if (header.length < 2 || nIn < 1) return { error: 'the first line must be a header with at least two columns.' };
  const dataset = { csv: text, test_fraction: testFraction, standardize: scaled, scale_targets: scaled };
  if (targets.length) dataset.targets = targets;
  return { config: { ...base, layers: [nIn, ...base.layers.slice(1, -1), nOut], dataset } };
}

/**
 * A trouble's fix (tried on a copy by the server, docs/api.md "Diagnoses that remember"):
 * {set, rewindTo} when only the optimizer changes (the run is kept, rewound first when the fix
 * says so), else {config}: a new run.
 */
export function configForFix(base, fix) {
  const rest = { ...fix };
  delete rest.optimizer;
  delete rest.rewind_to;
  if (fix.optimizer && !Object.keys(rest).length) return { set: { optimizer: { ...base.optimizer, ...fix.optimizer } }, rewindTo: fix.rewind_to ?? null };
  const next = { ...base, ...rest };
  if (fix.optimizer) next.optimizer = { ...base.optimizer, ...fix.optimizer };
  if (rest.dataset) next.dataset = { ...base.dataset, ...rest.dataset };
  return { config: next };
}

/**
 * The sidebar of the presenter's page. send(msg) sends over the room's socket (false if it
 * could not); onSpf(k) sets the steps per frame; toasts shows what went wrong.
 */
export function createStudio({ send, onSpf, toasts }) {
  const S = { config: null, datasets: [] };

  const base = () => {
    const c = toRequestConfig(S.config || {});
    delete c.preset;
    return c;
  };

  /** Ask the room for a new run; the page changes when `configured` comes back. */
  function configure(config, { onError } = {}) {
    const msg = { type: 'configure', config };
    const size = new Blob([JSON.stringify(msg)]).size;
    const limit = FACTS.max_message_bytes ?? 65536;
    if (size > limit) {
      const text = `too large for a room: ${(size / 1e3).toFixed(0)} kB, a room's new setup may be at most ${(limit / 1e3).toFixed(0)} kB`;
      if (onError) onError(text);
      else toasts.show(text, 'error', 8000);
      return false;
    }
    return send(msg);
  }

  const controls = createControls({
    onSet(patch) {
      if (!send({ type: 'set', ...patch }) || !S.config) return;
      if (patch.optimizer) S.config.optimizer = { ...S.config.optimizer, ...patch.optimizer };
      if (patch.full_batch) S.config.batch_size = null;
      if (patch.batch_size) S.config.batch_size = patch.batch_size;
      if (patch.l2 !== undefined) S.config.l2 = patch.l2;
    },
    onSpf: (k) => onSpf(k),
    onConfig: (patch) => configure({ ...base(), ...patch }),
    onPreset: (name) => name && configure({ preset: name }),
    onDataset(dataset, changedName) {
      const info = S.datasets.find((d) => d.name === dataset.name);
      configure(configForDataset(base(), dataset, changedName, info));
    },
    onTestSplit(fraction) {
      const c = base();
      configure({ ...c, dataset: { ...c.dataset, test_fraction: fraction } });
    },
    onRegenerate() {
      const c = base();
      configure({ ...c, seed: (c.seed ?? 0) + 1 });
    },
    onCsv(text, targets, fileName, testFraction) {
      const made = configForCsv(base(), text, targets, testFraction, $('scale-toggle').checked);
      if (made.error) controls.setCsvError(`${fileName}: ${made.error}`);
      else if (configure(made.config, { onError: (m) => controls.setCsvError(`${fileName}: ${m}`) })) controls.setCsvError('');
    },
  });

  $('scale-toggle').addEventListener('change', () => {
    const c = base();
    if (c.dataset?.name) return; // the built-in sets are scaled already; the toggle is for CSVs
    const on = $('scale-toggle').checked;
    configure({ ...c, dataset: { ...c.dataset, standardize: on, scale_targets: on } });
  });

  /** The trouble panel's one-click fix, for the whole room. */
  function applyFix(fix) {
    const made = configForFix(base(), fix);
    if (made.set) {
      // As it was tried: from the step before the trouble when the fix rewinds, else from here.
      if (made.rewindTo !== null) send({ type: 'seek', step: made.rewindTo });
      send({ type: 'set', ...made.set });
      controls.el.lr.value = String(made.set.optimizer.learning_rate);
    } else configure(made.config);
  }

  async function load() {
    const [presets, datasets] = await Promise.all([api.presets().catch(() => []), api.datasets().catch(() => [])]);
    S.datasets = datasets;
    controls.setPresets(presets);
    controls.setDatasets(datasets);
    setConfig(S.config);
  }

  function setConfig(config) {
    S.config = config;
    if (!config) return;
    controls.setConfig(config, S.datasets);
    // The main page's words for a custom setup speak of its link; a room has its code instead.
    if (!controls.el.preset.value) controls.el.presetDesc.textContent = 'Your own setup: everyone in the room runs it.';
  }

  /** A frame: α changed by another presenter screen (the phone, the laptop) shows here too. */
  function onFrame(frame) {
    const lr = frame.learning_rate;
    const o = S.config?.optimizer;
    if (!o || lr === undefined || lr === null || lr === o.learning_rate) return;
    o.learning_rate = lr;
    if (document.activeElement !== controls.el.lr) controls.el.lr.value = String(lr);
  }

  return { controls, applyFix, load, setConfig, configure, onFrame, state: S };
}

const KEEP_FRAMES = 600; // frames kept since the last whole curve: more, and only the newest counts

/**
 * A room's page following a run that was replaced: the frames since the last whole curve, so
 * that when `configured` arrives (after the new run's whole curve) the page shows the new run
 * from its step 0, with its config and data read again.
 */
export function createRunFollower({ live, base, active = () => true }) {
  let whole = null;
  let since = [];
  let busy = null;
  let again = false;
  return {
    onFrame(msg) {
      if (msg.first_step === 0) {
        whole = msg;
        since = [];
      } else if (whole) {
        since.push(msg);
        if (since.length > KEEP_FRAMES) {
          whole = null;
          since = [];
        }
      }
    },
    /** The run was replaced: read its config, show it from its whole curve; the config. */
    async configured() {
      if (busy) {
        again = true; // replaced again meanwhile: read once more when this read is done
        return busy;
      }
      busy = (async () => {
        try {
          let config;
          do {
            again = false;
            config = await request('GET', `${base}/config`);
            if (!active()) return config; // the page shows something else now (a fork)
            const [first, ...rest] = whole ? [whole, ...since] : [];
            live.setSource({ base, config, frame: first ?? null }).catch(() => {});
            for (const f of rest) live.onFrame(f);
          } while (again);
          return config;
        } finally {
          busy = null;
        }
      })();
      return busy;
    },
  };
}
