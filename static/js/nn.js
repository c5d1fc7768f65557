// Pure helpers shared by every view: article names, the forward pass, colours.
// No DOM, no global state: the workshop page reuses these as they are.

/** Activation names in the article's notation: X, h1, ..., O (nLayers = number of weight layers). */
export function layerNames(nLayers) {
  const hidden = [];
  for (let k = 1; k < nLayers; k++) hidden.push(`h${k}`);
  return ['X', ...hidden, 'O'];
}

/** `W_ih`, `W_h1h2`, ..., `W_ho`; `W_io` for a net with no hidden layer. */
export function weightName(layer, nLayers) {
  if (nLayers === 1) return 'W_io';
  if (nLayers === 2) return ['W_ih', 'W_ho'][layer];
  const src = layer === 0 ? 'i' : `h${layer}`;
  const dst = layer === nLayers - 1 ? 'o' : `h${layer + 1}`;
  return `W_${src}${dst}`;
}

/** `b_ih`, ..., `b_ho`: the bias feeding the neurons of layer + 1. */
export function biasName(layer, nLayers) {
  return 'b_' + weightName(layer, nLayers).slice(2);
}

/** A neuron's name: `h1[3]`, `X[0]`, or just `O` for a single output as in the article. */
export function neuronName(k, j, sizes) {
  const names = layerNames(sizes.length - 1);
  if (k === sizes.length - 1 && sizes[k] === 1) return names[k];
  return `${names[k]}[${j}]`;
}

/** A selection's article name: {kind:'weight', layer, i, j} -> `W_ih[2,3]`. */
export function paramName(sel, nLayers, sharedBias = false) {
  if (sel.kind === 'bias') {
    const b = biasName(sel.layer, nLayers);
    return sharedBias ? b : `${b}[${sel.j}]`;
  }
  return `${weightName(sel.layer, nLayers)}[${sel.i},${sel.j}]`;
}

/** 1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st. */
export function ordinal(n) {
  const t = n % 100;
  const suffix = t >= 11 && t <= 13 ? 'th' : { 1: 'st', 2: 'nd', 3: 'rd' }[n % 10] || 'th';
  return `${n}${suffix}`;
}

/** Layer widths from a frame's weights (or the config before the first frame). */
export function layerSizes(frame, config) {
  const W = frame?.weights;
  if (!W || !W.length) return config?.layers || [];
  return [W[0].length, ...W.map((w) => (w[0] ? w[0].length : 0))];
}

/** Whether a selection ({kind, layer, i, j}) names a parameter of a net with these widths. */
export function isValidSel(sel, sizes) {
  const L = sizes.length - 1;
  if (!sel || typeof sel !== 'object' || !(sel.layer >= 0 && sel.layer < L)) return false;
  if (!(sel.j >= 0 && sel.j < sizes[sel.layer + 1])) return false;
  if (sel.kind === 'weight') return sel.i >= 0 && sel.i < sizes[sel.layer];
  return sel.kind === 'bias';
}

/** The first weight of the output layer: the article's W_ho[0,0]. */
export function defaultSel(sizes) {
  return { kind: 'weight', layer: Math.max(0, sizes.length - 2), i: 0, j: 0 };
}

/** Playground's feature inputs of a point (x1, x2), as the server's engine/features.py. */
export const FEATURES = {
  x1: (a) => a,
  x2: (a, b) => b,
  x1_squared: (a) => a * a,
  x2_squared: (a, b) => b * b,
  x1_x2: (a, b) => a * b,
  sin_x1: (a) => Math.sin(a),
  sin_x2: (a, b) => Math.sin(b),
};

/** a = softmax(z) over one sample's outputs (max taken off first, as the engine does). */
export function softmaxInPlace(z, a, from = 0, n = z.length) {
  let max = -Infinity;
  for (let j = 0; j < n; j++) max = Math.max(max, z[from + j]);
  let sum = 0;
  for (let j = 0; j < n; j++) sum += a[from + j] = Math.exp(z[from + j] - max);
  for (let j = 0; j < n; j++) a[from + j] /= sum;
  return a;
}

export const ACTIVATIONS = {
  sigmoid: (z) => 1 / (1 + Math.exp(-z)),
  tanh: Math.tanh,
  relu: (z) => (z > 0 ? z : 0),
  leaky_relu: (z) => (z > 0 ? z : 0.01 * z),
  linear: (z) => z,
  softmax: (z) => z, // per output it is not defined: softmaxInPlace() normalises the layer
};

export const ACTIVATION_SYMBOL = { sigmoid: 'σ', tanh: 'tanh', relu: 'ReLU', leaky_relu: 'LReLU', linear: 'id', softmax: 'softmax' };

const val = (v) => (v === null || v === undefined ? NaN : v);

/** Bias of neuron j in weight layer l (shared biases may come as one number per layer). */
export function biasAt(biases, l, j) {
  const b = biases[l];
  if (!b || !b.length) return 0;
  return val(b.length === 1 ? b[0] : b[j]);
}

/**
 * Forward pass for one sample x (array of features). Returns {a, z}: activations per
 * layer (a[0] = x) and pre-activations (z[0] = null). W[l][i][j], Z = W^T a + b.
 */
export function forward(weights, biases, x, activation = 'sigmoid', outputActivation = 'sigmoid') {
  const L = weights.length;
  const a = [x.map(val)];
  const z = [null];
  for (let l = 0; l < L; l++) {
    const W = weights[l];
    const nIn = W.length;
    const nOut = nIn ? W[0].length : 0;
    const f = ACTIVATIONS[l === L - 1 ? outputActivation : activation] || ACTIVATIONS.sigmoid;
    const prev = a[l];
    const zl = new Array(nOut);
    const al = new Array(nOut);
    for (let j = 0; j < nOut; j++) {
      let s = biasAt(biases, l, j);
      for (let i = 0; i < nIn; i++) s += val(W[i][j]) * prev[i];
      zl[j] = s;
      al[j] = f(s);
    }
    if (l === L - 1 && outputActivation === 'softmax') softmaxInPlace(zl, al);
    z.push(zl);
    a.push(al);
  }
  return { a, z };
}

/** The network's outputs for many samples (rows). */
export function predict(weights, biases, rows, activation, outputActivation) {
  return rows.map((x) => {
    const { a } = forward(weights, biases, x, activation, outputActivation);
    return a[a.length - 1];
  });
}

/** Range [min, max] of column k of rows, padded by `pad` of the width. */
export function columnRange(rows, k, pad = 0.1) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const r of rows) {
    if (r[k] < lo) lo = r[k];
    if (r[k] > hi) hi = r[k];
  }
  if (!Number.isFinite(lo)) return [-1, 1];
  if (hi - lo < 1e-9) {
    lo -= 1;
    hi += 1;
  }
  const p = (hi - lo) * pad;
  return [lo - p, hi + p];
}

/**
 * Output of the network over an n x n grid spanning the ranges (2 inputs).
 * Returns {xs, ys, z} with z[row][col] = output `k` (or argmax class when k === 'argmax').
 */
export function outputGrid(weights, biases, xRange, yRange, n, activation, outputActivation, k = 0) {
  const xs = [];
  const ys = [];
  for (let c = 0; c < n; c++) xs.push(xRange[0] + ((xRange[1] - xRange[0]) * c) / (n - 1));
  for (let r = 0; r < n; r++) ys.push(yRange[0] + ((yRange[1] - yRange[0]) * r) / (n - 1));
  const z = ys.map((y) =>
    xs.map((x) => {
      const { a } = forward(weights, biases, [x, y], activation, outputActivation);
      const o = a[a.length - 1];
      return k === 'argmax' ? argmax(o) : o[k];
    }),
  );
  return { xs, ys, z };
}

export function argmax(arr) {
  let best = 0;
  for (let k = 1; k < arr.length; k++) if (arr[k] > arr[best]) best = k;
  return best;
}

/** Largest |value| in a nested array (nulls ignored); 0 when empty. */
export function maxAbs(nested) {
  let mx = 0;
  const walk = (v) => {
    if (Array.isArray(v)) for (const u of v) walk(u);
    else if (v !== null && Number.isFinite(v) && Math.abs(v) > mx) mx = Math.abs(v);
  };
  walk(nested);
  return mx;
}

// Colour-blind-safe diverging palette: orange = negative, blue = positive.
export const POS = [33, 102, 172]; // #2166ac
export const NEG = [230, 97, 1]; // #e66101
export const MID = [236, 238, 241];
export const POS_HEX = '#2166ac';
export const NEG_HEX = '#e66101';
// The negative orange as text: #e66101 on white is 3.45:1, this darker one 5.5:1 (WCAG AA).
export const NEG_TEXT = '#b34700';

/** The label colour (white or black) with the higher contrast on an rgb()/#hex fill. */
export function inkOn(fill) {
  const m = /rgb\((\d+),\s*(\d+),\s*(\d+)\)/.exec(fill) || [];
  const hex = /^#([0-9a-f]{6})$/i.exec(fill);
  const rgb = hex ? [0, 2, 4].map((k) => parseInt(hex[1].slice(k, k + 2), 16)) : [m[1], m[2], m[3]].map(Number);
  if (rgb.some((v) => !Number.isFinite(v))) return '#1d2430';
  const lin = rgb.map((v) => {
    const c = v / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  const L = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
  return 1.05 / (L + 0.05) >= (L + 0.05) / 0.05 ? '#ffffff' : '#000000';
}

const mix = (a, b, t) => Math.round(a + (b - a) * t);

/** Colour for t in [-1, 1]: orange (negative) through light grey to blue (positive). */
export function divergingRGB(t) {
  if (t === null || !Number.isFinite(t)) return 'rgb(160,160,160)';
  const c = Math.max(-1, Math.min(1, t));
  const end = c >= 0 ? POS : NEG;
  const u = Math.abs(c);
  return `rgb(${mix(MID[0], end[0], u)},${mix(MID[1], end[1], u)},${mix(MID[2], end[2], u)})`;
}

// A node's fill is its activation on that activation's own range (issue 20): a sequential
// light-to-purple scale where the range is bounded below (sigmoid (0,1), ReLU [0, ∞)), the
// diverging orange-grey-blue only where it is symmetric about 0 (tanh, leaky ReLU, linear).
// Purple is no sign colour: a sigmoid's 0.32 is a low value, not a negative one.
export const SEQ_LO = [242, 240, 247]; // #f2f0f7
export const SEQ_HI = [84, 39, 143]; // #54278f
const TONES = 48; // steps per side, as the edges: fewer restyles while playing

/** Colour for t in [0, 1]: light (low) to purple (high). */
export function sequentialRGB(t) {
  if (t === null || !Number.isFinite(t)) return 'rgb(160,160,160)';
  const u = Math.max(0, Math.min(1, t));
  return `rgb(${mix(SEQ_LO[0], SEQ_HI[0], u)},${mix(SEQ_LO[1], SEQ_HI[1], u)},${mix(SEQ_LO[2], SEQ_HI[2], u)})`;
}

const largest = (values, abs) => Math.max(0, ...values.map((v) => (Number.isFinite(v) ? (abs ? Math.abs(v) : v) : 0)));

/**
 * The scale a layer's node fills use: {kind: 'sequential' | 'diverging', lo, hi}.
 * `act` is the layer's activation; `values` its activations for the sample shown (only the
 * unbounded ones need them: ReLU runs from 0 to the layer's largest, leaky ReLU and linear
 * from minus to plus its largest |value|, never less than 1).
 */
export function activationScale(act, values = []) {
  // Softmax's outputs are probabilities, in (0, 1) like a sigmoid's.
  if (act === 'sigmoid' || act === 'softmax') return { kind: 'sequential', lo: 0, hi: 1 };
  if (act === 'tanh') return { kind: 'diverging', lo: -1, hi: 1 };
  if (act === 'relu') return { kind: 'sequential', lo: 0, hi: Math.max(1, largest(values, false)) };
  const m = Math.max(1, largest(values, true));
  return { kind: 'diverging', lo: -m, hi: m };
}

/**
 * An input's scale from its column in the data: from 0 to its largest when it is never
 * negative, else from minus to plus its largest |value| (standardised inputs).
 */
export function inputScale(column) {
  const fin = column.filter((v) => Number.isFinite(v));
  const lo = fin.length ? Math.min(...fin) : 0;
  const m = Math.max(1e-12, largest(fin, true));
  return lo >= 0 ? { kind: 'sequential', lo: 0, hi: m } : { kind: 'diverging', lo: -m, hi: m };
}

/** Where v sits on a scale: t in [0, 1] (sequential) or [-1, 1] (diverging), in 1/48 steps. */
export function scaleTone(v, scale) {
  if (v === null || v === undefined || !Number.isFinite(v)) return NaN;
  const t = scale.kind === 'sequential' ? (v - scale.lo) / (scale.hi - scale.lo) : v / scale.hi;
  const c = Math.max(scale.kind === 'sequential' ? 0 : -1, Math.min(1, t));
  return Math.round(c * TONES) / TONES;
}

/** A node's fill colour for value v on its scale. */
export function scaleRGB(v, scale) {
  const t = scaleTone(v, scale);
  return scale.kind === 'sequential' ? sequentialRGB(t) : divergingRGB(t);
}

/** divergingRGB as numbers [r, g, b] (for ImageData). */
export function divergingArray(t) {
  if (t === null || !Number.isFinite(t)) return [160, 160, 160];
  const c = Math.max(-1, Math.min(1, t));
  const end = c >= 0 ? POS : NEG;
  const u = Math.abs(c);
  return [mix(MID[0], end[0], u), mix(MID[1], end[1], u), mix(MID[2], end[2], u)];
}

/** Plotly colorscale matching divergingRGB over [zmin, zmax]. */
export const PLOTLY_DIVERGING = [
  [0, 'rgb(230,97,1)'],
  [0.25, 'rgb(240,170,110)'],
  [0.5, 'rgb(246,246,246)'],
  [0.75, 'rgb(130,170,215)'],
  [1, 'rgb(33,102,172)'],
];

/** Okabe-Ito categorical colours (colour-blind safe). */
export const CATEGORICAL = ['#E69F00', '#0072B2', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];

/** Stroke width for an edge of magnitude |v| relative to the largest one (sqrt scale). */
export function edgeWidth(v, max, minW = 0.6, maxW = 7) {
  if (v === null || !Number.isFinite(v) || !(max > 0)) return minW;
  return minW + (maxW - minW) * Math.sqrt(Math.min(1, Math.abs(v) / max));
}

/**
 * The update the optimizer will really apply, W_new - W_old per layer: the frame's own
 * `update`, else from a trace of this frame's step (GET .../trace); null when neither.
 */
export function realUpdate(frame, trace) {
  if (frame?.update?.weights) return frame.update; // frames carry it (docs/api.md, "Frames")
  if (!frame || !trace || trace.step !== frame.step || !Array.isArray(trace.update)) return null;
  const ups = trace.update.slice().sort((a, b) => a.layer - b.layer);
  const d = (a, b) => (a === null || b === null || a === undefined || b === undefined ? null : a - b);
  return {
    weights: ups.map((u) => u.W_new.map((row, i) => row.map((v, j) => d(v, u.W_old[i][j])))),
    biases: ups.map((u) => (u.b_new || []).map((v, j) => d(v, u.b_old[j]))),
  };
}

/**
 * Values shown on the edges for a mode: weights, gradients or the next update. `real` is
 * realUpdate(): the optimizer's own step (momentum, Adam); without it -alpha*dE/dW (SGD's).
 */
export function edgeValues(frame, mode, real = null) {
  if (mode === 'gradients') return frame.gradients.weights;
  if (mode === 'update') {
    if (real) return real.weights;
    const lr = frame.learning_rate ?? 0;
    return frame.gradients.weights.map((W) => W.map((row) => row.map((g) => (g === null ? null : -lr * g))));
  }
  return frame.weights;
}

/** Same as edgeValues for the biases. */
export function biasValues(frame, mode, real = null) {
  if (mode === 'gradients') return frame.gradients.biases;
  if (mode === 'update') {
    if (real) return real.biases;
    const lr = frame.learning_rate ?? 0;
    return frame.gradients.biases.map((b) => b.map((g) => (g === null ? null : -lr * g)));
  }
  return frame.biases;
}
