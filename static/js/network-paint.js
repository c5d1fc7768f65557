// The diagram's looks at each frame: the edges' colours and widths, the nodes' fills, values
// and bias rings, the selected edge's halo and name, and the phase stepper's lit layers.
// Every style and text is written only when it changes.

import { activationScale, divergingRGB, edgeWidth, forward, inkOn, paramName, scaleRGB } from './nn.js';
import { fmt } from './mathml.js';
import { setAttr, setText } from './ui.js';
import { edgeLabelAt, nodeFontSize } from './network-layout.js';
import { inputScaleOf } from './network-legend.js';
import { flowLoop, paintCanvas } from './network-canvas.js';
import { setStyle } from './network-svg.js';

/** Light the edges and nodes one phase touches (null: the whole network as usual). */
export function highlight(N, spec) {
  const { svg } = N;
  N.lights = spec;
  svg.classList.toggle('phased', !!spec);
  svg.classList.toggle('flow-forward', spec?.dir === 'forward');
  svg.classList.toggle('flow-backward', spec?.dir === 'backward');
  N.edges.forEach((rows, l) => {
    const on = !!spec && spec.edges.includes(l);
    for (const r of rows) for (const line of r) line.classList.toggle('lit', on);
  });
  N.nodes.forEach((col, l) => {
    const on = !!spec && spec.nodes.includes(l);
    for (const n of col) n.g.classList.toggle('lit', on);
  });
  if (N.cv) {
    paintCanvas(N);
    flowLoop(N);
  }
}

/** The SVG lines' looks (networks of CANVAS_EDGES edges or fewer). */
export function paintLines(N, vals, mx, n) {
  for (let l = 0; l < n && !N.cv; l++) {
    const rows = N.edges[l];
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
}

/**
 * The nodes for the chosen sample: fills on each layer's activation range (inputs on their
 * column's), values, bias rings. Returns the scales used, one per layer, for the key.
 */
export function paintNodes(N, frame, data, opts, bvals, bmx, n) {
  const { svg, layout } = N;
  // Activations for the chosen sample.
  let acts = null;
  const xs = data?.x;
  if (xs && xs.length) {
    const s = Math.min(opts.sample || 0, xs.length - 1);
    acts = forward(frame.weights, frame.biases, xs[s], data.activation, data.output_activation).a;
    const ys = data.y[s] || [];
    svg.querySelectorAll('.io-target').forEach((t) => {
      const k = Number(t.dataset.target);
      setText(t, `Y = ${fmt(Array.isArray(ys) ? ys[k] : ys, N.width < 520 ? 2 : 3)}`);
    });
  }
  // Each layer's fill on its own activation's range (inputs on their column's range).
  const scales = [];
  N.nodes.forEach((col, l) => {
    const a = acts ? acts[l] : null;
    const act = l === 0 ? 'input' : l === n ? data?.output_activation || 'sigmoid' : data?.activation || 'sigmoid';
    const scale = l === 0 ? null : activationScale(act, a || []);
    scales.push({ act, scale });
    col.forEach((nd, k) => {
      const v = a ? a[k] : NaN;
      const sc = l === 0 ? inputScaleOf(data, k) : scale;
      const fill = a && sc ? scaleRGB(v, sc) : '#f2f3f5';
      setStyle(nd.circle, 'fill', fill);
      // What the fill shows, for the tests and the curious: the value and its scale.
      setAttr(nd.g, 'data-value', a ? String(v) : '');
      setAttr(nd.g, 'data-scale', sc ? `${sc.kind} ${sc.lo} ${sc.hi}` : '');
      if (!nd.hidden) {
        // Too small to show on a big network: not written. A value wider than its circle is
        // written smaller, or not at all (the node's tooltip has it).
        const words = a ? fmt(v, 2) : '';
        const px = nodeFontSize(words.length, layout.r);
        setText(nd.text, px ? words : '');
        setStyle(nd.text, 'fontSize', px ? `${px}px` : '');
        setStyle(nd.text, 'fill', inkOn(fill)); // the better contrast, never under 4.5:1
      }
      if (l > 0) {
        const b = bvals[l - 1];
        const bv = b ? (b.length === 1 ? b[0] : b[k]) : null;
        setStyle(nd.ring, 'stroke', divergingRGB(bmx > 0 && bv !== null ? Math.round(((bv / bmx) * 0.55 + Math.sign(bv) * 0.45) * 48) / 48 : null));
        setStyle(nd.ring, 'strokeWidth', (Math.round(edgeWidth(bv, bmx, 0.5, 4) * 4) / 4).toFixed(2));
      } else {
        setStyle(nd.ring, 'strokeWidth', '0');
      }
    });
  });
  return scales;
}

/** The selected edge's halo and name (its value in the mode shown), or the selected bias's node. */
export function paintSelection(N, frame, opts, vals, mode, real, n) {
  const { svg, layout, nodes, halo, haloLabel } = N;
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
      const nm = paramName(sel, n);
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
      const at = edgeLabelAt(a, b, words.length * 7 + 6, layout, N.width, N.height, N.ioBoxes);
      setAttr(haloLabel, 'x', String(Math.round(at.x)));
      setAttr(haloLabel, 'y', String(Math.round(at.y)));
    }
  } else if (sel && sel.kind === 'bias' && nodes[sel.layer + 1]?.[sel.j]) {
    nodes[sel.layer + 1][sel.j].g.classList.add('selected');
  }
  setStyle(halo, 'display', haloShown && !N.cv ? '' : 'none');
  setStyle(haloLabel, 'display', haloShown ? '' : 'none');
  return haloShown;
}
