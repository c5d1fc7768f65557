// What a screen reader needs that the pictures do not say (issue 21, item 9): STEP and E in a
// polite live region (one announcement per change at rest, at most one per PLAYING_MS while a
// run plays, and the step it stopped at), the diagram as tables (edges and neurons with their
// values, in a disclosure under it, kept current while open), and each chart named and
// described (role="img", a label, a description kept current; Plotly's own images hidden).
// It reads what the page already has (the frame, the data, the view): no view changes for it.

import { forward, layerSizes, neuronName, weightName, biasName } from './nn.js';
import { fmt } from './mathml.js';
import { h, morph, setText } from './ui.js';

const PLAYING_MS = 5000; // while playing: a screen reader speaking every frame says nothing
const QUIET_MS = 300; // steps in quick succession (a held →) are said once
const TABLE_MS = 2000; // while playing, the open table follows at most this often
const CHARTS_MS = 1000;
const MAX_ROWS = 2000; // a table row per edge: [2,16,16,16,1] has 560

/** A readout's number as the top bar writes it (six significant digits). */
const said = (x) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : String(Number(x.toPrecision(6))));
const num = (x) => (x === null || x === undefined ? '—' : fmt(x));

/** The charts: where they are, their names, and what each shows now (a sentence). */
const CHARTS = [
  {
    sel: '#loss-plot',
    name: 'Error curve: E against the step',
    describe: (f, d, view) => {
      const test = f.test_loss === null || f.test_loss === undefined ? '' : `, test E ${said(f.test_loss)} (dotted)`;
      return `Training E at each step${view.log ? ' on a log scale' : ''}, from step 0 to step ${f.step}. Now: E ${said(f.loss)}${test}.`;
    },
  },
  {
    sel: '[data-testid="data-plane"]',
    name: 'Data and the decision boundary',
    describe: (f, d) => {
      const n = d?.x?.length ?? 0;
      const t = d?.x_test?.length ? ` and ${d.x_test.length} test samples` : '';
      return `${n} training samples${t} of the ${d?.name ?? ''} data set in the plane of their two inputs, coloured by class; behind them the network's output over the plane at step ${f.step}.`;
    },
  },
  {
    sel: '[data-testid="data-pva"]',
    name: 'Predicted against actual',
    describe: (f, d) => `Each sample's output O at step ${f.step} against its target Y (${d?.x?.length ?? 0} samples); on the diagonal O equals Y. The table beside it lists the same numbers.`,
  },
  {
    sel: '[data-testid="slope-plot"]',
    name: 'Slope: E along one parameter',
    describe: (f) => `E as the selected parameter alone moves, other parameters as at step ${f.step}, with the tangent at the current value. The note under the chart gives the numbers.`,
  },
];

/**
 * Bind to `live` (live.js); `playing()` says whether this screen asked the run to play.
 * Returns {onFrame(msg)}: the transport calls it after live.onFrame on every page.
 */
export function createScreenReaderViews({ live, playing = () => false }) {
  const S = live.state;
  const region = h('p', { class: 'visually-hidden', role: 'status', 'aria-atomic': 'true', id: 'readout-announcer', 'data-testid': 'readout-announcer' });
  // Hidden: read only as the charts' descriptions (aria-describedby reads hidden text).
  const descs = h('div', { id: 'chart-descriptions', hidden: true });
  document.body.append(region, descs);
  const table = createNetworkTable(document.getElementById('network-table'), S);

  let last = null; // the step and E last said ("" before the first frame: nothing to say)
  let saidAt = -Infinity;
  let quiet = null;
  let wasMoving = false;

  function text(f) {
    const test = f.test_loss === null || f.test_loss === undefined ? '' : `, test E ${said(f.test_loss)}`;
    return `Step ${f.step}, E ${said(f.loss)}${test}`;
  }

  function say(f) {
    const t = text(f);
    if (t === last) return;
    last = t;
    saidAt = performance.now();
    region.textContent = t;
  }

  function announce(f) {
    const moving = !!f.playing || playing();
    if (last === null) {
      last = text(f); // the page's first frame: the readouts show it, nobody asked for it
      wasMoving = moving;
      return;
    }
    clearTimeout(quiet);
    if (moving) {
      if (performance.now() - saidAt >= PLAYING_MS) say(f);
    } else if (wasMoving) say(f); // stopped: the step it stopped at, at once
    else quiet = setTimeout(() => say(S.frame || f), QUIET_MS);
    wasMoving = moving;
  }

  let chartsAt = -Infinity;
  let chartsLater = null;
  function nameCharts() {
    clearTimeout(chartsLater);
    chartsLater = null;
    const f = S.frame;
    if (!f) return;
    chartsAt = performance.now();
    for (const [k, c] of CHARTS.entries()) {
      const plot = document.querySelector(c.sel);
      if (!plot) continue;
      const id = `chart-desc-${k}`;
      let desc = document.getElementById(id);
      if (!desc) descs.append((desc = h('p', { id })));
      setText(desc, c.describe(f, S.data, S.view));
      if (plot.getAttribute('role') !== 'img') plot.setAttribute('role', 'img');
      if (plot.getAttribute('aria-label') !== c.name) plot.setAttribute('aria-label', c.name);
      if (plot.getAttribute('aria-describedby') !== id) plot.setAttribute('aria-describedby', id);
      // Plotly's layers are unnamed images of their own: the chart is one image, named above.
      for (const inner of plot.querySelectorAll('.plot-container, svg, canvas')) {
        if (!inner.hasAttribute('aria-hidden')) inner.setAttribute('aria-hidden', 'true');
      }
    }
  }

  function onFrame(msg) {
    const f = S.frame || msg;
    announce(f);
    table.onFrame(!!f.playing || playing());
    // Charts: now and then while frames come, and once after they stop (Plotly draws at rest).
    if (performance.now() - chartsAt >= CHARTS_MS) nameCharts();
    if (!chartsLater) chartsLater = setTimeout(nameCharts, CHARTS_MS);
  }

  return { onFrame, nameCharts, table };
}

/**
 * The diagram as two tables in a disclosure (`<details id="network-table">`): every edge
 * (its name, from, to, weight, gradient) and every neuron (its activation for the chosen
 * sample, bias, bias gradient). Built while open only; while playing at most every TABLE_MS.
 */
function createNetworkTable(root, S) {
  if (!root) return { onFrame() {}, render() {} };
  const body = root.querySelector('.network-table-body') || root;
  let at = -Infinity;
  let later = null;
  let shape = '';

  function render() {
    clearTimeout(later);
    later = null;
    const f = S.frame;
    if (!root.open || !f?.weights) return;
    at = performance.now();
    const built = build(f, S.data, S.view?.sample || 0);
    const old = body.firstElementChild;
    if (old && shape === built.shape) morph(old, built.el);
    else body.replaceChildren(built.el);
    shape = built.shape;
  }

  root.addEventListener('toggle', render);

  return {
    render,
    onFrame(moving) {
      if (!root.open) return;
      if (!moving) render();
      else if (performance.now() - at >= TABLE_MS) render();
      else if (!later) later = setTimeout(render, TABLE_MS);
    },
  };
}

/** The tables for one frame: {el, shape} (same shape: updated in place, focus kept). */
function build(f, data, sample) {
  const sizes = layerSizes(f);
  const L = sizes.length - 1;
  const gW = f.gradients?.weights;
  const gB = f.gradients?.biases;
  const th = (t) => h('th', { scope: 'col' }, t);
  const edges = [];
  for (let l = 0; l < L && edges.length < MAX_ROWS; l++) {
    for (let i = 0; i < sizes[l]; i++) {
      for (let j = 0; j < sizes[l + 1] && edges.length < MAX_ROWS; j++) {
        edges.push(h('tr', {},
          h('th', { scope: 'row' }, `${weightName(l, L)}[${i},${j}]`),
          h('td', {}, neuronName(l, i, sizes)),
          h('td', {}, neuronName(l + 1, j, sizes)),
          h('td', {}, num(f.weights[l]?.[i]?.[j])),
          h('td', {}, num(gW?.[l]?.[i]?.[j])),
        ));
      }
    }
  }
  const xs = data?.x;
  const s = xs?.length ? Math.min(sample, xs.length - 1) : -1;
  const acts = s >= 0 ? forward(f.weights, f.biases, xs[s], data.activation, data.output_activation) : null;
  const nodes = [];
  for (let k = 0; k <= L; k++) {
    for (let j = 0; j < sizes[k]; j++) {
      const b = k > 0 ? f.biases[k - 1] : null;
      const shared = b && b.length === 1 && sizes[k] > 1;
      const bName = k > 0 ? (shared ? biasName(k - 1, L) : `${biasName(k - 1, L)}[${j}]`) : '—';
      nodes.push(h('tr', {},
        h('th', { scope: 'row' }, neuronName(k, j, sizes)),
        h('td', {}, acts ? num(acts.a[k]?.[j]) : '—'),
        h('td', {}, bName),
        h('td', {}, k > 0 ? num(shared ? b[0] : b?.[j]) : '—'),
        h('td', {}, k > 0 ? num(shared ? gB?.[k - 1]?.[0] : gB?.[k - 1]?.[j]) : '—'),
      ));
    }
  }
  const el = h('div', { class: 'network-tables' },
    h('table', { class: 'network-edges', 'data-testid': 'network-table-edges' },
      h('caption', {}, `Edges at step ${f.step}`),
      h('thead', {}, h('tr', {}, th('Edge'), th('From'), th('To'), th('Weight W'), th('Gradient ∂E/∂W'))),
      h('tbody', {}, edges),
    ),
    h('table', { class: 'network-nodes', 'data-testid': 'network-table-nodes' },
      h('caption', {}, acts ? `Neurons at step ${f.step}, sample ${s + 1}` : `Neurons at step ${f.step}`),
      h('thead', {}, h('tr', {}, th('Neuron'), th('Activation'), th('Bias'), th('Bias value'), th('Bias gradient'))),
      h('tbody', {}, nodes),
    ),
  );
  return { el, shape: `${sizes.join('-')}:${!!acts}` };
}
