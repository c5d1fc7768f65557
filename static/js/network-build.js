// The diagram's layout in SVG, built when the sizes or the width change: edges (SVG lines or
// the canvas), nodes, layer and matrix captions, the input and output names.

import { layerNames, weightName, ACTIVATION_SYMBOL } from './nn.js';
import { MAX_DRAWN, networkLayout } from './network-layout.js';
import { CANVAS_EDGES, buildCanvas } from './network-canvas.js';
import { el, setStyle, subscripted, truncate } from './network-svg.js';
import { highlight } from './network-paint.js';

/** One SVG line per edge (and its wider hit line) for networks of CANVAS_EDGES or fewer. */
function buildLines(N, n, gEdges, gHits) {
  const { layout } = N;
  for (let l = 0; l < n && !N.cv; l++) {
    const rows = [];
    for (const a of layout.layers[l]) {
      const row = [];
      for (const b of layout.layers[l + 1]) {
        const attrs = { x1: a.x, y1: a.y, x2: b.x, y2: b.y };
        const line = el('line', { ...attrs, class: 'edge' }, gEdges);
        const hit = el('line', { ...attrs, class: 'edge-hit', 'data-l': l, 'data-i': a.k, 'data-j': b.k }, gHits);
        hit.dataset.kind = 'weight';
        row.push(line);
      }
      rows.push(row);
    }
    N.edges.push(rows);
  }
}

/** The nodes: {g, ring, circle, text, hidden} per drawn neuron, per layer. */
function buildNodes(N) {
  const { layout, svg } = N;
  const gNodes = el('g', { class: 'nodes' }, svg);
  N.nodes = layout.layers.map((col, l) =>
    col.map((p) => {
      const g = el('g', { class: 'node', transform: `translate(${p.x},${p.y})`, 'data-node-l': l, 'data-node-k': p.k }, gNodes);
      const ring = el('circle', { r: layout.r + 3.5, class: 'node-ring' }, g);
      const circle = el('circle', { r: layout.r, class: 'node-body' }, g);
      const text = el('text', { class: 'node-value', 'text-anchor': 'middle', dy: '0.35em' }, g);
      const hidden = layout.r < 13;
      if (hidden) text.style.display = 'none';
      return { g, ring, circle, text, hidden };
    }),
  );
}

/** Layer captions on top, "+N more", matrix names between columns at the bottom. */
function buildCaptions(N, n, data) {
  const { layout, svg, width, height, names, sizes } = N;
  const acts = data ? [null, ...Array(n - 1).fill(data.activation), data.output_activation] : [];
  layout.layers.forEach((col, l) => {
    const x = col[0].x;
    const t = el('text', { x, y: 20, class: 'layer-caption', 'text-anchor': 'middle' }, svg);
    const gap = n > 0 ? layout.layers[Math.min(1, n)][0].x - layout.layers[0][0].x : width;
    const f = ACTIVATION_SYMBOL[acts[l]] || 'f';
    const full = l === 0 ? 'X (input)' : `${l === n ? 'O' : names[l]} = ${f}(Z${l})`;
    const label = gap >= 110 ? full : l === 0 ? 'X' : l === n ? 'O' : names[l];
    subscripted(t, label);
    if (layout.hidden[l] > 0) {
      const more = el('text', { x, y: height - 24, class: 'layer-more', 'text-anchor': 'middle' }, svg);
      more.textContent = `+${layout.hidden[l]} more`;
    }
    if (l < n) {
      const xm = (x + layout.layers[l + 1][0].x) / 2;
      const w = el('text', { x: xm, y: height - 8, class: 'matrix-caption', 'text-anchor': 'middle' }, svg);
      const [base, sub] = weightName(l, n).split('_');
      w.append(base);
      el('tspan', { 'baseline-shift': 'sub', 'font-size': '75%' }, w).textContent = sub;
      if (layout.layers[l + 1][0].x - x >= 110) el('tspan', { dx: 6 }, w).textContent = `${sizes[l]}×${sizes[l + 1]}`;
    }
  });
}

/** Feature and target names (user text: textContent only, truncated), and their boxes in N.ioBoxes. */
function buildNames(N, n, data, narrow) {
  const { layout, svg } = N;
  const feat = data?.feature_names || [];
  N.ioBoxes = []; // where the names are (about 7 px a character): the edge's label avoids them
  layout.layers[0].forEach((p) => {
    const t = el('text', { x: p.x - layout.r - 8, y: p.y, dy: '0.35em', class: 'io-label', 'text-anchor': 'end' }, svg);
    const nm = feat[p.k] ?? `x${p.k + 1}`;
    t.textContent = narrow && nm.length > 6 ? `X[${p.k}]` : truncate(nm, 18); // x₁², sin x₁ fit
    const tw = t.textContent.length * 7;
    N.ioBoxes.push({ x: p.x - layout.r - 10 - tw, y: p.y - 9, w: tw + 4, h: 18 });
    el('title', {}, t).textContent = `X[${p.k}]: ${nm}`;
  });
  const targ = data?.target_names || [];
  layout.layers[n].forEach((p) => {
    const t = el('text', { x: p.x + layout.r + 8, y: p.y - 7, dy: '0.35em', class: 'io-label', 'text-anchor': 'start' }, svg);
    t.textContent = truncate(targ[p.k] ?? `y${p.k + 1}`, narrow ? 7 : 14);
    N.ioBoxes.push({ x: p.x + layout.r + 6, y: p.y - 17, w: Math.max(t.textContent.length, 10) * 7 + 4, h: 36 });
    el('title', {}, t).textContent = targ[p.k] ?? '';
    const yv = el('text', { x: p.x + layout.r + 8, y: p.y + 9, dy: '0.35em', class: 'io-target', 'text-anchor': 'start' }, svg);
    yv.dataset.target = String(p.k);
  });
}

/** Build the whole diagram for these layer sizes at the container's width. */
export function build(N, newSizes, data) {
  const { svg, container } = N;
  N.sizes = newSizes.slice();
  N.width = Math.max(320, Math.round(N.seenWidth || container.clientWidth || 640));
  const maxN = Math.min(MAX_DRAWN, Math.max(...N.sizes));
  N.height = Math.max(260, Math.min(520, 80 + maxN * 46));
  svg.setAttribute('viewBox', `0 0 ${N.width} ${N.height}`);
  svg.setAttribute('height', String(N.height));
  svg.replaceChildren();
  const narrow = N.width < 520;
  N.layout = networkLayout(N.sizes, N.width, N.height, {
    left: narrow ? 52 : 132,
    right: narrow ? 64 : 96,
    top: 58,
    bottom: 40,
  });
  const n = N.sizes.length - 1;
  N.names = layerNames(n);
  const gEdges = el('g', { class: 'edges' }, svg);
  N.halo = el('line', { class: 'edge-halo' }, gEdges);
  setStyle(N.halo, 'display', 'none');
  N.haloLabel = el('text', { class: 'edge-label', 'text-anchor': 'middle', dy: '0.35em', 'data-testid': 'edge-label' });
  setStyle(N.haloLabel, 'display', 'none');
  const gHits = el('g', { class: 'edge-hits' });
  N.edges = [];
  const count = N.layout.layers.slice(1).reduce((s, col, l) => s + col.length * N.layout.layers[l].length, 0);
  N.cv = null;
  if (count > CANVAS_EDGES) buildCanvas(N, n, count);
  else if (N.canvas) {
    N.canvas.remove();
    container.classList.remove('edges-on-canvas');
  }
  buildLines(N, n, gEdges, gHits);
  svg.append(gHits);
  buildNodes(N);
  buildCaptions(N, n, data);
  svg.append(N.haloLabel);
  if (N.lights) highlight(N, N.lights);
  buildNames(N, n, data, narrow);
}
