// The edges' painter off the page's thread (network-view.js): an OffscreenCanvas rasterised
// here, so the page's thread only posts typed arrays (a canvas painted there is rasterised on it
// at every commit: ~10 ms for 560 edges, benchmarks/page.py).

import { paintEdges } from './edge-paint.js';

let canvas = null;
let geo = null;
let look = null;
let pending = false;

/** Paint the newest look once per animation frame: frames that queued up are skipped. */
function paint() {
  pending = false;
  if (canvas && geo && look) paintEdges(canvas, geo, look);
}

self.onmessage = (ev) => {
  const m = ev.data;
  if (m.canvas) canvas = m.canvas;
  if (m.geo) geo = m.geo;
  if (m.look) look = m.look;
  if (!pending) {
    pending = true;
    (self.requestAnimationFrame || ((f) => setTimeout(f, 0)))(paint);
  }
};
