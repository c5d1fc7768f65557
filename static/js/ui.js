// Small DOM helpers: element builder (text only, never HTML strings), tooltip, toasts.

/** Create an HTML element: h('div', {class: 'x', dataset: {a: 1}}, 'text', child). */
export function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, '');
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return e;
}

/** A floating tooltip: show(x, y, {title, sub, rows:[[label, value]]}) / hide(). */
export function createTooltip(root) {
  const box = h('div', { class: 'tooltip', role: 'tooltip', 'data-testid': 'tooltip' });
  box.hidden = true;
  root.append(box);
  return {
    show(x, y, { title, sub, rows = [] }) {
      box.replaceChildren(
        h('div', { class: 'tt-title' }, title || ''),
        sub ? h('div', { class: 'tt-sub' }, sub) : null,
        ...rows.map(([k, v]) => h('div', { class: 'tt-row' }, h('span', {}, k), h('b', {}, v))),
      );
      box.hidden = false;
      const pad = 14;
      const w = box.offsetWidth;
      const ht = box.offsetHeight;
      let left = x + pad;
      let top = y + pad;
      if (left + w > window.innerWidth - 8) left = x - w - pad;
      if (top + ht > window.innerHeight - 8) top = y - ht - pad;
      box.style.left = `${Math.max(4, left)}px`;
      box.style.top = `${Math.max(4, top)}px`;
    },
    hide() {
      box.hidden = true;
    },
  };
}

/** Toast messages in an aria-live region. kind: info | error. */
export function createToasts(region) {
  return {
    show(message, kind = 'info', ms = 5000) {
      const t = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status', 'data-testid': `toast-${kind}` }, message);
      const close = h('button', { class: 'toast-close', type: 'button', 'aria-label': 'Dismiss' }, '×');
      close.addEventListener('click', () => t.remove());
      t.append(close);
      region.append(t);
      if (ms) setTimeout(() => t.remove(), ms);
      return t;
    },
  };
}

/** True when the user asked the system for less motion. */
export const reducedMotion = () => window.matchMedia?.('(prefers-reduced-motion: reduce)').matches ?? false;

/** Size `canvas` to `size` ({l, t, w, h}, CSS pixels) at the screen's pixel ratio; its cleared 2D context. */
export function fitCanvas(canvas, size) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(size.w * dpr));
  const h = Math.max(1, Math.round(size.h * dpr));
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  Object.assign(canvas.style, { left: `${size.l}px`, top: `${size.t}px`, width: `${size.w}px`, height: `${size.h}px`, display: '' });
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, size.w, size.h);
  return ctx;
}

/**
 * Change a text only when it differs, in place in its text node: assigning textContent removes
 * the node and inserts a new one (a style and layout invalidation each), 30-60 times a second
 * while playing.
 */
export function setText(el, text) {
  const t = el.firstChild;
  if (t && t.nodeType === 3 && !t.nextSibling) {
    if (t.data !== text) t.data = text;
  } else if (el.textContent !== text) el.textContent = text;
}

/**
 * setText for a box `chars` wide (CSS: `width: <chars>ch`, size containment, laid out alone):
 * a longer text widens the box to fit, once per extra character (a step count past 99999).
 */
export function setFixedText(el, text, chars) {
  setText(el, text);
  if (text.length > (el.fitChars || chars)) {
    el.fitChars = text.length;
    el.style.width = `${text.length}ch`;
  }
}

/**
 * Whether the run shown plays: this screen asked it to (`body.is-playing`, transport.js) or the
 * server's frames say so (`body[data-server-playing]`, live.js: a room's participants follow).
 */
export function runPlaying() {
  const b = document.body;
  return b.classList.contains('is-playing') || b.dataset.serverPlaying === 'true';
}

/**
 * While a run plays (runPlaying), `el` keeps the height it last had at rest with strict
 * containment (app.css `.lay-alone.sized`): a number changing inside it lays out that box, not
 * the page (7 ms at 4x CPU slowdown for the chain or data panel's table, several times a
 * second). The height is read from a ResizeObserver (no forced layout); `resizeAlone(el)` lets
 * a rebuilt box find its new height.
 */
export function layAlone(el) {
  el.classList.add('lay-alone');
  let width = -1;
  const ro = new ResizeObserver((entries) => {
    const e = entries[entries.length - 1];
    const box = e.borderBoxSize?.[0];
    if (!box || !(box.blockSize > 0)) return;
    if (box.inlineSize !== width && el.classList.contains('sized') && width >= 0) {
      // Another width (a resize while playing) may wrap its content: measured again, free.
      width = box.inlineSize;
      resizeAlone(el); // the next report: its natural height at this width
      return;
    }
    width = box.inlineSize;
    el.style.setProperty('--laid-h', `${box.blockSize}px`);
    if (!el.classList.contains('sized')) el.classList.add('sized');
  });
  ro.observe(el);
  el.layAloneObserver = ro;
}

/** A box laid out alone whose content changed shape: its natural height again, then kept. */
export function resizeAlone(el) {
  if (el.classList.contains('sized')) el.classList.remove('sized');
  const ro = el.layAloneObserver;
  if (ro) {
    ro.unobserve(el); // observed again: a report even if the new height is the old one
    ro.observe(el);
  }
}

/** Set a boolean property (hidden, disabled) only when it changes: each write invalidates style. */
export function setFlag(el, name, on) {
  if (el[name] !== on) el[name] = on;
}

/** Set an attribute only when it changes. */
export function setAttr(el, name, value) {
  if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

const KEEP = new Set(['tabindex']); // set on the page's own elements (a11y.js), not by builders

/**
 * Make `old` look like `neu`, a freshly built tree of the same shape: texts and attributes
 * change in place; a subtree whose shape differs is replaced by the new one. The elements kept
 * keep their focus, scroll position and the browser's computed style (a panel rebuilt with
 * every frame was a style and layout pass over all of it).
 */
export function morph(old, neu) {
  if (old.nodeType !== neu.nodeType || old.nodeName !== neu.nodeName) {
    old.replaceWith(neu);
    return;
  }
  if (old.nodeType !== 1) {
    if (old.nodeValue !== neu.nodeValue) old.nodeValue = neu.nodeValue;
    return;
  }
  for (const a of neu.attributes) if (old.getAttribute(a.name) !== a.value) old.setAttribute(a.name, a.value);
  for (const a of [...old.attributes]) if (!neu.hasAttribute(a.name) && !KEEP.has(a.name)) old.removeAttribute(a.name);
  const kids = [...neu.childNodes];
  if (old.childNodes.length !== kids.length) {
    old.replaceChildren(...kids);
    return;
  }
  const was = [...old.childNodes];
  for (let k = 0; k < kids.length; k++) morph(was[k], kids[k]);
}
