// The slope view: E against the selected parameter (all others fixed, GET .../slice), the
// tangent whose slope is dE/dw, and the optimizer's next step as an arrow along the axis.

import { NEG_HEX, POS_HEX } from './nn.js';
import { fmt } from './mathml.js';
import { createCanvasChart } from './canvas-chart.js';
import { setText } from './ui.js';

/** The parameter's next update (next_value - value); the slice's `step` is the frame's step. */
export function updateOf(s) {
  return s.next_value === null || s.value === null || s.next_value === undefined ? null : s.next_value - s.value;
}

const PAIR_DIGITS = [4, 12]; // a before -> after pair: at least 4 significant digits, at most 12

/** x with d significant digits, trailing zeros kept (0.2420, not 0.242), as fmt() writes it. */
export function sig(x, d) {
  const a = Math.abs(x);
  const s = a !== 0 && (a >= 1e5 || a < 1e-4) ? x.toExponential(d - 1) : x.toPrecision(d);
  return s.replace('e+', 'e').replace(/^-/, '−').replace('e-', 'e−');
}

/**
 * Significant digits for a before -> after pair: down to the change's leading digit, so the
 * pair differs in the digits that changed (a non-flat pair, |b - a| > 1e-10 |a|, always does
 * by 11 digits; 12 is the most ever printed).
 */
export function pairDigits(a, b) {
  const big = Math.max(Math.abs(a), Math.abs(b));
  const diff = Math.abs(b - a);
  let d = diff > 0 && big > 0 ? Math.floor(Math.log10(big)) - Math.floor(Math.log10(diff)) + 1 : PAIR_DIGITS[0];
  d = Math.min(Math.max(d, PAIR_DIGITS[0]), PAIR_DIGITS[1]);
  while (d < PAIR_DIGITS[1] && sig(a, d) === sig(b, d)) d++;
  return d;
}

/** Why a step can go with the slope: the optimizer's memory of earlier gradients. */
const CARRIED = {
  momentum: 'momentum’s velocity, built up by earlier gradients, outweighs this one and carries the step that way',
  adam: 'Adam’s running average of earlier gradients (m) points the other way and carries the step',
};

/** The note under the plot, from the server's exact numbers, direction and verdict. */
export function slopeSentence(s, name) {
  const g = s.dE_dw;
  const du = updateOf(s);
  if (g === null || du === null || !s.verdict || !s.direction) return `Step ${s.step}: this run diverged, so the slope is not a number.`;
  const carried = CARRIED[s.optimizer] || 'the optimizer’s state carries the step';
  const slope = g === 0 ? `the slope ∂E/∂${name} is 0` : `the slope ∂E/∂${name} = ${fmt(g)} is ${g > 0 ? 'positive (E rises to the right)' : 'negative (E rises to the left)'}`;
  const move = `${name} ${du < 0 ? 'left' : 'right'} (Δ = ${fmt(du, 3)})`;
  let how;
  if (du === 0) how = `The step leaves ${name} where it is`;
  else if (s.direction === 'against') how = `The step moves ${move}, against the slope`;
  else if (s.direction === 'with') how = `The step moves ${move}, with the slope: ${carried}`;
  else how = `The step still moves ${move}: ${carried}`;
  const d = pairDigits(s.E, s.next_E);
  const pair = `${sig(s.E, d)} → ${sig(s.next_E, d)}`;
  const change = `ΔE = ${fmt(s.next_E - s.E, 3)}`;
  const verdicts = {
    downhill:
      s.direction === 'with'
        ? `E rises at first that way but falls further on, so the step lands lower: E ${pair} (${change}).`
        : `E falls: ${pair} (${change}).`,
    overshoot: `It goes past the bottom of this curve and lands higher: E ${pair} (${change}). A small enough α would land lower.`,
    uphill: `E rises: ${pair} (${change}).`,
    flat: `E changes by less than one part in 10¹⁰ (${change}): at the digits shown it stays ${fmt(s.E, 6)}.`,
  };
  return `Step ${s.step}: ${slope}. ${how}. ${verdicts[s.verdict]}`;
}

/** The note's words and what they describe, as attributes the tests read. */
function writeNote(note, s, name) {
  setText(note, slopeSentence(s, name));
  for (const [k, v] of Object.entries({ verdict: s.verdict ?? 'none', direction: s.direction ?? 'none', step: String(s.step), param: name })) {
    if (note.dataset[k] !== v) note.dataset[k] = v;
  }
}

const MARGIN = { l: 52, r: 10, t: 6, b: 36 };

/** What the plot shows of a slice: the curve's y range, the tangent, E after the step. */
function shapeOf(s) {
  const eNext = s.next_E ?? null; // computed by the server at next_value, not read off the curve
  const finite = [...s.points.map((p) => p[1]), eNext].filter((y) => y !== null && Number.isFinite(y));
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const pad = Math.max((hi - lo) * 0.15, Math.abs(hi) * 1e-9) || 0.01; // a flat slice still gets a range
  // The tangent over a fifth of the span each side: long enough to read its slope.
  const half = (s.span[1] - s.span[0]) / 5;
  const tx = [s.value - half, s.value + half];
  const ty = tx.map((w) => s.E + (s.dE_dw ?? 0) * (w - s.value));
  // The update arrow runs under the curve's lowest point, its label under it: room below for both.
  return { lo, hi, pad, tx, ty, eNext, range: [lo - pad * 1.8, hi + pad], yArrow: lo - pad * 0.6, du: updateOf(s) };
}

/**
 * The chart's ranges for a slice: the curve and the tangent across, E (and E after) up; with
 * `was` (an edit by hand at this step), its value and E stay in view beside the curve.
 */
export function slopeRanges(s, was = null) {
  const k = shapeOf(s);
  const xs = s.points.map((p) => p[0]);
  if (Number.isFinite(was?.from)) xs.push(was.from);
  let y = k.range;
  const pad = was && Number.isFinite(was.E) ? 0.05 * (y[1] - y[0]) : 0;
  if (pad) y = [Math.min(y[0], was.E - pad), Math.max(y[1], was.E + pad)];
  return { x: [Math.min(...xs, k.tx[0]), Math.max(...xs, k.tx[1])], y, log: false };
}

/**
 * Paint a slice on the chart (canvas-chart.js): the curve, the tangent, the point now and after
 * the step, the update as an arrow under the curve with its label placed clear of the markers
 * (below the arrow, else above it, else left out: the note says it in words).
 */
export function paintSlope(ctx, map, s, placer, was = null) {
  const k = shapeOf(s);
  const { X, Y } = map;
  ctx.lineJoin = 'round';
  ctx.strokeStyle = POS_HEX;
  ctx.lineWidth = 2;
  ctx.beginPath();
  let pen = false;
  for (const [pw, pe] of s.points) {
    if (pe === null || !Number.isFinite(pe)) {
      pen = false;
      continue;
    }
    if (pen) ctx.lineTo(X(pw), Y(pe));
    else ctx.moveTo(X(pw), Y(pe));
    pen = true;
  }
  ctx.stroke();
  ctx.strokeStyle = '#1d2430';
  ctx.lineWidth = 1.5;
  ctx.setLineDash([6, 4]);
  ctx.beginPath();
  ctx.moveTo(X(k.tx[0]), Y(k.ty[0]));
  ctx.lineTo(X(k.tx[1]), Y(k.ty[1]));
  ctx.stroke();
  ctx.setLineDash([]);
  const dot = (cx, cy, r, fill, stroke) => {
    ctx.beginPath();
    ctx.arc(cx, cy, r, 0, 2 * Math.PI);
    if (fill) {
      ctx.fillStyle = fill;
      ctx.fill();
    }
    ctx.lineWidth = 2;
    ctx.strokeStyle = stroke;
    ctx.stroke();
    placer?.obstacles.push({ x: cx - r - 1, y: cy - r - 1, w: 2 * r + 2, h: 2 * r + 2 });
  };
  // Before an edit by hand at this step: the value and E it had, an open grey circle.
  if (was && Number.isFinite(was.E)) dot(X(was.from), Y(was.E), 4.5, null, '#6b7280');
  if (Number.isFinite(s.E)) dot(X(s.value), Y(s.E), 4.5, POS_HEX, '#fff');
  if (k.eNext !== null) dot(X(s.next_value), Y(k.eNext), 3.5, null, NEG_HEX);
  if (k.du !== null && Math.abs(k.du) > 0) {
    const [a, b, ya] = [X(s.value), X(s.next_value), Y(k.yArrow)];
    const dir = Math.sign(b - a) || 1;
    ctx.strokeStyle = NEG_HEX;
    ctx.fillStyle = NEG_HEX;
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(a, ya);
    ctx.lineTo(b - dir * 5, ya);
    ctx.stroke();
    ctx.beginPath();
    ctx.moveTo(b, ya);
    ctx.lineTo(b - dir * 8, ya - 4);
    ctx.lineTo(b - dir * 8, ya + 4);
    ctx.closePath();
    ctx.fill();
    placer?.obstacles.push({ x: Math.min(a, b) - 1, y: ya - 5, w: Math.abs(b - a) + 2, h: 10 });
    if (placer) {
      const text = `update ${fmt(k.du, 3)}`;
      const cx = Math.min(Math.max((a + b) / 2, map.area.l + 40), map.area.l + map.area.w - 40);
      placer.put(text, cx, ya + 7, { baseline: 'top', color: NEG_HEX }) || placer.put(text, cx, ya - 7, { baseline: 'bottom', color: NEG_HEX });
    }
  }
}

/**
 * Create the view in `root` (a chart and a note). render(slice, name) redraws.
 * `onPick(value)`, if given: a click on the curve sets the parameter to the value of the
 * curve's point there (an edit), when `canPick()` says this screen may.
 */
export function createSlopeView(root, { onPick, canPick = () => true } = {}) {
  const plot = document.createElement('div');
  plot.className = 'slope-plot';
  plot.dataset.testid = 'slope-plot';
  const note = document.createElement('p');
  note.className = 'slope-note';
  note.dataset.testid = 'slope-note';
  // Where E went when the parameter was set by hand (an edit at the same step): from, to.
  const edited = document.createElement('p');
  edited.className = 'slope-edit muted';
  edited.dataset.testid = 'slope-edit';
  edited.hidden = true;
  root.append(plot, note, edited);
  let last = null; // the last slice drawn: {name, step, value, E}
  let edit = null; // the edit it shows: {name, step, from, E, to}
  /** The edit this slice follows, if any: same parameter and step, another value. */
  function editOf(s, name) {
    const prev = last;
    last = { name, step: s.step, value: s.value, E: s.E };
    if (prev && prev.name === name && prev.step === s.step && prev.value !== s.value) {
      edit = { name, step: s.step, from: prev.value, E: prev.E, to: s.value };
    }
    if (edit && !(edit.name === name && edit.step === s.step && edit.to === s.value)) edit = null;
    const text = edit ? `Set by hand at step ${edit.step}: ${name} ${fmt(edit.from, 4)} → ${fmt(edit.to, 4)}, E ${fmt(edit.E, 5)} → ${fmt(s.E, 5)} (the open grey circle is where it was).` : '';
    setText(edited, text);
    edited.hidden = !edit;
    return edit;
  }
  let shown = null; // [slice, name, edit]
  /** The curve's sampled point nearest to x (a click sets the parameter exactly there). */
  const nearestPoint = (s, x) => {
    let best = null;
    for (const [pw, pe] of s.points) {
      if (pe === null || !Number.isFinite(pe)) continue;
      if (!best || Math.abs(pw - x) < Math.abs(best[0] - x)) best = [pw, pe];
    }
    return best;
  };
  /** The readout: the curve's point nearest the pointer, or the point now / after the step. */
  const hover = (x, y, map) => {
    if (!shown) return null;
    const [s, name, was] = shown;
    const dist = (px, py) => (Number.isFinite(px) && Number.isFinite(py) ? Math.hypot(map.X(px) - map.X(x), map.Y(py) - map.Y(y)) : Infinity);
    const marks = [
      [dist(s.value, s.E), { x: s.value, y: s.E, text: `now: ${name} = ${fmt(s.value, 4)}, E = ${fmt(s.E, 5)}` }],
      [dist(s.next_value, s.next_E), { x: s.next_value, y: s.next_E, text: `after the step: ${name} = ${fmt(s.next_value, 6)}, E = ${fmt(s.next_E, 10)}` }],
    ];
    if (was) marks.push([dist(was.from, was.E), { x: was.from, y: was.E, text: `before the edit: ${name} = ${fmt(was.from, 4)}, E = ${fmt(was.E, 5)}` }]);
    marks.sort((a, b) => a[0] - b[0]);
    if (marks[0][0] < 9) return marks[0][1];
    const best = nearestPoint(s, x);
    return best && { x: best[0], y: best[1], text: `${name} = ${fmt(best[0], 4)}, E = ${fmt(best[1], 5)}` };
  };
  let picked = null; // the value last asked for: a double-click (zoom reset) asks once
  const onClick = (x) => {
    if (!onPick || !shown || !canPick()) return;
    const best = nearestPoint(shown[0], x);
    if (!best || best[0] === picked || best[0] === shown[0].value) return;
    picked = best[0];
    onPick(best[0]);
  };
  const chart = createCanvasChart(plot, { titles: ['w', 'E'], px: 11, margin: { ...MARGIN }, hover, onClick, label: 'slope view' });
  // The marker on the curve, to drag (or move with the arrow keys): beside the chart, not in
  // it, since the chart is one image to assistive tech (screen-reader.js).
  const handle = onPick ? createSlopeHandle(plot.parentElement, { shown: () => shown, canPick, onPick }) : null;
  let drawnName = null;
  function render(s, name) {
    if (!s || !Array.isArray(s.points)) return;
    const was = editOf(s, name);
    if (shown && (s.step !== shown[0].step || name !== shown[1])) picked = null;
    shown = [s, name, was];
    // Another parameter starts unzoomed; the next step's slice of the same one keeps the zoom.
    const unzoom = name !== drawnName;
    drawnName = name;
    chart.setTitles([name, 'E']);
    plot.chart.slice = { step: s.step, value: s.value, E: s.E, next_value: s.next_value, next_E: s.next_E ?? null, points: s.points };
    handle?.onSlice(s, name);
    chart.draw(
      slopeRanges(s, was),
      (ctx, map, placer) => {
        paintSlope(ctx, map, s, placer, was);
        handle?.place(map);
      },
      { unzoom },
    );
    writeNote(note, s, name);
    hint();
  }
  /** The hover hint: how to set the parameter, where this screen may. */
  function hint() {
    const text = onPick && canPick() ? 'Click the curve, or drag the ringed point along it, to set the parameter there; drag elsewhere to zoom, double-click to reset' : 'Drag to zoom, Ctrl + wheel to zoom, double-click to reset';
    if (plot.title !== text) plot.title = text;
  }

  return {
    render,
    /** Whether this screen may set the parameter changed (a presenter's hello): the ring follows. */
    refresh() {
      handle?.place();
      hint();
    },
    element: root,
  };
}

/** E on the curve at w: linear between the slice's sampled points (null off the curve). */
export function curveAt(points, w) {
  const ok = points.filter((p) => p[1] !== null && Number.isFinite(p[1]));
  if (!ok.length || w < ok[0][0] || w > ok[ok.length - 1][0]) return null;
  for (let k = 1; k < ok.length; k++) {
    const [a, ea] = ok[k - 1];
    const [b, eb] = ok[k];
    if (w <= b) return b === a ? ea : ea + ((w - a) / (b - a)) * (eb - ea);
  }
  return ok[ok.length - 1][1];
}

/** w with the fewest significant digits that stay within `tol` of it (a pixel's worth): short in a link. */
export function shortValue(w, tol) {
  for (let d = 1; d < 17; d++) {
    const r = Number(w.toPrecision(d));
    if (Math.abs(r - w) <= tol) return r;
  }
  return w;
}

const HANDLE_KEYS = { ArrowLeft: -1, ArrowDown: -1, ArrowRight: 1, ArrowUp: 1, PageDown: -10, PageUp: 10, Home: -Infinity, End: Infinity };

/**
 * The slope's draggable marker (issue 22, item 7): a slider on the point "now". Dragged with a
 * pointer it follows the curve under the pointer; the arrow keys move it one sampled point (Page
 * keys ten, Home/End to the ends). On release (the pointer's, or the key's) `onPick(value)` sends
 * the edit; the slice the server then answers puts the marker at the value it took, E exact.
 */
function createSlopeHandle(wrap, { shown, canPick, onPick }) {
  const el = document.createElement('div');
  el.className = 'slope-handle';
  el.dataset.testid = 'slope-handle';
  el.tabIndex = 0;
  el.setAttribute('role', 'slider');
  el.hidden = true;
  const tip = document.createElement('div');
  tip.className = 'chart-tip slope-drag-tip';
  tip.dataset.testid = 'slope-drag-tip';
  tip.hidden = true;
  tip.setAttribute('aria-hidden', 'true');
  wrap.append(el, tip);
  let map = null;
  let at = null; // the value the marker shows while moved: {w, E}; null: the slice's own point
  let sent = null; // {step, name, value} of the last edit sent, until a slice shows it
  let drag = null; // {id, moved}
  let spot = null; // the marker's centre in the wrap, CSS pixels
  let name = '';

  const extent = (s) => {
    const xs = s.points.filter((p) => p[1] !== null && Number.isFinite(p[1])).map((p) => p[0]);
    return xs.length ? [xs[0], xs[xs.length - 1]] : null;
  };
  /** Where the marker stands: being moved, just sent (a slice from before the edit), or now. */
  function point() {
    const got = shown();
    if (!got) return null;
    const [s] = got;
    if (at) return { ...at, approx: true };
    if (sent && sent.step === s.step && sent.name === name) return { w: sent.value, E: curveAt(s.points, sent.value) ?? s.E, approx: true };
    return { w: s.value, E: s.E, approx: false };
  }
  function place(m = map) {
    map = m;
    const got = shown();
    const ok = !!got && !!map && canPick() && Number.isFinite(got[0].E) && !!extent(got[0]);
    if (el.hidden === ok) el.hidden = !ok;
    if (!ok) {
      tip.hidden = true;
      return;
    }
    const p = point();
    const x = map.X(p.w);
    const y = map.Y(p.E);
    const a = map.area;
    // Outside the plot area (zoomed away): out of sight, but still there for the keyboard.
    const inside = x >= a.l - 1 && x <= a.l + a.w + 1 && y >= a.t - 1 && y <= a.t + a.h + 1;
    el.classList.toggle('off-plot', !inside);
    spot = { x, y };
    el.style.transform = `translate(${Math.round(x)}px, ${Math.round(y)}px)`;
    const [lo, hi] = extent(got[0]);
    // E read off the curve while moved (between sampled points), the server's own once set.
    const text = `${name} = ${fmt(p.w, 6)}, E ${p.approx ? '≈' : '='} ${fmt(p.E, 6)}`;
    const attrs = { 'aria-label': `Set ${name} along the curve of E`, 'aria-valuemin': lo, 'aria-valuemax': hi, 'aria-valuenow': p.w, 'aria-valuetext': text, 'data-value': p.w };
    for (const [k, v] of Object.entries(attrs)) if (el.getAttribute(k) !== String(v)) el.setAttribute(k, String(v));
    if (at) {
      const words = `${text}: let go to set it`;
      if (tip.textContent !== words) tip.textContent = words;
      tip.hidden = false;
      // Above the marker, kept inside the chart (read only while moved: a layout then is fine).
      const w = tip.offsetWidth;
      tip.style.left = `${Math.max(0, Math.min(x - w / 2, wrap.clientWidth - w))}px`;
      tip.style.top = `${Math.max(0, y - 40)}px`;
    } else if (!tip.hidden) tip.hidden = true;
  }
  /** Move the marker to w (kept on the curve's sampled extent). */
  function moveTo(w, tol = 0) {
    const got = shown();
    const ends = got && extent(got[0]);
    if (!ends) return;
    const v = shortValue(Math.min(Math.max(w, ends[0]), ends[1]), tol);
    at = { w: v, E: curveAt(got[0].points, v) ?? got[0].E };
    place();
  }
  function commit() {
    const got = shown();
    const p = at;
    at = null;
    if (!got || !p || !canPick()) return place();
    if (p.w !== got[0].value) {
      sent = { step: got[0].step, name, value: p.w };
      onPick(p.w);
    }
    place();
  }
  const pointerW = (ev) => {
    const r = wrap.getBoundingClientRect();
    return map.x(ev.clientX - r.left);
  };
  // The pointer is caught on the chart's wrap, in the capture phase, before the chart sees it:
  // where a mouse hovers, the ring lets the pointer through to the chart (its readout of the
  // points under the ring still shows), and a press within the ring's radius starts a drag,
  // not a zoom. On a touch screen the ring itself takes the finger (touch-action: none).
  const RADIUS = 14;
  const near = (ev) => {
    if (!spot || el.hidden || el.classList.contains('off-plot')) return false;
    if (ev.target === el) return true;
    const r = wrap.getBoundingClientRect();
    return Math.hypot(ev.clientX - r.left - spot.x, ev.clientY - r.top - spot.y) <= RADIUS;
  };
  wrap.addEventListener(
    'pointerdown',
    (ev) => {
      if (!map || !canPick() || !near(ev) || (ev.pointerType === 'mouse' && ev.button !== 0)) return;
      ev.stopPropagation(); // the chart's zoom never starts
      ev.preventDefault(); // no text selection, no scroll: the marker moves
      el.focus({ preventScroll: true });
      wrap.setPointerCapture?.(ev.pointerId);
      drag = { id: ev.pointerId, moved: false };
      el.classList.add('dragging');
    },
    true,
  );
  wrap.addEventListener(
    'pointermove',
    (ev) => {
      if (!drag) {
        if (ev.pointerType === 'mouse') wrap.classList.toggle('near-handle', canPick() && near(ev));
        return;
      }
      if (ev.pointerId !== drag.id) return;
      ev.stopPropagation();
      drag.moved = true;
      const pixel = Math.abs(map.x(1) - map.x(0)); // a pixel's worth of w: the value's precision
      moveTo(pointerW(ev), pixel / 2);
    },
    true,
  );
  const release = (ev, keep) => {
    if (!drag || ev.pointerId !== drag.id) return;
    ev.stopPropagation();
    const moved = drag.moved;
    drag = null;
    el.classList.remove('dragging');
    if (keep && moved) commit();
    else {
      at = null;
      place();
    }
  };
  wrap.addEventListener('pointerup', (ev) => release(ev, true), true);
  wrap.addEventListener('pointercancel', (ev) => release(ev, false), true);
  wrap.addEventListener('pointerleave', () => wrap.classList.remove('near-handle'));
  el.addEventListener('keydown', (ev) => {
    const by = HANDLE_KEYS[ev.key];
    if (ev.key === 'Escape' && at) {
      ev.preventDefault();
      at = null;
      return place();
    }
    const got = shown();
    if (by === undefined || !got || !canPick()) return;
    ev.preventDefault();
    // One sampled point of the curve at a time, from where the marker stands.
    const xs = got[0].points.filter((p) => p[1] !== null && Number.isFinite(p[1])).map((p) => p[0]);
    const w = point().w;
    let k = by > 0 ? xs.findIndex((x) => x > w) : xs.findLastIndex((x) => x < w);
    if (k < 0) k = by > 0 ? xs.length - 1 : 0;
    if (Number.isFinite(by)) k = Math.min(Math.max(k + Math.sign(by) * (Math.abs(by) - 1), 0), xs.length - 1);
    else k = by > 0 ? xs.length - 1 : 0;
    at = { w: xs[k], E: curveAt(got[0].points, xs[k]) ?? got[0].E };
    place();
  });
  el.addEventListener('keyup', (ev) => {
    if (HANDLE_KEYS[ev.key] !== undefined && at && !drag) commit(); // the key's release sends it
  });
  el.addEventListener('blur', () => {
    if (at && !drag) {
      at = null;
      place();
    }
  });
  return {
    /** A new slice: the edit sent is done once it shows it (or the step or parameter moved on). */
    onSlice(s, n) {
      if (sent && (s.step !== sent.step || n !== sent.name || s.value === sent.value)) sent = null;
      if (n !== name) at = null;
      name = n;
    },
    place,
  };
}
