// The settings sidebar: training settings (kept state: the WebSocket `set` message), and
// data/network settings (a new session), the architecture editor and the CSV upload.
// Its parts: controls-inputs.js (inputs → handlers), controls-fill.js (config → fields),
// controls-arch.js (the architecture editor).

import { h } from './ui.js';
import { bindCsv, bindDataset, bindNetwork, bindTraining } from './controls-inputs.js';
import { fillControls, presetName } from './controls-fill.js';

export { MAX_HIDDEN_LAYERS, MAX_NEURONS, editLayers } from './controls-arch.js';
export { MAX_CSV_BYTES } from './controls-inputs.js';
export { matchesPreset, presetName, presetTagline, setTypeset } from './controls-fill.js';

const $ = (id) => document.getElementById(id);

/** The sidebar's elements by role. */
function sidebarElements() {
  return {
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
}

/**
 * Bind the sidebar. handlers: onSet(patch), onConfig(patch), onPreset(name),
 * onDataset(dataset), onRegenerate(), onCsv(text, targets, fileName), onSpf(k).
 */
export function createControls(handlers) {
  const el = sidebarElements();
  let config = null;
  let presets = [];
  const getConfig = () => config;

  bindTraining(el, handlers, getConfig);
  bindDataset(el, handlers);
  bindNetwork(el, handlers, getConfig);
  bindCsv(el, handlers, setCsvError);

  function setCsvError(msg) {
    el.csvError.textContent = msg;
    el.csvError.hidden = !msg;
  }

  function setConfig(c, datasets = []) {
    config = c;
    fillControls(el, c, { datasets, presets, onConfig: (patch) => handlers.onConfig(patch) });
  }

  function setPresets(list) {
    presets = list;
    // The name before the colon fits the sidebar's select ("Deep sigmoid: watch the gra" was
    // cut); the rest of the title opens the description under it.
    el.preset.replaceChildren(h('option', { value: '' }, '— custom —'), ...list.map((p) => h('option', { value: p.name, title: p.title || p.name }, presetName(p))));
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
