// Changes made by hand (issue 22, items 7 and 8): a weight or bias typed into the chain panel,
// and the learner's own points drawn on the data plane. Both are messages to the run
// (`edit`, `points`), logged at their step by the server: seek and links replay them.

import { CATEGORICAL, NEG_HEX, POS_HEX, paramName } from './nn.js';
import { h } from './ui.js';

const PLAYING_MS = 500; // the edit box's shown value, while playing: at most twice a second

/** A frame's settings_log in short: it changes whenever a change is logged, folded or undone. */
export function logSignature(frame) {
  const log = frame?.settings_log;
  if (!log) return '';
  const last = log.changes ? log.changes[log.count - 1] : null;
  return `${log.count}|${JSON.stringify(last ?? null)}`;
}

/** The points changes a frame's log lists, in short ('' when none; the count when unlisted). */
export function pointsSignature(frame) {
  const log = frame?.settings_log;
  if (!log) return '';
  if (!log.changes) return `n${log.count}`;
  return JSON.stringify(log.changes.slice(0, log.count).filter((c) => c.points));
}

/** The value of parameter `sel` in a frame (weights[l][i][j] or biases[l][j]), or null. */
export function valueOf(frame, sel, sharedBias = false) {
  if (!frame || !sel) return null;
  const v = sel.kind === 'weight' ? frame.weights?.[sel.layer]?.[sel.i]?.[sel.j] : frame.biases?.[sel.layer]?.[sharedBias ? 0 : sel.j];
  return typeof v === 'number' ? v : null;
}

/** The edit message for `sel` set to the text typed: {msg} or {error} (a sentence). */
export function editMessage(sel, text) {
  const t = String(text).trim().replace(/^−/, '-').replace(/,/g, '.');
  const value = t === '' ? NaN : Number(t);
  if (!Number.isFinite(value)) return { error: `"${String(text).slice(0, 20)}" is not a number` };
  if (Math.abs(value) > 1e6) return { error: 'a weight may be set between −1,000,000 and 1,000,000' };
  const msg = { type: 'edit', kind: sel.kind, layer: sel.layer, j: sel.j, value };
  if (sel.kind === 'weight') msg.i = sel.i;
  return { msg };
}

/** Colour of class k on the plane: the categorical one with several outputs, else the two ends. */
export function classColor(k, outputs) {
  if (outputs > 1) return CATEGORICAL[k % CATEGORICAL.length];
  return k ? POS_HEX : NEG_HEX;
}

/**
 * The edit field under the chain panel and the draw bar under the data plane.
 * `state` is live.js's (frame, config, data, view.sel); `send(msg)` sends to the run;
 * `drives()` says whether this screen may change the run; `toast(text)` reports a refusal.
 */
export function createHandEdits({ chainRoot, dataRoot, state: S, send, drives, toast }) {
  // ---- the edit field
  const label = h('span', { class: 'edit-name', 'data-testid': 'edit-name' });
  const input = h('input', { type: 'text', inputmode: 'decimal', autocomplete: 'off', spellcheck: 'false', class: 'edit-input', id: 'edit-value', 'data-testid': 'edit-value', 'aria-describedby': 'edit-help' });
  const help = h('span', { class: 'muted edit-help', id: 'edit-help', 'data-testid': 'edit-help' });
  const form = h('form', { class: 'edit-row', 'data-testid': 'edit-form', novalidate: true }, h('label', { for: 'edit-value' }, 'Set ', label, ' to'), input, h('button', { type: 'submit', class: 'btn btn-small' }, 'Apply'), help);
  form.hidden = true;
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const sel = S.view.sel;
    if (!sel || !drives()) return;
    const made = editMessage(sel, input.value);
    if (made.error) {
      help.textContent = `${made.error}: type a number, then Enter.`;
      help.classList.add('error');
      return;
    }
    help.classList.remove('error');
    if (send(made.msg)) {
      help.textContent = `Set to ${made.msg.value}: the next frame shows E there.`;
      input.value = '';
      input.placeholder = String(made.msg.value);
    }
  });
  const slope = chainRoot?.querySelector('#slope-view');
  if (chainRoot) (slope ? slope.before(form) : chainRoot.append(form));

  let shownAt = -Infinity;
  function showEdit() {
    const sel = S.view.sel;
    const show = !!sel && drives() && !!S.frame && !S.frame.diverged;
    if (form.hidden === show) form.hidden = !show;
    if (!show) return;
    const L = (S.frame.weights?.length ?? 1);
    const shared = S.config?.bias === 'shared';
    const name = paramName(sel, L, shared);
    if (label.textContent !== name) label.textContent = name;
    // While playing the value changes at every frame: written at most every PLAYING_MS (each
    // write is a style and layout pass of the chain panel), at once at rest.
    const t = performance.now();
    if (S.frame.playing && t - shownAt < PLAYING_MS) return;
    const v = valueOf(S.frame, sel, shared);
    const now = v === null ? '' : String(Number(v.toPrecision(6)));
    if (document.activeElement !== input && input.placeholder !== now) {
      input.placeholder = now;
      shownAt = t;
    }
  }

  // ---- the draw bar
  let classK = 1;
  let drawing = false;
  const toggle = h('input', { type: 'checkbox', id: 'draw-toggle', 'data-testid': 'draw-toggle' });
  const classes = h('span', { class: 'draw-classes', role: 'radiogroup', 'aria-label': 'Class of the points you draw' });
  const undo = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'draw-undo', title: 'Take the last drawn point back' }, 'Undo');
  const clear = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'draw-clear', title: 'Take every drawn point back' }, 'Clear');
  const count = h('span', { class: 'muted draw-count', 'data-testid': 'drawn-points', 'aria-live': 'polite' });
  const bar = h('div', { class: 'draw-bar', 'data-testid': 'draw-bar' }, h('label', { for: 'draw-toggle', class: 'draw-label' }, toggle, ' Draw points'), classes, undo, clear, count);
  bar.hidden = true;
  dataRoot?.append(bar);
  toggle.addEventListener('change', () => {
    drawing = toggle.checked;
    dataRoot?.classList.toggle('drawing', drawing);
  });
  undo.addEventListener('click', () => drives() && send({ type: 'points', op: 'undo' }));
  clear.addEventListener('click', () => drives() && send({ type: 'points', op: 'clear' }));

  let outputs = 0;
  function setClasses(n) {
    outputs = n;
    const K = Math.max(2, n);
    classK = Math.min(classK, K - 1);
    classes.replaceChildren(
      ...Array.from({ length: K }, (_, k) =>
        h(
          'button',
          { type: 'button', role: 'radio', class: 'btn btn-small draw-class', 'data-testid': `draw-class-${k}`, 'aria-checked': String(k === classK), onclick: () => pick(k) },
          h('span', { class: 'swatch', style: `background:${classColor(k, n)}` }),
          ` class ${k}`,
        ),
      ),
    );
  }
  function pick(k) {
    classK = k;
    for (const b of classes.children) b.setAttribute('aria-checked', String(b.dataset.testid === `draw-class-${k}`));
  }

  /** The plane's plot area and axes, or null (no plane drawn). */
  function plane() {
    const plot = dataRoot?.querySelector('[data-testid="data-plane"]');
    const fl = plot?._fullLayout;
    if (!fl?._size || !fl.xaxis?.range || !fl.yaxis?.range) return null;
    return { plot, size: fl._size, xr: fl.xaxis.range, yr: fl.yaxis.range };
  }

  // A click or tap on the plane adds a point where it landed (drawing on, this screen drives).
  // Pointer events, in the capture phase: Plotly's drag layer swallows a touch's click.
  let down = null;
  dataRoot?.addEventListener(
    'pointerdown',
    (ev) => {
      const p = drawing && ev.isPrimary ? plane() : null;
      down = p && p.plot.contains(ev.target) ? { x: ev.clientX, y: ev.clientY } : null;
    },
    true,
  );
  // On the window: a mouse's button comes up over the cover Plotly puts over the page.
  window.addEventListener(
    'pointerup',
    (ev) => {
      const start = down;
      down = null;
      if (!start || !drawing || !drives() || bar.hidden) return;
      if (Math.hypot(ev.clientX - start.x, ev.clientY - start.y) > 8) return; // a drag, not a tap
      const p = plane();
      if (!p) return;
      const r = p.plot.getBoundingClientRect();
      const px = ev.clientX - r.left - p.size.l;
      const py = ev.clientY - r.top - p.size.t;
      if (px < 0 || py < 0 || px > p.size.w || py > p.size.h) return;
      const x1 = p.xr[0] + (px / p.size.w) * (p.xr[1] - p.xr[0]);
      const x2 = p.yr[1] - (py / p.size.h) * (p.yr[1] - p.yr[0]);
      // Six significant digits: a link carries them short, and a pixel is far coarser.
      const round = (v) => Number(v.toPrecision(6));
      send({ type: 'points', op: 'add', x: [[round(x1), round(x2)]], y: [classK] });
    },
    true,
  );

  // The drawn points, ringed, on a canvas over the plane (the plot shows them as training points).
  let ring = null;
  let boundPlot = null;
  function paintRings() {
    const p = plane();
    const drawn = S.data?.drawn;
    if (!p || !drawn) {
      if (ring) ring.hidden = true;
      return;
    }
    const wrap = p.plot.parentElement;
    if (!ring || ring.parentElement !== wrap) {
      ring = h('canvas', { class: 'drawn-rings', 'aria-hidden': 'true', 'data-testid': 'drawn-rings' });
      wrap.append(ring);
    }
    if (boundPlot !== p.plot && p.plot.on) {
      boundPlot = p.plot;
      p.plot.on('plotly_afterplot', () => paintRings());
    }
    const { l, t, w, h: ht } = p.size;
    const dpr = window.devicePixelRatio || 1;
    Object.assign(ring.style, { left: `${l}px`, top: `${t}px`, width: `${w}px`, height: `${ht}px` });
    if (ring.width !== Math.round(w * dpr) || ring.height !== Math.round(ht * dpr)) {
      ring.width = Math.round(w * dpr);
      ring.height = Math.round(ht * dpr);
    }
    ring.hidden = false;
    ring.dataset.count = String(drawn.x.length);
    const ctx = ring.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, ht);
    drawn.x.forEach(([x1, x2], k) => {
      const cx = ((x1 - p.xr[0]) / (p.xr[1] - p.xr[0])) * w;
      const cy = ((p.yr[1] - x2) / (p.yr[1] - p.yr[0])) * ht;
      ctx.beginPath();
      ctx.arc(cx, cy, 7, 0, 2 * Math.PI);
      ctx.fillStyle = classColor(drawn.y[k], outputs);
      ctx.fill();
      ctx.lineWidth = 2.5;
      ctx.strokeStyle = '#1d2430';
      ctx.stroke();
    });
  }

  /** New data (a run, or the drawn points changed): the bar and the rings follow. */
  function onData(data) {
    const plane2d = (data?.points ?? data?.x)?.[0]?.length === 2 || !!data?.points;
    const ok = !!data && plane2d && data.kind === 'classification' && !!data.drawn;
    const n = data?.target_names?.length ?? 1;
    if (n !== outputs || !classes.children.length) setClasses(n);
    bar.hidden = !ok || !drives();
    if (!ok) {
      drawing = toggle.checked = false;
      dataRoot?.classList.remove('drawing');
    }
    const k = data?.drawn?.x?.length ?? 0;
    count.textContent = k ? `${k} drawn` : 'none drawn';
    undo.disabled = clear.disabled = !k;
    requestAnimationFrame(paintRings);
  }

  return {
    /** Set the selected parameter to `value` (a click on the slope's curve). */
    editTo(value) {
      const sel = S.view.sel;
      if (!sel || !drives()) return;
      const made = editMessage(sel, String(value));
      if (made.msg && send(made.msg)) help.textContent = `Set to ${value} from the slope's curve.`;
    },
    onFrame: showEdit,
    onSelect: showEdit,
    onData,
    paint: paintRings,
    /** Re-read whether this screen drives (a presenter's hello): the controls follow. */
    refresh() {
      showEdit();
      if (S.data) onData(S.data);
    },
    toast,
  };
}
