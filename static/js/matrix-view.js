// Matrix form per layer: dE/dW = A . delta^T with the operands' shapes (GET /matrix), and
// live heatmaps of W and dE/dW drawn on canvases from the frame.

import { divergingRGB, inkOn, maxAbs, weightName, layerNames, ACTIVATION_SYMBOL } from './nn.js';
import { fmt, formulaNodes, math, mi, mn, mo, mrow, msub, msup, partial, symbol } from './mathml.js';
import { h } from './ui.js';
import { keyboardScrollable } from './a11y.js';

/** A heat map's text alternative: its shape, range and largest entry (canvases have no text). */
export function heatmapSummary(label, M) {
  let lo = Infinity;
  let hi = -Infinity;
  let big = null;
  M.forEach((row, i) =>
    row.forEach((v, j) => {
      if (v === null || !Number.isFinite(v)) return;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
      if (!big || Math.abs(v) > Math.abs(big[2])) big = [i, j, v];
    }),
  );
  const shape = `${M.length}×${M[0]?.length ?? 0}`;
  if (!big) return `Heat map of ${label} (${shape}): no finite values.`;
  return `Heat map of ${label} (${shape}): values from ${fmt(lo, 3)} to ${fmt(hi, 3)}; largest in size ${fmt(big[2], 3)} at [${big[0]},${big[1]}]. Blue positive, orange negative.`;
}

/** "(5×5)·(5×1) = 5×1" as MathML, under the equation. */
export function shapeLine(item) {
  const [ar, ac] = item.A.shape;
  const [dr, dc] = item.delta_T_shape || [item.delta.shape[1], item.delta.shape[0]];
  const [rr, rc] = item.result_shape;
  const dims = (a, b) => mrow(mo('(', { stretchy: 'false' }), mn(String(a)), mo('×'), mn(String(b)), mo(')', { stretchy: 'false' }));
  return math('block', dims(ar, ac), mo('·'), dims(dr, dc), mo('='), dims(rr, rc));
}

/** δ of a layer as the article defines it, for the layer's activation. */
export function deltaDefinition(layer, nLayers, activation, outputActivation) {
  const names = layerNames(nLayers);
  const d = msub(mi('δ'), mn(String(layer + 1)));
  const act = layer === nLayers - 1 ? outputActivation : activation;
  const a = symbol(names[layer + 1]);
  const deriv =
    act === 'sigmoid'
      ? mrow(a, mo('(', { stretchy: 'false' }), mn('1'), mo('−'), symbol(names[layer + 1]), mo(')', { stretchy: 'false' }))
      : act === 'tanh'
        ? mrow(mo('(', { stretchy: 'false' }), mn('1'), mo('−'), msup(a, mn('2')), mo(')', { stretchy: 'false' }))
        : mrow(mi(`${ACTIVATION_SYMBOL[act] || 'f'}′`, { mathvariant: 'normal' }), mo('(', { stretchy: 'false' }), msub(mi('Z'), mn(String(layer + 1))), mo(')', { stretchy: 'false' }));
  if (layer === nLayers - 1 && act === 'softmax') {
    // Softmax's Jacobian times dCE/dO collapses to (O - Y)/m (engine/chain.py SOFTMAX_WHY).
    return math('block', d, mo('='), mrow(mo('(', { stretchy: 'false' }), mi('O'), mo('−'), mi('Y'), mo(')', { stretchy: 'false' })), mo('/'), mi('m'));
  }
  if (layer === nLayers - 1) {
    return math('block', d, mo('='), partial('E', 'O'), mo('⊙'), deriv);
  }
  return math(
    'block',
    d,
    mo('='),
    mrow(mo('(', { stretchy: 'false' }), symbol(weightName(layer + 1, nLayers)), msub(mi('δ'), mn(String(layer + 2))), mo(')', { stretchy: 'false' })),
    mo('⊙'),
    deriv,
  );
}

const FONT = '600 10.5px ui-monospace, Menlo, Consolas, monospace';
const SMALL = '600 9px ui-monospace, Menlo, Consolas, monospace';

/** Draw matrix M (rows x cols) as a heatmap on `canvas`; small matrices get their numbers. */
export function drawHeatmap(canvas, M, { cellW = 22, cellH = 22, numbers = false, max = null } = {}) {
  const rows = M.length;
  const cols = rows ? M[0].length : 0;
  const dpr = window.devicePixelRatio || 1;
  const w = cols * cellW;
  const ht = rows * cellH;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(ht * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(ht * dpr);
    canvas.style.width = `${w}px`;
    canvas.style.height = `${ht}px`;
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, ht);
  const mx = max ?? maxAbs(M);
  ctx.font = FONT;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  // A number is printed only where it fits its cell with room to spare (else the tooltip says
  // it): "−0.00015−0.00091" ran together. The boxes printed are kept for the tests.
  const labels = [];
  const room = cellW - 6;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = M[r][c];
      const t = v === null ? null : mx > 0 ? v / mx : 0;
      const fill = divergingRGB(t);
      ctx.fillStyle = fill;
      ctx.fillRect(c * cellW, r * cellH, cellW - 1, cellH - 1);
      if (numbers) {
        if (cellH < 13) continue;
        let text = fmt(v, 2);
        let tw = ctx.measureText(text).width;
        if (tw > room && Number.isFinite(v) && v !== 0) {
          // Too wide (0.00015): the same two digits as a power of ten, a size smaller.
          text = v.toExponential(1).replace('e+', 'e').replace(/-/g, '−');
          ctx.font = SMALL;
          tw = ctx.measureText(text).width;
        }
        if (tw > room) {
          ctx.font = FONT;
          continue;
        }
        ctx.fillStyle = inkOn(fill); // white labels on mid-tones were 2.2-2.9:1
        ctx.fillText(text, c * cellW + cellW / 2, r * cellH + cellH / 2 + 0.5);
        labels.push({ x: c * cellW + cellW / 2 - tw / 2, y: r * cellH + cellH / 2 - 6, w: tw, h: 12, text });
        ctx.font = FONT;
      }
    }
  }
  canvas.labels = labels;
}

/**
 * Create the matrix panel in `root`. setMatrix(items, data) rebuilds the equations (shapes
 * change with the batch); update(frame) redraws the heatmaps. onSelect({kind,layer,i,j}).
 */
export function createMatrixView(root, { onSelect, tooltip } = {}) {
  let blocks = [];
  let frame = null;
  let want = null; // the equations to build: {items (output layer first), data}
  let built = []; // blocks built so far for `want`, shown together once all are there

  /** New equations (shapes change with the batch): built at the next update(). */
  function setMatrix(items, data) {
    want = { items: items.slice().sort((a, b) => b.layer - a.layer), data };
    built = [];
  }

  function buildBlock(item, L, data) {
    const eq = math('block', ...formulaNodes(item.equation));
    const [rows, cols] = item.result_shape;
    const numbers = rows <= 8 && cols <= 6;
    const sq = Math.max(6, Math.min(22, Math.floor(180 / Math.max(rows, cols))));
    const cell = numbers ? { cellW: 50, cellH: 22, numbers } : { cellW: sq, cellH: sq, numbers };
    const cw = h('canvas', { class: 'heatmap', 'data-testid': `heatmap-W-${item.layer}`, role: 'img', 'aria-label': `Heat map of ${item.name}` });
    const cg = h('canvas', { class: 'heatmap', 'data-testid': `heatmap-dW-${item.layer}`, role: 'img', 'aria-label': `Heat map of dE/d${item.name}` });
    const wlabel = math('inline', symbol(item.name));
    const glabel = math('inline', partial('E', item.name));
    const [r, c] = item.result_shape;
    const block = h(
      'section',
      { class: 'matrix-block', 'data-testid': `matrix-layer-${item.layer}` },
      h('h3', { class: 'sub-head' }, `Layer ${item.layer + 1}: `, math('inline', symbol(item.name)), ` (${r}×${c})`),
      keyboardScrollable(h('div', { class: 'eq' }, eq, shapeLine(item), deltaDefinition(item.layer, L, data?.activation, data?.output_activation)), `Matrix form, layer ${item.layer + 1}`),
      h(
        'div',
        { class: 'heatmaps' },
        h('figure', {}, cw, h('figcaption', {}, wlabel)),
        h('figure', {}, cg, h('figcaption', {}, glabel, h('span', { class: 'scale' }))),
      ),
    );
    const entry = { item, cw, cg, cell, block, scale: block.querySelector('.scale') };
    for (const [canvas, which] of [
      [cw, 'weights'],
      [cg, 'gradients'],
    ]) {
      canvas.addEventListener('pointermove', (ev) => hoverCell(ev, entry, which));
      canvas.addEventListener('pointerleave', () => tooltip?.hide());
      canvas.addEventListener('click', (ev) => {
        const rc = cellAt(ev, entry);
        if (rc) onSelect?.({ kind: 'weight', layer: item.layer, i: rc[0], j: rc[1] });
      });
    }
    return entry;
  }

  function cellAt(ev, entry) {
    const rect = ev.target.getBoundingClientRect();
    const c = Math.floor((ev.clientX - rect.left) / entry.cell.cellW);
    const r = Math.floor((ev.clientY - rect.top) / entry.cell.cellH);
    const [rows, cols] = entry.item.result_shape;
    return r >= 0 && c >= 0 && r < rows && c < cols ? [r, c] : null;
  }

  function hoverCell(ev, entry, which) {
    const rc = cellAt(ev, entry);
    if (!rc || !frame) return tooltip?.hide();
    const [i, j] = rc;
    const l = entry.item.layer;
    tooltip?.show(ev.clientX, ev.clientY, {
      title: `${entry.item.name}[${i},${j}]`,
      sub: which === 'weights' ? 'weight' : 'gradient',
      rows: [
        ['value', fmt(frame.weights[l]?.[i]?.[j])],
        ['∂E/∂w', fmt(frame.gradients.weights[l]?.[i]?.[j])],
      ],
    });
  }

  /**
   * Draw frame f's heat maps, building new equations first. chunk: one layer's equations per
   * call (off screen, in idle time: no long task); returns true while work is left.
   */
  function update(f, { chunk = false } = {}) {
    frame = f;
    if (want) {
      const L = want.items.length;
      while (built.length < L) {
        built.push(buildBlock(want.items[built.length], L, want.data));
        if (chunk && built.length < L) return true;
      }
      blocks = built;
      built = [];
      want = null;
      root.replaceChildren(...blocks.map((b) => b.block));
      if (chunk) return true; // the heat maps next time
    }
    for (const b of blocks) {
      const l = b.item.layer;
      const W = f.weights[l];
      const G = f.gradients.weights[l];
      if (!W || !G) continue;
      drawHeatmap(b.cw, W, b.cell);
      drawHeatmap(b.cg, G, b.cell);
      b.cw.setAttribute('aria-label', heatmapSummary(b.item.name, W));
      b.cg.setAttribute('aria-label', heatmapSummary(`dE/d${b.item.name}`, G));
      b.scale.textContent = ` max |·| ${fmt(maxAbs(G), 2)}`;
    }
    if (blocks.length && root.dataset.step !== String(f.step)) root.dataset.step = String(f.step); // the step drawn
    return false;
  }

  return { setMatrix, update };
}
