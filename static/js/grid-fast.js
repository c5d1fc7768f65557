// The data plane's output grid, computed layer by layer for every grid point at once in typed
// arrays: the same numbers as nn.js's outputGrid (one forward() per point, allocating arrays
// at every layer), at a fraction of its cost, so a repaint fits a frame's budget while playing
// (benchmarks/page.py: spiral on [2,16,16,16,1] at 4x CPU slowdown).

import { ACTIVATIONS, CATEGORICAL, FEATURES, argmax, biasAt, divergingArray, softmaxInPlace } from './nn.js';
import { neuronPixels } from './neuron-paint.js';

const val = (v) => (v === null || v === undefined ? NaN : v);

/**
 * As nn.js outputGrid: {xs, ys, z} with z[row][col] the output k (or the argmax class). With
 * `features` (names, engine/features.py) each grid point (x1, x2) goes in as those features.
 * k 'soft': the argmax class in z and its share (the largest output) in `share`. `upTo`: stop
 * at that layer of neurons (0 = the inputs) and give its neuron k: a neuron's map of the plane.
 */
export function outputGridFast(weights, biases, xRange, yRange, n, activation, outputActivation, k = 0, features = null, upTo = null) {
  const xs = [];
  const ys = [];
  for (let c = 0; c < n; c++) xs.push(xRange[0] + ((xRange[1] - xRange[0]) * c) / (n - 1));
  for (let r = 0; r < n; r++) ys.push(yRange[0] + ((yRange[1] - yRange[0]) * r) / (n - 1));
  const P = n * n; // points, row-major: p = r * n + c
  const fs = features ? features.map((f) => FEATURES[f]) : [FEATURES.x1, FEATURES.x2];
  let width = fs.length;
  let a = new Float64Array(P * width);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      for (let q = 0; q < width; q++) a[(r * n + c) * width + q] = fs[q](xs[c], ys[r]);
    }
  }
  const L = upTo === null || upTo === undefined ? weights.length : Math.min(upTo, weights.length);
  const last = weights.length;
  for (let l = 0; l < L; l++) {
    const W = weights[l];
    const nIn = W.length;
    const nOut = nIn ? W[0].length : 0;
    const f = ACTIVATIONS[l === last - 1 ? outputActivation : activation] || ACTIVATIONS.sigmoid;
    const Wf = new Float64Array(nIn * nOut);
    for (let i = 0; i < nIn; i++) for (let j = 0; j < nOut; j++) Wf[i * nOut + j] = val(W[i][j]);
    const b = new Float64Array(nOut);
    for (let j = 0; j < nOut; j++) b[j] = biasAt(biases, l, j);
    const out = new Float64Array(P * nOut);
    for (let p = 0; p < P; p++) {
      const ai = p * width;
      const ao = p * nOut;
      for (let j = 0; j < nOut; j++) out[ao + j] = b[j];
      for (let i = 0; i < nIn; i++) {
        const x = a[ai + i];
        const row = i * nOut;
        for (let j = 0; j < nOut; j++) out[ao + j] += Wf[row + j] * x;
      }
      if (l === last - 1 && outputActivation === 'softmax') softmaxInPlace(out, out, ao, nOut);
      else for (let j = 0; j < nOut; j++) out[ao + j] = f(out[ao + j]);
    }
    a = out;
    width = nOut;
  }
  const z = [];
  const share = k === 'soft' ? [] : null;
  for (let r = 0; r < n; r++) {
    const row = new Array(n);
    const sr = share ? new Array(n) : null;
    for (let c = 0; c < n; c++) {
      const p = (r * n + c) * width;
      if (k === 'argmax' || k === 'soft') {
        row[c] = argmax(a.subarray(p, p + width));
        if (sr) sr[c] = a[p + row[c]];
      } else row[c] = a[p + k];
    }
    z.push(row);
    if (share) share.push(sr);
  }
  return share ? { xs, ys, z, share } : { xs, ys, z };
}

const hexRGB = (hex) => [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));

/** Colour [r, g, b] of one output value on the surface (matches the Plotly colour scale). */
export function surfaceColor(z, zmin, zmax, multi) {
  if (multi) return hexRGB(CATEGORICAL[z % CATEGORICAL.length]);
  if (z === null || !Number.isFinite(z)) return [160, 160, 160];
  const t = zmax > zmin ? (z - zmin) / (zmax - zmin) : 0.5;
  return divergingArray(2 * t - 1);
}

// Playground's "discretize": the classes as hard regions (one output: O >= 0.5, as accuracy
// counts), each a light tone of its class's colour so the points on them stay visible; not
// discretized, a class's colour reaches SOFT_TONE where the network is sure of it.
const DISCRETE_TONE = 0.55;
const SOFT_TONE = 0.7;

/** A class's colour mixed with white: u = 0 white, 1 the full colour. */
const toward = ([R, G, B], u) => [255 + (R - 255) * u, 255 + (G - 255) * u, 255 + (B - 255) * u];

/**
 * The pixels of the data plane: the output grid (surfacePixels), or with `look.neuron`
 * ({act, k, output}) a neuron's map on that neuron's scale (neuron-paint.js); `look.discrete`
 * paints one output's classes as hard regions.
 */
export function planePixels(grid, zmin, zmax, multi, look = {}) {
  if (look.neuron) return neuronPixels(grid.z, look.neuron);
  return surfacePixels(grid, zmin, zmax, multi, look.discrete);
}

/** The RGBA pixels of an n x n output grid, one a cell, the grid's first row at the bottom. */
export function surfacePixels(grid, zmin, zmax, multi, discrete = false) {
  const n = grid.z.length;
  const px = new Uint8ClampedArray(n * n * 4);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      const z = grid.z[r][c];
      let rgb;
      if (multi && grid.share && !discrete) {
        // Softmax, not discretized: the class's colour, as strong as the network is sure of it
        // (1/K: as unsure as can be, white). zmax is K - 1: u = (share - 1/K) / (1 - 1/K).
        const t = (grid.share[r][c] * (zmax + 1) - 1) / Math.max(zmax, 1);
        rgb = toward(surfaceColor(z, zmin, zmax, true), SOFT_TONE * Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0)));
      } else if (multi && discrete) {
        rgb = toward(surfaceColor(z, zmin, zmax, true), DISCRETE_TONE);
      } else if (!multi && discrete) {
        rgb = Number.isFinite(z) ? divergingArray(z >= 0.5 ? DISCRETE_TONE : -DISCRETE_TONE) : [160, 160, 160];
      } else rgb = surfaceColor(z, zmin, zmax, multi);
      const [R, G, B] = rgb;
      const o = ((n - 1 - r) * n + c) * 4;
      px[o] = R;
      px[o + 1] = G;
      px[o + 2] = B;
      px[o + 3] = 255;
    }
  }
  return px;
}
