// A chart drawn by one renderer: canvases, with their own axes, hover readout and zoom. The
// error curve, the slope view and the predicted-versus-actual plot use it. Plotly was tried for
// the animated error curve (benchmarks/loss_renderer.py: Plotly.extendTraces 44-58 ms a call at
// 4x CPU slowdown, 8-12 frames/s against 22-29 for the canvas, BENCHMARKS.md), so a canvas is
// the chart, not a twin of a Plotly one.
//
// Every label the chart paints (tick labels, titles, a view's own notes) is placed through one
// placer that refuses a box overlapping one already placed: labels that do not fit are left
// out, never drawn over each other. The boxes placed are kept on the host (`host.chart.labels`)
// for the tests.

import { fitCanvas } from './ui.js';

export const AXIS_FONT = 'system-ui, -apple-system, "Segoe UI", sans-serif';
const INK = '#3a4352';
const GRID = '#e8ebf0';
const GAP = 3; // pixels kept between two labels

/** A round number >= v (1, 2, 5 times a power of ten). */
export function niceCeil(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
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

/**
 * Ticks of a log axis over [y0, y1] (log10 units): the decades, and 2 and 5 between them only
 * when fewer than three decades show (no row of minor ticks "2 3 4 5 6 7 8 9").
 */
export function logTicks(y0, y1) {
  const out = [];
  for (let d = Math.ceil(y0); d <= Math.floor(y1); d++) out.push(d);
  if (out.length >= 3) return out;
  const more = [];
  for (let d = Math.floor(y0); d <= Math.ceil(y1); d++) {
    for (const m of [1, 2, 5]) {
      const v = d + Math.log10(m);
      if (v >= y0 - 1e-9 && v <= y1 + 1e-9) more.push(v);
    }
  }
  if (more.length >= 2) return more;
  // Zoomed inside a decade: round values between its ends.
  return linearTicks(10 ** y0, 10 ** y1, 4).filter((v) => v > 0).map(Math.log10);
}

const SUP = { '0': '⁰', '1': '¹', '2': '²', '3': '³', '4': '⁴', '5': '⁵', '6': '⁶', '7': '⁷', '8': '⁸', '9': '⁹', '-': '⁻', '−': '⁻' };
const sup = (n) => String(n).replace(/./g, (c) => SUP[c] ?? c);

/** A tick label: few digits, a proper minus sign, powers of ten as 1.5×10⁻⁵. */
export function tickText(v) {
  if (Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-4)) {
    const [m, e] = v.toExponential(1).split('e');
    return `${m.replace('-', '−')}×10${sup(Number(e))}`;
  }
  return String(Number(v.toPrecision(6))).replace('-', '−');
}

/** A log axis's tick at 10^v: a power of ten (10⁻³), or a plain number between decades. */
export function logText(v) {
  const r = Math.round(v);
  if (Math.abs(v - r) > 1e-9) return tickText(Number((10 ** v).toPrecision(3)));
  if (r === 0) return '1';
  if (r === 1) return '10';
  return `10${sup(r)}`;
}

/** Whether two boxes ({x, y, w, h}) overlap. */
export function intersects(a, b) {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/**
 * A placer for labels on one canvas: `put` paints a text only where it overlaps no box placed
 * (and no obstacle), inside `bounds`; it returns the box, or null when the text was left out.
 */
export function labelPlacer(ctx, px, bounds) {
  const boxes = [];
  const obstacles = [];
  return {
    boxes,
    obstacles,
    /** The box a text would take, anchored as canvas text is (align, baseline). */
    box(text, x, y, align = 'center', baseline = 'middle', size = px) {
      ctx.font = `${size}px ${AXIS_FONT}`;
      const w = ctx.measureText(text).width;
      const left = align === 'center' ? x - w / 2 : align === 'right' ? x - w : x;
      const top = baseline === 'top' ? y : baseline === 'bottom' ? y - size : y - size / 2;
      return { x: left, y: top, w, h: size, text };
    },
    fits(b) {
      if (bounds && (b.x < bounds.x - 0.5 || b.y < bounds.y - 0.5 || b.x + b.w > bounds.x + bounds.w + 0.5 || b.y + b.h > bounds.y + bounds.h + 0.5)) return false;
      const pad = { x: b.x - GAP / 2, y: b.y - GAP / 2, w: b.w + GAP, h: b.h + GAP };
      return !boxes.some((o) => intersects(pad, o)) && !obstacles.some((o) => intersects(pad, o));
    },
    put(text, x, y, { align = 'center', baseline = 'middle', color = INK, size = px } = {}) {
      const b = this.box(text, x, y, align, baseline, size);
      if (!this.fits(b)) return null;
      ctx.font = `${size}px ${AXIS_FONT}`;
      ctx.fillStyle = color;
      ctx.textAlign = align;
      ctx.textBaseline = baseline;
      ctx.fillText(text, x, y);
      boxes.push(b);
      return b;
    },
  };
}

/** Keep every k-th tick (the first, then every k-th) until neighbours' labels are `room` apart. */
function thin(ticks, at, width, room) {
  for (let k = 1; k <= ticks.length; k++) {
    const kept = ticks.filter((_, i) => i % k === 0);
    let ok = true;
    for (let i = 1; i < kept.length && ok; i++) ok = Math.abs(at(kept[i]) - at(kept[i - 1])) >= (width(kept[i]) + width(kept[i - 1])) / 2 + room;
    if (ok) return kept;
  }
  return ticks.slice(0, 1);
}

/**
 * Axes, grid and titles on `canvas` covering the whole box. `ranges` {x, y, log} (y in log10
 * units on a log axis); `margin` the least margins: the left one widens to hold the y labels.
 * Returns {ctx, area {l, t, w, h}, placer}.
 */
export function paintAxes(canvas, box, margin, ranges, { titles = ['x', 'y'], px = 12 } = {}) {
  const ctx = fitCanvas(canvas, { l: 0, t: 0, w: box.w, h: box.h });
  const placer = labelPlacer(ctx, px, { x: 0, y: 0, w: box.w, h: box.h });
  const [x0, x1] = ranges.x;
  const [y0, y1] = ranges.y;
  const yText = (v) => (ranges.log ? logText(v) : tickText(v));
  const width = (t) => placer.box(t, 0, 0).w;
  let h = box.h - margin.t - margin.b;
  const yAt = (v) => Math.round(margin.t + h - ((v - y0) / (y1 - y0)) * h) + 0.5;
  let yTicks = ranges.log ? logTicks(y0, y1) : linearTicks(y0, y1, Math.max(2, Math.floor(h / 40)));
  yTicks = thin(yTicks, yAt, () => px, 2 + px / 2);
  const widest = Math.max(0, ...yTicks.map((v) => width(yText(v))));
  // Room on the left for the labels and the rotated title beside them.
  const l = Math.max(margin.l, Math.ceil(widest + px * 1.5 + 10));
  const w = box.w - l - margin.r;
  h = box.h - margin.t - margin.b;
  const xAt = (v) => Math.round(l + ((v - x0) / (x1 - x0)) * w) + 0.5;
  ctx.strokeStyle = GRID;
  ctx.lineWidth = 1;
  // Titles first: a tick label gives way to them.
  placer.put(titles[0], l + w / 2, box.h - 2, { baseline: 'bottom' });
  const title = placer.box(titles[1], 0, 0);
  const tx = Math.max(px * 0.6 + 1, l - 6 - widest - px * 0.8);
  const tBox = { x: tx - px / 2, y: margin.t + h / 2 - title.w / 2, w: px, h: title.w, text: titles[1] };
  if (placer.fits(tBox)) {
    ctx.save();
    ctx.translate(tx, margin.t + h / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.fillStyle = INK;
    ctx.fillText(titles[1], 0, 0);
    ctx.restore();
    placer.boxes.push(tBox);
  }
  for (const v of yTicks) {
    const Y = yAt(v);
    ctx.beginPath();
    ctx.moveTo(l, Y);
    ctx.lineTo(l + w, Y);
    ctx.stroke();
    placer.put(yText(v), l - 5, Math.min(Math.max(Y, margin.t + px / 2), box.h - px / 2), { align: 'right' });
  }
  let xTicks = linearTicks(x0, x1, Math.max(2, Math.floor(w / 80)));
  xTicks = thin(xTicks, xAt, (v) => width(tickText(v)), 8);
  for (const v of xTicks) {
    const X = xAt(v);
    ctx.beginPath();
    ctx.moveTo(X, margin.t);
    ctx.lineTo(X, margin.t + h);
    ctx.stroke();
    placer.put(tickText(v), X, margin.t + h + 5, { baseline: 'top' });
  }
  return { ctx, area: { l, t: margin.t, w, h }, placer };
}

/**
 * A chart on `host` (a sized div): an axes canvas (painted when the ranges or the size change),
 * a plot canvas (painted at every draw), a hover readout and zoom: drag a box with the mouse,
 * Ctrl + wheel (or a pinch) around the pointer; double-click or "Reset zoom" to go back.
 * `hover(x, y, map)` returns the nearest thing {x, y, text} in data units, or null;
 * `onClick(x, y, map)`: a click (or a tap) on the plot area that was not a drag.
 * `draw(ranges, paint)`: ranges {x, y, log} fitting the data; paint(ctx, map, placer) paints
 * the data with map {X, Y, area, ranges}.
 */
export function createCanvasChart(host, { titles = ['x', 'y'], px = 12, margin = { l: 48, r: 12, t: 8, b: 40 }, hover = null, onClick = null, label = 'chart' } = {}) {
  host.classList.add('canvas-chart');
  host.tabIndex = -1;
  const mk = (tag, cls) => {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    return el;
  };
  const axes = mk('canvas', 'chart-axes');
  const plot = mk('canvas', 'chart-plot');
  for (const c of [axes, plot]) c.setAttribute('aria-hidden', 'true');
  const tip = mk('div', 'chart-tip');
  tip.hidden = true;
  tip.setAttribute('aria-hidden', 'true');
  const band = mk('div', 'chart-band'); // the box being dragged
  band.hidden = true;
  const reset = mk('button', 'chart-reset');
  reset.type = 'button';
  reset.textContent = 'Reset zoom';
  reset.hidden = true;
  reset.setAttribute('aria-label', `Reset the zoom of the ${label}`);
  host.append(axes, plot, band, tip);
  // The button beside the chart, not in it: the chart is one image to assistive tech
  // (role="img", screen-reader.js), whose children are presentational.
  const wrap = mk('div', 'chart-wrap');
  if (host.parentNode) host.replaceWith(wrap);
  wrap.append(host, reset);
  host.title = 'Drag to zoom, Ctrl + wheel to zoom, double-click to reset';

  let box = null; // the host's size, from a ResizeObserver: painting never forces a layout
  let auto = null; // the ranges the data ask for
  let zoom = null; // the learner's ranges, kept until reset
  let painter = null;
  let axesKey = '';
  let area = null;
  let axisBoxes = [];
  let pointer = null; // {x, y} over the plot, in CSS pixels: the readout follows new data
  // What the chart shows, for the tests: label boxes, ranges, plot area, paints.
  const state = { labels: [], view: null, auto: null, zoomed: false, log: false, area: null, draws: 0, axesPaints: 0 };
  host.chart = state;

  // A zoom of one axis only (a flat or a tall drag) leaves the other following the data.
  const view = () => (zoom && auto ? { x: zoom.x || auto.x, y: zoom.y || auto.y, log: auto.log } : zoom || auto);
  const mapOf = (r, a) => ({
    ranges: r,
    area: a,
    X: (v) => a.l + ((v - r.x[0]) / (r.x[1] - r.x[0])) * a.w,
    Y: (v) => a.t + a.h - (((r.log ? Math.log10(v) : v) - r.y[0]) / (r.y[1] - r.y[0])) * a.h,
    // From pixels back to data units (y in the axis's units: log10 on a log axis).
    x: (X) => r.x[0] + ((X - a.l) / a.w) * (r.x[1] - r.x[0]),
    y: (Y) => r.y[0] + ((a.t + a.h - Y) / a.h) * (r.y[1] - r.y[0]),
  });

  function paint() {
    const r = view();
    if (!r || !box || !(box.w > 0 && box.h > 0) || !painter) return;
    const key = JSON.stringify([r.x, r.y, r.log, box.w, box.h, titles]);
    if (key !== axesKey) {
      axesKey = key;
      const got = paintAxes(axes, box, margin, r, { titles, px });
      area = got.area;
      axisBoxes = got.placer.boxes.slice();
      state.axesPaints += 1;
    }
    const ctx = fitCanvas(plot, { l: 0, t: 0, w: box.w, h: box.h });
    const map = mapOf(r, area);
    const placer = labelPlacer(ctx, px, { x: area.l, y: area.t, w: area.w, h: area.h });
    placer.boxes.push(...axisBoxes);
    ctx.save();
    ctx.beginPath();
    ctx.rect(area.l, area.t, area.w, area.h);
    ctx.clip();
    painter(ctx, map, placer);
    ctx.restore();
    state.labels = placer.boxes.map((b) => ({ ...b }));
    state.view = { x: r.x.slice(), y: r.y.slice(), log: !!r.log };
    state.auto = auto && { x: auto.x.slice(), y: auto.y.slice(), log: !!auto.log };
    state.zoomed = !!zoom;
    state.log = !!r.log;
    state.area = { ...area };
    state.draws += 1;
    if (reset.hidden === !!zoom) reset.hidden = !zoom;
    if (pointer) showTip();
  }

  function showTip() {
    const found = pointer && area && hover ? hover(mapOf(view(), area).x(pointer.x), mapOf(view(), area).y(pointer.y), mapOf(view(), area)) : null;
    if (!found) {
      if (!tip.hidden) tip.hidden = true;
      return;
    }
    const map = mapOf(view(), area);
    const X = map.X(found.x);
    const Y = map.Y(found.y);
    if (!(X >= area.l - 1 && X <= area.l + area.w + 1 && Y >= area.t - 1 && Y <= area.t + area.h + 1)) {
      tip.hidden = true;
      return;
    }
    if (tip.textContent !== found.text) tip.textContent = found.text;
    tip.hidden = false;
    // Beside the point, on the side with room.
    const right = X < box.w / 2;
    tip.style.left = right ? `${X + 10}px` : '';
    tip.style.right = right ? '' : `${box.w - X + 10}px`;
    tip.style.top = `${Math.max(0, Y - 28)}px`;
    tip.style.setProperty('--dot-x', `${X}px`);
  }

  new ResizeObserver((entries) => {
    const r = entries[entries.length - 1].contentRect;
    box = { w: r.width, h: r.height };
    axesKey = '';
    paint();
  }).observe(host);

  const local = (ev) => {
    const r = host.getBoundingClientRect();
    return { x: ev.clientX - r.left, y: ev.clientY - r.top };
  };
  const inside = (p) => area && p.x >= area.l && p.x <= area.l + area.w && p.y >= area.t && p.y <= area.t + area.h;
  function setZoom(r) {
    zoom = r;
    axesKey = '';
    paint();
  }
  function resetZoom() {
    if (!zoom) return;
    setZoom(null);
  }
  reset.addEventListener('click', () => {
    resetZoom();
    host.focus({ preventScroll: true });
  });
  host.addEventListener('dblclick', resetZoom);
  let drag = null;
  let tap = null; // where a finger came down: a tap if it lifts there
  const click = (p) => {
    if (!onClick || !area) return;
    const map = mapOf(view(), area);
    onClick(map.x(p.x), map.y(p.y), map);
  };
  host.addEventListener('pointerdown', (ev) => {
    const p = local(ev);
    if (ev.target === reset) return;
    if (!inside(p)) {
      pointer = null; // a tap beside the plot puts the readout away
      tip.hidden = true;
      return;
    }
    if (ev.pointerType !== 'mouse') {
      pointer = p; // a tap reads the nearest point out
      tap = p;
      showTip();
      return;
    }
    if (ev.button !== 0) return;
    drag = { from: p, to: p };
    tip.hidden = true;
    host.setPointerCapture?.(ev.pointerId);
  });
  host.addEventListener('pointermove', (ev) => {
    const p = local(ev);
    if (drag) {
      drag.to = { x: Math.min(Math.max(p.x, area.l), area.l + area.w), y: Math.min(Math.max(p.y, area.t), area.t + area.h) };
      const [a, b] = [drag.from, drag.to];
      Object.assign(band.style, { left: `${Math.min(a.x, b.x)}px`, top: `${Math.min(a.y, b.y)}px`, width: `${Math.abs(a.x - b.x)}px`, height: `${Math.abs(a.y - b.y)}px` });
      band.hidden = false;
      return;
    }
    if (ev.pointerType !== 'mouse' || ev.buttons) return;
    pointer = inside(p) ? p : null;
    showTip();
  });
  const endDrag = () => {
    if (!drag) return;
    const { from: a, to: b } = drag;
    drag = null;
    band.hidden = true;
    const wide = Math.abs(a.x - b.x) > 5;
    const tall = Math.abs(a.y - b.y) > 5;
    if (!wide && !tall) {
      click(a);
      return;
    }
    const r = view();
    const map = mapOf(r, area);
    const x = wide ? [map.x(Math.min(a.x, b.x)), map.x(Math.max(a.x, b.x))] : zoom?.x || null;
    const y = tall ? [map.y(Math.max(a.y, b.y)), map.y(Math.min(a.y, b.y))] : zoom?.y || null;
    setZoom({ x, y, log: r.log });
  };
  host.addEventListener('pointerup', (ev) => {
    if (tap && ev.pointerType !== 'mouse') {
      const p = local(ev);
      if (Math.hypot(p.x - tap.x, p.y - tap.y) < 8) click(tap);
      tap = null;
      return;
    }
    endDrag();
  });
  host.addEventListener('pointercancel', () => {
    drag = null;
    tap = null; // the finger scrolled the page
    band.hidden = true;
  });
  host.addEventListener('pointerleave', (ev) => {
    // A finger lifts (and "leaves") at every tap: its readout stays until the next tap.
    if (drag || ev.pointerType !== 'mouse') return;
    pointer = null;
    tip.hidden = true;
  });
  host.addEventListener(
    'wheel',
    (ev) => {
      // Plain wheel scrolls the page; Ctrl + wheel (a trackpad's pinch) zooms here.
      if (!(ev.ctrlKey || ev.metaKey)) return;
      const p = local(ev);
      if (!inside(p)) return;
      ev.preventDefault();
      const r = view();
      const map = mapOf(r, area);
      const f = Math.exp(Math.max(-1, Math.min(1, ev.deltaY / 200)));
      const cx = map.x(p.x);
      const cy = map.y(p.y);
      setZoom({ x: r.x.map((v) => cx + (v - cx) * f), y: r.y.map((v) => cy + (v - cy) * f), log: r.log });
    },
    { passive: false },
  );
  host.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && zoom) resetZoom();
  });

  return {
    /** Draw data fitting `ranges` with `paintFn`; a zoom in force is kept unless `unzoom`. */
    draw(ranges, paintFn, { unzoom = false } = {}) {
      if (unzoom || (zoom && ranges && !!zoom.log !== !!ranges.log)) zoom = null;
      auto = ranges;
      painter = paintFn;
      paint();
    },
    /** New axis titles (painted at the next draw). */
    setTitles(t) {
      if (t[0] === titles[0] && t[1] === titles[1]) return;
      titles = t.slice();
      axesKey = '';
    },
    /** Paint again (the same ranges and painter). */
    redraw: paint,
    resetZoom,
    get zoomed() {
      return !!zoom;
    },
    get size() {
      return box;
    },
    /** The chart and its reset button: what to put in the page (the host is inside). */
    element: wrap,
  };
}
