// The error landscape (GET .../landscape, docs/api.md, Version 3): E over two parameters, or over
// the plane of the run's trajectory, as a heat map with contour lines on one canvas, the run's
// path on it, a marker at the frame shown (play, step, seek, scrub) and the gradient arrow.
// Loaded only when the panel is opened (live.js), so the first screen never pays for it.

import { layerSizes, NEG_HEX, paramName } from './nn.js';
import { fmt } from './mathml.js';
import { fitCanvas, h, setText } from './ui.js';

const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const MARGIN = { l: 66, r: 24, t: 10, b: 40 };
const LEVELS = 12; // contour lines
const REST_MS = 300; // after the run rests at a new step, the surface is fetched again

/** The map's colour for u in [0, 1] (low E dark, high E pale): viridis, roughly. */
export function heat(u) {
  const x = Math.max(0, Math.min(1, u)) * (VIRIDIS.length - 1);
  const k = Math.min(Math.floor(x), VIRIDIS.length - 2);
  const t = x - k;
  return VIRIDIS[k].map((c, i) => Math.round(c + (VIRIDIS[k + 1][i] - c) * t));
}

/** `w.L.I.J` / `b.L.J` of a selection {kind, layer, i, j}, and back. */
export const paramKey = (s) => (s.kind === 'bias' ? `b.${s.layer}.${s.j}` : `w.${s.layer}.${s.i}.${s.j}`);
export function parseKey(key) {
  const p = key.split('.').map(Number);
  return key.startsWith('b.') ? { kind: 'bias', layer: p[1], j: p[2] } : { kind: 'weight', layer: p[1], i: p[2], j: p[3] };
}

/** A parameter's value and gradient in a frame. */
function inFrame(frame, sel) {
  if (sel.kind === 'weight') return [frame.weights?.[sel.layer]?.[sel.i]?.[sel.j], frame.gradients?.weights?.[sel.layer]?.[sel.i]?.[sel.j]];
  const b = frame.biases?.[sel.layer] || [];
  const g = frame.gradients?.biases?.[sel.layer] || [];
  const k = b.length === 1 ? 0 : sel.j;
  return [b[k], g[k]];
}

/** The honest sentence under the map, from the answer's own numbers. */
export function landscapeSentence(ans, names) {
  if (ans.mode === 'trajectory') {
    const pct = 100 * ans.variance.explained;
    const share = pct.toFixed(pct > 99.9 || pct < 0.1 ? 2 : 1); // 99.96% is not "100.0%"
    return `The plane through the run's start (step ${ans.origin_step}) and the two directions its weights moved most: it holds ${share}% of the trajectory's variance, so the path drawn is the run itself, seen from its best angle; off the plane the run is up to ${fmt(Math.max(...ans.off_plane), 3)} away. E is on the next step's batch, at step ${ans.step}; the plane is redrawn when the run rests.`;
  }
  return `E as ${names[0]} and ${names[1]} vary, every other weight held where it is at step ${ans.step}: a slice. As the run trains the other weights move and the surface moves with them, so the path crossed surfaces a little different from this one; it is redrawn at the current step whenever the run rests.`;
}

/** Contour segments of grid z (rows follow y) at `level`, in grid coordinates (marching squares). */
export function contour(z, level) {
  const segs = [];
  for (let r = 0; r + 1 < z.length; r++) {
    for (let c = 0; c + 1 < z[r].length; c++) {
      const v = [z[r][c], z[r][c + 1], z[r + 1][c + 1], z[r + 1][c]];
      if (v.some((x) => x === null || !Number.isFinite(x))) continue;
      const corners = [[c, r], [c + 1, r], [c + 1, r + 1], [c, r + 1]];
      const pts = [];
      for (let e = 0; e < 4; e++) {
        const a = v[e];
        const b = v[(e + 1) % 4];
        if ((a < level) !== (b < level)) {
          const t = (level - a) / (b - a);
          const [x0, y0] = corners[e];
          const [x1, y1] = corners[(e + 1) % 4];
          pts.push([x0 + (x1 - x0) * t, y0 + (y1 - y0) * t]);
        }
      }
      if (pts.length === 2) segs.push(pts);
      else if (pts.length === 4) segs.push([pts[0], pts[1]], [pts[2], pts[3]]);
    }
  }
  return segs;
}

/**
 * Create the view in `root`. `ctx`: base(), frame(), config(), sel() (the chain panel's
 * parameter), playing(). The returned onFrame(frame) moves the marker; refresh() fetches again.
 */
export function createLandscapeView(root, ctx) {
  const mode = h('select', { 'data-testid': 'landscape-mode', 'aria-label': 'Landscape of' },
    h('option', { value: 'pair' }, 'two parameters'), h('option', { value: 'trajectory' }, 'the whole run (PCA)'));
  const pickA = h('select', { 'data-testid': 'landscape-a', 'aria-label': 'First parameter (across)' });
  const pickB = h('select', { 'data-testid': 'landscape-b', 'aria-label': 'Second parameter (up)' });
  const redraw = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'landscape-redraw', title: 'Draw the surface again at the current step' }, 'Redraw here');
  const pickers = h('span', { class: 'landscape-pickers' }, h('label', {}, 'across ', pickA), h('label', {}, 'up ', pickB));
  const canvas = h('canvas', { class: 'landscape-canvas', 'data-testid': 'landscape-canvas', role: 'img', 'aria-label': 'Error landscape' });
  const marker = h('p', { class: 'landscape-marker', 'data-testid': 'landscape-marker', 'aria-live': 'off' });
  const note = h('p', { class: 'landscape-note muted', 'data-testid': 'landscape-note' });
  const status = h('p', { class: 'landscape-status muted', 'data-testid': 'landscape-status' });
  root.replaceChildren(h('div', { class: 'landscape-controls' }, h('label', {}, 'Landscape of ', mode), pickers, redraw), canvas, marker, note, status);

  let ans = null; // the newest answer
  let names = ['', ''];
  let sels = [null, null];
  let point = null; // the marker: {step, a, b, E, ga, gb}
  let trail = []; // the run's points since the answer (pair mode): drawn as it plays on
  let asked = 0;
  let restTimer = null;
  let sizes = [];

  function options() {
    const sz = layerSizes(ctx.frame(), ctx.config());
    const L = sz.length - 1;
    if (sz.join() === sizes.join() && pickA.options.length) return;
    sizes = sz;
    const shared = ctx.config()?.bias === 'shared';
    const opts = [];
    for (let l = 0; l < L; l++) {
      for (let i = 0; i < sz[l]; i++) for (let j = 0; j < sz[l + 1]; j++) opts.push({ kind: 'weight', layer: l, i, j });
      for (let j = 0; j < (shared ? 1 : sz[l + 1]); j++) opts.push({ kind: 'bias', layer: l, j });
    }
    // A big network has thousands: the pickers list at most 400 (the chain panel's pick is added).
    const list = opts.slice(0, 400);
    const fill = (select) => select.replaceChildren(...list.map((s) => h('option', { value: paramKey(s) }, paramName(s, L, shared))));
    fill(pickA);
    fill(pickB);
    const first = ctx.sel() || { kind: 'weight', layer: L - 1, i: 0, j: 0 };
    const second = first.kind === 'bias' ? { kind: 'weight', layer: first.layer, i: 0, j: first.j } : { kind: 'bias', layer: first.layer, j: shared ? 0 : first.j };
    for (const [select, s] of [[pickA, first], [pickB, second]]) {
      if (![...select.options].some((o) => o.value === paramKey(s))) select.append(h('option', { value: paramKey(s) }, paramName(s, L, shared)));
      select.value = paramKey(s);
    }
  }

  async function refresh() {
    const base = ctx.base();
    const frame = ctx.frame();
    if (!base || !frame) return;
    options();
    const q = new URLSearchParams({ mode: mode.value, grid: '41' });
    if (mode.value === 'pair') {
      q.set('a', pickA.value);
      q.set('b', pickB.value);
    }
    pickers.hidden = mode.value !== 'pair';
    const mine = ++asked;
    setText(status, `Computing the landscape at step ${frame.step}…`);
    root.dataset.loading = 'true';
    try {
      const res = await fetch(`${base}/landscape?${q}`, { headers: { Accept: 'application/json' } });
      const body = await res.json().catch(() => null);
      if (mine !== asked) return;
      if (!res.ok) throw new Error(typeof body?.detail === 'string' ? body.detail : `The server answered ${res.status}.`);
      ans = body;
      const L = sizes.length - 1;
      const shared = ctx.config()?.bias === 'shared';
      sels = ans.mode === 'pair' ? [parseKey(ans.a.name), parseKey(ans.b.name)] : [null, null];
      names = ans.mode === 'pair' ? sels.map((s) => paramName(s, L, shared)) : ['PC1', 'PC2'];
      trail = [];
      root.dataset.step = String(ans.step);
      setText(note, landscapeSentence(ans, names));
      setText(status, '');
      point = null;
      onFrame(ctx.frame(), true);
    } catch (err) {
      if (mine !== asked) return;
      setText(status, `No landscape: ${err.message}`);
    } finally {
      if (mine === asked) root.dataset.loading = 'false';
    }
  }

  /** The marker for a frame: its own values (pair), or the path's point at its step (plane). */
  function pointOf(frame) {
    if (!ans || !frame) return null;
    if (ans.mode === 'pair') {
      const [a, ga] = inFrame(frame, sels[0]);
      const [b, gb] = inFrame(frame, sels[1]);
      return { step: frame.step, a, b, E: frame.loss, ga, gb, exact: true };
    }
    const steps = ans.path.steps;
    let k = steps.findIndex((s) => s > frame.step);
    k = k === -1 ? steps.length - 1 : Math.max(0, k - 1);
    const atNow = steps[k] === ans.step;
    return { step: steps[k], a: ans.path.a[k], b: ans.path.b[k], E: ans.path.E[k], ga: atNow ? ans.current.gradient[0] : null, gb: atNow ? ans.current.gradient[1] : null, exact: steps[k] === frame.step };
  }

  function onFrame(frame, fresh = false) {
    if (!ans || !frame) return;
    point = pointOf(frame);
    if (ans.mode === 'pair' && frame.step > ans.step && !frame.seeked && point) {
      if (!trail.length || trail[trail.length - 1].step < frame.step) trail.push(point);
    }
    root.dataset.markerStep = String(point?.step ?? '');
    root.dataset.markerA = String(point?.a ?? '');
    root.dataset.markerB = String(point?.b ?? '');
    if (point) {
      const words = ans.mode === 'pair' ? `${names[0]} = ${fmt(point.a, 5)}, ${names[1]} = ${fmt(point.b, 5)}` : `PC1 = ${fmt(point.a, 4)}, PC2 = ${fmt(point.b, 4)}`;
      const where = ans.mode === 'pair' || point.exact ? `step ${point.step}` : `step ${point.step} (the path's nearest point before step ${frame.step})`;
      const slope = Number.isFinite(point.ga) && Number.isFinite(point.gb) ? `; arrow −∇E = (${fmt(-point.ga, 3)}, ${fmt(-point.gb, 3)})` : '';
      setText(marker, `● ${where}: ${words}, E = ${fmt(point.E, 5)}${slope}`);
    }
    if (fresh) paint();
    else schedulePaint();
    if (!fresh && frame.step !== ans.step && !ctx.playing()) {
      clearTimeout(restTimer);
      restTimer = setTimeout(() => !ctx.playing() && refresh(), REST_MS);
    }
    if (!fresh && frame.step !== ans.step) setText(status, ctx.playing() ? `Surface drawn at step ${ans.step}; the marker follows the run, and the surface is redrawn when it rests.` : '');
  }

  // The map (heat, contours, axes) is drawn once per answer and size, off screen; each frame
  // while playing only copies it and draws the path and the marker over it.
  let backdrop = null; // { for: ans, side, canvas }

  /** Paint at the next animation frame: frames arriving 30 a second are painted once each. */
  let painting = false;
  function schedulePaint() {
    if (painting) return;
    painting = true;
    requestAnimationFrame(() => {
      painting = false;
      paint();
    });
  }

  function drawBackdrop(g, m, side) {
    const w = side;
    const hh = side;
    const av = ans.a.values;
    const bv = ans.b.values;
    const X = (v) => m.l + ((v - av[0]) / (av[av.length - 1] - av[0])) * w;
    const Y = (v) => m.t + hh - ((v - bv[0]) / (bv[bv.length - 1] - bv[0])) * hh;
    // E on a log scale when it spans more than a decade (as the error curve).
    const flat = ans.E.flat().filter((v) => v !== null && Number.isFinite(v));
    const lo = Math.min(...flat);
    const hi = Math.max(...flat);
    const log = lo > 0 && hi / lo > 10;
    const sc = (v) => (log ? Math.log10(v) : v);
    const [slo, shi] = [sc(lo), sc(hi)];
    const u = (v) => (v === null || !Number.isFinite(v) ? 1 : (sc(v) - slo) / (shi - slo || 1));
    const n = av.length;
    const img = new ImageData(n, bv.length);
    for (let r = 0; r < bv.length; r++) {
      for (let c = 0; c < n; c++) {
        const [R, G, B] = heat(u(ans.E[r][c]));
        const k = ((bv.length - 1 - r) * n + c) * 4; // row 0 is the lowest b: at the bottom
        img.data.set([R, G, B, 255], k);
      }
    }
    const tile = document.createElement('canvas');
    tile.width = n;
    tile.height = bv.length;
    tile.getContext('2d').putImageData(img, 0, 0);
    g.imageSmoothingEnabled = true;
    // Grid points are cell centres: half a cell each side lies beyond the first and last values.
    g.drawImage(tile, 0.5, 0.5, n - 1, bv.length - 1, m.l, m.t, w, hh);
    // Contour lines, evenly spaced on the colour scale.
    const gx = (c) => m.l + (c / (n - 1)) * w;
    const gy = (r) => m.t + hh - (r / (bv.length - 1)) * hh;
    g.strokeStyle = 'rgba(255,255,255,0.45)';
    g.lineWidth = 1;
    g.beginPath();
    for (let k = 1; k < LEVELS; k++) {
      const level = log ? 10 ** (slo + ((shi - slo) * k) / LEVELS) : slo + ((shi - slo) * k) / LEVELS;
      for (const [[c0, r0], [c1, r1]] of contour(ans.E, level)) {
        g.moveTo(gx(c0), gy(r0));
        g.lineTo(gx(c1), gy(r1));
      }
    }
    g.stroke();
    // Axes and their values.
    g.fillStyle = '#3a4352';
    g.font = '11px system-ui, sans-serif';
    g.textAlign = 'center';
    g.textBaseline = 'top';
    for (const v of [av[0], av[(n - 1) >> 1], av[n - 1]]) g.fillText(fmt(v, 3), X(v), m.t + hh + 4);
    g.fillText(`${names[0]} →`, m.l + w / 2, m.t + hh + 20);
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (const v of [bv[0], bv[(bv.length - 1) >> 1], bv[bv.length - 1]]) g.fillText(fmt(v, 3), m.l - 4, Y(v));
    g.save();
    g.translate(10, m.t + hh / 2);
    g.rotate(-Math.PI / 2);
    g.textAlign = 'center';
    g.fillText(`${names[1]} →`, 0, 0);
    g.restore();
  }

  function paint() {
    if (!ans) return;
    const m = MARGIN;
    // A square map: both axes at one scale, so the arrow's direction and the contours' angles
    // on the screen are those in parameter space (downhill is at right angles to a contour).
    const side = Math.max(160, Math.min((root.clientWidth || 480) - m.l - m.r, 380));
    const box = { l: 0, t: 0, w: side + m.l + m.r, h: side + m.t + m.b };
    canvas.style.position = 'static';
    const dpr = window.devicePixelRatio || 1;
    if (!backdrop || backdrop.for !== ans || backdrop.side !== side || backdrop.dpr !== dpr) {
      const off = document.createElement('canvas');
      off.width = Math.round(box.w * dpr);
      off.height = Math.round(box.h * dpr);
      const og = off.getContext('2d');
      og.setTransform(dpr, 0, 0, dpr, 0, 0);
      drawBackdrop(og, m, side);
      backdrop = { for: ans, side, dpr, canvas: off };
    }
    const g = fitCanvas(canvas, box);
    g.drawImage(backdrop.canvas, 0, 0, box.w, box.h);
    const w = side;
    const hh = side;
    const av = ans.a.values;
    const bv = ans.b.values;
    const X = (v) => m.l + ((v - av[0]) / (av[av.length - 1] - av[0])) * w;
    const Y = (v) => m.t + hh - ((v - bv[0]) / (bv[bv.length - 1] - bv[0])) * hh;
    // The path: the run's own points, then (pair) its points since, dashed.
    g.save();
    g.beginPath();
    g.rect(m.l, m.t, w, hh);
    g.clip();
    const line = (pts, dash) => {
      g.setLineDash(dash);
      for (const [colour, lw] of [['rgba(29,36,48,0.7)', 4], ['#ffffff', 2]]) {
        g.strokeStyle = colour;
        g.lineWidth = lw;
        g.beginPath();
        pts.forEach(([a, b], k) => (k ? g.lineTo(X(a), Y(b)) : g.moveTo(X(a), Y(b))));
        g.stroke();
      }
      g.setLineDash([]);
    };
    const path = ans.path.a.map((a, k) => [a, ans.path.b[k]]).filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
    line(path, []);
    if (trail.length) line([path[path.length - 1], ...trail.map((p) => [p.a, p.b])], [4, 3]);
    if (path.length) {
      g.fillStyle = '#ffffff';
      g.beginPath();
      g.arc(X(path[0][0]), Y(path[0][1]), 3.5, 0, 2 * Math.PI);
      g.fill();
    }
    // The gradient arrow at the marker: -(dE/da, dE/db), downhill, one scale for both.
    if (point && Number.isFinite(point.a) && Number.isFinite(point.b)) {
      const [px, py] = [X(point.a), Y(point.b)];
      if (Number.isFinite(point.ga) && Number.isFinite(point.gb) && (point.ga || point.gb)) {
        const len = Math.hypot(point.ga, point.gb);
        const unit = (av[av.length - 1] - av[0]) / w; // parameter units per pixel (both axes alike)
        const scale = (0.18 * w * unit) / len; // the arrow's length: 18% of the map, its direction exact
        const [qx, qy] = [X(point.a - scale * point.ga), Y(point.b - scale * point.gb)];
        g.strokeStyle = NEG_HEX;
        g.fillStyle = NEG_HEX;
        g.lineWidth = 2.5;
        g.beginPath();
        g.moveTo(px, py);
        g.lineTo(qx, qy);
        g.stroke();
        const ang = Math.atan2(qy - py, qx - px);
        g.beginPath();
        g.moveTo(qx, qy);
        g.lineTo(qx - 9 * Math.cos(ang - 0.4), qy - 9 * Math.sin(ang - 0.4));
        g.lineTo(qx - 9 * Math.cos(ang + 0.4), qy - 9 * Math.sin(ang + 0.4));
        g.closePath();
        g.fill();
        root.dataset.arrow = `${-point.ga},${-point.gb}`;
      }
      g.beginPath();
      g.arc(px, py, 6, 0, 2 * Math.PI);
      g.fillStyle = NEG_HEX;
      g.fill();
      g.lineWidth = 2;
      g.strokeStyle = '#ffffff';
      g.stroke();
    }
    g.restore();
  }

  mode.addEventListener('change', refresh);
  pickA.addEventListener('change', refresh);
  pickB.addEventListener('change', refresh);
  redraw.addEventListener('click', refresh);
  new ResizeObserver(() => schedulePaint()).observe(root);
  return { refresh, onFrame, reset: () => { sizes = []; ans = null; refresh(); } };
}
