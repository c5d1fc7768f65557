// The error curve: training (and test) loss at every step. Old history is compacted into
// min/max buckets, so the plotted arrays stay small (< ~2k points) however long the run. One
// renderer: a canvas chart (canvas-chart.js) with its own hover readout and zoom; Plotly was
// measured too slow to animate it at 4x CPU slowdown (BENCHMARKS.md, issue 21).

import { NEG_HEX, POS_HEX } from './nn.js';
import { fmt } from './mathml.js';
import { createCanvasChart, niceCeil } from './canvas-chart.js';

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

/** Create the error curve in `div`. Returns {render(history, {log, marker, revision}), resize()}. */
export function createLossView(div) {
  // The key is HTML beside the plot.
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
  let series = [];
  /** The readout under the pointer: the step nearest to it, its training (and test) E. */
  const hover = (x) => {
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
