// A big network's edges painted on a 2D canvas from typed arrays (network-view.js): in a worker
// on an OffscreenCanvas where the browser has one (edge-worker.js), else on the page's thread.

import { divergingRGB } from './nn.js';

const colours = new Map(); // tone -> 'rgb(...)': 97 tones a side at most (steps of 1/48)

/** The CSS colour of a tone in [-1, 1] (NaN: no value, grey), as the SVG edges have it. */
function colour(tone) {
  let c = colours.get(tone);
  if (c === undefined) {
    c = divergingRGB(Number.isNaN(tone) ? null : tone);
    colours.set(tone, c);
  }
  return c;
}

/**
 * Paint the edges: `geo` {n, l, x1, y1, x2, y2} (viewBox units, fixed per build) and `look`
 * {width, height, dpr, tone, lw, alpha, hover, halo, lit, dir, flow, ink} (per frame).
 * The looks of app.css / phases.css: round caps, the halo under the edges, the hovered edge in
 * ink, the phase stepper's lit layers at 0.95 (the others 0.07), dashed while the signal flows.
 */
export function paintEdges(canvas, geo, look) {
  const w = Math.round(look.width * look.dpr);
  const h = Math.round(look.height * look.dpr);
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const g = canvas.getContext('2d');
  g.setTransform(look.dpr, 0, 0, look.dpr, 0, 0);
  g.clearRect(0, 0, look.width, look.height);
  g.lineCap = 'round';
  if (look.halo) {
    g.globalAlpha = 0.28;
    g.strokeStyle = '#1d2430';
    g.lineWidth = 11;
    g.beginPath();
    g.moveTo(look.halo[0], look.halo[1]);
    g.lineTo(look.halo[2], look.halo[3]);
    g.stroke();
  }
  const lit = look.lit ? new Set(look.lit) : null;
  for (let e = 0; e < geo.n; e++) {
    const on = !!lit && lit.has(geo.l[e]);
    const dashed = on && !!look.dir;
    let alpha = lit ? (on ? 0.95 : 0.07) : look.alpha[e];
    let stroke = colour(look.tone[e]);
    if (e === look.hover) {
      stroke = look.ink;
      alpha = 1;
    }
    g.globalAlpha = alpha;
    g.strokeStyle = stroke;
    g.lineWidth = look.lw[e];
    if (dashed) {
      g.setLineDash([7, 5]);
      g.lineDashOffset = look.dir === 'forward' ? 12 - look.flow : look.flow;
    }
    g.beginPath();
    g.moveTo(geo.x1[e], geo.y1[e]);
    g.lineTo(geo.x2[e], geo.y2[e]);
    g.stroke();
    if (dashed) g.setLineDash([]);
  }
  g.globalAlpha = 1;
}
