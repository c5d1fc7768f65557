// The data plane's output grid, computed layer by layer for every grid point at once in typed
// arrays: the same numbers as nn.js's outputGrid (one forward() per point, allocating arrays
// at every layer), at a fraction of its cost, so a repaint fits a frame's budget while playing
// (benchmarks/page.py: spiral on [2,16,16,16,1] at 4x CPU slowdown).

import { ACTIVATIONS, CATEGORICAL, FEATURES, argmax, biasAt, divergingArray, softmaxInPlace } from './nn.js';

const val = (v) => (v === null || v === undefined ? NaN : v);

/**
 * As nn.js outputGrid: {xs, ys, z} with z[row][col] the output k (or the argmax class). With
 * `features` (names, engine/features.py) each grid point (x1, x2) goes in as those features.
 */
export function outputGridFast(weights, biases, xRange, yRange, n, activation, outputActivation, k = 0, features = null) {
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
  const L = weights.length;
  for (let l = 0; l < L; l++) {
    const W = weights[l];
    const nIn = W.length;
    const nOut = nIn ? W[0].length : 0;
    const f = ACTIVATIONS[l === L - 1 ? outputActivation : activation] || ACTIVATIONS.sigmoid;
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
      if (l === L - 1 && outputActivation === 'softmax') softmaxInPlace(out, out, ao, nOut);
      else for (let j = 0; j < nOut; j++) out[ao + j] = f(out[ao + j]);
    }
    a = out;
    width = nOut;
  }
  const z = [];
  for (let r = 0; r < n; r++) {
    const row = new Array(n);
    for (let c = 0; c < n; c++) {
      const p = (r * n + c) * width;
      row[c] = k === 'argmax' ? argmax(a.subarray(p, p + width)) : a[p + k];
    }
    z.push(row);
  }
  return { xs, ys, z };
}

const hexRGB = (hex) => [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));

/** Colour [r, g, b] of one output value on the surface (matches the Plotly colour scale). */
export function surfaceColor(z, zmin, zmax, multi) {
  if (multi) return hexRGB(CATEGORICAL[z % CATEGORICAL.length]);
  if (z === null || !Number.isFinite(z)) return [160, 160, 160];
  const t = zmax > zmin ? (z - zmin) / (zmax - zmin) : 0.5;
  return divergingArray(2 * t - 1);
}

/** The RGBA pixels of an n x n output grid, one a cell, the grid's first row at the bottom. */
export function surfacePixels(grid, zmin, zmax, multi) {
  const n = grid.z.length;
  const px = new Uint8ClampedArray(n * n * 4);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      const [R, G, B] = surfaceColor(grid.z[r][c], zmin, zmax, multi);
      const o = ((n - 1 - r) * n + c) * 4;
      px[o] = R;
      px[o + 1] = G;
      px[o + 2] = B;
      px[o + 3] = 255;
    }
  }
  return px;
}
