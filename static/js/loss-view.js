// The error curve: training (and test) loss at every step. Old history is compacted into
// min/max buckets, so the plotted arrays stay small (< ~2k points) however long the run. One
// renderer: a canvas chart (canvas-chart.js) with its own hover readout and zoom; Plotly was
// measured too slow to animate it at 4x CPU slowdown (BENCHMARKS.md, issue 21).

import { NEG_HEX, POS_HEX } from './nn.js';
import { fmt } from './mathml.js';
import { createCanvasChart, niceCeil } from './canvas-chart.js';

export { CompactSeries, LossHistory } from './loss-history.js';

/** The series the chart paints: training (with the newest point's dot), then test. */
export function curveSeries(history) {
  const out = [{ ...history.train.points(), color: POS_HEX, dash: false, dot: true, name: 'training' }];
  if (history.hasTest) out.push({ ...history.test.points(), color: NEG_HEX, dash: true, dot: false, name: 'test' });
  return out;
}

const HEADROOM = 1.25; // the x axis reaches 25% past the newest step

/** Smallest and largest finite (and, for a log axis, positive) y of some series. */
function extent(series, log) {
  let lo = Infinity;
  let hi = -Infinity;
  let last = 0;
  for (const s of series) {
    for (const y of s.y) {
      if (y === null || !Number.isFinite(y) || (log && y <= 0)) continue;
      if (y < lo) lo = y;
      if (y > hi) hi = y;
    }
    if (s.x.length) last = Math.max(last, s.x[s.x.length - 1]);
  }
  return { lo, hi, last };
}

/**
 * Axis ranges that hold every point (log10 units on a log axis), or null when `current` still
 * does. New ranges leave room to grow (x to a round number 25% past the newest step), so the
 * axes change O(log n) times in a run and are repainted only then.
 */
export function curveRanges(series, log, current) {
  const { lo, hi, last } = extent(series, log);
  const fits =
    current &&
    current.log === log &&
    last <= current.x[1] &&
    (hi === -Infinity || (log ? Math.log10(lo) >= current.y[0] && Math.log10(hi) <= current.y[1] : lo >= current.y[0] && hi <= current.y[1]));
  if (fits) return null;
  const x = [0, Math.max(10, niceCeil(last * HEADROOM))];
  let y;
  if (hi === -Infinity) y = log ? [-1, 0] : [0, 1];
  else if (log) y = [Math.floor(Math.log10(lo) - 0.05), Math.log10(hi) + 0.1];
  else y = [Math.min(0, lo), hi > 0 ? hi * 1.08 : 1];
  return { x, y, log };
}

/** Index of the point of sorted `xs` nearest to x. */
function nearest(xs, x) {
  let lo = 0;
  let hi = xs.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid;
    else hi = mid;
  }
  return Math.abs(xs[lo] - x) <= Math.abs(xs[hi] - x) ? lo : hi;
}

/** Paint the series (a gap where E is not a number), the dot at the step shown, the look-back line. */
function paintSeries(ctx, map, series, marker, back) {
  const log = map.ranges.log;
  for (const s of series) {
    ctx.beginPath();
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    ctx.lineJoin = 'round';
    ctx.setLineDash(s.dash ? [2, 3] : []);
    let pen = false;
    for (let k = 0; k < s.x.length; k++) {
      const y = s.y[k];
      if (y === null || !Number.isFinite(y) || (log && y <= 0)) {
        pen = false;
        continue;
      }
      const X = map.X(s.x[k]);
      const Y = map.Y(y);
      if (pen) ctx.lineTo(X, Y);
      else ctx.moveTo(X, Y);
      pen = true;
    }
    ctx.stroke();
  }
  ctx.setLineDash([]);
  if (back) {
    // Looking back in time: a line at the step shown, the run's later steps still drawn.
    const X = map.X(marker.x);
    ctx.strokeStyle = NEG_HEX;
    ctx.lineWidth = 1.5;
    ctx.setLineDash([2, 3]);
    ctx.beginPath();
    ctx.moveTo(X, map.area.t);
    ctx.lineTo(X, map.area.t + map.area.h);
    ctx.stroke();
    ctx.setLineDash([]);
  }
  if (marker && Number.isFinite(marker.y) && !(log && marker.y <= 0)) {
    ctx.beginPath();
    ctx.arc(map.X(marker.x), map.Y(marker.y), 4, 0, 2 * Math.PI);
    ctx.fillStyle = POS_HEX;
    ctx.fill();
    ctx.lineWidth = 2;
    ctx.strokeStyle = '#fff';
    ctx.stroke();
  }
}

/** The key, HTML beside the plot (training E; test E shown once the run has a test set). */
function createLossKey(div) {
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
  return testKey;
}

/** The readout under the pointer: the step nearest to it, its training (and test) E. */
function curveHover(getSeries) {
  return (x) => {
    const series = getSeries();
    const tr = series[0];
    if (!tr || !tr.x.length) return null;
    const k = nearest(tr.x, x);
    const y = tr.y[k];
    if (y === null || !Number.isFinite(y)) return null;
    let text = `step ${tr.x[k]} · training E = ${fmt(y, 5)}`;
    const te = series[1];
    if (te && te.x.length) {
      const j = nearest(te.x, tr.x[k]);
      if (te.x[j] === tr.x[k] && Number.isFinite(te.y[j])) text += ` · test E = ${fmt(te.y[j], 5)}`;
    }
    return { x: tr.x[k], y, text };
  };
}

/** Create the error curve in `div`. Returns {render(history, {log, marker, revision}), resize()}. */
export function createLossView(div) {
  const testKey = createLossKey(div);
  let series = [];
  const hover = curveHover(() => series);
  const chart = createCanvasChart(div, { titles: ['step', 'E'], margin: { l: 56, r: 12, t: 8, b: 40 }, hover, label: 'error curve' });
  let drawn = '';
  let ranges = null;
  let revisionDrawn = null;
  let logDrawn = null;
  return {
    render(history, { log = false, marker = null, revision = 'run' } = {}) {
      if (testKey.hidden === history.hasTest) testKey.hidden = !history.hasTest;
      const seen = `${history.version} ${log} ${marker?.step}:${marker?.loss} ${revision}`;
      if (seen === drawn) return; // the same picture (the page renders again as panels load)
      drawn = seen;
      // A new run or a new scale starts unzoomed; otherwise the learner's zoom survives redraws.
      const unzoom = revision !== revisionDrawn || log !== logDrawn;
      revisionDrawn = revision;
      logDrawn = log;
      series = curveSeries(history);
      ranges = curveRanges(series, log, ranges?.log === log ? ranges : null) || ranges;
      const tr = series[0];
      const newest = tr.x.length ? { x: tr.x[tr.x.length - 1], y: tr.y[tr.y.length - 1] } : null;
      const shown = marker && Number.isFinite(marker.loss) ? { x: marker.step, y: marker.loss } : newest;
      const back = !!(marker && marker.step < history.train.lastX);
      div.chart.points = tr.x.length;
      chart.draw(ranges, (ctx, map) => paintSeries(ctx, map, series, shown, back), { unzoom });
    },
    resize() {
      chart.redraw();
    },
  };
}
