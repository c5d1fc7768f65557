// The slope view: E against the selected parameter (all others fixed, GET .../slice), the
// tangent whose slope is dE/dw, and the optimizer's next step as an arrow along the axis.

import { NEG_HEX, POS_HEX } from './nn.js';
import { fmt } from './mathml.js';
import { onPlotly } from './plotly-loader.js';
import { paintAxes } from './loss-canvas.js';
import { runPlaying, setText, whenAtRest } from './ui.js';

/** E at w on the slice's sampled curve, by linear interpolation (null outside it). */
export function interpolate(points, w) {
  for (let k = 1; k < points.length; k++) {
    const [w0, e0] = points[k - 1];
    const [w1, e1] = points[k];
    if ((w0 <= w && w <= w1) || (w1 <= w && w <= w0)) {
      if (e0 === null || e1 === null) return null;
      return w1 === w0 ? e0 : e0 + ((e1 - e0) * (w - w0)) / (w1 - w0);
    }
  }
  return null;
}

/** The parameter's next update (next_value - value); the slice's `step` may be the frame's step. */
export function updateOf(s) {
  return s.next_value === null || s.value === null || s.next_value === undefined ? null : s.next_value - s.value;
}

/** The one-line explanation under the plot, for this slice. */
export function slopeSentence(s, name) {
  const g = s.dE_dw;
  const du = updateOf(s);
  if (g === null || du === null) return 'This run diverged: the slope is not a number.';
  const dir = du < 0 ? 'left' : 'right';
  const sign = g > 0 ? 'positive' : g < 0 ? 'negative' : 'zero';
  const eNext = interpolate(s.points, s.next_value);
  const over = eNext !== null && eNext > s.E;
  const head = `The slope ∂E/∂${name} = ${fmt(g)} is ${sign}, so the step moves ${name} ${dir}, against the slope: downhill.`;
  return over
    ? `${head} Here the step is too long: it jumps past the bottom and lands higher (E ${fmt(s.E)} → ${fmt(eNext)}). A smaller α would not overshoot.`
    : `${head} A much larger α would jump past the bottom of this curve and land higher: an overshoot.`;
}

const MARGIN = { l: 52, r: 10, t: 6, b: 36 };

/** What the plot shows of a slice: the curve's y range, the tangent, E after the step. */
function shapeOf(s) {
  const finite = s.points.map((p) => p[1]).filter((y) => y !== null && Number.isFinite(y));
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const pad = Math.max((hi - lo) * 0.15, Math.abs(hi) * 1e-9) || 0.01; // a flat slice still gets a range
  // The tangent over a fifth of the span each side: long enough to read its slope.
  const half = (s.span[1] - s.span[0]) / 5;
  const tx = [s.value - half, s.value + half];
  const ty = tx.map((w) => s.E + (s.dE_dw ?? 0) * (w - s.value));
  return { lo, hi, pad, tx, ty, eNext: interpolate(s.points, s.next_value), yArrow: lo - pad * 0.5, du: updateOf(s) };
}

/**
 * The whole slope plot on a canvas, as Plotly draws it: while a run plays a Plotly redraw
 * (its axes change with every slice) was a 85-135 ms task at 4x CPU slowdown.
 */
export function paintSlope(canvas, box, s, name) {
  const k = shapeOf(s);
  const m = MARGIN;
  const w = box.w - m.l - m.r;
  const h = box.h - m.t - m.b;
  const xs = s.points.map((p) => p[0]);
  const x = [Math.min(...xs, k.tx[0]), Math.max(...xs, k.tx[1])];
  const y = [k.lo - k.pad, k.hi + k.pad];
  const ctx = paintAxes(canvas, box, m, { x, y, log: false }, { titles: [name, 'E'], px: 11 });
  const X = (v) => m.l + ((v - x[0]) / (x[1] - x[0])) * w;
  const Y = (v) => m.t + h - ((v - y[0]) / (y[1] - y[0])) * h;
  ctx.save();
  ctx.beginPath();
  ctx.rect(m.l, m.t, w, h);
  ctx.clip();
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
  ctx.restore();
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
  };
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
    ctx.textAlign = 'center';
    ctx.textBaseline = 'bottom';
    ctx.fillText(`update ${fmt(k.du, 3)}`, (a + b) / 2, ya - 4);
  }
}

/** Create the view in `root` (a div with a plot and a note). render(slice, name) redraws. */
export function createSlopeView(root) {
  const plot = document.createElement('div');
  plot.className = 'slope-plot';
  plot.dataset.testid = 'slope-plot';
  const note = document.createElement('p');
  note.className = 'slope-note';
  note.dataset.testid = 'slope-note';
  // While playing the plot is painted on a canvas over Plotly's (hidden) one; Plotly draws the
  // newest slice again once the run rests, for hovering.
  const wrap = document.createElement('div');
  wrap.style.position = 'relative';
  const canvas = document.createElement('canvas');
  canvas.setAttribute('aria-hidden', 'true');
  Object.assign(canvas.style, { position: 'absolute', pointerEvents: 'none', display: 'none' });
  wrap.append(plot, canvas);
  root.append(wrap, note);
  const config = { displayModeBar: false, responsive: true, scrollZoom: false };
  let box = null;
  new ResizeObserver((entries) => {
    const r = entries[entries.length - 1].contentRect;
    box = { w: r.width, h: r.height };
    // Laid out now: a slice that came before Plotly and before a size is painted.
    if (waitingSlice && !window.Plotly && box.w > 0) {
      const w = waitingSlice;
      waitingSlice = null;
      render(w[0], w[1]);
    }
  }).observe(plot);

  let stale = null; // the newest slice, painted on the canvas, not yet drawn by Plotly
  const playing = runPlaying;
  const atRest = whenAtRest(() => stale && render(stale[0], stale[1]));

  let waiting = false; // waiting for Plotly to draw the newest slice
  let waitingSlice = null; // a slice asked for before the plot was laid out and Plotly there
  /** Once another view has loaded Plotly, it draws the newest slice (painted or not). */
  function whenPlotly() {
    if (waiting) return;
    waiting = true;
    onPlotly(() => {
      waiting = false;
      const w = stale || waitingSlice;
      waitingSlice = null;
      if (w) render(w[0], w[1]);
    });
  }
  function render(s, name) {
    if (!s || !Array.isArray(s.points)) return;
    // On the canvas while playing (once Plotly has drawn here) and until Plotly has loaded:
    // the slope alone does not ask for Plotly (on a phone another view loads it later).
    if ((playing() && plot.data) || !window.Plotly) {
      // The size from the ResizeObserver (reading it here would force a layout of the panel).
      const b = box || { w: 0, h: 0 };
      if (b.w > 0 && b.h > 0) {
        stale = [s, name];
        paintSlope(canvas, { l: 0, t: 0, w: b.w, h: b.h }, s, name);
        plot.style.visibility = 'hidden';
        setText(note, slopeSentence(s, name));
        if (window.Plotly) atRest();
        else whenPlotly();
        return;
      }
    }
    stale = null;
    canvas.style.display = 'none';
    plot.style.visibility = '';
    if (!window.Plotly) {
      // Not laid out yet: painted once it is, or drawn when another view has loaded Plotly.
      waitingSlice = [s, name];
      whenPlotly();
      return;
    }
    const xs = s.points.map((p) => p[0]);
    const ys = s.points.map((p) => p[1]);
    const { lo, hi, pad, tx, ty, eNext, yArrow, du } = shapeOf(s);
    const traces = [
      { x: xs, y: ys, type: 'scatter', mode: 'lines', line: { color: POS_HEX, width: 2 }, name: 'E', hovertemplate: `${name} = %{x:.4g}<br>E = %{y:.5g}<extra></extra>` },
      { x: tx, y: ty, type: 'scatter', mode: 'lines', line: { color: '#1d2430', width: 1.5, dash: 'dash' }, name: 'tangent', hoverinfo: 'skip' },
      { x: [s.value], y: [s.E], type: 'scatter', mode: 'markers', marker: { color: POS_HEX, size: 9, line: { color: '#fff', width: 2 } }, hovertemplate: `now: ${name} = %{x:.4g}<br>E = %{y:.5g}<extra></extra>` },
    ];
    if (eNext !== null) {
      traces.push({ x: [s.next_value], y: [eNext], type: 'scatter', mode: 'markers', marker: { color: NEG_HEX, size: 8, symbol: 'circle-open', line: { width: 2 } }, hovertemplate: `after the step: ${name} = %{x:.4g}<br>E = %{y:.5g}<extra></extra>` });
    }
    const layout = {
      margin: { ...MARGIN },
      showlegend: false,
      xaxis: { title: { text: name, standoff: 4 }, zeroline: false, gridcolor: '#e8ebf0' },
      yaxis: { title: { text: 'E' }, zeroline: false, gridcolor: '#e8ebf0', range: [lo - pad, hi + pad], exponentformat: 'power' },
      paper_bgcolor: 'rgba(0,0,0,0)',
      plot_bgcolor: 'rgba(0,0,0,0)',
      font: { family: 'system-ui, -apple-system, "Segoe UI", sans-serif', size: 11, color: '#3a4352' },
      annotations:
        du !== null && Math.abs(du) > 0
          ? [
              {
                x: s.next_value,
                y: yArrow,
                ax: s.value,
                ay: yArrow,
                xref: 'x',
                yref: 'y',
                axref: 'x',
                ayref: 'y',
                showarrow: true,
                arrowhead: 2,
                arrowsize: 1.2,
                arrowwidth: 2,
                arrowcolor: NEG_HEX,
                text: '',
              },
              { x: (s.value + s.next_value) / 2, y: yArrow, yshift: 10, xref: 'x', yref: 'y', showarrow: false, text: `update ${fmt(du, 3)}`, font: { color: NEG_HEX, size: 11 } },
            ]
          : [],
    };
    window.Plotly.react(plot, traces, layout, config);
    note.textContent = slopeSentence(s, name);
  }

  return { render, element: root };
}
