// MathML builders and a small parser for the engine's plain-text formulas
// ("O - Y", "h1[2](1 - h1[2])", "dE/dW_ho[2,0]", "sum_k W_h1h2[j,k] * delta3[k]").
// Everything is built with createElementNS + textContent: no HTML strings, safe for any text.

export const MATHML_NS = 'http://www.w3.org/1998/Math/MathML';

/** Create a MathML element with children (nodes or strings become text). */
export function m(tag, attrs = {}, ...children) {
  const el = document.createElementNS(MATHML_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return el;
}

export const mi = (t, attrs = {}) => m('mi', attrs, t);
export const mn = (t) => m('mn', {}, t);
export const mo = (t, attrs = {}) => m('mo', attrs, t);
export const mtext = (t) => m('mtext', {}, t);
export const mrow = (...c) => m('mrow', {}, ...c);
export const msub = (a, b) => m('msub', {}, a, b);
export const msup = (a, b) => m('msup', {}, a, b);
export const mfrac = (a, b) => m('mfrac', {}, a, b);
export const space = (w = '0.3em') => m('mspace', { width: w });

/** A <math> element; display='block' centres it on its own line. It carries its formula as
 * plain text (alttext and aria-label), so headings and screen readers keep it. */
export function math(display, ...children) {
  const el = m('math', display === 'block' ? { display: 'block' } : {}, mrow(...children));
  const text = linearText(el);
  el.setAttribute('alttext', text);
  el.setAttribute('aria-label', text);
  return el;
}

/** A MathML tree as one line of text: ∂E/∂W_ho[2,0] = (O − Y) · O(1 − O). */
export function linearText(node) {
  if (node.nodeType === 3) return node.textContent.trim();
  if (node.nodeType !== 1) return '';
  if (node.hasAttribute('data-cases')) {
    // {1 if Z2[0] > 0; 0 otherwise}: the rows of the cases, each its value then its condition.
    const rows = [...node.querySelectorAll('mtr')].map((tr) => [...tr.children].map(linearText).join(' '));
    return `{${rows.join('; ')}}`;
  }
  const kids = [...node.childNodes].filter((c) => c.nodeType === 1 || c.textContent.trim());
  const part = (c) => linearText(c);
  const group = (c) => {
    const t = part(c);
    return /^[\w.∂α-ωΑ-Ω′[\],]+$/u.test(t) ? t : `(${t})`;
  };
  switch (node.localName) {
    case 'mfrac':
      return `${group(kids[0])}/${group(kids[1])}`;
    case 'msub':
    case 'munder':
      return `${part(kids[0])}_${part(kids[1])}`;
    case 'msup':
      return `${part(kids[0])}^${group(kids[1])}`;
    case 'mspace':
      return ' ';
    case 'mo': {
      const t = node.textContent.trim();
      return /^[(\[\],)∂]$/.test(t) ? t : ` ${t} `;
    }
    default:
      // Adjacent symbols (W_ho δ_2, a product) keep a space between them.
      return kids
        .map(part)
        .reduce((acc, t) => (/[\w\]′]$/u.test(acc) && /^\p{L}/u.test(t) ? `${acc} ${t}` : acc + t), '')
        .replace(/\s+/g, ' ')
        .replace(/\( /g, '(')
        .replace(/ \)/g, ')')
        .trim();
  }
}

const WORDS = new Set(['if', 'else', 'log', 'exp', 'max', 'min', 'tanh', 'sigmoid', 'mean', 'relu']);
const GREEK = { alpha: 'α', delta: 'δ', sigma: 'σ', lambda: 'λ', eta: 'η', beta: 'β' };

/** One identifier like `W_ho`, `h1`, `Z2`, `delta3`, `X`, `alpha` as MathML. */
export function identifier(name) {
  if (WORDS.has(name)) return mi(name, { mathvariant: 'normal' });
  const sub = name.match(/^([A-Za-z]+?)_([A-Za-z0-9]+)$/);
  if (sub) return msub(identifier(sub[1]), subscript(sub[2]));
  const digits = name.match(/^([A-Za-z]+?)([0-9]+)$/);
  if (digits && (digits[1].length === 1 || GREEK[digits[1]])) {
    return msub(identifier(digits[1]), mn(digits[2]));
  }
  if (GREEK[name]) return mi(GREEK[name]);
  if (name.length > 1 && !/^[A-Z]/.test(name)) return mi(name, { mathvariant: 'italic' });
  return mi(name);
}

function subscript(s) {
  // `ho`, `ih`, `h1h2`: keep as one italic run so it reads like the article.
  return /^[0-9]+$/.test(s) ? mn(s) : mi(s, { mathvariant: 'italic' });
}

/** `W_ih[2,3]` as W_ih followed by the bracketed index. */
export function symbol(text) {
  const mt = String(text).match(/^([A-Za-z][A-Za-z0-9_]*)(?:\[([^\]]*)\])?$/);
  if (!mt) return mtext(String(text));
  const base = identifier(mt[1]);
  if (mt[2] === undefined) return base;
  return mrow(base, indexRow(mt[2]));
}

function indexRow(inner) {
  const parts = inner.split(',').map((s) => s.trim());
  const kids = [mo('[', { stretchy: 'false' })];
  parts.forEach((p, k) => {
    if (k) kids.push(mo(',', { separator: 'true' }));
    kids.push(/^[0-9]+$/.test(p) ? mn(p) : mi(p));
  });
  kids.push(mo(']', { stretchy: 'false' }));
  return mrow(...kids);
}

/** ∂a/∂b as a fraction. */
export function partial(a, b) {
  return mfrac(mrow(mo('∂'), typeof a === 'string' ? symbol(a) : a), mrow(mo('∂'), typeof b === 'string' ? symbol(b) : b));
}

const SYM = '[A-Za-z][A-Za-z0-9_]*(?:\\[[^\\]]*\\])?';
const RE_DERIV = new RegExp(`^d(${SYM})/d(${SYM})`);
const RE_SUM = /^sum(?:_([A-Za-z]))?\b/;
const RE_ID = new RegExp(`^${SYM}`);
const RE_NUM = /^[0-9]+(?:\.[0-9]+)?(?:e-?[0-9]+)?/;
const RE_POW = /^\^(-?[A-Za-z0-9]+)/;
const OPS = { '*': '·', '-': '−', '+': '+', '=': '=', '/': '/', '(': '(', ')': ')', ',': ',', '>': '>', '<': '<', '[': '[', ']': ']' };

/**
 * A piecewise value as cases: a brace, then one row per piece (its value, then "if" and its
 * condition, or "otherwise"). rows: [[valueNodes, conditionNodes or null], ...].
 */
export function cases(rows) {
  const cell = (...c) => m('mtd', { class: 'case-cell' }, mrow(...c));
  const table = m(
    'mtable',
    { class: 'cases' },
    rows.map(([value, cond]) => m('mtr', {}, cell(...value), cond ? cell(mtext('if'), space('0.4em'), ...cond) : cell(mtext('otherwise')))),
  );
  return m('mrow', { 'data-cases': '' }, mo('{', { stretchy: 'true', form: 'prefix' }), table);
}

const RE_CASES = /^(.+?)\s+if\s+(.+?)\s+else\s+(.+)$/;

/** Parse one of the engine's plain-text formulas into a list of MathML nodes. */
export function formulaNodes(text) {
  // "1 if Z2[0] > 0 else 0.01" (ReLU's, leaky ReLU's derivative): typeset as cases.
  const piecewise = RE_CASES.exec(String(text).trim());
  if (piecewise) return [cases([[formulaNodes(piecewise[1]), formulaNodes(piecewise[2])], [formulaNodes(piecewise[3]), null]])];
  const out = [];
  let s = String(text);
  while (s.length) {
    let mt;
    if (/^\s/.test(s)) {
      s = s.replace(/^\s+/, '');
      continue;
    }
    if ((mt = s.match(RE_DERIV))) {
      out.push(partial(mt[1], mt[2]));
    } else if ((mt = s.match(RE_SUM))) {
      out.push(mt[1] ? m('munder', {}, mo('∑'), mi(mt[1])) : mo('∑'));
    } else if ((mt = s.match(RE_POW))) {
      const prev = out.pop() || mrow();
      const e = mt[1];
      const exp = e.startsWith('-') ? mrow(mo('−'), atom(e.slice(1))) : atom(e);
      out.push(msup(prev, exp));
    } else if ((mt = s.match(/^([0-9]+)\/([0-9]+)(?![0-9.(])/))) {
      out.push(mfrac(mn(mt[1]), mn(mt[2])));
    } else if ((mt = s.match(RE_NUM))) {
      out.push(mn(mt[0]));
    } else if ((mt = s.match(RE_ID))) {
      out.push(symbol(mt[0]));
    } else if (s[0] === '.' && (out.length === 0 || /^\s/.test(s.slice(1)))) {
      mt = ['.'];
      out.push(mo('·'));
    } else {
      mt = [s[0]];
      out.push(mo(OPS[s[0]] ?? s[0], s[0] === '(' || s[0] === ')' ? { stretchy: 'false' } : {}));
    }
    s = s.slice(mt[0].length);
  }
  return out;
}

function atom(t) {
  if (/^[0-9]+$/.test(t)) return mn(t);
  return identifier(t);
}

/**
 * A long equation as a line that wraps: each run (a list of nodes) its own inline <math>,
 * side by side, wrapping between runs where the panel is narrow (MathML never breaks a line).
 * An operator at either end of a run sits between two runs: it is spaced as one.
 */
export function mathLine(runs, attrs = {}) {
  const line = document.createElement('div');
  line.className = 'math-line';
  for (const [k, v] of Object.entries(attrs)) line.setAttribute(k, v);
  for (const run of runs) {
    const kids = run.filter(Boolean);
    if (!kids.length) continue;
    for (const node of [kids[0], kids[kids.length - 1]]) if (node.localName === 'mo') node.setAttribute('form', 'infix');
    const piece = math('inline', ...kids);
    piece.setAttribute('displaystyle', 'true'); // fractions and sums as large as a block's
    line.append(piece);
  }
  return line;
}

/** A formula string as a <math> element. */
export function formula(text, display = 'inline') {
  return math(display, ...formulaNodes(text));
}

/** Format a number for the equations: 4 significant digits, exponent when tiny or huge. */
export function fmt(x, digits = 4) {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '−∞';
  if (x === 0) return '0';
  const a = Math.abs(x);
  let s;
  if (a >= 1e5 || a < 1e-4) {
    s = x.toExponential(digits - 1).replace(/\.?0+e/, 'e').replace('e+', 'e');
  } else {
    s = Number(x.toPrecision(digits)).toString();
  }
  return s.replace(/^-/, '−').replace('e-', 'e−');
}

/** A number as <mn>, wrapped in parentheses when negative and `paren` is set. */
export function num(x, paren = false, digits = 4) {
  const t = fmt(x, digits);
  if (paren && x < 0) return mrow(mo('(', { stretchy: 'false' }), mn(t), mo(')', { stretchy: 'false' }));
  return mn(t);
}
