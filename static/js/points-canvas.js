// The predicted-versus-actual markers painted on a canvas over Plotly's plot area: while
// playing, Plotly redraws that plot only when its axis range must change (benchmarks/page.py:
// a Plotly.react of five points cost over 150 ms at 4x CPU slowdown; painting them, < 1 ms).

import { fitCanvas } from './ui.js';

/** The range to show for values in [lo, hi]: `current` while it holds them and is not 3x too wide. */
export function pointsRange(lo, hi, current) {
  const span = hi - lo || 0.2;
  if (current && lo >= current[0] && hi <= current[1] && current[1] - current[0] <= 3 * span) return current;
  const pad = span * 0.15;
  return [lo - pad, hi + pad];
}

/** Paint groups of points ({x, y, color, diamond}) in a range shared by both axes. */
export function paintPoints(canvas, size, range, groups) {
  const ctx = fitCanvas(canvas, size);
  const [r0, r1] = range;
  const px = (v) => ((v - r0) / (r1 - r0)) * size.w;
  const py = (v) => size.h - ((v - r0) / (r1 - r0)) * size.h;
  for (const g of groups) {
    ctx.fillStyle = g.color;
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 1;
    for (let k = 0; k < g.x.length; k++) {
      if (!Number.isFinite(g.x[k]) || !Number.isFinite(g.y[k])) continue;
      const X = px(g.x[k]);
      const Y = py(g.y[k]);
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
