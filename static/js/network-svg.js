// SVG writing helpers for the diagram: make an element, subscript digits, set a style only
// when it changes, shorten a name.

const SVG = 'http://www.w3.org/2000/svg';

/** An SVG element with these attributes, appended to `parent` when given. */
export function el(tag, attrs = {}, parent = null) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.append(e);
  return e;
}

/** Write `h1 = σ(Z1)` into an SVG text with the digits as subscripts. */
export function subscripted(textEl, str) {
  const re = /([A-Za-z])(\d+)/g;
  let at = 0;
  let mt;
  while ((mt = re.exec(str))) {
    textEl.append(str.slice(at, mt.index) + mt[1]);
    el('tspan', { 'baseline-shift': 'sub', 'font-size': '75%' }, textEl).textContent = mt[2];
    at = mt.index + mt[0].length;
  }
  textEl.append(str.slice(at));
}

/** Set a style property only when it changes (remembered on the element, not read back). */
export function setStyle(node, prop, value) {
  const seen = node.looks || (node.looks = {});
  if (seen[prop] !== value) {
    seen[prop] = value;
    node.style[prop] = value;
  }
}

export function truncate(s, n) {
  s = String(s);
  return s.length > n ? s.slice(0, n - 1) + '…' : s;
}
