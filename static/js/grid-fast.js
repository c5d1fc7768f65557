// The data plane's output grid, computed layer by layer for every grid point at once in typed
// arrays: the same numbers as nn.js's outputGrid (one forward() per point, allocating arrays
// at every layer), at a fraction of its cost, so a repaint fits a frame's budget while playing
// (benchmarks/page.py: spiral on [2,16,16,16,1] at 4x CPU slowdown).

import { ACTIVATIONS, argmax, biasAt } from './nn.js';

const val = (v) => (v === null || v === undefined ? NaN : v);

/** As nn.js outputGrid: {xs, ys, z} with z[row][col] the output k (or the argmax class). */
export function outputGridFast(weights, biases, xRange, yRange, n, activation, outputActivation, k = 0) {
  const xs = [];
  const ys = [];
  for (let c = 0; c < n; c++) xs.push(xRange[0] + ((xRange[1] - xRange[0]) * c) / (n - 1));
  for (let r = 0; r < n; r++) ys.push(yRange[0] + ((yRange[1] - yRange[0]) * r) / (n - 1));
  const P = n * n; // points, row-major: p = r * n + c
  let a = new Float64Array(P * 2);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      a[(r * n + c) * 2] = xs[c];
      a[(r * n + c) * 2 + 1] = ys[r];
    }
  }
  let width = 2;
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
      for (let j = 0; j < nOut; j++) out[ao + j] = f(out[ao + j]);
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
