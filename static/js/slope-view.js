// The slope view: E against the selected parameter (all others fixed, GET .../slice), the
// tangent whose slope is dE/dw, and the optimizer's next step as an arrow along the axis.

import { NEG_HEX, POS_HEX } from './nn.js';
import { fmt } from './mathml.js';
import { onPlotly } from './plotly-loader.js';

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

/** Create the view in `root` (a div with a plot and a note). render(slice, name) redraws. */
export function createSlopeView(root) {
  const plot = document.createElement('div');
  plot.className = 'slope-plot';
  plot.dataset.testid = 'slope-plot';
  const note = document.createElement('p');
  note.className = 'slope-note';
  note.dataset.testid = 'slope-note';
  root.append(plot, note);
  const config = { displayModeBar: false, responsive: true, scrollZoom: false };

  let waiting = null; // the newest slice asked for before Plotly was there
  function render(s, name) {
    if (!s || !Array.isArray(s.points)) return;
    if (!window.Plotly) {
      // Drawn when another view has loaded Plotly (the slope alone does not ask for it).
      if (!waiting) {
        onPlotly(() => {
          const w = waiting;
          waiting = null;
          if (w) render(w[0], w[1]);
        });
      }
      waiting = [s, name];
      return;
    }
    const xs = s.points.map((p) => p[0]);
    const ys = s.points.map((p) => p[1]);
    const finite = ys.filter((y) => y !== null && Number.isFinite(y));
    const lo = Math.min(...finite);
    const hi = Math.max(...finite);
    const pad = (hi - lo) * 0.15 || 0.01;
    const g = s.dE_dw ?? 0;
    // The tangent over a fifth of the span each side: long enough to read its slope.
    const half = (s.span[1] - s.span[0]) / 5;
    const tx = [s.value - half, s.value + half];
    const ty = tx.map((w) => s.E + g * (w - s.value));
    const eNext = interpolate(s.points, s.next_value);
    const traces = [
      { x: xs, y: ys, type: 'scatter', mode: 'lines', line: { color: POS_HEX, width: 2 }, name: 'E', hovertemplate: `${name} = %{x:.4g}<br>E = %{y:.5g}<extra></extra>` },
      { x: tx, y: ty, type: 'scatter', mode: 'lines', line: { color: '#1d2430', width: 1.5, dash: 'dash' }, name: 'tangent', hoverinfo: 'skip' },
      { x: [s.value], y: [s.E], type: 'scatter', mode: 'markers', marker: { color: POS_HEX, size: 9, line: { color: '#fff', width: 2 } }, hovertemplate: `now: ${name} = %{x:.4g}<br>E = %{y:.5g}<extra></extra>` },
    ];
    if (eNext !== null) {
      traces.push({ x: [s.next_value], y: [eNext], type: 'scatter', mode: 'markers', marker: { color: NEG_HEX, size: 8, symbol: 'circle-open', line: { width: 2 } }, hovertemplate: `after the step: ${name} = %{x:.4g}<br>E = %{y:.5g}<extra></extra>` });
    }
    const yArrow = lo - pad * 0.5;
    const du = updateOf(s);
    const layout = {
      margin: { l: 52, r: 10, t: 6, b: 36 },
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
