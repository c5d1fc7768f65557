// What is under the pointer on the diagram (an edge, a node, an input; SVG targets or the
// canvas's segments), its tooltip, hover and click-to-select.

import { biasName, forward, neuronName, paramName } from './nn.js';
import { fmt } from './mathml.js';
import { edgeAt, paintCanvas } from './network-canvas.js';
import { setStyle } from './network-svg.js';

/** The tooltip's "next update" row: the optimizer's real step when known. */
function nextUpdateRow(last, g, lr, real) {
  const opt = last.opts.optimizer || 'sgd';
  if (real !== undefined && real !== null) return [opt === 'sgd' ? 'next update −α·∂E/∂w' : `next update (${opt})`, fmt(real)];
  if (opt !== 'sgd') return [`next update (${opt})`, '…'];
  return ['next update −α·∂E/∂w', g === null || g === undefined ? '—' : fmt(-lr * g)];
}

/** A weight's or a neuron's (bias's) tooltip: {title, sub, rows}, or null before a frame. */
function describe(N, target) {
  const { last, sizes } = N;
  if (!last) return null;
  const { frame } = last;
  const L = frame.weights.length;
  const lr = frame.learning_rate ?? 0;
  if (target.kind === 'weight') {
    const { layer: l, i, j } = target;
    const w = frame.weights[l]?.[i]?.[j];
    const g = frame.gradients.weights[l]?.[i]?.[j];
    return {
      title: paramName(target, L),
      sub: `${neuronName(l, i, sizes)} → ${neuronName(l + 1, j, sizes)}`,
      rows: [
        ['value', fmt(w)],
        ['gradient ∂E/∂w', fmt(g)],
        nextUpdateRow(last, g, lr, last.opts.real?.weights?.[l]?.[i]?.[j]),
      ],
    };
  }
  const { layer: l, j } = target;
  const b = frame.biases[l];
  const gb = frame.gradients.biases[l];
  const shared = b && b.length === 1 && sizes[l + 1] > 1;
  const acts = last.data?.x?.length
    ? forward(frame.weights, frame.biases, last.data.x[Math.min(last.opts.sample || 0, last.data.x.length - 1)], last.data.activation, last.data.output_activation)
    : null;
  const rows = [];
  if (acts) {
    rows.push([`${neuronName(l + 1, j, sizes)} (sample ${(last.opts.sample || 0) + 1})`, fmt(acts.a[l + 1][j])]);
    rows.push([`Z${l + 1}${sizes[l + 1] > 1 ? `[${j}]` : ''}`, fmt(acts.z[l + 1][j])]);
  }
  rows.push([`bias ${shared ? biasName(l, L) : `${biasName(l, L)}[${j}]`}`, fmt(shared ? b[0] : b?.[j])]);
  rows.push(['bias gradient', fmt(shared ? gb[0] : gb?.[j])]);
  const rb = last.opts.real?.biases?.[l];
  rows.push(nextUpdateRow(last, shared ? gb[0] : gb?.[j], lr, rb ? (shared ? rb[0] : rb[j]) : undefined));
  return { title: neuronName(l + 1, j, sizes), sub: 'click for the bias chain rule', rows };
}

/** The SVG element under the pointer as a target: an edge's hit line, a node, or null. */
function targetOf(evTarget) {
  const hit = evTarget.closest?.('.edge-hit');
  if (hit) return { kind: 'weight', layer: Number(hit.dataset.l), i: Number(hit.dataset.i), j: Number(hit.dataset.j) };
  const node = evTarget.closest?.('.node');
  if (node) {
    const l = Number(node.dataset.nodeL);
    const k = Number(node.dataset.nodeK);
    if (l > 0) return { kind: 'bias', layer: l - 1, j: k, x: null };
    return { kind: 'input', k };
  }
  return null;
}

/** Show the hovered target's tooltip (h: {t, x, y}). */
export function showTooltip(N, h) {
  const { tooltip, last } = N;
  if (!tooltip) return;
  if (h.t.kind === 'input') {
    const nm = last?.data?.feature_names?.[h.t.k] ?? `x${h.t.k + 1}`;
    const s = Math.min(last?.opts.sample || 0, (last?.data?.x?.length || 1) - 1);
    const v = last?.data?.x?.[s]?.[h.t.k];
    tooltip.show(h.x, h.y, { title: `X[${h.t.k}]`, sub: nm, rows: [[`sample ${s + 1}`, fmt(v)]] });
    return;
  }
  const d = describe(N, h.t);
  if (d) tooltip.show(h.x, h.y, d);
}

/** On the canvas path: the edge under the pointer, hit-tested in the diagram's units. */
function canvasTarget(N, ev) {
  const { cv, svg } = N;
  if (!cv) return null;
  const box = svg.getBoundingClientRect(); // on pointer events only, never per frame
  if (!box.width || !box.height) return null;
  const e = edgeAt(N, ((ev.clientX - box.left) * N.width) / box.width, ((ev.clientY - box.top) * N.height) / box.height);
  return e < 0 ? null : { kind: 'weight', layer: cv.geo.l[e], i: cv.geo.i[e], j: cv.geo.j[e], e };
}

/** Light the hovered edge on the canvas (-1: none); repainted only when it changes. */
function hoverCanvas(N, e) {
  if (!N.cv || N.cv.hover === e) return;
  N.cv.hover = e;
  setStyle(N.svg, 'cursor', e < 0 ? '' : 'pointer');
  paintCanvas(N);
}

/** Hover (tooltip, the hovered edge) and click (onSelect(sel) for an edge or a neuron's bias). */
export function bindPointer(N, onSelect) {
  const { svg } = N;
  svg.addEventListener('pointermove', (ev) => {
    const t = targetOf(ev.target) || canvasTarget(N, ev);
    hoverCanvas(N, t?.e ?? -1);
    if (!t) {
      if (N.hover) N.tooltip?.hide();
      N.hover = null;
      svg.querySelectorAll('.edge.hovered').forEach((e) => e.classList.remove('hovered'));
      return;
    }
    N.hover = { t, x: ev.clientX, y: ev.clientY };
    svg.querySelectorAll('.edge.hovered').forEach((e) => e.classList.remove('hovered'));
    if (t.kind === 'weight') N.edges[t.layer]?.[t.i]?.[t.j]?.classList.add('hovered');
    showTooltip(N, N.hover);
  });
  svg.addEventListener('pointerleave', () => {
    N.hover = null;
    hoverCanvas(N, -1);
    N.tooltip?.hide();
    svg.querySelectorAll('.edge.hovered').forEach((e) => e.classList.remove('hovered'));
  });
  svg.addEventListener('click', (ev) => {
    const t = targetOf(ev.target) || canvasTarget(N, ev);
    if (!t || t.kind === 'input') return;
    onSelect?.(t.kind === 'weight' ? { kind: 'weight', layer: t.layer, i: t.i, j: t.j } : { kind: 'bias', layer: t.layer, j: t.j });
  });
}
