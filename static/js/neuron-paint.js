// The colours of one neuron's map (its thumbnail beside the diagram's node, or the big data
// plane when it is picked): each neuron on its activation's own scale, as the node fills are
// (nn.js activationScale), so a thumbnail and its node speak the same colours. Pure.

import { CATEGORICAL, SEQ_HI, SEQ_LO, activationScale, divergingArray, inputScale } from './nn.js';

const hexRGB = (hex) => [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
const mix = (a, b, t) => Math.round(a + (b - a) * t);
const GREY = [160, 160, 160];

/** Every finite value of a grid (rows) or a list, flat. */
function flat(values) {
  const out = [];
  for (const v of values) {
    if (Array.isArray(v)) {
      for (const u of v) if (Number.isFinite(u)) out.push(u);
    } else if (Number.isFinite(v)) out.push(v);
  }
  return out;
}

/**
 * The scale of one neuron's map. `who`: {act, k, output, range} (act 'input' for layer 0). A
 * softmax output runs from white to its class's colour over [0, 1]; a lone output with the data
 * plane's `range` [zmin, zmax] as the plane paints it (orange to blue; without one, a sigmoid's
 * [0, 1]); inputs on their own range; hidden neurons as their node fills.
 */
export function neuronScale(values, who) {
  const all = flat(values);
  if (who.act === 'input') return inputScale(all);
  if (who.act === 'softmax') return { kind: 'class', lo: 0, hi: 1, k: who.k || 0 };
  if (who.output && who.range) return { kind: 'plane', lo: who.range[0], hi: who.range[1] };
  if (who.output && who.act === 'sigmoid') return { kind: 'plane', lo: 0, hi: 1 };
  return activationScale(who.act, all);
}

/** [r, g, b] of value v on a scale from neuronScale. */
export function neuronRGB(v, scale) {
  if (v === null || v === undefined || !Number.isFinite(v)) return GREY;
  if (scale.kind === 'class') {
    const end = hexRGB(CATEGORICAL[scale.k % CATEGORICAL.length]);
    const u = Math.max(0, Math.min(1, v));
    return [mix(255, end[0], u), mix(255, end[1], u), mix(255, end[2], u)];
  }
  if (scale.kind === 'plane') return divergingArray((2 * (v - scale.lo)) / (scale.hi - scale.lo || 1) - 1);
  if (scale.kind === 'sequential') {
    const u = Math.max(0, Math.min(1, (v - scale.lo) / (scale.hi - scale.lo || 1)));
    return [mix(SEQ_LO[0], SEQ_HI[0], u), mix(SEQ_LO[1], SEQ_HI[1], u), mix(SEQ_LO[2], SEQ_HI[2], u)];
  }
  return divergingArray(v / (scale.hi || 1));
}

// A map is painted through a table of 2 STEPS + 1 colours (finer than the node fills' 1/48):
// one colour object per pixel was most of a thumbnail's cost (51 maps of 24 x 24 on spiral16).
const STEPS = 128;

/** Where v sits on its scale, as s in [-1, 1] (sequential and class scales: 2u - 1). */
function position(v, scale) {
  if (scale.kind === 'class') return 2 * Math.max(0, Math.min(1, v)) - 1;
  if (scale.kind === 'plane') return Math.max(-1, Math.min(1, (2 * (v - scale.lo)) / (scale.hi - scale.lo || 1) - 1));
  if (scale.kind === 'sequential') return 2 * Math.max(0, Math.min(1, (v - scale.lo) / (scale.hi - scale.lo || 1))) - 1;
  return Math.max(-1, Math.min(1, v / (scale.hi || 1)));
}

/** The colours of positions -1 .. 1 in 2 STEPS + 1 steps, as neuronRGB gives them. */
function table(scale) {
  const lut = new Uint8ClampedArray((2 * STEPS + 1) * 3);
  for (let i = 0; i <= 2 * STEPS; i++) {
    const s = i / STEPS - 1;
    // The value at that position, back through the scale (neuronRGB is the one colour rule).
    let v;
    if (scale.kind === 'class') v = (s + 1) / 2;
    else if (scale.kind === 'sequential' || scale.kind === 'plane') v = scale.lo + ((s + 1) / 2) * (scale.hi - scale.lo || 1);
    else v = s * (scale.hi || 1);
    lut.set(neuronRGB(v, scale), i * 3);
  }
  return lut;
}

/** The RGBA pixels of an n x n grid (values[r][c], row 0 at the bottom) on the neuron's scale. */
export function neuronPixels(values, who, scale = neuronScale(values, who)) {
  const n = values.length;
  const m = n ? values[0].length : 0;
  const px = new Uint8ClampedArray(n * m * 4);
  const lut = table(scale);
  for (let r = 0; r < n; r++) {
    const row = values[r];
    for (let c = 0; c < m; c++) {
      const v = row[c];
      const o = ((n - 1 - r) * m + c) * 4;
      if (v === null || !Number.isFinite(v)) {
        px.set(GREY, o);
      } else {
        const i = Math.round((position(v, scale) + 1) * STEPS) * 3;
        px[o] = lut[i];
        px[o + 1] = lut[i + 1];
        px[o + 2] = lut[i + 2];
      }
      px[o + 3] = 255;
    }
  }
  return px;
}
