// The network diagram in SVG: nodes by layer filled with the neuron's activation for one
// sample, edges coloured by sign and sized by magnitude (weights, gradients or the next
// update), bias rings, hover details and click-to-select for the chain-rule panel.

import {
  biasName,
  biasValues,
  activationScale,
  divergingRGB,
  edgeValues,
  inkOn,
  edgeWidth,
  forward,
  inputScale,
  layerNames,
  maxAbs,
  neuronName,
  paramName,
  scaleRGB,
  weightName,
  ACTIVATION_SYMBOL,
} from './nn.js';
import { fmt } from './mathml.js';
import { setAttr, setText } from './ui.js';
import { paintEdges } from './edge-paint.js';

const SVG = 'http://www.w3.org/2000/svg';
const MAX_DRAWN = 16; // neurons drawn per layer; the rest are summarised as "+N more"
// Above this many edges they are painted on a canvas under the SVG's nodes: on [2,16,16,16,1]
// (560 edges) restyling SVG lines cost most of a frame at 4x CPU slowdown (benchmarks/page.py).
// Smaller networks (the article's 25) keep one SVG line per edge.
export const CANVAS_EDGES = 100;
const HIT = 6; // half the width of an SVG edge's hit line (.edge-hit: 12px)

function el(tag, attrs = {}, parent = null) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.append(e);
  return e;
}

/**
 * Positions of the drawn neurons: [{l, k, x, y}] per layer, the node radius, and how many
 * neurons each layer hides. Pure: (sizes, width, height) -> layout.
 */
export function networkLayout(sizes, width, height, pad = { left: 96, right: 96, top: 44, bottom: 40 }) {
  const L = sizes.length;
  const drawn = sizes.map((n) => Math.min(n, MAX_DRAWN));
  const maxN = Math.max(...drawn);
  const innerH = height - pad.top - pad.bottom;
  const innerW = width - pad.left - pad.right;
  const spacing = maxN > 1 ? innerH / (maxN - 1) : innerH;
  const colGap = L > 1 ? innerW / (L - 1) : innerW;
  const r = Math.max(5, Math.min(22, spacing * 0.36, colGap * 0.18));
  const layers = drawn.map((n, l) => {
    const x = pad.left + (L > 1 ? colGap * l : innerW / 2);
    const gap = Math.min(spacing, maxN > 1 ? innerH / Math.max(1, n - 1) : innerH, r * 4.2);
    const top = pad.top + innerH / 2 - (gap * (n - 1)) / 2;
    return Array.from({ length: n }, (_, k) => ({ l, k, x, y: n === 1 ? pad.top + innerH / 2 : top + gap * k }));
  });
  return { layers, r, hidden: sizes.map((n, l) => n - drawn[l]) };
}

/**
 * Where the selected edge's name goes (the centre of its box): along the edge, above or below
 * it, clear of every node (its ring included) and inside the diagram; the first such place
 * from the middle out (pure). None clear: the place that overlaps nodes least.
 */
export function edgeLabelAt(a, b, textW, layout, width, height, avoid = [], textH = 15) {
  const pad = layout.r + 6;
  const boxes = layout.layers.flat().map((p) => ({ x: p.x - pad, y: p.y - pad, w: 2 * pad, h: 2 * pad })).concat(avoid);
  const overlap = (cx, cy) => {
    let sum = 0;
    for (const o of boxes) {
      const dx = Math.max(0, Math.min(cx + textW / 2, o.x + o.w) - Math.max(cx - textW / 2, o.x));
      const dy = Math.max(0, Math.min(cy + textH / 2, o.y + o.h) - Math.max(cy - textH / 2, o.y));
      sum += dx * dy;
    }
    return sum;
  };
  const top = textH / 2 + 28; // under the layer captions
  const bottom = height - textH / 2 - 38; // over the matrix names and "+N more"
  const clampX = (x) => Math.max(textW / 2 + 2, Math.min(width - textW / 2 - 2, x));
  const clampY = (y) => Math.max(top, Math.min(bottom, y));
  let best = null;
  for (const t of [0.6, 0.5, 0.4, 0.7, 0.3, 0.75, 0.25]) {
    for (const off of [-11, 11, -20, 20, 0]) {
      const cx = clampX(a.x + (b.x - a.x) * t);
      const cy = clampY(a.y + (b.y - a.y) * t + off);
      const o = overlap(cx, cy);
      if (o === 0) return { x: cx, y: cy };
      if (!best || o < best.o) best = { x: cx, y: cy, o };
    }
  }
  // A crowded diagram (many narrow columns): the clear place nearest the edge's middle, in the
  // bands between rows of nodes.
  const mx = a.x + (b.x - a.x) * 0.5;
  const my = a.y + (b.y - a.y) * 0.5;
  for (let d = 0; d <= height; d += 3) {
    for (const cy of [my - d, my + d]) {
      if (cy < top || cy > bottom) continue;
      for (const dx of [0, -30, 30, -60, 60, -120, 120]) {
        const cx = clampX(mx + dx);
        if (overlap(cx, cy) === 0) return { x: cx, y: cy };
      }
    }
  }
  return { x: best.x, y: best.y };
}

/** The font size (px) at which a node's value fits inside its circle, or 0: not shown. */
export function nodeFontSize(chars, r, size = 10) {
  const fit = (2 * r - 5) / (0.62 * Math.max(1, chars)); // monospace: about 0.6 em a character
  const px = Math.min(size, Math.floor(fit * 2) / 2);
  return px >= 7 ? px : 0;
}

// An input's scale from its column of the training data: once per data set (inputScale).
const inputScales = new WeakMap();
function inputScaleOf(data, k) {
  if (!data?.x?.length) return null;
  let per = inputScales.get(data);
  if (!per) {
    per = data.x[0].map((_, c) => inputScale(data.x.map((row) => row[c])));
    inputScales.set(data, per);
  }
  return per[k] || null;
}

/** What a scale's ends are, in words, beside its colour ramp. */
function scaleEnds(act, scale) {
  if (act === 'input') return scale.kind === 'sequential' ? ['0', 'm, m = each input’s largest'] : ['−m', '+m, m = each input’s largest |x|'];
  if (act === 'relu') return ['0', `${fmt(scale.hi, 3)} (the layer’s largest, ≥ 1)`];
  if (act === 'leaky_relu' || act === 'linear') return [`−${fmt(scale.hi, 3)}`, `+${fmt(scale.hi, 3)} (the layer’s largest |value|, ≥ 1)`];
  return [fmt(scale.lo), fmt(scale.hi)];
}

/**
 * The node-fill key: one entry per scale in use (inputs; hidden layers; the output), each
 * with its colour ramp and ends; written only when its words change.
 */
function drawLegend(root, scales, data, opts) {
  const L = scales.length - 1;
  const names = layerNames(L);
  const groups = [];
  scales.forEach(({ act, scale }, l) => {
    if (l === 0) {
      const cols = data?.x?.length ? data.x[0].map((_, k) => inputScaleOf(data, k)) : [];
      const kinds = [...new Set(cols.map((c) => c.kind))];
      kinds.forEach((kind) => groups.push({ who: 'X', act: 'input', scale: { kind }, key: `X ${kind}` }));
      return;
    }
    const sym = ACTIVATION_SYMBOL[act] || act;
    const key = `${act} ${scale.kind} ${scale.lo} ${scale.hi}`;
    const same = groups.find((g) => g.key === key);
    if (same) same.who.push(l === L ? 'O' : names[l]);
    else groups.push({ who: [l === L ? 'O' : names[l]], act, sym, scale, key });
  });
  const s = Math.min(opts.sample || 0, Math.max(0, (data?.x?.length || 1) - 1));
  const words = groups.map((g) => [Array.isArray(g.who) ? `${g.who.join(', ')} = ${g.sym}(Z)` : 'X', ...scaleEnds(g.act, g.scale), g.scale.kind]);
  // Rebuilt only when its words change (a ReLU layer's largest moves in its 4th digit).
  const text = JSON.stringify([s, words]);
  if (root.dataset.key === text) return;
  root.dataset.key = text;
  const items = groups.map((g, n) => {
    const [who, lo, hi] = words[n];
    const item = document.createElement('span');
    item.className = 'legend-item';
    item.dataset.testid = 'node-scale';
    item.dataset.scale = g.scale.kind;
    const ramp = document.createElement('span');
    ramp.className = `ramp ramp-${g.scale.kind === 'sequential' ? 'seq' : 'div'}`;
    item.append(`${who}: ${lo} `, ramp, ` ${hi}`);
    return item;
  });
  const head = document.createElement('span');
  head.textContent = `Node fill: activation (sample ${s + 1}) on its own range.`;
  root.replaceChildren(head, ...items);
}

/**
 * Create the network view in `container`. Returns {update(frame, data, opts), resize()}.
 * opts: {mode, sample, selection}; onSelect(sel) is called when an edge or node is clicked.
 */
export function createNetworkView(container, { onSelect, tooltip, onStale, legend = null } = {}) {
  const svg = el('svg', { class: 'network-svg', role: 'img', 'aria-label': 'Network diagram' });
  container.append(svg);
  let sizes = null;
  let layout = null;
  let edges = []; // per layer: [[line...]]
  let nodes = []; // per layer: [{circle, text, ring}]
  let hover = null;
  let last = null;
  let width = 0;
  let height = 0;
  let names = null;
  let halo = null;
  let staleWidth = false;
  let seenWidth = 0; // the container's width as the ResizeObserver last saw it (0: not yet)
  // Width changes (window, grid reflow) rebuild on the next update; never read layout per frame,
  // nor at the first build (reading clientWidth there forced a whole-page layout at load).
  new ResizeObserver((entries) => {
    seenWidth = entries[entries.length - 1].contentRect.width;
    if (width && Math.abs((seenWidth || 640) - width) > 24 && !staleWidth) {
      staleWidth = true;
      onStale?.(); // the page draws again: the next update rebuilds at the new width
    }
  }).observe(container);
  let haloLabel = null;
  let ioBoxes = []; // the input and output names' boxes (approximate), kept clear by the edge's label
  let lights = null; // the phase stepper's highlight: {edges, nodes, dir}
  // The canvas path (networks over CANVAS_EDGES edges): one entry per edge, in the SVG's order.
  let canvas = null;
  let cv = null; // {geo: {n, l, i, j, x1, y1, x2, y2}, tone, lw, alpha, hover, halo, flow}
  let painter = null; // the worker painting the canvas (edge-worker.js), where there is one
  let ink = '#1d2430';

  /** Paint the edges (the worker paints at its next animation frame; else here, now). */
  function paintCanvas() {
    if (!cv) return;
    const look = {
      width,
      height,
      dpr: window.devicePixelRatio || 1,
      tone: cv.tone,
      lw: cv.lw,
      alpha: cv.alpha,
      hover: cv.hover,
      halo: cv.halo,
      lit: lights ? lights.edges : null,
      dir: lights?.dir || null,
      flow: cv.flow,
      ink,
    };
    if (painter) {
      painter.postMessage(cv.sent ? { look } : { look, geo: cv.geo }); // arrays are copied
      cv.sent = true;
    } else {
      paintEdges(canvas, cv.geo, look);
    }
  }

  /** The dashes travel while a phase flows (the SVG's CSS animation), unless motion is reduced. */
  function flowLoop() {
    if (!cv || !lights?.dir || cv.flowing) return;
    if (window.matchMedia?.('(prefers-reduced-motion: reduce)').matches) return;
    cv.flowing = true;
    const tick = (t) => {
      if (!cv || !lights?.dir) {
        if (cv) cv.flowing = false;
        return;
      }
      cv.flow = ((t / 900) % 1) * 12; // 12 px every 0.9 s, as @keyframes flow-forward
      paintCanvas();
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  /** The edge under a point of the diagram (viewBox units), or -1: the nearest within HIT. */
  function edgeAt(px, py) {
    const g = cv.geo;
    let best = -1;
    let bestD = HIT * HIT;
    for (let e = 0; e < g.n; e++) {
      const x1 = g.x1[e];
      const y1 = g.y1[e];
      const dx = g.x2[e] - x1;
      const dy = g.y2[e] - y1;
      const len = dx * dx + dy * dy;
      const u = len > 0 ? Math.max(0, Math.min(1, ((px - x1) * dx + (py - y1) * dy) / len)) : 0;
      const ex = x1 + u * dx - px;
      const ey = y1 + u * dy - py;
      const d = ex * ex + ey * ey;
      if (d <= bestD) {
        bestD = d;
        best = e;
      }
    }
    return best;
  }

  /** Light the edges and nodes one phase touches (null: the whole network as usual). */
  function highlight(spec) {
    lights = spec;
    svg.classList.toggle('phased', !!spec);
    svg.classList.toggle('flow-forward', spec?.dir === 'forward');
    svg.classList.toggle('flow-backward', spec?.dir === 'backward');
    edges.forEach((rows, l) => {
      const on = !!spec && spec.edges.includes(l);
      for (const r of rows) for (const line of r) line.classList.toggle('lit', on);
    });
    nodes.forEach((col, l) => {
      const on = !!spec && spec.nodes.includes(l);
      for (const n of col) n.g.classList.toggle('lit', on);
    });
    if (cv) {
      paintCanvas();
      flowLoop();
    }
  }

  function build(newSizes, data) {
    sizes = newSizes.slice();
    width = Math.max(320, Math.round(seenWidth || container.clientWidth || 640));
    const maxN = Math.min(MAX_DRAWN, Math.max(...sizes));
    height = Math.max(260, Math.min(520, 80 + maxN * 46));
    svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    svg.setAttribute('height', String(height));
    svg.replaceChildren();
    const narrow = width < 520;
    layout = networkLayout(sizes, width, height, {
      left: narrow ? 52 : 132,
      right: narrow ? 64 : 96,
      top: 58,
      bottom: 40,
    });
    const L = sizes.length - 1;
    names = layerNames(L);
    const gEdges = el('g', { class: 'edges' }, svg);
    halo = el('line', { class: 'edge-halo' }, gEdges);
    setStyle(halo, 'display', 'none');
    haloLabel = el('text', { class: 'edge-label', 'text-anchor': 'middle', dy: '0.35em', 'data-testid': 'edge-label' });
    setStyle(haloLabel, 'display', 'none');
    const gHits = el('g', { class: 'edge-hits' });
    edges = [];
    const count = layout.layers.slice(1).reduce((s, col, l) => s + col.length * layout.layers[l].length, 0);
    cv = null;
    if (count > CANVAS_EDGES) {
      // The edges on a canvas under the SVG (same size and scale: the viewBox's aspect ratio).
      if (!canvas) {
        canvas = document.createElement('canvas');
        canvas.className = 'network-canvas';
        canvas.setAttribute('aria-hidden', 'true'); // the SVG (role=img) describes the diagram
        canvas.dataset.testid = 'network-canvas';
        // Rasterised in a worker where the browser can (not on the page's thread at each commit).
        try {
          if (canvas.transferControlToOffscreen) {
            painter = new Worker(new URL('./edge-worker.js', import.meta.url), { type: 'module' });
            const off = canvas.transferControlToOffscreen();
            painter.postMessage({ canvas: off }, [off]);
            // A worker that cannot start (a failed load): paint here, on a fresh canvas (the
            // transferred one has no context on this thread).
            painter.addEventListener('error', () => {
              painter = null;
              const fresh = canvas.cloneNode();
              canvas.replaceWith(fresh);
              canvas = fresh;
              if (cv) paintCanvas();
            });
          }
        } catch {
          painter = null; // painted here instead
        }
      }
      container.insertBefore(canvas, svg);
      canvas.style.aspectRatio = `${width} / ${height}`;
      container.classList.add('edges-on-canvas');
      ink = getComputedStyle(container).getPropertyValue('--ink').trim() || ink;
      const f32 = () => new Float32Array(count);
      const geo = { n: count, l: new Uint8Array(count), i: new Uint16Array(count), j: new Uint16Array(count), x1: f32(), y1: f32(), x2: f32(), y2: f32() };
      cv = { geo, tone: new Float64Array(count).fill(NaN), lw: f32().fill(0.6), alpha: f32().fill(0.5), hover: -1, halo: null, flow: 0, sent: false };
      let e = 0;
      for (let l = 0; l < L; l++) {
        for (const a of layout.layers[l]) {
          for (const b of layout.layers[l + 1]) {
            geo.l[e] = l;
            geo.i[e] = a.k;
            geo.j[e] = b.k;
            geo.x1[e] = a.x;
            geo.y1[e] = a.y;
            geo.x2[e] = b.x;
            geo.y2[e] = b.y;
            e++;
          }
        }
      }
    } else if (canvas) {
      canvas.remove();
      container.classList.remove('edges-on-canvas');
    }
    for (let l = 0; l < L && !cv; l++) {
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
      edges.push(rows);
    }
    svg.append(gHits);
    const gNodes = el('g', { class: 'nodes' }, svg);
    nodes = layout.layers.map((col, l) =>
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
    // Layer captions on top, matrix names between columns at the bottom.
    const acts = data ? [null, ...Array(L - 1).fill(data.activation), data.output_activation] : [];
    layout.layers.forEach((col, l) => {
      const x = col[0].x;
      const t = el('text', { x, y: 20, class: 'layer-caption', 'text-anchor': 'middle' }, svg);
      const gap = L > 0 ? layout.layers[Math.min(1, L)][0].x - layout.layers[0][0].x : width;
      const f = ACTIVATION_SYMBOL[acts[l]] || 'f';
      const full = l === 0 ? 'X (input)' : `${l === L ? 'O' : names[l]} = ${f}(Z${l})`;
      const label = gap >= 110 ? full : l === 0 ? 'X' : l === L ? 'O' : names[l];
      subscripted(t, label);
      if (layout.hidden[l] > 0) {
        const more = el('text', { x, y: height - 24, class: 'layer-more', 'text-anchor': 'middle' }, svg);
        more.textContent = `+${layout.hidden[l]} more`;
      }
      if (l < L) {
        const xm = (x + layout.layers[l + 1][0].x) / 2;
        const w = el('text', { x: xm, y: height - 8, class: 'matrix-caption', 'text-anchor': 'middle' }, svg);
        const [base, sub] = weightName(l, L).split('_');
        w.append(base);
        el('tspan', { 'baseline-shift': 'sub', 'font-size': '75%' }, w).textContent = sub;
        if (layout.layers[l + 1][0].x - x >= 110) el('tspan', { dx: 6 }, w).textContent = `${sizes[l]}×${sizes[l + 1]}`;
      }
    });
    svg.append(haloLabel);
    if (lights) highlight(lights);
    // Feature and target names (user text: textContent only, truncated).
    const feat = data?.feature_names || [];
    ioBoxes = []; // where the names are (about 7 px a character): the edge's label avoids them
    layout.layers[0].forEach((p) => {
      const t = el('text', { x: p.x - layout.r - 8, y: p.y, dy: '0.35em', class: 'io-label', 'text-anchor': 'end' }, svg);
      const nm = feat[p.k] ?? `x${p.k + 1}`;
      t.textContent = narrow && nm.length > 6 ? `X[${p.k}]` : truncate(nm, 18); // x₁², sin x₁ fit
      const tw = t.textContent.length * 7;
      ioBoxes.push({ x: p.x - layout.r - 10 - tw, y: p.y - 9, w: tw + 4, h: 18 });
      el('title', {}, t).textContent = `X[${p.k}]: ${nm}`;
    });
    const targ = data?.target_names || [];
    layout.layers[L].forEach((p) => {
      const t = el('text', { x: p.x + layout.r + 8, y: p.y - 7, dy: '0.35em', class: 'io-label', 'text-anchor': 'start' }, svg);
      t.textContent = truncate(targ[p.k] ?? `y${p.k + 1}`, narrow ? 7 : 14);
      ioBoxes.push({ x: p.x + layout.r + 6, y: p.y - 17, w: Math.max(t.textContent.length, 10) * 7 + 4, h: 36 });
      el('title', {}, t).textContent = targ[p.k] ?? '';
      const yv = el('text', { x: p.x + layout.r + 8, y: p.y + 9, dy: '0.35em', class: 'io-target', 'text-anchor': 'start' }, svg);
      yv.dataset.target = String(p.k);
    });
  }

  /** Write `h1 = σ(Z1)` into an SVG text with the digits as subscripts. */
  function subscripted(textEl, str) {
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
  function setStyle(node, prop, value) {
    const seen = node.looks || (node.looks = {});
    if (seen[prop] !== value) {
      seen[prop] = value;
      node.style[prop] = value;
    }
  }

  function truncate(s, n) {
    s = String(s);
    return s.length > n ? s.slice(0, n - 1) + '…' : s;
  }

  function update(frame, data, opts) {
    last = { frame, data, opts };
    const newSizes = [frame.weights[0].length, ...frame.weights.map((W) => (W[0] ? W[0].length : 0))];
    if (!sizes || newSizes.join() !== sizes.join() || staleWidth) {
      staleWidth = false;
      build(newSizes, data);
    }
    const L = sizes.length - 1;
    const mode = opts.mode || 'weights';
    const real = opts.real || null;
    const vals = edgeValues(frame, mode, real);
    const bvals = biasValues(frame, mode, real);
    const mx = maxAbs(vals);
    const bmx = maxAbs(bvals);
    if (cv) {
      // The canvas path: the same looks (steps included), into arrays; painted below.
      const { geo } = cv;
      for (let e = 0; e < geo.n; e++) {
        const v = vals[geo.l[e]][geo.i[e]][geo.j[e]];
        cv.tone[e] = mx > 0 && v !== null ? Math.round(((v / mx) * 0.55 + Math.sign(v) * 0.45) * 48) / 48 : NaN;
        cv.lw[e] = Math.round(edgeWidth(v, mx) * 4) / 4;
        cv.alpha[e] = v === null ? 0.5 : Math.round((0.35 + 0.65 * Math.sqrt(Math.min(1, Math.abs(v) / (mx || 1)))) * 20) / 20;
      }
    }
    for (let l = 0; l < L && !cv; l++) {
      const rows = edges[l];
      for (let i = 0; i < rows.length; i++) {
        for (let j = 0; j < rows[i].length; j++) {
          const v = vals[l][i][j];
          const line = rows[i][j];
          // Written only when they change, widths to 0.1 px and opacities to 0.01 (what shows):
          // while playing most edges keep their look from one frame to the next, and an edge
          // left alone costs the browser no style, layout or paint work (benchmarks/page.py).
          // In steps a little finer than the eye tells apart on a thin line (48 tones a side,
          // quarter pixels, 5% opacity): while a big network plays most edges then keep their
          // look between frames, and each edge restyled cost a style recalc (560 edges on
          // [2,16,16,16,1]: 35-50 ms a frame at 4x CPU slowdown, benchmarks/page.py).
          const stroke = divergingRGB(mx > 0 && v !== null ? Math.round(((v / mx) * 0.55 + Math.sign(v) * 0.45) * 48) / 48 : null);
          const sw = (Math.round(edgeWidth(v, mx) * 4) / 4).toFixed(2);
          // stroke-opacity, not opacity: the same look for a single stroke, but opacity makes
          // Chromium paint every edge in its own offscreen layer.
          const so = (v === null ? 0.5 : Math.round((0.35 + 0.65 * Math.sqrt(Math.min(1, Math.abs(v) / (mx || 1)))) * 20) / 20).toFixed(2);
          if (line.look !== `${stroke} ${sw} ${so}`) {
            line.look = `${stroke} ${sw} ${so}`; // a JS property: an attribute would restyle
            line.style.stroke = stroke;
            line.style.strokeWidth = sw;
            line.style.strokeOpacity = so;
          }
        }
      }
    }
    // Activations for the chosen sample.
    let acts = null;
    const xs = data?.x;
    if (xs && xs.length) {
      const s = Math.min(opts.sample || 0, xs.length - 1);
      acts = forward(frame.weights, frame.biases, xs[s], data.activation, data.output_activation).a;
      const ys = data.y[s] || [];
      svg.querySelectorAll('.io-target').forEach((t) => {
        const k = Number(t.dataset.target);
        setText(t, `Y = ${fmt(Array.isArray(ys) ? ys[k] : ys, width < 520 ? 2 : 3)}`);
      });
    }
    // Each layer's fill on its own activation's range (inputs on their column's range).
    const scales = [];
    nodes.forEach((col, l) => {
      const a = acts ? acts[l] : null;
      const act = l === 0 ? 'input' : l === L ? data?.output_activation || 'sigmoid' : data?.activation || 'sigmoid';
      const scale = l === 0 ? null : activationScale(act, a || []);
      scales.push({ act, scale });
      col.forEach((n, k) => {
        const v = a ? a[k] : NaN;
        const sc = l === 0 ? inputScaleOf(data, k) : scale;
        const fill = a && sc ? scaleRGB(v, sc) : '#f2f3f5';
        setStyle(n.circle, 'fill', fill);
        // What the fill shows, for the tests and the curious: the value and its scale.
        setAttr(n.g, 'data-value', a ? String(v) : '');
        setAttr(n.g, 'data-scale', sc ? `${sc.kind} ${sc.lo} ${sc.hi}` : '');
        if (!n.hidden) {
          // Too small to show on a big network: not written. A value wider than its circle is
          // written smaller, or not at all (the node's tooltip has it).
          const words = a ? fmt(v, 2) : '';
          const px = nodeFontSize(words.length, layout.r);
          setText(n.text, px ? words : '');
          setStyle(n.text, 'fontSize', px ? `${px}px` : '');
          setStyle(n.text, 'fill', inkOn(fill)); // the better contrast, never under 4.5:1
        }
        if (l > 0) {
          const b = bvals[l - 1];
          const bv = b ? (b.length === 1 ? b[0] : b[k]) : null;
          setStyle(n.ring, 'stroke', divergingRGB(bmx > 0 && bv !== null ? Math.round(((bv / bmx) * 0.55 + Math.sign(bv) * 0.45) * 48) / 48 : null));
          setStyle(n.ring, 'strokeWidth', (Math.round(edgeWidth(bv, bmx, 0.5, 4) * 4) / 4).toFixed(2));
        } else {
          setStyle(n.ring, 'strokeWidth', '0');
        }
      });
    });
    if (legend) drawLegend(legend, scales, data, opts);
    // Selection halo.
    const sel = opts.selection;
    // Written only when they change, as the edges: at 30 frames a second a rewrite is a restyle.
    svg.querySelectorAll('.node.selected').forEach((g) => g.classList.remove('selected'));
    let haloShown = false;
    if (sel && sel.kind === 'weight' && layout.layers[sel.layer] && layout.layers[sel.layer + 1]) {
      const a = layout.layers[sel.layer][sel.i];
      const b = layout.layers[sel.layer + 1][sel.j];
      if (a && b) {
        haloShown = true;
        for (const [k, v] of Object.entries({ x1: a.x, y1: a.y, x2: b.x, y2: b.y })) setAttr(halo, k, String(v));
        // The value the edges show now: W, ∂E/∂W or the next step ΔW (the optimizer's own).
        const nm = paramName(sel, L);
        const pending = mode === 'update' && !real && (opts.optimizer || 'sgd') !== 'sgd';
        const v = pending ? null : vals[sel.layer]?.[sel.i]?.[sel.j];
        const head = mode === 'gradients' ? `∂E/∂${nm}` : mode === 'update' ? `Δ${nm}` : nm;
        const words = `${head} = ${pending ? '…' : fmt(v, 3)}`;
        setText(haloLabel, words);
        setAttr(haloLabel, 'data-mode', mode);
        // The step it describes, as the chain's header and the slope note say theirs (issue 20).
        setAttr(haloLabel, 'data-step', String(frame.step ?? ''));
        setAttr(haloLabel, 'data-value', v === null || v === undefined ? '' : String(v));
        // Clear of the nodes and their values: about 7 px a character in its 11.5 px monospace.
        const at = edgeLabelAt(a, b, words.length * 7 + 6, layout, width, height, ioBoxes);
        setAttr(haloLabel, 'x', String(Math.round(at.x)));
        setAttr(haloLabel, 'y', String(Math.round(at.y)));
      }
    } else if (sel && sel.kind === 'bias' && nodes[sel.layer + 1]?.[sel.j]) {
      nodes[sel.layer + 1][sel.j].g.classList.add('selected');
    }
    setStyle(halo, 'display', haloShown && !cv ? '' : 'none');
    setStyle(haloLabel, 'display', haloShown ? '' : 'none');
    if (cv) {
      cv.halo = haloShown ? ['x1', 'y1', 'x2', 'y2'].map((k) => Number(halo.getAttribute(k))) : null;
      paintCanvas();
    }
    if (hover) showTooltip(hover);
  }

  function describe(target) {
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
          nextUpdateRow(g, lr, last.opts.real?.weights?.[l]?.[i]?.[j]),
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
    rows.push(nextUpdateRow(shared ? gb[0] : gb?.[j], lr, rb ? (shared ? rb[0] : rb[j]) : undefined));
    return { title: neuronName(l + 1, j, sizes), sub: 'click for the bias chain rule', rows };
  }

  /** The tooltip's "next update" row: the optimizer's real step when known. */
  function nextUpdateRow(g, lr, real) {
    const opt = last.opts.optimizer || 'sgd';
    if (real !== undefined && real !== null) return [opt === 'sgd' ? 'next update −α·∂E/∂w' : `next update (${opt})`, fmt(real)];
    if (opt !== 'sgd') return [`next update (${opt})`, '…'];
    return ['next update −α·∂E/∂w', g === null || g === undefined ? '—' : fmt(-lr * g)];
  }

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

  function showTooltip(h) {
    if (!tooltip) return;
    if (h.t.kind === 'input') {
      const nm = last?.data?.feature_names?.[h.t.k] ?? `x${h.t.k + 1}`;
      const s = Math.min(last?.opts.sample || 0, (last?.data?.x?.length || 1) - 1);
      const v = last?.data?.x?.[s]?.[h.t.k];
      tooltip.show(h.x, h.y, { title: `X[${h.t.k}]`, sub: nm, rows: [[`sample ${s + 1}`, fmt(v)]] });
      return;
    }
    const d = describe(h.t);
    if (d) tooltip.show(h.x, h.y, d);
  }

  /** On the canvas path: the edge under the pointer, hit-tested in the diagram's units. */
  function canvasTarget(ev) {
    if (!cv) return null;
    const box = svg.getBoundingClientRect(); // on pointer events only, never per frame
    if (!box.width || !box.height) return null;
    const e = edgeAt(((ev.clientX - box.left) * width) / box.width, ((ev.clientY - box.top) * height) / box.height);
    return e < 0 ? null : { kind: 'weight', layer: cv.geo.l[e], i: cv.geo.i[e], j: cv.geo.j[e], e };
  }

  /** Light the hovered edge on the canvas (-1: none); repainted only when it changes. */
  function hoverCanvas(e) {
    if (!cv || cv.hover === e) return;
    cv.hover = e;
    setStyle(svg, 'cursor', e < 0 ? '' : 'pointer');
    paintCanvas();
  }

  svg.addEventListener('pointermove', (ev) => {
    const t = targetOf(ev.target) || canvasTarget(ev);
    hoverCanvas(t?.e ?? -1);
    if (!t) {
      if (hover) tooltip?.hide();
      hover = null;
      svg.querySelectorAll('.edge.hovered').forEach((e) => e.classList.remove('hovered'));
      return;
    }
    hover = { t, x: ev.clientX, y: ev.clientY };
    svg.querySelectorAll('.edge.hovered').forEach((e) => e.classList.remove('hovered'));
    if (t.kind === 'weight') edges[t.layer]?.[t.i]?.[t.j]?.classList.add('hovered');
    showTooltip(hover);
  });
  svg.addEventListener('pointerleave', () => {
    hover = null;
    hoverCanvas(-1);
    tooltip?.hide();
    svg.querySelectorAll('.edge.hovered').forEach((e) => e.classList.remove('hovered'));
  });
  svg.addEventListener('click', (ev) => {
    const t = targetOf(ev.target) || canvasTarget(ev);
    if (!t || t.kind === 'input') return;
    onSelect?.(t.kind === 'weight' ? { kind: 'weight', layer: t.layer, i: t.i, j: t.j } : { kind: 'bias', layer: t.layer, j: t.j });
  });

  return {
    update,
    highlight,
    resize() {
      if (last) {
        sizes = null;
        update(last.frame, last.data, last.opts);
      }
    },
    /** Force a rebuild (new data names, new session). */
    reset() {
      sizes = null;
    },
    element: svg,
    /** The canvas the edges are painted on (null: SVG lines, a network of CANVAS_EDGES or fewer). */
    get canvas() {
      return cv ? canvas : null;
    },
  };
}
