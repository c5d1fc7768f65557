// The settings sidebar's inputs, each bound to its handler: training settings (kept state:
// the WebSocket `set` message), the data set, the network's settings (a new run), the CSV upload.

import { applyOnCommit } from './a11y.js';
import { FACTS } from './facts.js';

export const MAX_CSV_BYTES = FACTS.max_csv_bytes;

/** The feature checkboxes (engine/features.py), in Playground's order. */
export function featureBoxes(el) {
  return [...(el.features?.querySelectorAll('input[data-feature]') || [])];
}

/** α, the optimizer, the batch, L2 and L1, steps per frame: handlers.onSet / onSpf. */
export function bindTraining(el, handlers, config) {
  const optimizerPatch = () => {
    const lr = Number(el.lr.value);
    const o = { ...(config()?.optimizer || {}), name: el.optimizer.value };
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
}

/** The preset and data-set menus, samples, noise, the test split, Regenerate: a new run. */
export function bindDataset(el, handlers) {
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
}

/** Features, activations, loss, init, bias, seed: a new run (handlers.onConfig). */
export function bindNetwork(el, handlers, config) {
  // Feature inputs (engine/features.py): a new run with the ticked ones, in Playground's order;
  // the last one cannot be unticked (a network needs an input).
  for (const box of featureBoxes(el)) {
    box.addEventListener('change', () => {
      const names = featureBoxes(el).filter((b) => b.checked).map((b) => b.dataset.feature);
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
    if (key === 'output_activation' && config()?.loss === 'ce') return { output_activation: value, loss: 'bce' };
    if (key === 'loss' && config()?.output_activation === 'softmax') return { output_activation: 'sigmoid', loss: value };
    return { [key]: value };
  };
  for (const [sel, key] of simple) sel.addEventListener('change', () => handlers.onConfig(paired(key, sel.value)));
  // The article's matrix section uses one shared bias per layer; the preset one per neuron.
  el.biasSwitch?.addEventListener('click', () => handlers.onConfig({ bias: config()?.bias === 'shared' ? 'per_neuron' : 'shared' }));
  el.seed.addEventListener('change', () => {
    const s = Number(el.seed.value);
    if (Number.isInteger(s) && s >= 0) handlers.onConfig({ seed: s });
  });
}

/** The CSV upload: the file picker and drag and drop (handlers.onCsv; errors by setCsvError). */
export function bindCsv(el, handlers, setCsvError) {
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
}
