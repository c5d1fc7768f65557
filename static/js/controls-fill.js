// The settings sidebar's fields written from a run's config: the training settings, the data
// set, the network's settings, the preset and its description (formulas typeset), the editor.

import { h } from './ui.js';
import { formula } from './mathml.js';
import { renderArch } from './controls-arch.js';
import { featureBoxes } from './controls-inputs.js';

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

/** Fill every field from config `c` (datasets: the catalogue; presets: the preset list). */
export function fillControls(el, c, { datasets, presets, onConfig }) {
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
    for (const b of featureBoxes(el)) b.checked = feats.includes(b.dataset.feature);
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
  let desc = p ? [presetTagline(p), p.description].filter(Boolean).join(' ') || p.title || '' : 'Your own setup: every setting is in the link.';
  if (p && p.config.bias && p.config.bias !== c.bias) desc += ' Now: one shared bias per layer, as in the matrix section.';
  setTypeset(el.presetDesc, desc);
  if (el.biasSwitch) {
    el.biasSwitch.hidden = !(p && p.name === 'article');
    el.biasSwitch.textContent = c.bias === 'shared' ? 'Back to one bias per neuron' : 'Use the article’s one shared bias';
  }
  renderArch(el.arch, c.layers, onConfig);
  el.preset.closest('.sidebar')?.classList.add('configured'); // shown once filled in (topbar.css)
}

// A formula written in ASCII inside a sentence ("E = 1/2 sum (Y - O)^2"): typeset as MathML,
// as every other formula on the page is.
const RE_FORMULA = /E = 1\/2 sum \(Y - O\)\^2/g;

/** Set `el`'s text, its formulas typeset; rebuilt only when the text changes. */
export function setTypeset(el, text) {
  if (el.typeset && el.typeset.text === text && el.typeset.shown === el.textContent) return;
  const parts = [];
  let at = 0;
  for (const mt of text.matchAll(RE_FORMULA)) {
    parts.push(text.slice(at, mt.index), formula(mt[0]));
    at = mt.index + mt[0].length;
  }
  parts.push(text.slice(at));
  el.replaceChildren(...parts);
  el.typeset = { text, shown: el.textContent }; // another writer (studio.js) makes it stale
}

/** A preset's short name: its title up to the colon ("The article", "Deep sigmoid"). */
export function presetName(p) {
  const t = p.title || p.name;
  return t.includes(':') ? t.slice(0, t.indexOf(':')) : t;
}

/** The rest of a preset's title, as a sentence ("[4, 5, 1] on house prices."), or ''. */
export function presetTagline(p) {
  const t = p.title || '';
  const rest = t.includes(':') ? t.slice(t.indexOf(':') + 1).trim() : '';
  return rest ? `${rest[0].toUpperCase()}${rest.slice(1)}.` : '';
}
