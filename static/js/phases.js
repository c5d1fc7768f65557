// One training step in the article's order, from the server's trace (GET .../trace): the
// forward pass layer by layer, the error, the backward pass from the output in, the update.
// Pure helpers (phase list, what each phase lights) plus the MathML of each phase with its
// numbers plugged in: operands as small matrices, truncated with an ellipsis when large.

import { ACTIVATION_SYMBOL, layerNames, ordinal, weightName, biasName } from './nn.js';
import { fmt, m, math, mi, mn, mo, mrow, msub, msup, num, partial, symbol } from './mathml.js';
import { h } from './ui.js';

/** The phases of one step for a net with L weight layers: labels and what they are. */
export function phaseList(L) {
  const out = [];
  for (let l = 1; l <= L; l++) out.push({ kind: 'forward', layer: l, label: `Forward: layer ${l}` });
  out.push({ kind: 'error', layer: L, label: 'Error' });
  for (let l = L; l >= 1; l--) out.push({ kind: 'backward', layer: l, label: `Backward: layer ${l}` });
  out.push({ kind: 'update', layer: null, label: 'Update' });
  return out;
}

/**
 * What a phase lights in the diagram: weight layers (0-based, as W[l]), activation layers
 * (0 = X) and the direction the signal flows (forward left to right, backward right to left).
 */
export function phaseLights(phase, L) {
  if (!phase) return null;
  const all = Array.from({ length: L }, (_, l) => l);
  if (phase.kind === 'forward') return { edges: [phase.layer - 1], nodes: [phase.layer - 1, phase.layer], dir: 'forward', focus: phase.layer };
  if (phase.kind === 'error') return { edges: [], nodes: [L], dir: null, focus: L };
  if (phase.kind === 'backward') {
    // delta_l comes back through W[l] (from layer l+1), then gives dE/dW[l-1].
    const edges = phase.layer < L ? [phase.layer - 1, phase.layer] : [phase.layer - 1];
    const nodes = phase.layer < L ? [phase.layer - 1, phase.layer, phase.layer + 1] : [phase.layer - 1, phase.layer];
    return { edges, nodes, dir: 'backward', focus: phase.layer };
  }
  return { edges: all, nodes: [], dir: null, focus: null };
}

// ---------------------------------------------------------------- MathML pieces

const MAX_R = 6;
const MAX_C = 6;
// Columns shown per matrix in the phase being drawn: fewer in a narrow panel (a phone), so an
// operand fits its width (renderPhase sets it from ctx.maxCols).
let shownCols = MAX_C;
const paren = (...c) => mrow(mo('(', { stretchy: 'false' }), ...c, mo(')', { stretchy: 'false' }));
const sub = (base, s) => msub(mi(base), typeof s === 'number' ? mn(String(s)) : s);
const delta = (l) => msub(mi('δ'), mn(String(l)));

/** Indices to show of n: all when n <= max, else the first max-2, an ellipsis (null), the last. */
export function shownIndices(n, max) {
  if (n <= max) return Array.from({ length: n }, (_, k) => k);
  return [...Array.from({ length: max - 2 }, (_, k) => k), null, n - 1];
}

/**
 * A matrix (rows of numbers) as a bracketed HTML table with its shape underneath: HTML, not
 * MathML, so the brackets always span the rows and a long equation can wrap between operands.
 */
export function matrixNode(M, { digits = 3, shape = true, maxR = MAX_R, maxC = shownCols } = {}) {
  const rows = M.length;
  const cols = rows && Array.isArray(M[0]) ? M[0].length : 0;
  const ri = shownIndices(rows, maxR);
  const ci = shownIndices(cols, maxC);
  const body = h(
    'tbody',
    {},
    ri.map((r) => h('tr', {}, ci.map((c) => h('td', { class: r === null || c === null ? 'ell' : '' }, r === null ? (c === null ? '⋱' : '⋮') : c === null ? '⋯' : fmt(M[r][c], digits))))),
  );
  const shownAll = ri.length === rows && ci.length === cols;
  return h(
    'span',
    { class: 'mx', title: shownAll ? `${rows}×${cols}` : `${rows}×${cols}: the middle rows or columns are left out (⋯)` },
    h('span', { class: 'mx-br' }, h('table', {}, body)),
    shape ? h('span', { class: 'mx-shape' }, `${rows}×${cols}`) : null,
  );
}

/** A vector (one value per neuron) as a column matrix. */
const column = (v, opts) => matrixNode(v.map((x) => [x]), opts);
/** Transpose of a rows-of-numbers matrix. */
export const transpose = (M) => (M.length ? M[0].map((_, j) => M.map((row) => row[j])) : []);

function activationNames(L) {
  return layerNames(L); // X, h1, ..., O
}

function actOf(l, L, config) {
  return l === L ? config?.output_activation || 'sigmoid' : config?.activation || 'sigmoid';
}

/** f'(Z_l) written in the article's way for the activation: h1(1 - h1) for the sigmoid. */
function derivative(l, L, config) {
  const a = symbol(activationNames(L)[l]);
  const act = actOf(l, L, config);
  if (act === 'sigmoid') return mrow(a, paren(mn('1'), mo('−'), symbol(activationNames(L)[l])));
  if (act === 'tanh') return paren(mn('1'), mo('−'), msup(a, mn('2')));
  return mrow(mi(`${ACTIVATION_SYMBOL[act] || 'f'}′`, { mathvariant: 'normal' }), paren(sub('Z', l)));
}

const LOSS_EQ = {
  ce: () => [mi('E'), mo('='), mo('−'), m('mfrac', {}, mn('1'), mi('m')), mo('∑'), mrow(mi('Y'), mi('log', { mathvariant: 'normal' }), mi('O'))],
  half_sse: () => [mi('E'), mo('='), m('mfrac', {}, mn('1'), mn('2')), mo('∑'), msup(paren(mi('Y'), mo('−'), mi('O')), mn('2'))],
  mse: () => [mi('E'), mo('='), m('mfrac', {}, mn('1'), mi('m')), mo('∑'), msup(paren(mi('Y'), mo('−'), mi('O')), mn('2'))],
  bce: () => [mi('E'), mo('='), mo('−'), m('mfrac', {}, mn('1'), mi('m')), mo('∑'), mrow(mi('Y'), mi('log', { mathvariant: 'normal' }), mi('O'), mo('+'), paren(mn('1'), mo('−'), mi('Y')), mi('log', { mathvariant: 'normal' }), paren(mn('1'), mo('−'), mi('O')))],
};

const DEDO = {
  ce: () => [partial('E', 'O'), mo('='), mo('−'), m('mfrac', {}, mi('Y'), mrow(mi('O'), mi('m')))],
  half_sse: () => [partial('E', 'O'), mo('='), mi('O'), mo('−'), mi('Y')],
  mse: () => [partial('E', 'O'), mo('='), m('mfrac', {}, mn('2'), mi('m')), paren(mi('O'), mo('−'), mi('Y'))],
  bce: () => [partial('E', 'O'), mo('='), m('mfrac', {}, mn('1'), mi('m')), m('mfrac', {}, mrow(mi('O'), mo('−'), mi('Y')), mrow(mi('O'), paren(mn('1'), mo('−'), mi('O'))))],
};

/**
 * One equation: MathML runs with matrices (HTML) between them, in a line that wraps between
 * its operands when the panel is narrow.
 */
const BREAK = { break: true }; // a place a long equation may wrap

function eq(...parts) {
  const out = [];
  let run = [];
  const flush = () => {
    // An operator at either end of a run sits between two matrices: space it as one.
    for (const node of [run[0], run[run.length - 1]]) if (node?.tagName === 'mo') node.setAttribute('form', 'infix');
    if (run.length) out.push(math('inline', ...run));
    run = [];
  };
  for (const p of parts.flat()) {
    if (p === null || p === undefined) continue;
    if (p === BREAK) flush();
    else if (p instanceof HTMLElement) {
      flush();
      out.push(p);
    } else run.push(p);
  }
  flush();
  return h('span', { class: 'eq-line' }, ...out);
}
/** `(` ... `)` around pieces that may hold matrices (HTML): MathML parentheses around each run. */
const openP = () => mo('(', { stretchy: 'false' });
const closeP = () => mo(')', { stretchy: 'false' });
const note = (text) => h('p', { class: 'phase-note' }, text);
const row = (...c) => h('div', { class: 'phase-eq' }, ...c);

/** The bias as a column: one per neuron, or the shared one repeated (the article's single b). */
function biasColumn(b, n) {
  if (!b) return null;
  return b.length === 1 && n > 1 ? Array(n).fill(b[0]) : b;
}

function forwardBody(trace, phase, ctx) {
  const { L, config, weights, biases, sample } = ctx;
  const l = phase.layer;
  const names = activationNames(L);
  const prev = trace.forward[l - 1];
  const cur = trace.forward[l];
  const W = weights[l - 1];
  const nOut = cur.Z.length;
  const b = biasColumn(biases[l - 1], nOut);
  const shared = biases[l - 1]?.length === 1 && nOut > 1;
  const f = ACTIVATION_SYMBOL[actOf(l, L, config)] || 'f';
  const fn = () => (f === 'σ' ? mi('σ') : mi(f, { mathvariant: 'normal' }));
  const wName = weightName(l - 1, L);
  const bName = biasName(l - 1, L);
  const parts = [
    row(eq(sub('Z', l), mo('='), msup(symbol(wName), mi('T')), symbol(names[l - 1]), mo('+'), symbol(bName)), eq(symbol(names[l]), mo('='), fn(), paren(sub('Z', l)))),
    note(`Each column is one sample (${prev.A[0]?.length ?? 0} in this step's batch); ${shared ? `the one shared bias ${bName} is added to every neuron` : `the bias ${bName} adds one number per neuron`}.`),
    row(eq(sub('Z', l), mo('='), matrixNode(transpose(W)), mo('·'), matrixNode(prev.A), mo('+'), column(b))),
    row(eq(mo('='), matrixNode(cur.Z)), eq(symbol(names[l]), mo('='), fn(), paren(sub('Z', l)), mo('='), matrixNode(cur.A))),
  ];
  // One neuron worked out by hand for the chosen sample (a data sample, numbered as in the
  // data table and the diagram): its column in this step's batch, the weighted sum, then the
  // activation. With mini-batches the sample shown may not be in this batch: then its first.
  const batch = Array.isArray(trace.batch) ? trace.batch : null;
  const nCols = cur.Z[0]?.length || 1;
  const at = batch ? batch.indexOf(sample) : Math.min(sample, nCols - 1);
  const s = at >= 0 ? at : 0;
  const j = 0;
  const terms = [];
  const nIn = W.length;
  const show = shownIndices(nIn, 5);
  show.forEach((i, k) => {
    if (k) terms.push(mo('+'), BREAK);
    if (i === null) terms.push(mo('…'));
    else terms.push(mn(fmt(W[i][j], 3)), mo('·'), mn(fmt(prev.A[i][s], 3)));
  });
  terms.push(mo('+'), BREAK, mn(fmt(b[j], 3)), BREAK);
  const zName = mrow(sub('Z', l), mo('[', { stretchy: 'false' }), mn('0'), mo(']', { stretchy: 'false' }));
  const sampleNo = (batch?.[s] ?? s) + 1; // a mini-batch's column s is data sample batch[s]
  const mini = !!config?.batch_size && !!batch;
  parts.push(
    h(
      'h3',
      { class: 'phase-sub', 'data-testid': 'worked-sample', 'data-sample': String(sampleNo), 'data-column': String(s + 1) },
      mini ? `Neuron 0, sample ${sampleNo}, the ${ordinal(s + 1)} of this batch` : `Neuron 0, sample ${sampleNo}`,
    ),
  );
  if (at < 0) parts.push(note(`Sample ${sample + 1}, the one the diagram shows, is not in this step's mini-batch of ${batch.length}: this is the batch's first.`));
  parts.push(row(eq(zName, mo('='), ...terms, mo('='), mn(fmt(cur.Z[j][s], 4)))));
  parts.push(row(eq(symbol(`${names[l]}[0]`), mo('='), fn(), paren(mn(fmt(cur.Z[j][s], 4))), mo('='), mn(fmt(cur.A[j][s], 4)))));
  return parts;
}

function errorBody(trace, ctx) {
  const { L, config } = ctx;
  const loss = config?.loss || 'half_sse';
  const O = trace.forward[L].A;
  const Y = trace.error.Y;
  const diff = O.map((r, k) => r.map((o, n) => (o === null || Y[k][n] === null ? null : o - Y[k][n])));
  return [
    row(eq(...(LOSS_EQ[loss] || LOSS_EQ.half_sse)()), eq(mo('='), mn(fmt(trace.error.E, 6)))),
    row(eq(mi('O'), mo('='), matrixNode(O)), eq(mi('Y'), mo('='), matrixNode(Y))),
    row(eq(mi('O'), mo('−'), mi('Y'), mo('='), matrixNode(diff))),
    row(eq(...(DEDO[loss] || DEDO.half_sse)(), mo('='), matrixNode(trace.error.dE_dO))),
    note('∂E/∂O is where the backward pass starts: how much the error changes when each prediction moves.'),
  ];
}

function backwardBody(trace, phase, ctx) {
  const { L, config, weights } = ctx;
  const l = phase.layer;
  const names = activationNames(L);
  const back = trace.backward.find((b) => b.layer === l);
  const wName = weightName(l - 1, L);
  const bName = biasName(l - 1, L);
  const parts = [];
  if (l === L && config?.output_activation === 'softmax') {
    // Softmax's Jacobian times dCE/dO collapses: delta_L = (O - Y)/m (engine/chain.py's why).
    parts.push(row(eq(delta(l), mo('='), m('mfrac', {}, mrow(mi('O'), mo('−'), mi('Y')), mi('m')), mo('='), matrixNode(back.delta))));
    parts.push(note('Softmax couples the outputs (∂Oₖ/∂Zⱼ = Oₖ(δₖⱼ − Oⱼ)); times ∂E/∂Oₖ = −Yₖ/(Oₖ m) and summed over k, it leaves (Oⱼ − Yⱼ)/m, because a one-hot Y sums to 1.'));
  } else if (l === L) {
    // The article's own form for its loss: delta2 = (O - Y) * O(1 - O).
    const dEdO = (config?.loss || 'half_sse') === 'half_sse' ? paren(mi('O'), mo('−'), mi('Y')) : partial('E', 'O');
    parts.push(row(eq(delta(l), mo('='), dEdO, mo('⊙'), derivative(l, L, config))));
    parts.push(row(eq(delta(l), mo('='), matrixNode(trace.error.dE_dO), mo('⊙'), matrixNode(derivValues(trace, l, L, config)), mo('='), matrixNode(back.delta))));
  } else {
    const next = trace.backward.find((b) => b.layer === l + 1);
    const Wn = weights[l];
    parts.push(row(eq(delta(l), mo('='), paren(symbol(weightName(l, L)), delta(l + 1)), mo('⊙'), derivative(l, L, config))));
    parts.push(
      row(
        eq(
          delta(l),
          mo('='),
          openP(),
          matrixNode(Wn),
          mo('·'),
          matrixNode(next.delta),
          closeP(),
          mo('⊙'),
          matrixNode(derivValues(trace, l, L, config)),
          mo('='),
          matrixNode(back.delta),
        ),
      ),
    );
    parts.push(note(`The error signal δ${l + 1} flows back through the weights ${wNameText(l, L)} to layer ${l}, then through that layer's own activation.`));
  }
  const shared = back.db.length === 1 && back.delta.length > 1;
  parts.push(
    row(eq(partial('E', wName), mo('='), symbol(names[l - 1]), mo('·'), msup(delta(l), mi('T')), mo('='), matrixNode(trace.forward[l - 1].A), mo('·'), matrixNode(transpose(back.delta)), mo('='), matrixNode(back.dW))),
  );
  parts.push(
    row(
      eq(
        partial('E', bName),
        mo('='),
        shared ? mrow(m('munder', {}, mo('∑'), mrow(mi('n'), mo(','), mi('j'))), delta(l)) : mrow(m('munder', {}, mo('∑'), mi('n')), delta(l)),
        mo('='),
        shared ? mn(fmt(back.db[0], 4)) : column(back.db),
      ),
    ),
  );
  parts.push(note(shared ? `One shared bias: its gradient adds δ${l} over every sample and every neuron of the layer.` : `Each bias adds its neuron's δ${l} over the samples.`));
  return parts;
}

const wNameText = (l, L) => weightName(l, L);

/** f'(Z_l) as numbers, from the trace's activations (sigmoid, tanh) or pre-activations. */
export function derivValues(trace, l, L, config) {
  const act = actOf(l, L, config);
  const A = trace.forward[l].A;
  const Z = trace.forward[l].Z;
  const map = (M, fn) => M.map((r) => r.map((v) => (v === null ? null : fn(v))));
  if (act === 'sigmoid') return map(A, (a) => a * (1 - a));
  if (act === 'tanh') return map(A, (a) => 1 - a * a);
  if (act === 'relu') return map(Z, (z) => (z > 0 ? 1 : 0));
  if (act === 'leaky_relu') return map(Z, (z) => (z > 0 ? 1 : 0.01));
  return map(Z, () => 1);
}

function updateBody(trace, ctx) {
  const { L, config } = ctx;
  const opt = trace.optimizer || config?.optimizer || { name: 'sgd' };
  const alpha = opt.learning_rate;
  const parts = [];
  const newW = () => msup(mi('W'), mi('new', { mathvariant: 'italic' }));
  const oldW = () => msup(mi('W'), mi('old', { mathvariant: 'italic' }));
  const dEdW = () => partial('E', 'W');
  if (opt.name === 'momentum') {
    parts.push(row(eq(mi('v'), mo('←'), mi('μ'), mi('v'), mo('+'), dEdW()), eq(newW(), mo('='), oldW(), mo('−'), mi('α'), mi('v'))));
    parts.push(note(`Momentum μ = ${fmt(opt.momentum ?? 0.9)}: the step follows a running sum of past gradients, not just this one.`));
  } else if (opt.name === 'adam') {
    parts.push(row(eq(newW(), mo('='), oldW(), mo('−'), mi('α'), m('mfrac', {}, m('mover', {}, mi('m'), mo('^')), mrow(m('msqrt', {}, m('mover', {}, mi('v'), mo('^'))), mo('+'), mi('ε'))))));
    parts.push(note('Adam divides by the running size of each gradient, so at first every weight moves by about α, whatever its gradient.'));
  } else {
    parts.push(row(eq(newW(), mo('='), oldW(), mo('−'), mi('α'), dEdW())));
  }
  if (config?.l2) parts.push(note(`With L2 λ = ${fmt(config.l2)}, ∂E/∂W includes λW.`));
  if (config?.l1) parts.push(note(`With L1 λ₁ = ${fmt(config.l1)}, ∂E/∂W includes λ₁·sign(W) (0 where W = 0).`));
  const ups = trace.update.slice().sort((a, b) => b.layer - a.layer);
  for (const u of ups) {
    const l = u.layer;
    const wName = weightName(l - 1, L);
    const bName = biasName(l - 1, L);
    const back = trace.backward.find((b) => b.layer === l);
    const head = opt.name === 'sgd' || !opt.name
      ? [msup(symbol(wName), mi('new', { mathvariant: 'italic' })), mo('='), matrixNode(u.W_old), mo('−'), mn(fmt(alpha, 4)), mo('·'), matrixNode(back.dW), mo('='), matrixNode(u.W_new)]
      : [msup(symbol(wName), mi('new', { mathvariant: 'italic' })), mo('='), matrixNode(u.W_old), mo('+'), matrixNode(diff2(u.W_new, u.W_old)), mo('='), matrixNode(u.W_new)];
    parts.push(h('h3', { class: 'phase-sub' }, `Layer ${l}: ${wName}`));
    parts.push(row(eq(...head)));
    const bOld = u.b_old;
    const bNew = u.b_new;
    if (bOld && bNew) {
      const shared = bOld.length === 1 && back.delta.length > 1;
      const vec = (v, par = false) => (shared || v.length === 1 ? num(v[0], par) : column(v));
      const bNewName = msup(symbol(bName), mi('new', { mathvariant: 'italic' }));
      parts.push(
        row(
          opt.name === 'sgd' || !opt.name
            ? eq(bNewName, mo('='), vec(bOld), mo('−'), mn(fmt(alpha, 4)), mo('·'), vec(back.db, true), mo('='), vec(bNew))
            : eq(bNewName, mo('='), vec(bOld), mo('+'), vec(diff2([bNew], [bOld])[0], true), mo('='), vec(bNew)),
        ),
      );
      if (shared) parts.push(note(`${bName} is one number shared by the layer's ${back.delta.length} neurons.`));
    }
  }
  return parts;
}

const diff2 = (A, B) => A.map((r, i) => r.map((v, j) => (v === null || B[i][j] === null ? null : v - B[i][j])));

/** What the phase says in one sentence (above its equations). */
export function phaseSummary(phase, L) {
  const names = layerNames(L);
  if (phase.kind === 'forward') {
    const src = phase.layer === 1 ? 'the inputs X' : names[phase.layer - 1];
    return `Forward, left to right: ${src} through ${weightName(phase.layer - 1, L)} into layer ${phase.layer} (${names[phase.layer]}).`;
  }
  if (phase.kind === 'error') return 'The error: how far the predictions O are from the targets Y.';
  if (phase.kind === 'backward') {
    return phase.layer === L
      ? `Backward, right to left: the output layer's error signal δ${phase.layer}, then the gradient of ${weightName(phase.layer - 1, L)}.`
      : `Backward: δ${phase.layer + 1} goes back through ${weightName(phase.layer, L)} to give δ${phase.layer}, then the gradient of ${weightName(phase.layer - 1, L)}.`;
  }
  return 'The update: every weight and bias moves against its gradient. This step is now applied.';
}

/**
 * Render one phase of `trace` into `root`. ctx: {L, config, weights, biases, sample, maxCols}
 * where weights/biases are the frame's own (the trace's forward pass uses them), sample a data
 * sample (0-based) and maxCols the columns a matrix shows (default 6).
 */
export function renderPhase(root, trace, phase, ctx) {
  shownCols = Math.max(3, Math.min(MAX_C, ctx.maxCols || MAX_C));
  let body;
  if (phase.kind === 'forward') body = forwardBody(trace, phase, ctx);
  else if (phase.kind === 'error') body = errorBody(trace, ctx);
  else if (phase.kind === 'backward') body = backwardBody(trace, phase, ctx);
  else body = updateBody(trace, ctx);
  root.replaceChildren(h('p', { class: 'phase-summary', 'data-testid': 'phase-summary' }, phaseSummary(phase, ctx.L)), ...body);
}
