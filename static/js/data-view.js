// The data: for 2-input data sets the network's output over the plane (decision boundary or
// regression surface) under the train/test points; otherwise a table of observations with
// Y, O and the error, and a predicted-vs-actual plot.

import { CATEGORICAL, PLOTLY_DIVERGING, argmax, columnRange, outputGrid, predict, POS_HEX, NEG_HEX, NEG_TEXT } from './nn.js';
import { fmt } from './mathml.js';
import { h, resizeAlone, runPlaying, setText } from './ui.js';
import { withPlotly } from './plotly-loader.js';
import { outputGridFast, planePixels } from './grid-fast.js';
import { createCanvasChart } from './canvas-chart.js';

const GRID = 40;
// While playing the surface moves 3-4 times a second: a coarser grid (CSS scales it smoothly)
// costs half as much; at rest it is drawn at GRID again.
const GRID_PLAYING = 28;
const GRID_DISCRETE = 64; // hard regions at rest: a finer grid, so their edges are not steps
const MAX_TABLE_ROWS = 60;

const PLOT_FONT = { family: 'system-ui, -apple-system, "Segoe UI", sans-serif', size: 12, color: '#3a4352' };

/** Scalar target of a row (y rows may be arrays or numbers). */
export const yOf = (y, k = 0) => (Array.isArray(y) ? y[k] : y);

/**
 * Maps back to the original units of scaled custom data (pure): inputs x = mean + X std,
 * targets y = min + Y (max - min). Identity where the data were not scaled.
 */
export function originalUnits(data) {
  const s = data?.input_scale;
  const t = data?.targets_scaled ? data.target_scale : null;
  const pick = (v, k) => (Array.isArray(v) ? v[k] : v);
  return {
    scaled: Boolean(s || t),
    x: (v, k) => (s ? s.mean[k] + v * s.std[k] : v),
    y: (v, k = 0) => (t ? pick(t.min, k) + v * (pick(t.max, k) - pick(t.min, k)) : v),
  };
}

/** A number in a file's own units: 234,512 rather than 2.345e5 (dollars, square feet). */
export function fmtUnits(v) {
  if (!Number.isFinite(v)) return fmt(v);
  const a = Math.abs(v);
  if (a >= 1000 && a < 1e15) return Math.round(v).toLocaleString('en-US').replace(/^-/, '−');
  return fmt(v, 4);
}

/** The range to show for values in [lo, hi]: `current` while it holds them and is not 3x too wide. */
export function pointsRange(lo, hi, current) {
  const span = hi - lo || 0.2;
  if (current && lo >= current[0] && hi <= current[1] && current[1] - current[0] <= 3 * span) return current;
  const pad = span * 0.15;
  return [lo - pad, hi + pad];
}

/** Paint the predicted-versus-actual chart: the O = Y diagonal, then the points of each group. */
function paintPva(ctx, map, groups) {
  const [r0, r1] = map.ranges.x;
  ctx.strokeStyle = '#9aa3b2';
  ctx.lineWidth = 1;
  ctx.setLineDash([5, 4]);
  ctx.beginPath();
  ctx.moveTo(map.X(r0), map.Y(r0));
  ctx.lineTo(map.X(r1), map.Y(r1));
  ctx.stroke();
  ctx.setLineDash([]);
  for (const g of groups) {
    ctx.fillStyle = g.color;
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 1;
    for (let k = 0; k < g.x.length; k++) {
      if (!Number.isFinite(g.x[k]) || !Number.isFinite(g.y[k])) continue;
      const X = map.X(g.x[k]);
      const Y = map.Y(g.y[k]);
      ctx.beginPath();
      if (g.diamond) {
        ctx.moveTo(X, Y - 5.5);
        ctx.lineTo(X + 5.5, Y);
        ctx.lineTo(X, Y + 5.5);
        ctx.lineTo(X - 5.5, Y);
        ctx.closePath();
        ctx.fill();
      } else {
        ctx.arc(X, Y, 4.5, 0, 2 * Math.PI);
        ctx.fill();
        ctx.stroke();
      }
    }
  }
}

/** Range of the targets, used for the colour scale. */
export function targetRange(data) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const y of [...data.y, ...(data.y_test || [])]) {
    const v = yOf(y);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo)) return [0, 1];
  if (hi - lo < 1e-9) return [lo - 1, hi + 1];
  return [lo, hi];
}

/**
 * Plotly traces for a 2-input data set: the train and test points (the output surface is
 * painted on a canvas underneath, see paintSurface). Pure.
 */
export function planeSetup(data, outs, showScale = true) {
  const rows = [...data.x, ...(data.x_test || [])];
  const xr = columnRange(rows, 0);
  const yr = columnRange(rows, 1);
  const multi = outs > 1;
  const [zmin, zmax] = multi ? [0, outs - 1] : targetRange(data);
  const colorOf = (y) => (multi ? CATEGORICAL[argmax(y)] : yOf(y));
  const pts = (xs, ys, name, symbol, line, scale) => ({
    type: 'scatter',
    mode: 'markers',
    name,
    x: xs.map((r) => r[0]),
    y: xs.map((r) => r[1]),
    customdata: ys.map((y) => yOf(y)),
    marker: multi
      ? { color: ys.map(colorOf), size: 7, symbol, line }
      : {
          color: ys.map(colorOf),
          cmin: zmin,
          cmax: zmax,
          colorscale: PLOTLY_DIVERGING,
          size: 7,
          symbol,
          line,
          showscale: scale && showScale,
          colorbar: { thickness: 10, len: 0.8, outlinewidth: 0, title: { text: data.targets_scaled ? 'O, Y (scaled)' : 'O, Y', side: 'right' } },
        },
    hovertemplate: `${name}<br>${data.feature_names?.[0] ?? 'x1'} %{x:.2f}, ${data.feature_names?.[1] ?? 'x2'} %{y:.2f}<br>Y = %{customdata:.3g}<extra></extra>`,
  });
  const traces = [pts(data.x, data.y, 'train', 'circle', { color: '#ffffff', width: 1 }, true)];
  if (data.x_test && data.x_test.length) traces.push(pts(data.x_test, data.y_test, 'test', 'diamond', { color: '#1d2430', width: 1.2 }, false));
  return { traces, xr, yr, zmin, zmax, multi };
}

/**
 * Paint an n x n output grid (rows from the bottom) onto `canvas`, one pixel a cell: CSS scales
 * it to the plot area (smoothly; `pixelated` for classes) and app.css gives it its 0.8 opacity.
 * Scaling it here (drawImage onto a plot-sized canvas) cost the page's thread a big raster at
 * each repaint and commit while playing (benchmarks/page.py).
 */
export function paintSurface(canvas, grid, zmin, zmax, multi, look = {}) {
  putSurface(canvas, planePixels(grid, zmin, zmax, multi, look), grid.z.length, crisp(multi, look));
}

// Scaled smoothly, hard regions too: at GRID_DISCRETE cells a side their edges stay sharp
// enough, without the staircase of `pixelated` cells.
const crisp = () => false;

/** Put n x n RGBA pixels (planePixels) on the surface canvas. */
function putSurface(canvas, px, n, pixelated) {
  if (canvas.width !== n || canvas.height !== n) {
    canvas.width = n;
    canvas.height = n;
  }
  canvas.classList.toggle('pixelated', !!pixelated);
  canvas.getContext('2d').putImageData(new ImageData(px, n, n), 0, 0);
}

/** The line above the data: name, kind, how many samples, inputs and outputs. */
function summaryText(data) {
  const nTrain = data.x.length;
  const nTest = data.x_test?.length ?? 0;
  const outs = data.target_names?.length ?? 1;
  const inputs = data.inputs?.length ?? data.feature_names?.length ?? 0;
  return `${data.name} · ${data.kind} · ${nTrain} training${nTest ? ` + ${nTest} test` : ''} samples · ${inputs} inputs → ${outs} output${outs > 1 ? 's' : ''}`;
}

/**
 * Create the data view in `root`. Returns {setData(data), update(frame, opts), showNeuron(who)}.
 * onNeuron(who | null) is called when the person goes back from a neuron's map to the output.
 */
export function createDataView(root, { onSample, onNeuron, onDiscrete } = {}) {
  let data = null;
  let mode = null; // 'plane' | 'table'
  let plotDiv = null;
  let tableBody = null;
  let tableRows = [];
  let summary = null;
  let planeSample = -1;
  let plane = null; // {xr, yr, zmin, zmax, multi}
  let surface = null;
  let lastFrame = null;
  let waiting = null; // the newest {frame, sample} asked for before Plotly was there
  let pva = null; // the predicted-vs-actual chart (canvas-chart.js): one renderer, no Plotly
  let pvaRange = null;
  let pvaGroups = [];
  // A neuron's map instead of the output (a thumbnail was clicked): {layer, j, act, output, name}.
  let neuron = null;
  let discrete = false; // Playground's "discretize output": classes as hard regions
  let tools = null; // {row, toggle, note, name, back}

  /** Put the canvas exactly under Plotly's plot area. */
  function placeSurface() {
    const sz = plotDiv?._fullLayout?._size;
    if (!sz || !surface) return;
    surface.style.left = `${sz.l}px`;
    surface.style.top = `${sz.t}px`;
    surface.style.width = `${sz.w}px`;
    surface.style.height = `${sz.h}px`;
  }

  // While playing, the grid is computed in a worker (surface-worker.js): 8-10 ms of the page's
  // thread at 4x CPU slowdown for [2,16,16,16,1], 3-4 times a second. At rest, and where a
  // worker cannot start, it is computed here, at once.
  let worker; // undefined: not tried yet; null: none
  let asked = 0; // the newest request: an answer to an older one is dropped
  let inFlight = false;
  let queued = null;
  function surfaceWorker() {
    if (worker !== undefined) return worker;
    try {
      worker = new Worker(new URL('./surface-worker.js', import.meta.url), { type: 'module' });
      worker.onmessage = (ev) => {
        inFlight = false;
        const m = ev.data;
        if (m.id === asked && surface) {
          putSurface(surface, m.px, m.n, m.crisp);
          tagSurface(postedTag);
          if (surface.dataset.by !== 'worker') surface.dataset.by = 'worker'; // who computed it
        }
        if (queued) post(queued);
      };
      worker.onerror = () => {
        worker = null; // painted here from now on
        inFlight = false;
        queued = null;
        if (lastFrame) paint(lastFrame);
      };
    } catch {
      worker = null;
    }
    return worker;
  }
  function post(job) {
    queued = null;
    if (inFlight) {
      queued = job; // the newest waits; older ones are skipped
      return;
    }
    inFlight = true;
    worker.postMessage(job);
  }

  // What the surface shows, for whoever reads the page (tests): 'output', 'discrete' or 'L-j'.
  let postedTag = 'output';
  const lookTag = (lk) => (neuron ? `${neuron.layer}-${neuron.j}` : lk.discrete ? 'discrete' : 'output');
  const tagSurface = (tag) => surface && surface.dataset.look !== tag && (surface.dataset.look = tag);

  /** What the plane paints: the output (its classes hard with discretize), or a neuron's map. */
  function look() {
    if (neuron) {
      // A lone output on the plane's own scale (as its thumbnail): the same colours as the output.
      const range = neuron.output && !plane?.multi ? [plane.zmin, plane.zmax] : null;
      return { neuron: { act: neuron.act, k: neuron.j, output: neuron.output, range } };
    }
    return { discrete: discrete && data?.kind === 'classification' };
  }

  function paint(frame) {
    if (!plane || !surface) return;
    const playing = runPlaying();
    const lk = look();
    const n = playing ? GRID_PLAYING : lk.discrete ? GRID_DISCRETE : GRID;
    // A neuron: its layer's activations, neuron j. Classes: the largest output and its share.
    const k = neuron ? neuron.j : plane.multi ? 'soft' : 0;
    const upTo = neuron ? neuron.layer : null;
    asked += 1;
    if (playing && surfaceWorker()) {
      postedTag = lookTag(lk);
      post({ id: asked, weights: frame.weights, biases: frame.biases, xr: plane.xr, yr: plane.yr, n, activation: data.activation, outputActivation: data.output_activation, k, upTo, look: lk, crisp: crisp(plane.multi, lk), zmin: plane.zmin, zmax: plane.zmax, multi: plane.multi, features: data.points ? data.features : null });
      return;
    }
    const grid = outputGridFast(frame.weights, frame.biases, plane.xr, plane.yr, n, data.activation, data.output_activation, k, data.points ? data.features : null, upTo);
    paintSurface(surface, grid, plane.zmin, plane.zmax, plane.multi, lk);
    tagSurface(lookTag(lk));
    if (surface.dataset.by !== 'page') surface.dataset.by = 'page';
  }
  const config = { displayModeBar: false, responsive: true };

  function setData(d) {
    // Feature inputs (x₁², sin x₁, ...): the plane draws the points (x1, x2) and maps its grid
    // through the same features; `inputs` keeps the network's input names for the summary.
    if (d?.points) d = { ...d, x: d.points, x_test: d.points_test, inputs: d.feature_names, feature_names: ['x1', 'x2'] };
    data = d;
    resizeAlone(root); // another data set, another height (ui.js layAlone)
    // Answers from the worker for the last data set are dropped.
    asked += 1;
    root.replaceChildren();
    if (window.Plotly && plotDiv) window.Plotly.purge(plotDiv);
    plotDiv = null;
    pva = null;
    tableBody = null;
    tableRows = [];
    planeSample = -1;
    plane = null;
    surface = null;
    tools = null;
    neuron = null; // another data set, another network: the plane shows the output again
    if (!d) return;
    const inputs = d.x[0]?.length ?? 0;
    mode = inputs === 2 ? 'plane' : 'table';
    summary = h('p', { class: 'data-summary' }, summaryText(d)); // now: set by update() it moved the panel
    root.append(summary);
    if (mode === 'plane') {
      plotDiv = h('div', { class: 'plot plane-plot', 'data-testid': 'data-plane' });
      surface = h('canvas', { class: 'surface', 'data-testid': 'data-surface', 'aria-hidden': 'true' });
      root.append(planeTools(d), h('div', { class: 'plane-wrap' }, surface, plotDiv));
    }
    if (mode === 'table' || d.name === 'custom') {
      const pvaDiv = mode === 'table' ? h('div', { class: 'plot pva-plot', 'data-testid': 'data-pva' }) : null;
      pva = pvaDiv ? createCanvasChart(pvaDiv, { titles: ['actual Y', 'predicted O'], margin: { l: 44, r: 8, t: 8, b: 38 }, hover: pvaHover, label: 'predicted-versus-actual plot' }) : null;
      pvaRange = null;
      pvaGroups = [];
      const table = h('table', { class: 'obs-table', 'data-testid': 'data-table' });
      const head = h('tr', {}, h('th', { scope: 'col' }, '#'));
      (d.feature_names || []).forEach((f, k) => head.append(h('th', { scope: 'col', title: `X[${k}]` }, f)));
      const tname = d.target_names?.[0] ?? 'y';
      head.append(h('th', { scope: 'col', class: 'y', title: tname }, 'Y'), h('th', { scope: 'col', class: 'o' }, 'O'), h('th', { scope: 'col' }, 'O − Y'));
      table.append(h('thead', {}, head));
      tableBody = h('tbody');
      table.append(tableBody);
      const all = d.x.map((x, k) => ({ x, y: d.y[k], split: 'train', k }));
      (d.x_test || []).forEach((x, k) => all.push({ x, y: d.y_test[k], split: 'test', k }));
      const u = originalUnits(d);
      tableRows = all.slice(0, MAX_TABLE_ROWS).map((r) => {
        const tr = h('tr', { class: r.split === 'test' ? 'test' : '', tabindex: r.split === 'train' ? '0' : null });
        tr.append(h('td', { class: 'idx' }, r.split === 'test' ? `t${r.k + 1}` : String(r.k + 1)));
        r.x.forEach((v, k) => tr.append(h('td', {}, u.scaled ? fmtUnits(u.x(v, k)) : fmt(v, 3))));
        const o = h('td', { class: 'o' });
        const e = h('td', { class: 'err' });
        tr.append(h('td', { class: 'y' }, u.scaled ? fmtUnits(u.y(yOf(r.y))) : fmt(yOf(r.y), 3)), o, e);
        if (r.split === 'train') {
          const pick = () => onSample?.(r.k);
          tr.addEventListener('click', pick);
          tr.addEventListener('keydown', (ev) => {
            if (ev.key === 'Enter' || ev.key === ' ') {
              ev.preventDefault(); // Space picks the row, it does not scroll the table
              pick();
            }
          });
        }
        tableBody.append(tr);
        return { ...r, o, e, tr };
      });
      if (u.scaled) root.append(h('p', { class: 'muted', 'data-testid': 'data-units' }, 'In the original units of the file; the network sees them scaled (see Data in the sidebar).'));
      const more = all.length > MAX_TABLE_ROWS ? h('p', { class: 'muted' }, `Showing ${MAX_TABLE_ROWS} of ${all.length} observations.`) : null;
      const pvaWrap = pva ? h('div', { class: 'pva-wrap' }, pva.element) : null;
      root.append(h('div', { class: 'data-split' }, h('div', { class: 'table-wrap' }, table, more), pvaWrap));
    }
  }

  /** The row above the plane: the discretize toggle (class sets) and which neuron is shown. */
  function planeTools(d) {
    const toggle = h('input', { type: 'checkbox', 'data-testid': 'discretize-toggle' });
    toggle.checked = discrete;
    toggle.addEventListener('change', () => {
      discrete = toggle.checked;
      if (lastFrame) paint(lastFrame);
      onDiscrete?.(discrete); // the page's view: its link, and a room's participants follow it
    });
    const check = h('label', { class: 'check discretize', title: 'Each point of the plane in its class: O ≥ 0.5, or the largest output' }, toggle, ' Discretize');
    check.hidden = d.kind !== 'classification';
    const name = h('strong', { 'data-testid': 'plane-neuron-name' });
    const back = h('button', { type: 'button', class: 'link-button', 'data-testid': 'plane-output' }, 'Back to the output');
    back.addEventListener('click', () => {
      showNeuron(null);
      onNeuron?.(null);
    });
    const note = h('span', { class: 'plane-neuron', 'data-testid': 'plane-neuron' }, 'The plane shows neuron ', name, ' ', back);
    note.hidden = true;
    tools = { row: h('div', { class: 'plane-tools' }, check, note), toggle, check, note, name };
    return tools.row;
  }

  /** Show a neuron's map on the plane (who: {layer, j, act, output, name}), or null: the output. */
  function showNeuron(who) {
    const same = (a, b) => (a && b ? a.layer === b.layer && a.j === b.j : a === b);
    if (same(neuron, who)) return;
    neuron = who ? { ...who } : null;
    if (tools) {
      tools.note.hidden = !neuron;
      tools.name.textContent = neuron ? neuron.name : '';
      tools.check.classList.toggle('inactive', !!neuron); // discretize is the output's
    }
    // The colour bar is the output's: the plane is set up again without it for a neuron.
    planeSample = -1;
    if (lastFrame) update(lastFrame, { sample: lastSample });
  }

  function fillTable(frame, sample) {
    const rows = tableRows.map((r) => (r.split === 'train' ? data.x[r.k] : data.x_test[r.k]));
    const outs = predict(frame.weights, frame.biases, rows, data.activation, data.output_activation);
    const u = originalUnits(data);
    tableRows.forEach((r, idx) => {
      const o = u.y(outs[idx]?.[0]);
      setText(r.o, u.scaled ? fmtUnits(o) : fmt(o, 3));
      const err = o - u.y(yOf(r.y));
      setText(r.e, u.scaled ? fmtUnits(err) : fmt(err, 3));
      const color = Number.isFinite(err) ? (err >= 0 ? POS_HEX : NEG_TEXT) : '';
      if (r.color !== color) r.e.style.color = r.color = color;
      r.tr.classList.toggle('current', r.split === 'train' && r.k === sample);
    });
  }

  let lastSample = 0;
  function update(frame, { sample = 0 } = {}) {
    if (!data || !frame) return;
    lastSample = sample;
    const nTrain = data.x.length;
    const text = summaryText(data);
    if (summary.textContent !== text) summary.textContent = text;
    if (tableRows.length) fillTable(frame, sample);
    if (mode !== 'plane') {
      if (pva) drawPva(frame);
      return;
    }
    if (!window.Plotly) {
      // The plane waits for Plotly (loaded after the first paint); the newest frame draws then.
      waiting = { frame, sample };
      withPlotly(() => {
        const w = waiting;
        waiting = null;
        if (w) update(w.frame, { sample: w.sample });
      }, root);
      return;
    }
    if (mode === 'plane') {
      // Only the output surface changes from frame to frame: Plotly draws the axes and
      // points once; the surface is painted on the canvas underneath (cheap, every frame).
      lastFrame = frame;
      const outs = frame.weights[frame.weights.length - 1][0].length;
      // A frame of another width (a new run with classes) sets the plane up again.
      if (planeSample === sample && plane && plane.multi === outs > 1) {
        paint(frame);
        return;
      }
      planeSample = sample;
      const setup = planeSetup(data, outs, !neuron);
      plane = setup;
      const { traces, xr, yr } = setup;
      const s = data.x[Math.min(sample, nTrain - 1)];
      if (s) {
        traces.push({ type: 'scatter', mode: 'markers', x: [s[0]], y: [s[1]], name: `sample ${sample + 1}`, marker: { size: 14, color: 'rgba(0,0,0,0)', line: { color: '#1d2430', width: 2 } }, hoverinfo: 'skip' });
      }
      window.Plotly.react(
        plotDiv,
        traces,
        {
          margin: { l: 40, r: 8, t: 8, b: 36 },
          // Scaled custom data is drawn as the network sees it; the table has the file's units.
          xaxis: { range: xr, title: { text: `${data.feature_names?.[0] ?? 'x1'}${data.input_scale ? ' (standardised)' : ''}` }, zeroline: false, showgrid: false },
          yaxis: { range: yr, title: { text: `${data.feature_names?.[1] ?? 'x2'}${data.input_scale ? ' (standardised)' : ''}` }, zeroline: false, showgrid: false },
          legend: { orientation: 'h', x: 0, y: 1.02, yanchor: 'bottom', font: { size: 11 } },
          paper_bgcolor: 'rgba(0,0,0,0)',
          plot_bgcolor: 'rgba(0,0,0,0)',
          font: PLOT_FONT,
        },
        config,
      );
      placeSurface();
      paint(frame);
      if (!plotDiv.dataset.bound && plotDiv.on) {
        plotDiv.dataset.bound = '1';
        plotDiv.on('plotly_afterplot', () => {
          placeSurface();
          if (lastFrame) paint(lastFrame);
        });
        plotDiv.on('plotly_click', (ev) => {
          const p = ev?.points?.[0];
          if (p && p.data?.name === 'train') onSample?.(p.pointIndex);
        });
      }
      return;
    }
  }

  /** The nearest point to the pointer (within 12 px): its split, number, Y and O. */
  function pvaHover(x, y, map) {
    let best = null;
    let bestD = 144;
    for (const g of pvaGroups) {
      for (let k = 0; k < g.x.length; k++) {
        const dx = map.X(g.x[k]) - map.X(x);
        const dy = map.Y(g.y[k]) - map.Y(y);
        const d = dx * dx + dy * dy;
        if (d < bestD) {
          bestD = d;
          best = { x: g.x[k], y: g.y[k], text: `${g.name} ${g.name === 'test' ? 't' : ''}${g.index[k] + 1}: Y = ${fmt(g.x[k], 4)}, O = ${fmt(g.y[k], 4)}` };
        }
      }
    }
    return best;
  }

  /** Predicted against actual for every observation: painted at every frame (< 1 ms). */
  function drawPva(frame) {
    const nTrain = data.x.length;
    const nTest = data.x_test?.length ?? 0;
    const all = [...data.x, ...(data.x_test || [])];
    const outs = predict(frame.weights, frame.biases, all, data.activation, data.output_activation);
    const u = originalUnits(data); // a scaled CSV is shown in the file's own units
    const actual = all.map((y, k) => u.y(yOf(k < nTrain ? data.y[k] : data.y_test[k - nTrain])));
    const pred = outs.map((o) => u.y(o[0]));
    const finite = pred.filter(Number.isFinite);
    pvaRange = pointsRange(Math.min(...actual, ...finite), Math.max(...actual, ...finite), pvaRange);
    const split = (arr, test) => arr.filter((_, k) => (k >= nTrain) === test);
    const index = (test) => all.map((_, k) => (test ? k - nTrain : k)).filter((k) => (test ? k >= 0 : k < nTrain));
    pvaGroups = [{ x: split(actual, false), y: split(pred, false), color: POS_HEX, diamond: false, name: 'train', index: index(false) }];
    if (nTest) pvaGroups.push({ x: split(actual, true), y: split(pred, true), color: NEG_HEX, diamond: true, name: 'test', index: index(true) });
    pva.draw({ x: pvaRange, y: pvaRange, log: false }, (ctx, map) => paintPva(ctx, map, pvaGroups));
  }

  /** Discretize on or off from elsewhere (a link, the room's presenter): the toggle follows. */
  function setDiscrete(on) {
    if (discrete === !!on) return;
    discrete = !!on;
    if (tools) tools.toggle.checked = discrete;
    if (lastFrame && plane) paint(lastFrame);
  }

  return { setData, update, showNeuron, setDiscrete, get neuron() { return neuron; } };
}
