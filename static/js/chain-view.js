// The chain rule for one weight or bias, in the article's notation (MathML), with the live
// numbers from GET /api/sessions/{id}/chain: factors per sample, products, sum = gradient,
// and the update W_new = W_old - alpha * dE/dW.

import { FACTS } from './facts.js';
import { fmt, formulaNodes, m, math, mathLine, mi, mo, mrow, msub, msup, num, partial, symbol } from './mathml.js';
import { h, morph, resizeAlone, setText } from './ui.js';
import { keyboardScrollable, labelScrollable } from './a11y.js';

// The shape each panel shows (names, formulas, rows): a frame of the same shape only changes
// numbers, which are updated in place (ui.js morph) instead of rebuilding the panel.
const shapes = new WeakMap();

const MAX_ROWS = 8;

const LOSS_TEXT = FACTS.loss_formulas; // from the server: the formulas the code computes

/** The error's formula for a loss name. */
export function lossFormula(loss) {
  return LOSS_TEXT[loss] || LOSS_TEXT.half_sse || '';
}

/** Split "dE/dO" into ["E", "O"] (null when the name is not a derivative). */
export function splitDerivative(name) {
  const mt = String(name).match(/^d(.+?)\/d(.+)$/);
  return mt ? [mt[1], mt[2]] : null;
}

function factorHead(f) {
  const d = splitDerivative(f.name);
  return d ? math('inline', partial(d[0], d[1])) : math('inline', symbol(f.name));
}

/**
 * ∂E/∂W = Σ_n f1 · f2 · ... : the symbolic chain, then the same with the formulas, each a
 * line that wraps between its factors when the panel is narrow (mathml.js mathLine).
 */
export function chainEquations(chain) {
  const syms = [[partial('E', chain.name), mo('=')]];
  const forms = [[mo('=')]];
  chain.factors.forEach((f, k) => {
    const d = splitDerivative(f.name);
    const last = k === chain.factors.length - 1;
    const nodes = formulaNodes(f.formula);
    const needParen = chain.factors.length > 1 && hasTopLevelSum(f.formula);
    const form = needParen ? mrow(mo('(', { stretchy: 'false' }), ...nodes, mo(')', { stretchy: 'false' })) : mrow(...nodes);
    const sum = k === 0 ? m('munder', {}, mo('∑'), mi('n')) : null;
    syms.push([sum, d ? partial(d[0], d[1]) : symbol(f.name), last ? null : mo('·')]);
    forms.push([k === 0 ? m('munder', {}, mo('∑'), mi('n')) : null, form, last ? null : mo('·')]);
  });
  return [mathLine(syms), mathLine(forms)];
}

/** True when a formula has a + or - outside parentheses (it needs brackets in a product). */
export function hasTopLevelSum(text) {
  let depth = 0;
  for (const c of String(text)) {
    if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') depth--;
    else if (depth === 0 && (c === '+' || c === '-')) return true;
  }
  return false;
}

/** The update line: W ← W − α ∂E/∂W, then with numbers (each a line that wraps). */
export function updateEquations(chain, optimizer) {
  const u = chain.update;
  const newW = () => msup(symbol(chain.name), mi('new', { mathvariant: 'italic' }));
  const oldW = () => msup(symbol(chain.name), mi('old', { mathvariant: 'italic' }));
  if (optimizer && optimizer !== 'sgd') {
    // Momentum and Adam: the optimizer's own step (from the server), not -alpha * gradient.
    const step = u.new === null || u.old === null ? null : u.new - u.old;
    const symO = mathLine([[newW(), mo('=')], [oldW(), mo('+')], [msub(mi('Δ'), mi(optimizer, { mathvariant: 'normal' }))]]);
    const numbersO = mathLine([[num(u.new), mo('=')], [num(u.old), mo('+')], [num(step, true)]]);
    return [symO, numbersO];
  }
  const sym = mathLine([[newW(), mo('=')], [oldW(), mo('−')], [mi('α'), partial('E', chain.name)]]);
  const numbers = mathLine([[num(u.new), mo('=')], [num(u.old), mo('−')], [num(u.learning_rate), mo('×'), num(chain.gradient, true)]]);
  return [sym, numbers];
}

/**
 * A chain of the shape already shown: only its numbers are written (table cells, sums, the
 * gradient and the update lines). Building the whole panel again to morph it was 12-15 ms a
 * frame at 4x CPU slowdown while playing; the symbolic equations never change with a step.
 * False when the panel is not as expected (then it is rebuilt).
 */
function renderNumbers(root, chain, optimizer) {
  const value = root.querySelector('.chain-value');
  const body = root.querySelector('[data-testid=chain-table] tbody');
  const sum = root.querySelector('[data-testid=chain-sum]');
  const grad = root.querySelector('[data-testid=chain-gradient] math');
  const upd = root.querySelectorAll('[data-testid=chain-update] .math-line');
  const l2 = root.querySelector('[data-testid=chain-l2]');
  const l1 = root.querySelector('[data-testid=chain-l1]');
  if (!value || !body || !sum || !grad || upd.length !== 2 || !!l2 !== !!chain.l2_term || !!l1 !== !!chain.l1_term) return false;
  const shown = Math.min(chain.products.length, MAX_ROWS);
  const rows = body.rows;
  if (rows.length < shown) return false;
  setText(value, `= ${fmt(chain.value)}`);
  const at = root.querySelector('[data-testid=chain-step]');
  if (at) {
    setText(at, stepLabel(chain));
    at.dataset.step = String(chain.step);
  }
  for (let s = 0; s < shown; s++) {
    const cells = rows[s].cells;
    chain.factors.forEach((f, k) => setText(cells[k + 1], fmt(f.values[s])));
    setText(cells[chain.factors.length + 1], fmt(chain.products[s]));
  }
  setText(sum, fmt(chain.sum));
  if (l2) setText(l2, fmt(chain.l2_term));
  if (l1) setText(l1, fmt(chain.l1_term));
  morph(grad, math('block', partial('E', chain.name), mo('='), num(chain.gradient)));
  morph(upd[1], updateEquations(chain, optimizer)[1]);
  return true;
}

/** "step 12": the step a chain answer describes. */
function stepLabel(chain) {
  return `step ${chain.step}`;
}

/** Render a chain breakdown into `root` (replaces its content). */
export function renderChain(root, chain, { optimizer = 'sgd', sampleOffset = 0, lossName } = {}) {
  const n = chain.products.length;
  const shown = Math.min(n, MAX_ROWS);
  const shape = JSON.stringify([chain.name, chain.factors.map((f) => [f.name, f.formula]), n, shown, optimizer, lossName, !!chain.l2_term, !!chain.l1_term, chain.why || '', sampleOffset]);
  if (shapes.get(root) === shape && renderNumbers(root, chain, optimizer)) return;
  const [symEq, formEq] = chainEquations(chain);
  const table = h('table', { class: 'chain-table', 'data-testid': 'chain-table' });
  table.style.setProperty('--cols', String(chain.factors.length + 1)); // narrow panels size the font by it
  const head = h('tr', {}, h('th', { scope: 'col' }, 'n'));
  chain.factors.forEach((f) => head.append(h('th', { scope: 'col', title: f.formula }, factorHead(f))));
  head.append(h('th', { scope: 'col', class: 'prod' }, 'product'));
  table.append(h('thead', {}, head));
  const body = h('tbody');
  for (let s = 0; s < shown; s++) {
    const tr = h('tr', {}, h('td', { class: 'idx' }, String(s + 1 + sampleOffset)));
    chain.factors.forEach((f) => tr.append(h('td', {}, fmt(f.values[s]))));
    tr.append(h('td', { class: 'prod' }, fmt(chain.products[s])));
    body.append(tr);
  }
  if (n > shown) {
    body.append(h('tr', { class: 'more' }, h('td', { colspan: String(chain.factors.length + 2) }, `… ${n - shown} more samples (all are summed)`)));
  }
  table.append(body);
  const foot = h('tfoot');
  foot.append(
    h('tr', {}, h('th', { scope: 'row', colspan: String(chain.factors.length + 1) }, `Σ over ${n} sample${n === 1 ? '' : 's'}`), h('td', { class: 'prod', 'data-testid': 'chain-sum' }, fmt(chain.sum))),
  );
  if (chain.l2_term) {
    foot.append(h('tr', {}, h('th', { scope: 'row', colspan: String(chain.factors.length + 1) }, '+ L2 term λ·w'), h('td', { class: 'prod', 'data-testid': 'chain-l2' }, fmt(chain.l2_term))));
  }
  if (chain.l1_term) {
    // L1's subgradient: l1 * sign(w), so the same size for every nonzero weight.
    foot.append(h('tr', {}, h('th', { scope: 'row', colspan: String(chain.factors.length + 1) }, '+ L1 term λ₁·sign(w)'), h('td', { class: 'prod', 'data-testid': 'chain-l1' }, fmt(chain.l1_term))));
  }
  table.append(foot);
  // Softmax with cross-entropy: why the first factor is O - Y (the server's own sentence).
  const why = chain.why ? h('p', { class: 'chain-why hint', 'data-testid': 'chain-why' }, chain.why) : null;

  const gradEq = math('block', partial('E', chain.name), mo('='), num(chain.gradient));
  const [uSym, uNum] = updateEquations(chain, optimizer);
  const note =
    lossName === 'mse' || lossName === 'bce' || lossName === 'ce'
      ? h('p', { class: 'note' }, 'The 1/n of the mean is already inside ∂E/∂O, so the plain sum is the gradient.')
      : null;
  const parts = [
    h(
      'div',
      { class: 'chain-head' },
      h('span', { class: 'chain-name', 'data-testid': 'chain-name' }, chain.name),
      h('span', { class: 'chain-value' }, `= ${fmt(chain.value)}`),
      // The step these numbers belong to: while a run plays, the slope's note under this panel
      // and the panel are refreshed together, each labelled with its step.
      chain.step === undefined ? null : h('span', { class: 'chain-step', 'data-testid': 'chain-step', 'data-step': String(chain.step) }, stepLabel(chain)),
    ),
    h('div', { class: 'eq' }, symEq, formEq),
    h('div', { class: 'table-wrap' }, table),
    why,
    note,
    h('div', { class: 'eq result', 'data-testid': 'chain-gradient' }, gradEq),
    h('h4', {}, optimizer && optimizer !== 'sgd' ? `Update (${optimizer})` : 'Update (gradient descent)'),
    optimizer && optimizer !== 'sgd'
      ? h('p', { class: 'note' }, `${optimizer === 'adam' ? 'Adam' : 'Momentum'} reshapes −α ∂E/∂W with its running averages: this is the step it will really take.`)
      : null,
    h('div', { class: 'eq', 'data-testid': 'chain-update' }, uSym, uNum),
  ];
  const kept = parts.filter(Boolean);
  if (shapes.get(root) === shape && root.childNodes.length === kept.length) {
    const now = forKeyboardAndScreenReader(kept, chain.name, labelScrollable);
    const was = [...root.childNodes];
    now.forEach((el, k) => morph(was[k], el));
    return;
  }
  shapes.set(root, shape);
  resizeAlone(root); // its height at rest may change (ui.js layAlone)
  // A new shape rebuilds the panel: a focused scroll box keeps its focus and scroll.
  const boxes = [...root.querySelectorAll('.kbd-scroll')];
  const k = boxes.indexOf(document.activeElement);
  const scroll = k >= 0 ? boxes[k].scrollLeft : 0;
  root.replaceChildren(...forKeyboardAndScreenReader(kept, chain.name, keyboardScrollable));
  if (k >= 0) {
    const box = root.querySelectorAll('.kbd-scroll')[k];
    if (box) {
      box.tabIndex = 0;
      box.scrollLeft = scroll;
      box.focus({ preventScroll: true });
    }
  }
}

/**
 * The panel's parts for a keyboard and a screen reader: the wide boxes (equations, the factor
 * table) become labelled groups a keyboard can scroll; the "Update" sub-heading an h3 under
 * the panel's h2 (axe: heading order).
 */
function forKeyboardAndScreenReader(parts, name, scrollable) {
  let eqs = 0;
  return parts.map((el) => {
    if (el.tagName === 'H4') return h('h3', { class: 'sub-head' }, ...el.childNodes);
    if (el.classList.contains('table-wrap')) return scrollable(el, 'Factors per sample');
    if (!el.classList.contains('eq')) return el;
    if (el.classList.contains('result')) return scrollable(el, 'Gradient');
    eqs += 1;
    return scrollable(el, eqs === 1 ? `Chain rule for ${name}` : 'Update');
  });
}

/** A short line when nothing is selected yet or the fetch failed. */
export function renderChainMessage(root, text) {
  shapes.delete(root);
  resizeAlone(root);
  root.replaceChildren(h('p', { class: 'muted' }, text));
}
