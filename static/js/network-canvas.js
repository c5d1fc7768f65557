// A big network's edges on a canvas under the SVG's nodes: its typed arrays (geometry and
// looks), its painter (a worker where there is one), the flowing dashes, and hit-testing.

import { edgeWidth } from './nn.js';
import { paintEdges } from './edge-paint.js';

// Above this many edges they are painted on a canvas under the SVG's nodes: on [2,16,16,16,1]
// (560 edges) restyling SVG lines cost most of a frame at 4x CPU slowdown (benchmarks/page.py).
// Smaller networks (the article's 25) keep one SVG line per edge.
export const CANVAS_EDGES = 100;
const HIT = 6; // half the width of an SVG edge's hit line (.edge-hit: 12px)

/** Paint the edges (the worker paints at its next animation frame; else here, now). */
export function paintCanvas(N) {
  const cv = N.cv;
  if (!cv) return;
  const look = {
    width: N.width,
    height: N.height,
    dpr: window.devicePixelRatio || 1,
    tone: cv.tone,
    lw: cv.lw,
    alpha: cv.alpha,
    hover: cv.hover,
    halo: cv.halo,
    lit: N.lights ? N.lights.edges : null,
    dir: N.lights?.dir || null,
    flow: cv.flow,
    ink: N.ink,
  };
  if (N.painter) {
    N.painter.postMessage(cv.sent ? { look } : { look, geo: cv.geo }); // arrays are copied
    cv.sent = true;
  } else {
    paintEdges(N.canvas, cv.geo, look);
  }
}

/** The dashes travel while a phase flows (the SVG's CSS animation), unless motion is reduced. */
export function flowLoop(N) {
  if (!N.cv || !N.lights?.dir || N.cv.flowing) return;
  if (window.matchMedia?.('(prefers-reduced-motion: reduce)').matches) return;
  N.cv.flowing = true;
  const tick = (t) => {
    if (!N.cv || !N.lights?.dir) {
      if (N.cv) N.cv.flowing = false;
      return;
    }
    N.cv.flow = ((t / 900) % 1) * 12; // 12 px every 0.9 s, as @keyframes flow-forward
    paintCanvas(N);
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}

/** The edge under a point of the diagram (viewBox units), or -1: the nearest within HIT. */
export function edgeAt(N, px, py) {
  const g = N.cv.geo;
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

/** The canvas element, made once, with its painter: a worker where the browser can. */
function makeCanvas(N) {
  const canvas = document.createElement('canvas');
  N.canvas = canvas;
  canvas.className = 'network-canvas';
  canvas.setAttribute('aria-hidden', 'true'); // the SVG (role=img) describes the diagram
  canvas.dataset.testid = 'network-canvas';
  // Rasterised in a worker where the browser can (not on the page's thread at each commit).
  try {
    if (canvas.transferControlToOffscreen) {
      N.painter = new Worker(new URL('./edge-worker.js', import.meta.url), { type: 'module' });
      const off = canvas.transferControlToOffscreen();
      N.painter.postMessage({ canvas: off }, [off]);
      // A worker that cannot start (a failed load): paint here, on a fresh canvas (the
      // transferred one has no context on this thread).
      N.painter.addEventListener('error', () => {
        N.painter = null;
        const fresh = N.canvas.cloneNode();
        N.canvas.replaceWith(fresh);
        N.canvas = fresh;
        if (N.cv) paintCanvas(N);
      });
    }
  } catch {
    N.painter = null; // painted here instead
  }
}

/**
 * The canvas path for `count` edges over `n` weight layers (build): the canvas under the SVG
 * (same size and scale: the viewBox's aspect ratio) and N.cv, one entry per edge in the SVG's order.
 */
export function buildCanvas(N, n, count) {
  const { container, svg, layout, width, height } = N;
  if (!N.canvas) makeCanvas(N);
  container.insertBefore(N.canvas, svg);
  N.canvas.style.aspectRatio = `${width} / ${height}`;
  container.classList.add('edges-on-canvas');
  N.ink = getComputedStyle(container).getPropertyValue('--ink').trim() || N.ink;
  const f32 = () => new Float32Array(count);
  const geo = { n: count, l: new Uint8Array(count), i: new Uint16Array(count), j: new Uint16Array(count), x1: f32(), y1: f32(), x2: f32(), y2: f32() };
  N.cv = { geo, tone: new Float64Array(count).fill(NaN), lw: f32().fill(0.6), alpha: f32().fill(0.5), hover: -1, halo: null, flow: 0, sent: false };
  let e = 0;
  for (let l = 0; l < n; l++) {
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
}

/** The canvas path: the same looks as the SVG's lines (steps included), into the arrays. */
export function toneCanvas(cv, vals, mx) {
  const { geo } = cv;
  for (let e = 0; e < geo.n; e++) {
    const v = vals[geo.l[e]][geo.i[e]][geo.j[e]];
    cv.tone[e] = mx > 0 && v !== null ? Math.round(((v / mx) * 0.55 + Math.sign(v) * 0.45) * 48) / 48 : NaN;
    cv.lw[e] = Math.round(edgeWidth(v, mx) * 4) / 4;
    cv.alpha[e] = v === null ? 0.5 : Math.round((0.35 + 0.65 * Math.sqrt(Math.min(1, Math.abs(v) / (mx || 1)))) * 20) / 20;
  }
}
