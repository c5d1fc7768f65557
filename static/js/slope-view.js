// The slope view: E against the selected parameter (all others fixed, GET .../slice), the
// tangent whose slope is dE/dw, and the optimizer's next step as an arrow along the axis.

import { NEG_HEX, POS_HEX } from './nn.js';
import { fmt } from './mathml.js';
import { onPlotly } from './plotly-loader.js';
import { paintAxes } from './loss-canvas.js';
import { runPlaying, setText, whenAtRest } from './ui.js';

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
  const y = k.range;
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
    ctx.textBaseline = 'top';
    ctx.fillText(`update ${fmt(k.du, 3)}`, (a + b) / 2, ya + 5);
  }
}

/**
 * Create the view in `root` (a div with a plot and a note). render(slice, name) redraws.
 * `onPick(value)`, if given: a click on the curve sets the parameter there (an edit), when
 * `canPick()` says this screen may.
 */
export function createSlopeView(root, { onPick, canPick = () => true } = {}) {
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
  // Where E went when the parameter was set by hand (an edit at the same step): from, to.
  const edited = document.createElement('p');
  edited.className = 'slope-edit muted';
  edited.dataset.testid = 'slope-edit';
  edited.hidden = true;
  root.append(wrap, note, edited);
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
    const was = editOf(s, name);
    // On the canvas while playing (once Plotly has drawn here) and until Plotly has loaded:
    // the slope alone does not ask for Plotly (on a phone another view loads it later).
    if ((playing() && plot.data) || !window.Plotly) {
      // The size from the ResizeObserver (reading it here would force a layout of the panel).
      const b = box || { w: 0, h: 0 };
      if (b.w > 0 && b.h > 0) {
        stale = [s, name];
        paintSlope(canvas, { l: 0, t: 0, w: b.w, h: b.h }, s, name);
        plot.style.visibility = 'hidden';
        writeNote(note, s, name);
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
    const { range: curveRange, tx, ty, eNext, yArrow, du } = shapeOf(s);
    // The E before an edit stays in view beside the curve around the new value.
    const pad = was && Number.isFinite(was.E) && curveRange ? 0.05 * (curveRange[1] - curveRange[0]) : 0;
    const range = pad ? [Math.min(curveRange[0], was.E - pad), Math.max(curveRange[1], was.E + pad)] : curveRange;
    const traces = [
      { x: xs, y: ys, type: 'scatter', mode: 'lines', line: { color: POS_HEX, width: 2 }, name: 'E', hovertemplate: `${name} = %{x:.4g}<br>E = %{y:.5g}<extra></extra>` },
      { x: tx, y: ty, type: 'scatter', mode: 'lines', line: { color: '#1d2430', width: 1.5, dash: 'dash' }, name: 'tangent', hoverinfo: 'skip' },
      { x: [s.value], y: [s.E], type: 'scatter', mode: 'markers', marker: { color: POS_HEX, size: 9, line: { color: '#fff', width: 2 } }, hovertemplate: `now: ${name} = %{x:.4g}<br>E = %{y:.5g}<extra></extra>` },
    ];
    if (was && Number.isFinite(was.E)) {
      traces.push({ x: [was.from], y: [was.E], type: 'scatter', mode: 'markers', marker: { color: '#6b7280', size: 9, symbol: 'circle-open', line: { width: 2 } }, hovertemplate: `before the edit: ${name} = %{x:.4g}<br>E = %{y:.5g}<extra></extra>` });
    }
    if (eNext !== null) {
      traces.push({ x: [s.next_value], y: [eNext], type: 'scatter', mode: 'markers', marker: { color: NEG_HEX, size: 8, symbol: 'circle-open', line: { width: 2 } }, hovertemplate: `after the step: ${name} = %{x:.6g}<br>E = %{y:.10g}<extra></extra>` });
    }
    const layout = {
      margin: { ...MARGIN },
      showlegend: false,
      xaxis: { title: { text: name, standoff: 4 }, zeroline: false, gridcolor: '#e8ebf0' },
      yaxis: { title: { text: 'E' }, zeroline: false, gridcolor: '#e8ebf0', range, exponentformat: 'power' },
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
              { x: (s.value + s.next_value) / 2, y: yArrow, yshift: -11, xref: 'x', yref: 'y', showarrow: false, text: `update ${fmt(du, 3)}`, font: { color: NEG_HEX, size: 11 } },
            ]
          : [],
    };
    window.Plotly.react(plot, traces, layout, config);
    writeNote(note, s, name);
    if (onPick && !plot.dataset.pick && plot.on) {
      plot.dataset.pick = '1';
      // A point of the curve clicked: the parameter is set to that value (E is the curve's there).
      plot.on('plotly_click', (ev) => {
        const p = ev?.points?.find((q) => q.curveNumber === 0);
        if (p && canPick()) onPick(p.x);
      });
    }
    plot.title = onPick && canPick() ? 'Click the curve to set the parameter there' : '';
  }

  return { render, element: root };
}
