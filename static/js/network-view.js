// The network diagram in SVG: nodes by layer filled with the neuron's activation for one
// sample, edges coloured by sign and sized by magnitude (weights, gradients or the next
// update), bias rings, hover details and click-to-select for the chain-rule panel.
// Its parts: network-layout.js (geometry), network-build.js (the SVG built per shape),
// network-paint.js (the looks per frame), network-canvas.js (a big network's edges),
// network-hit.js (pointer), network-legend.js (the fill key), network-svg.js (helpers).

import { biasValues, edgeValues, maxAbs } from './nn.js';
import { el } from './network-svg.js';
import { build } from './network-build.js';
import { highlight, paintLines, paintNodes, paintSelection } from './network-paint.js';
import { paintCanvas, toneCanvas } from './network-canvas.js';
import { drawLegend } from './network-legend.js';
import { bindPointer, showTooltip } from './network-hit.js';

export { edgeLabelAt, networkLayout, nodeFontSize } from './network-layout.js';
export { CANVAS_EDGES } from './network-canvas.js';

/** The view's state `N`, shared by its parts: the SVG, the shape built, the canvas path, the hover. */
function createNetworkState(container, tooltip, onStale) {
  const svg = el('svg', { class: 'network-svg', role: 'img', 'aria-label': 'Network diagram' });
  container.append(svg);
  const N = {
    container,
    svg,
    tooltip,
    sizes: null,
    layout: null,
    edges: [], // per layer: [[line...]]
    nodes: [], // per layer: [{circle, text, ring}]
    hover: null,
    last: null,
    width: 0,
    height: 0,
    names: null,
    halo: null,
    staleWidth: false,
    seenWidth: 0, // the container's width as the ResizeObserver last saw it (0: not yet)
    haloLabel: null,
    ioBoxes: [], // the input and output names' boxes (approximate), kept clear by the edge's label
    lights: null, // the phase stepper's highlight: {edges, nodes, dir}
    // The canvas path (networks over CANVAS_EDGES edges): one entry per edge, in the SVG's order.
    canvas: null,
    cv: null, // {geo: {n, l, i, j, x1, y1, x2, y2}, tone, lw, alpha, hover, halo, flow}
    painter: null, // the worker painting the canvas (edge-worker.js), where there is one
    ink: '#1d2430',
  };
  // Width changes (window, grid reflow) rebuild on the next update; never read layout per frame,
  // nor at the first build (reading clientWidth there forced a whole-page layout at load).
  new ResizeObserver((entries) => {
    N.seenWidth = entries[entries.length - 1].contentRect.width;
    if (N.width && Math.abs((N.seenWidth || 640) - N.width) > 24 && !N.staleWidth) {
      N.staleWidth = true;
      onStale?.(); // the page draws again: the next update rebuilds at the new width
    }
  }).observe(container);
  return N;
}

/**
 * Create the network view in `container`. Returns {update(frame, data, opts), resize()}.
 * opts: {mode, sample, selection}; onSelect(sel) is called when an edge or node is clicked.
 */
export function createNetworkView(container, { onSelect, tooltip, onStale, legend = null } = {}) {
  const N = createNetworkState(container, tooltip, onStale);

  function update(frame, data, opts) {
    N.last = { frame, data, opts };
    const newSizes = [frame.weights[0].length, ...frame.weights.map((W) => (W[0] ? W[0].length : 0))];
    if (!N.sizes || newSizes.join() !== N.sizes.join() || N.staleWidth) {
      N.staleWidth = false;
      build(N, newSizes, data);
    }
    const L = N.sizes.length - 1;
    const mode = opts.mode || 'weights';
    const real = opts.real || null;
    const vals = edgeValues(frame, mode, real);
    const bvals = biasValues(frame, mode, real);
    const mx = maxAbs(vals);
    const bmx = maxAbs(bvals);
    if (N.cv) toneCanvas(N.cv, vals, mx); // painted below
    paintLines(N, vals, mx, L);
    const scales = paintNodes(N, frame, data, opts, bvals, bmx, L);
    if (legend) drawLegend(legend, scales, data, opts);
    const haloShown = paintSelection(N, frame, opts, vals, mode, real, L);
    if (N.cv) {
      N.cv.halo = haloShown ? ['x1', 'y1', 'x2', 'y2'].map((k) => Number(N.halo.getAttribute(k))) : null;
      paintCanvas(N);
    }
    if (N.hover) showTooltip(N, N.hover);
  }

  bindPointer(N, onSelect);

  return {
    update,
    highlight: (spec) => highlight(N, spec),
    resize() {
      if (N.last) {
        N.sizes = null;
        update(N.last.frame, N.last.data, N.last.opts);
      }
    },
    /** Force a rebuild (new data names, new session). */
    reset() {
      N.sizes = null;
    },
    element: N.svg,
    /** The canvas the edges are painted on (null: SVG lines, a network of CANVAS_EDGES or fewer). */
    get canvas() {
      return N.cv ? N.canvas : null;
    },
  };
}
