// The data plane's output grid and its colours off the page's thread (data-view.js): the page
// posts the weights, the worker answers with the surface's pixels (transferred, not copied).

import { outputGridFast, planePixels } from './grid-fast.js';

self.onmessage = (ev) => {
  const m = ev.data;
  const grid = outputGridFast(m.weights, m.biases, m.xr, m.yr, m.n, m.activation, m.outputActivation, m.k, m.features, m.upTo);
  const px = planePixels(grid, m.zmin, m.zmax, m.multi, m.look || {});
  self.postMessage({ id: m.id, n: m.n, crisp: m.crisp, px }, [px.buffer]);
};
