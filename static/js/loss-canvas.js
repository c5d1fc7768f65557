// The loss curve painted on a canvas over Plotly's plot area: Plotly draws the axes only when
// their ranges must grow (a few times a run: ranges grow geometrically), the curve is painted
// at every redraw for well under a millisecond. A Plotly.react of the curve cost 12 ms a frame
// (over 90 ms at 4x CPU slowdown, benchmarks/page.py), more than a frame's budget.

import { fitCanvas } from './ui.js';

const HEADROOM = 1.25; // the x axis reaches 25% past the newest step

/** A round number >= v (1, 2, 5 times a power of ten). */
export function niceCeil(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

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
 * Axis ranges that hold every point (Plotly's units: log10 on a log axis), or null when
 * `current` still does. New ranges leave room to grow, so they change rarely.
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

/** Paint series ({x, y, color, dash}) and a dot at the newest training point. */
export function paintCurve(canvas, size, series, ranges) {
  const ctx = fitCanvas(canvas, size);
  const [x0, x1] = ranges.x;
  const [y0, y1] = ranges.y;
  const px = (x) => ((x - x0) / (x1 - x0)) * size.w;
  const py = (y) => size.h - (((ranges.log ? Math.log10(y) : y) - y0) / (y1 - y0)) * size.h;
  let dot = null;
  for (const s of series) {
    ctx.beginPath();
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    ctx.lineJoin = 'round';
    ctx.setLineDash(s.dash ? [2, 3] : []);
    let pen = false;
    for (let k = 0; k < s.x.length; k++) {
      const y = s.y[k];
      if (y === null || !Number.isFinite(y) || (ranges.log && y <= 0)) {
        pen = false; // a gap where the loss is not a number, as Plotly draws it
        continue;
      }
      const X = px(s.x[k]);
      const Y = py(y);
      if (pen) ctx.lineTo(X, Y);
      else ctx.moveTo(X, Y);
      pen = true;
      if (s.dot) dot = [X, Y, s.color];
    }
    ctx.stroke();
  }
  ctx.setLineDash([]);
  if (dot) {
    ctx.beginPath();
    ctx.arc(dot[0], dot[1], 4, 0, 2 * Math.PI);
    ctx.fillStyle = dot[2];
    ctx.fill();
    ctx.lineWidth = 2;
    ctx.strokeStyle = '#fff';
    ctx.stroke();
  }
}

/** About `count` round tick values across [lo, hi] (linear axis). */
export function linearTicks(lo, hi, count = 5) {
  const span = hi - lo;
  if (!(span > 0) || !Number.isFinite(span)) return [lo];
  const raw = span / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) || 10 * p;
  // A range a few ulps wide (a flat slice): ticks there cannot be told apart.
  if (!(step > Math.max(Math.abs(lo), Math.abs(hi)) * 8 * Number.EPSILON)) return [lo, hi];
  const out = [];
  const k0 = Math.ceil(lo / step);
  for (let k = k0; k <= k0 + 4 * count + 2; k++) {
    const v = k * step; // by index, not v += step: a step below an ulp of v would never end
    if (v > hi + step * 1e-9) break;
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

const AXIS_FONT = 'system-ui, -apple-system, "Segoe UI", sans-serif';

/** A log axis's tick at 10^v, written as Plotly's `exponentformat: 'power'` writes it. */
function paintPower(ctx, v, x, y, px) {
  if (v === 0 || v === 1) {
    ctx.fillText(v === 0 ? '1' : '10', x, y);
    return;
  }
  const exp = String(v).replace('-', '−');
  ctx.font = `${Math.round(px * 0.75)}px ${AXIS_FONT}`;
  const ew = ctx.measureText(exp).width;
  ctx.fillText(exp, x, y - px * 0.4);
  ctx.font = `${px}px ${AXIS_FONT}`;
  ctx.fillText('10', x - ew, y);
}

/** A linear axis's tick label: few digits, a proper minus sign (as Plotly writes them). */
function tickText(v) {
  const t = Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-4) ? v.toExponential(1) : String(Number(v.toPrecision(6)));
  return t.replace('-', '−');
}

/**
 * Axes, grid and titles drawn on a canvas covering the whole plot box, as Plotly draws them
 * with the same margins: the curve shows before Plotly has loaded, and while a run plays the
 * axes grow here (a Plotly redraw of its axes was a 70-200 ms task at 4x CPU slowdown).
 * `titles`: the axes' names; `px`: the font size.
 */
export function paintAxes(canvas, box, margin, ranges, { titles = ['step', 'E'], px = 12 } = {}) {
  const ctx = fitCanvas(canvas, { l: 0, t: 0, w: box.w, h: box.h });
  const w = box.w - margin.l - margin.r;
  const h = box.h - margin.t - margin.b;
  const [x0, x1] = ranges.x;
  const [y0, y1] = ranges.y;
  ctx.font = `${px}px ${AXIS_FONT}`;
  ctx.fillStyle = '#3a4352';
  ctx.strokeStyle = '#e8ebf0';
  ctx.lineWidth = 1;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const v of linearTicks(x0, x1, Math.max(2, Math.floor(w / 80)))) {
    const X = Math.round(margin.l + ((v - x0) / (x1 - x0)) * w) + 0.5;
    ctx.beginPath();
    ctx.moveTo(X, margin.t);
    ctx.lineTo(X, margin.t + h);
    ctx.stroke();
    ctx.fillText(tickText(v), X, margin.t + h + 4);
  }
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  const yTicks = ranges.log
    ? linearTicks(Math.ceil(y0), Math.floor(y1), Math.max(1, Math.floor(y1) - Math.ceil(y0))).filter(Number.isInteger)
    : linearTicks(y0, y1, Math.max(2, Math.floor(h / 40)));
  let widest = 0; // the y tick labels' width: the axis title goes left of them
  for (const v of yTicks) {
    const Y = Math.round(margin.t + h - ((v - y0) / (y1 - y0)) * h) + 0.5;
    ctx.beginPath();
    ctx.moveTo(margin.l, Y);
    ctx.lineTo(margin.l + w, Y);
    ctx.stroke();
    if (ranges.log) paintPower(ctx, v, margin.l - 4, Y, px);
    else ctx.fillText(tickText(v), margin.l - 4, Y);
    widest = Math.max(widest, ctx.measureText(ranges.log ? `10${v}` : tickText(v)).width);
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'bottom';
  ctx.fillText(titles[0], margin.l + w / 2, box.h - 2);
  ctx.save();
  ctx.translate(Math.max(px * 0.6, Math.min(12, margin.l - 4 - widest - px * 0.8)), margin.t + h / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = 'middle';
  ctx.fillText(titles[1], 0, 0);
  ctx.restore();
  return ctx;
}
