// The diagram's node-fill key: one colour ramp per activation scale in use, with its ends in words.

import { inputScale, layerNames, ACTIVATION_SYMBOL } from './nn.js';
import { fmt } from './mathml.js';

// An input's scale from its column of the training data: once per data set (inputScale).
const inputScales = new WeakMap();
export function inputScaleOf(data, k) {
  if (!data?.x?.length) return null;
  let per = inputScales.get(data);
  if (!per) {
    per = data.x[0].map((_, c) => inputScale(data.x.map((row) => row[c])));
    inputScales.set(data, per);
  }
  return per[k] || null;
}

/** What a scale's ends are, in words, beside its colour ramp. */
function scaleEnds(act, scale) {
  if (act === 'input') return scale.kind === 'sequential' ? ['0', 'm, m = each input’s largest'] : ['−m', '+m, m = each input’s largest |x|'];
  if (act === 'relu') return ['0', `${fmt(scale.hi, 3)} (the layer’s largest, ≥ 1)`];
  if (act === 'leaky_relu' || act === 'linear') return [`−${fmt(scale.hi, 3)}`, `+${fmt(scale.hi, 3)} (the layer’s largest |value|, ≥ 1)`];
  return [fmt(scale.lo), fmt(scale.hi)];
}

/**
 * The node-fill key: one entry per scale in use (inputs; hidden layers; the output), each
 * with its colour ramp and ends; written only when its words change.
 */
export function drawLegend(root, scales, data, opts) {
  const L = scales.length - 1;
  const names = layerNames(L);
  const groups = [];
  scales.forEach(({ act, scale }, l) => {
    if (l === 0) {
      const cols = data?.x?.length ? data.x[0].map((_, k) => inputScaleOf(data, k)) : [];
      const kinds = [...new Set(cols.map((c) => c.kind))];
      kinds.forEach((kind) => groups.push({ who: 'X', act: 'input', scale: { kind }, key: `X ${kind}` }));
      return;
    }
    const sym = ACTIVATION_SYMBOL[act] || act;
    const key = `${act} ${scale.kind} ${scale.lo} ${scale.hi}`;
    const same = groups.find((g) => g.key === key);
    if (same) same.who.push(l === L ? 'O' : names[l]);
    else groups.push({ who: [l === L ? 'O' : names[l]], act, sym, scale, key });
  });
  const s = Math.min(opts.sample || 0, Math.max(0, (data?.x?.length || 1) - 1));
  const words = groups.map((g) => [Array.isArray(g.who) ? `${g.who.join(', ')} = ${g.sym}(Z)` : 'X', ...scaleEnds(g.act, g.scale), g.scale.kind]);
  // Rebuilt only when its words change (a ReLU layer's largest moves in its 4th digit).
  const text = JSON.stringify([s, words]);
  if (root.dataset.key === text) return;
  root.dataset.key = text;
  const items = groups.map((g, n) => {
    const [who, lo, hi] = words[n];
    const item = document.createElement('span');
    item.className = 'legend-item';
    item.dataset.testid = 'node-scale';
    item.dataset.scale = g.scale.kind;
    const ramp = document.createElement('span');
    ramp.className = `ramp ramp-${g.scale.kind === 'sequential' ? 'seq' : 'div'}`;
    item.append(`${who}: ${lo} `, ramp, ` ${hi}`);
    return item;
  });
  const head = document.createElement('span');
  head.textContent = `Node fill: activation (sample ${s + 1}) on its own range.`;
  root.replaceChildren(head, ...items);
}
