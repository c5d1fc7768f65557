// The settings sidebar: training settings (kept state: the WebSocket `set` message), and
// data/network settings (a new session), the architecture editor and the CSV upload.

import { FACTS } from './facts.js';
import { h } from './ui.js';
import { applyOnCommit, keepFocusIn } from './a11y.js';

const $ = (id) => document.getElementById(id);

export const MAX_HIDDEN_LAYERS = FACTS.max_hidden_layers;
export const MAX_NEURONS = FACTS.max_neurons;
export const MAX_CSV_BYTES = FACTS.max_csv_bytes;

/** New layer sizes after an architecture edit (pure). op: add-layer | remove-layer | inc | dec. */
export function editLayers(layers, op, index = 0) {
  const out = layers.slice();
  const hidden = out.length - 2;
  if (op === 'add-layer' && hidden < MAX_HIDDEN_LAYERS) {
    const n = hidden > 0 ? out[out.length - 2] : 4;
    out.splice(out.length - 1, 0, n);
  } else if (op === 'remove-layer' && hidden > 0) {
    out.splice(index, 1);
  } else if (op === 'inc' && out[index] < MAX_NEURONS) {
    out[index] += 1;
  } else if (op === 'dec' && out[index] > 1) {
    out[index] -= 1;
  }
  return out;
}

/** True when a resolved config still is the preset's (the fields a preset sets). */
export function matchesPreset(config, preset) {
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  for (const [k, v] of Object.entries(preset || {})) {
    if (k === 'optimizer') {
      if (v.name !== config.optimizer?.name || v.learning_rate !== config.optimizer?.learning_rate) return false;
    } else if (k === 'dataset') {
      const d = config.dataset || {};
      for (const [dk, dv] of Object.entries(v)) if (!same(dv, d[dk])) return false;
    } else if (!same(v, config[k])) return false;
  }
  return true;
}

/**
 * Bind the sidebar. handlers: onSet(patch), onConfig(patch), onPreset(name),
 * onDataset(dataset), onRegenerate(), onCsv(text, targets, fileName), onSpf(k).
 */
export function createControls(handlers) {
  const el = {
    preset: $('preset-select'),
    presetDesc: $('preset-description'),
    lr: $('lr-input'),
    optimizer: $('optimizer-select'),
    batch: $('batch-select'),
    spf: $('spf-select'),
    l2: $('l2-input'),
    l1: $('l1-input'),
    dataset: $('dataset-select'),
    samples: $('samples-input'),
    noise: $('noise-input'),
    test: $('test-input'),
    testOut: $('test-output'),
    regen: $('regenerate-button'),
    drop: $('dropzone'),
    csv: $('csv-input'),
    targets: $('targets-input'),
    csvError: $('csv-error'),
    arch: $('arch-editor'),
    activation: $('activation-select'),
    outAct: $('output-activation-select'),
    loss: $('loss-select'),
    init: $('init-select'),
    bias: $('bias-select'),
    seed: $('seed-input'),
    biasSwitch: $('bias-switch'),
    features: $('features-field'),
  };
  let config = null;
  let presets = [];

  const optimizerPatch = () => {
    const lr = Number(el.lr.value);
    const o = { ...(config?.optimizer || {}), name: el.optimizer.value };
    if (Number.isFinite(lr) && lr > 0) o.learning_rate = lr;
    return o;
  };

  el.lr.addEventListener('change', () => {
    const lr = Number(el.lr.value);
    if (!(lr > 0) || !Number.isFinite(lr)) {
      el.lr.setAttribute('aria-invalid', 'true');
      return;
    }
    el.lr.removeAttribute('aria-invalid');
    handlers.onSet({ optimizer: optimizerPatch() });
  });
  el.optimizer.addEventListener('change', () => handlers.onSet({ optimizer: optimizerPatch() }));
  el.batch.addEventListener('change', () => {
    const v = el.batch.value;
    handlers.onSet(v === 'full' ? { full_batch: true } : { batch_size: Number(v) });
  });
  el.l2.addEventListener('change', () => {
    const v = Number(el.l2.value);
    if (Number.isFinite(v) && v >= 0) handlers.onSet({ l2: v });
  });
  el.l1.addEventListener('change', () => {
    const v = Number(el.l1.value);
    if (Number.isFinite(v) && v >= 0) handlers.onSet({ l1: v });
  });
  el.spf.addEventListener('change', () => handlers.onSpf(Number(el.spf.value)));

  // Both start a new run: a key moves the choice, Enter or leaving applies it (a11y.js).
  applyOnCommit(el.preset, () => handlers.onPreset(el.preset.value));

  const datasetFromFields = () => {
    const d = { name: el.dataset.value };
    const n = Number(el.samples.value);
    if (Number.isInteger(n) && n > 0) d.samples = n;
    const noise = Number(el.noise.value);
    if (Number.isFinite(noise) && noise >= 0) d.noise = noise;
    d.test_fraction = Number(el.test.value) || 0;
    return d;
  };
  applyOnCommit(el.dataset, () => {
    el.samples.value = '';
    handlers.onDataset(datasetFromFields(), true);
  });
  for (const f of [el.samples, el.noise]) f.addEventListener('change', () => handlers.onDataset(datasetFromFields(), false));
  el.test.addEventListener('input', () => {
    el.testOut.textContent = `${Math.round(Number(el.test.value) * 100)}%`;
  });
  el.test.addEventListener('change', () => {
    if (el.dataset.value === 'custom') handlers.onTestSplit?.(Number(el.test.value) || 0);
    else handlers.onDataset(datasetFromFields(), false);
  });
  el.regen.addEventListener('click', () => handlers.onRegenerate());
  // Feature inputs (engine/features.py): a new run with the ticked ones, in Playground's order;
  // the last one cannot be unticked (a network needs an input).
  const featureBoxes = () => [...(el.features?.querySelectorAll('input[data-feature]') || [])];
  for (const box of featureBoxes()) {
    box.addEventListener('change', () => {
      const names = featureBoxes().filter((b) => b.checked).map((b) => b.dataset.feature);
      if (!names.length) {
        box.checked = true;
        return;
      }
      handlers.onConfig({ features: names });
    });
  }

  const simple = [
    [el.activation, 'activation'],
    [el.outAct, 'output_activation'],
    [el.loss, 'loss'],
    [el.init, 'init'],
    [el.bias, 'bias'],
  ];
  // Softmax and categorical cross-entropy go together (the server refuses one alone): choosing
  // one brings the other, and leaving one leaves both (for a sigmoid and cross-entropy).
  const paired = (key, value) => {
    if ((key === 'output_activation' && value === 'softmax') || (key === 'loss' && value === 'ce')) return { output_activation: 'softmax', loss: 'ce' };
    if (key === 'output_activation' && config?.loss === 'ce') return { output_activation: value, loss: 'bce' };
    if (key === 'loss' && config?.output_activation === 'softmax') return { output_activation: 'sigmoid', loss: value };
    return { [key]: value };
  };
  for (const [sel, key] of simple) sel.addEventListener('change', () => handlers.onConfig(paired(key, sel.value)));
  // The article's matrix section uses one shared bias per layer; the preset one per neuron.
  el.biasSwitch?.addEventListener('click', () => handlers.onConfig({ bias: config?.bias === 'shared' ? 'per_neuron' : 'shared' }));
  el.seed.addEventListener('change', () => {
    const s = Number(el.seed.value);
    if (Number.isInteger(s) && s >= 0) handlers.onConfig({ seed: s });
  });

  // CSV: file picker and drag and drop.
  const readFile = (file) => {
    if (!file) return;
    setCsvError('');
    if (file.size > MAX_CSV_BYTES) {
      setCsvError(`That file is ${(file.size / 1e6).toFixed(1)} MB; the limit is ${(MAX_CSV_BYTES / 1e6).toFixed(1)} MB.`);
      return;
    }
    const reader = new FileReader();
    reader.onload = () => {
      const targets = el.targets.value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      handlers.onCsv(String(reader.result), targets, file.name, Number(el.test.value) || 0);
    };
    reader.onerror = () => setCsvError('The file could not be read.');
    reader.readAsText(file);
  };
  el.csv.addEventListener('change', () => {
    readFile(el.csv.files?.[0]);
    el.csv.value = '';
  });
  el.drop.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    el.drop.classList.add('dragging');
  });
  el.drop.addEventListener('dragleave', () => el.drop.classList.remove('dragging'));
  el.drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    el.drop.classList.remove('dragging');
    readFile(ev.dataTransfer?.files?.[0]);
  });

  function setCsvError(msg) {
    el.csvError.textContent = msg;
    el.csvError.hidden = !msg;
  }

  function renderArch(layers) {
    const rows = [];
    const last = layers.length - 1;
    layers.forEach((n, k) => {
      const name = k === 0 ? 'X' : k === last ? 'O' : `h${k}`;
      const label = k === 0 ? 'inputs (from data)' : k === last ? 'outputs (from data)' : `hidden layer ${k}`;
      const row = h('div', { class: 'arch-row', 'data-testid': `arch-row-${k}` }, h('span', { class: 'arch-name' }, name), h('span', { class: 'arch-label' }, label));
      if (k === 0 || k === last) {
        row.append(h('span', { class: 'arch-n', 'data-testid': `arch-n-${k}` }, String(n)));
      } else {
        row.append(
          h('button', { type: 'button', class: 'btn btn-icon', 'aria-label': `Remove a neuron from hidden layer ${k}`, 'data-testid': `arch-dec-${k}`, disabled: n <= 1, onclick: () => handlers.onConfig({ layers: editLayers(layers, 'dec', k) }) }, '−'),
          h('span', { class: 'arch-n', 'data-testid': `arch-n-${k}`, 'aria-live': 'polite' }, String(n)),
          h('button', { type: 'button', class: 'btn btn-icon', 'aria-label': `Add a neuron to hidden layer ${k}`, 'data-testid': `arch-inc-${k}`, disabled: n >= MAX_NEURONS, onclick: () => handlers.onConfig({ layers: editLayers(layers, 'inc', k) }) }, '+'),
          h('button', { type: 'button', class: 'btn btn-icon btn-ghost', 'aria-label': `Remove hidden layer ${k}`, title: 'Remove this layer', 'data-testid': `arch-remove-${k}`, onclick: () => handlers.onConfig({ layers: editLayers(layers, 'remove-layer', k) }) }, '×'),
        );
      }
      rows.push(row);
    });
    const add = h(
      'button',
      { type: 'button', class: 'btn btn-small', 'data-testid': 'arch-add-layer', disabled: layers.length - 2 >= MAX_HIDDEN_LAYERS, onclick: () => handlers.onConfig({ layers: editLayers(layers, 'add-layer') }) },
      '+ hidden layer',
    );
    // Each edit rebuilds the editor: the button pressed keeps the focus, or (gone, disabled)
    // its neighbour in the row, else "+ hidden layer".
    const restore = keepFocusIn(el.arch, (old) => {
      const row = old.closest('.arch-row');
      const near = row && el.arch.querySelector(`[data-testid="${row.dataset.testid}"] button:not(:disabled)`);
      return near || [...el.arch.querySelectorAll('button')].find((b) => !b.disabled);
    });
    el.arch.replaceChildren(...rows, add);
    restore();
  }

  function setConfig(c, datasets = []) {
    config = c;
    const o = c.optimizer || {};
    el.lr.value = String(o.learning_rate ?? '');
    el.optimizer.value = o.name || 'sgd';
    el.batch.value = c.batch_size ? String(c.batch_size) : 'full';
    if (el.batch.value === '' && c.batch_size) {
      el.batch.append(h('option', { value: String(c.batch_size) }, String(c.batch_size)));
      el.batch.value = String(c.batch_size);
    }
    el.l2.value = String(c.l2 ?? 0);
    el.l1.value = String(c.l1 ?? 0);
    const d = c.dataset || {};
    const custom = !d.name;
    if (custom && !el.dataset.querySelector('option[value="custom"]')) el.dataset.append(h('option', { value: 'custom' }, 'custom (uploaded)'));
    el.dataset.value = custom ? 'custom' : d.name;
    const info = datasets.find((x) => x.name === d.name);
    el.samples.value = d.samples ?? info?.parameters?.samples ?? '';
    el.noise.value = String(d.noise ?? 0);
    el.samples.disabled = el.noise.disabled = custom;
    el.regen.disabled = custom;
    if (el.features) {
      const feats = c.features || ['x1', 'x2'];
      for (const b of featureBoxes()) b.checked = feats.includes(b.dataset.feature);
      el.features.hidden = (info?.inputs ?? 0) !== 2; // features of (x1, x2): 2D sets only
    }
    el.test.value = String(d.test_fraction ?? 0);
    el.testOut.textContent = `${Math.round((d.test_fraction ?? 0) * 100)}%`;
    el.activation.value = c.activation;
    el.outAct.value = c.output_activation;
    el.loss.value = c.loss;
    el.init.value = c.init;
    el.bias.value = c.bias;
    el.seed.value = String(c.seed ?? 0);
    // The bias convention is a switch of its own (same seed, same weights): not a new setup.
    const p = presets.find((x) => x.name === c.preset && matchesPreset(c, { ...x.config, bias: c.bias }));
    el.preset.value = p ? p.name : '';
    el.presetDesc.textContent = p ? p.description || p.title || '' : 'Your own setup: every setting is in the link.';
    if (p && p.config.bias && p.config.bias !== c.bias) el.presetDesc.textContent += ' Now: one shared bias per layer, as in the matrix section.';
    if (el.biasSwitch) {
      el.biasSwitch.hidden = !(p && p.name === 'article');
      el.biasSwitch.textContent = c.bias === 'shared' ? 'Back to one bias per neuron' : 'Use the article’s one shared bias';
    }
    renderArch(c.layers);
    el.preset.closest('.sidebar')?.classList.add('configured'); // shown once filled in (topbar.css)
  }

  function setPresets(list) {
    presets = list;
    el.preset.replaceChildren(h('option', { value: '' }, '— custom —'), ...list.map((p) => h('option', { value: p.name }, p.title || p.name)));
    if (config) el.preset.value = config.preset || '';
    el.preset.disabled = false; // served disabled: empty until now
  }

  function setDatasets(list) {
    const cur = el.dataset.value;
    el.dataset.replaceChildren(...list.map((d) => h('option', { value: d.name }, `${d.name} (${d.kind}, ${d.inputs}→${d.outputs})`)));
    if (cur) el.dataset.value = cur;
    el.dataset.disabled = false;
  }

  return { setConfig, setPresets, setDatasets, setCsvError, el };
}
