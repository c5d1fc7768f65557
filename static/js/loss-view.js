// The error curve: training (and test) loss at every step. Old history is compacted into
// min/max buckets, so the plotted arrays stay small (< ~2k points) however long the run.

import { NEG_HEX, POS_HEX } from './nn.js';
import { loadPlotly, onPlotly } from './plotly-loader.js';
import { curveRanges, paintAxes, paintCurve } from './loss-canvas.js';
import { runPlaying, whenAtRest } from './ui.js';

/**
 * One series with bounded memory: recent points raw, older ones as min/max pairs per bucket.
 * Pure data structure (no DOM).
 */
export class CompactSeries {
  constructor(recent = 500, maxBuckets = 400) {
    this.R = recent;
    this.maxB = maxBuckets;
    this.clear();
  }

  clear() {
    this.bx = []; // bucket points (x), two per bucket: min then max in x order
    this.by = [];
    this.bsize = 2; // raw points per bucket
    this.part = null; // partially filled bucket
    this.rx = [];
    this.ry = [];
  }

  get lastX() {
    return this.rx.length ? this.rx[this.rx.length - 1] : this.part ? this.part.lastX : this.bx.length ? this.bx[this.bx.length - 1] : -1;
  }

  push(x, y) {
    this.rx.push(x);
    this.ry.push(y);
    if (this.rx.length > 2 * this.R) this.compact();
  }

  /** Drop raw points with x >= from (a frame that overlaps what we have). */
  truncateFrom(from) {
    let n = this.rx.length;
    while (n > 0 && this.rx[n - 1] >= from) n--;
    this.rx.length = n;
    this.ry.length = n;
    // A new branch from far back (time travel) cuts into the compacted part too.
    if (n === 0) {
      if (this.part && this.part.lastX >= from) this.part = null;
      let b = this.bx.length;
      while (b > 0 && this.bx[b - 1] >= from) b--;
      this.bx.length = b;
      this.by.length = b;
    }
  }

  compact() {
    const n = this.rx.length - this.R;
    for (let k = 0; k < n; k++) this.addToBucket(this.rx[k], this.ry[k]);
    this.rx = this.rx.slice(n);
    this.ry = this.ry.slice(n);
    while (this.bx.length / 2 > this.maxB) this.mergeBuckets();
  }

  addToBucket(x, y) {
    if (!this.part) this.part = { n: 0, minX: x, minY: Infinity, maxX: x, maxY: -Infinity, lastX: x };
    const p = this.part;
    p.n += 1;
    p.lastX = x;
    if (y !== null && Number.isFinite(y)) {
      if (y < p.minY) {
        p.minY = y;
        p.minX = x;
      }
      if (y > p.maxY) {
        p.maxY = y;
        p.maxX = x;
      }
    }
    if (p.n >= this.bsize) {
      this.flushPart();
    }
  }

  flushPart() {
    const p = this.part;
    this.part = null;
    if (!p || p.minY === Infinity) return;
    const first = p.minX <= p.maxX ? [p.minX, p.minY] : [p.maxX, p.maxY];
    const second = p.minX <= p.maxX ? [p.maxX, p.maxY] : [p.minX, p.minY];
    this.bx.push(first[0], second[0]);
    this.by.push(first[1], second[1]);
  }

  mergeBuckets() {
    // Pairs of buckets (4 points) -> one bucket (its min and max).
    const bx = [];
    const by = [];
    for (let k = 0; k < this.bx.length; k += 4) {
      const xs = this.bx.slice(k, k + 4);
      const ys = this.by.slice(k, k + 4);
      let lo = 0;
      let hi = 0;
      for (let q = 1; q < ys.length; q++) {
        if (ys[q] < ys[lo]) lo = q;
        if (ys[q] > ys[hi]) hi = q;
      }
      const a = Math.min(lo, hi);
      const b = Math.max(lo, hi);
      bx.push(xs[a], xs[b]);
      by.push(ys[a], ys[b]);
    }
    this.bx = bx;
    this.by = by;
    this.bsize *= 2;
  }

  /** The points to plot: {x, y}. */
  points() {
    const x = this.bx.slice();
    const y = this.by.slice();
    const p = this.part;
    if (p && p.minY !== Infinity) {
      if (p.minX <= p.maxX) x.push(p.minX, p.maxX), y.push(p.minY, p.maxY);
      else x.push(p.maxX, p.minX), y.push(p.maxY, p.minY);
    }
    return { x: x.concat(this.rx), y: y.concat(this.ry) };
  }

  get size() {
    return this.bx.length + this.rx.length;
  }
}

/** Training and test loss histories fed by frames (first_step, losses, test_losses). */
export class LossHistory {
  constructor() {
    this.train = new CompactSeries();
    this.test = new CompactSeries();
    this.hasTest = false;
    this.version = 0;
  }

  clear() {
    this.train.clear();
    this.test.clear();
    this.hasTest = false;
    this.version += 1;
  }

  /** Append a frame's losses; a frame with first_step 0 replaces the history. */
  addFrame(frame) {
    const losses = frame.losses || [];
    let first = frame.first_step;
    if (first === undefined || first === null) first = frame.step - losses.length + 1;
    if (first === 0) this.clear();
    else if (first <= this.train.lastX) {
      this.train.truncateFrom(first);
      this.test.truncateFrom(first);
    }
    const tl = frame.test_losses;
    if (Array.isArray(tl)) this.hasTest = true;
    for (let k = 0; k < losses.length; k++) {
      this.train.push(first + k, losses[k]);
      if (Array.isArray(tl)) this.test.push(first + k, tl[k] ?? null);
    }
    if (losses.length) this.version += 1;
  }
}

/** Plotly traces for the history (pure); `marker` {step, loss} marks the step shown. */
export function lossTraces(history, marker = null) {
  const tr = history.train.points();
  const traces = [
    {
      x: tr.x,
      y: tr.y,
      type: 'scatter',
      mode: 'lines',
      name: 'training E',
      line: { color: POS_HEX, width: 2 },
      hovertemplate: 'step %{x}<br>E = %{y:.5g}<extra>training</extra>',
    },
  ];
  if (history.hasTest) {
    const te = history.test.points();
    traces.push({
      x: te.x,
      y: te.y,
      type: 'scatter',
      mode: 'lines',
      name: 'test E',
      line: { color: NEG_HEX, width: 2, dash: 'dot' },
      hovertemplate: 'step %{x}<br>E = %{y:.5g}<extra>test</extra>',
    });
  }
  let lx = tr.x.length ? tr.x[tr.x.length - 1] : null;
  let ly = tr.y.length ? tr.y[tr.y.length - 1] : null;
  if (marker && Number.isFinite(marker.loss)) {
    lx = marker.step;
    ly = marker.loss;
  }
  traces.push({
    x: lx === null ? [] : [lx],
    y: ly === null ? [] : [ly],
    type: 'scatter',
    mode: 'markers',
    marker: { color: POS_HEX, size: 8, line: { color: '#fff', width: 2 } },
    showlegend: false,
    hoverinfo: 'skip',
  });
  return traces;
}

/** The series the canvas paints: training (with the newest point's dot), then test. */
export function curveSeries(history) {
  const out = [{ ...history.train.points(), color: POS_HEX, dash: false, dot: true }];
  if (history.hasTest) out.push({ ...history.test.points(), color: NEG_HEX, dash: true, dot: false });
  return out;
}

/** Create the loss plot in `div`. Returns {render(history, {log}), resize()}. */
export function createLossView(div) {
  let drawn = -1;
  let logScale = null;
  let waiting = null;
  // The key is HTML beside the plot, not Plotly's legend: Plotly measures and redraws its
  // legend at every redraw, which doubled the cost of the curve while playing (benchmarks/page.py).
  const key = document.createElement('div');
  key.className = 'loss-key';
  const keyItem = (name, color, dash) => {
    const item = document.createElement('span');
    item.className = 'loss-key-item';
    const swatch = document.createElement('span');
    swatch.className = 'loss-key-swatch';
    swatch.style.borderTop = `2px ${dash} ${color}`;
    item.append(swatch, name);
    key.append(item);
    return item;
  };
  keyItem('training E', POS_HEX, 'solid');
  const testKey = keyItem('test E', NEG_HEX, 'dotted');
  testKey.hidden = true;
  div.before(key);
  // The curve itself is painted on a canvas over the plot area (loss-canvas.js); Plotly draws
  // the axes, and, once the curve stops moving, invisible traces that answer hovering.
  const wrap = document.createElement('div');
  wrap.className = 'loss-wrap';
  wrap.style.position = 'relative';
  div.before(wrap);
  const canvas = document.createElement('canvas');
  canvas.setAttribute('aria-hidden', 'true');
  canvas.style.position = 'absolute';
  canvas.style.pointerEvents = 'none';
  canvas.style.display = 'none'; // shown once placed: a canvas moving into place is a layout shift
  const axes = document.createElement('canvas'); // until Plotly draws them
  axes.setAttribute('aria-hidden', 'true');
  Object.assign(axes.style, { position: 'absolute', pointerEvents: 'none', display: 'none' });
  wrap.append(div, axes, canvas);
  div.addEventListener('pointerenter', () => loadPlotly().catch(() => {}), { once: true });
  // The plot's size as last laid out: read from a ResizeObserver, so painting the curve before
  // Plotly never forces a layout of the page (at load that was a whole-page layout).
  let box = null;
  let painted = ''; // what the canvas shows before Plotly: history version, scale, marker, size
  new ResizeObserver((entries) => {
    const r = entries[entries.length - 1].contentRect;
    box = { w: r.width, h: r.height };
  }).observe(div);
  let ranges = null;
  let series = [];
  let hoverDrawn = -1;
  let zoomed = false; // the learner zoomed or panned: keep their axes until a double-click
  let drawnMarker = '';
  let drawnRevision = null;
  let hoverMarker = null;
  const view = () => {
    const fl = div._fullLayout;
    if (!zoomed || !fl) return ranges;
    return { x: fl.xaxis.range.slice(), y: fl.yaxis.range.slice(), log: ranges?.log };
  };
  let axesOwn = false; // the canvas draws the axes (playing), Plotly's are hidden and stale
  let axesKey = ''; // what the axes canvas shows
  const paint = () => {
    const size = div._fullLayout?._size;
    const r = ranges && view();
    if (!size || !r) return;
    const key = axesOwn ? JSON.stringify([r.x, r.y, r.log, size.l, size.t, size.w, size.h, box.w, box.h]) : '';
    if (axesOwn && key !== axesKey) {
      // Plotly's plot area (its automargin may have widened it) with the ranges now in force;
      // painted again only when they or the size change.
      const margin = { l: size.l, t: size.t, r: box.w - size.l - size.w, b: box.h - size.t - size.h };
      paintAxes(axes, box, margin, r);
    }
    axesKey = key;
    paintCurve(canvas, size, series, r);
  };
  /** Plotly's axes again (at rest, or for a zoom): the canvas's are put away. */
  const plotlyAxes = () => {
    if (!axesOwn) return;
    axesOwn = false;
    axesKey = '';
    axes.style.display = 'none';
    div.style.visibility = '';
  };
  const bindZoom = () => {
    if (div.dataset.zoomBound || !div.on) return;
    div.dataset.zoomBound = '1';
    div.on('plotly_relayout', (ev) => {
      if (!ev) return;
      if (ev['xaxis.autorange'] || ev['yaxis.autorange']) {
        zoomed = false; // double-click: back to the whole curve
        if (ranges) window.Plotly.relayout(div, { 'xaxis.range': ranges.x, 'yaxis.range': ranges.y });
      } else if (Object.keys(ev).some((k) => k.startsWith('xaxis.range') || k.startsWith('yaxis.range'))) {
        zoomed = true;
      }
      paint();
    });
  };
  const hoverTraces = (history) => lossTraces(history, hoverMarker).map((t) => ({ ...t, opacity: 0 }));
  // Hover needs the traces in Plotly: sent once the curve rests (never while playing).
  let settled = null; // the history to hand to Plotly at rest
  const settleLater = whenAtRest(() => {
    if ((hoverDrawn === drawn && !axesOwn) || !div.data) return;
    hoverDrawn = drawn;
    if (axesOwn && !zoomed) {
      layout.xaxis.range = ranges.x;
      layout.yaxis.range = ranges.y;
    }
    window.Plotly.react(div, hoverTraces(settled), layout);
    plotlyAxes();
  });
  const settle = (history) => {
    settled = history;
    settleLater();
  };
  const layout = {
    margin: { l: 56, r: 12, t: 8, b: 40 },
    xaxis: { title: { text: 'step' }, zeroline: false, gridcolor: '#e8ebf0', rangemode: 'tozero' },
    yaxis: { title: { text: 'E' }, zeroline: false, gridcolor: '#e8ebf0', exponentformat: 'power', automargin: true },
    showlegend: false,
    paper_bgcolor: 'rgba(0,0,0,0)',
    plot_bgcolor: 'rgba(0,0,0,0)',
    font: { family: 'system-ui, -apple-system, "Segoe UI", sans-serif', size: 12, color: '#3a4352' },
    datarevision: 0,
  };
  const config = { displayModeBar: false, responsive: true, scrollZoom: false, doubleClick: 'autosize' };
  return {
    render(history, { log = false, marker = null, revision = 'run' } = {}) {
      if (testKey.hidden === history.hasTest) testKey.hidden = !history.hasTest; // before Plotly too
      if (!window.Plotly) {
        // Until Plotly is there the canvas draws the axes too: the curve shows at once, and
        // Plotly (a long task on a phone) loads when the data panel nears the screen or the
        // pointer comes to the curve (for hovering); then the newest history is drawn with it.
        const again = !waiting;
        waiting = { history, log, marker, revision };
        if (again) {
          onPlotly(() => {
            const w = waiting;
            waiting = null;
            axes.style.display = 'none';
            div.style.background = '';
            this.render(w.history, { log: w.log, marker: w.marker, revision: w.revision });
          });
        }
        if (!box) box = { w: div.clientWidth, h: div.clientHeight };
        const seen = `${history.version} ${log} ${marker?.step}:${marker?.loss} ${revision} ${box.w}x${box.h}`;
        if (seen === painted) return; // the same picture (the page renders again as panels load)
        series = curveSeries(history);
        ranges = curveRanges(series, log, ranges?.log === log ? ranges : null) || ranges;
        if (box.w > 0 && box.h > 0) {
          painted = seen;
          const m = layout.margin;
          paintAxes(axes, box, m, ranges);
          paintCurve(canvas, { l: m.l, t: m.t, w: box.w - m.l - m.r, h: box.h - m.t - m.b }, series, ranges);
          div.style.background = 'transparent';
        }
        return;
      }
      const mk = marker ? `${marker.step}:${marker.loss}` : '';
      if (history.version === drawn && log === logScale && mk === drawnMarker && revision === drawnRevision) return;
      // A new run or a new scale starts unzoomed; otherwise the learner's zoom survives redraws.
      if (revision !== drawnRevision || log !== logScale) zoomed = false;
      drawn = history.version;
      drawnMarker = mk;
      drawnRevision = revision;
      logScale = log;
      hoverMarker = marker;
      series = curveSeries(history);
      const next = curveRanges(series, log, ranges?.log === log ? ranges : null);
      // Looking back in time: a line at the step shown, the run's later steps still drawn.
      const back = marker && marker.step < history.train.lastX;
      const shapes = back ? [{ type: 'line', x0: marker.step, x1: marker.step, yref: 'paper', y0: 0, y1: 1, line: { color: NEG_HEX, width: 1.5, dash: 'dot' } }] : [];
      const moved = JSON.stringify(shapes) !== JSON.stringify(layout.shapes || []);
      // Playing, axes that must grow are drawn on the canvas; Plotly catches up at rest.
      const playingNow = runPlaying();
      if (next && div.data && !moved && !zoomed && playingNow && box && log === (layout.yaxis.type === 'log')) {
        ranges = next;
        axesOwn = true;
        div.style.visibility = 'hidden';
      } else if (next || !div.data || moved) {
        ranges = next || ranges;
        plotlyAxes();
        layout.yaxis.type = log ? 'log' : 'linear';
        if (!zoomed) {
          layout.xaxis.range = ranges.x;
          layout.yaxis.range = ranges.y;
        }
        layout.shapes = shapes;
        layout.uirevision = revision;
        layout.datarevision += 1;
        hoverDrawn = drawn;
        // The config goes in once: passing it again makes Plotly rebuild its context every time.
        if (div.data) window.Plotly.react(div, hoverTraces(history), layout);
        else window.Plotly.react(div, hoverTraces(history), layout, config);
        bindZoom();
      }
      paint();
      settle(history);
    },
    resize() {
      if (window.Plotly && div.data) Promise.resolve(window.Plotly.Plots.resize(div)).then(paint, () => {});
    },
  };
}
