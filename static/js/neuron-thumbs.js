// Playground's thumbnails: beside each node of the network diagram, what that neuron computes
// over the whole input plane (GET …/neurons, the server's engine), as a small heat map. On a
// set without a plane (the article's four inputs) a row of bars instead, one per sample. A
// click makes the neuron the big data-plane view (data-view.js showNeuron).
//
// While the run plays they are fetched at most twice a second, at a coarser grid, and only
// while the diagram is on (or near) the screen; at rest once per step.

import { latestOnly, request } from './api.js';
import { neuronPixels, neuronRGB, neuronScale } from './neuron-paint.js';
import { h } from './ui.js';

const GRID_REST = 24;
const GRID_PLAYING = 16;
const MIN_MS = 500; // at most two fetches a second while playing
const MAX_BARS = 32; // samples drawn as bars (the first ones) on a set without a plane

/** Where a node of the diagram sits (viewBox units): from its transform, read once per build. */
function nodeAt(g) {
  const m = /translate\(([-\d.e]+),\s*([-\d.e]+)\)/.exec(g.getAttribute('transform') || '');
  return m ? { l: Number(g.dataset.nodeL), k: Number(g.dataset.nodeK), x: Number(m[1]), y: Number(m[2]) } : null;
}

/**
 * Thumbnails over the diagram in `container` (the SVG `svg` inside it).
 * base(): the run's REST prefix; near(): the diagram is on or near the screen; moving(): the run
 * plays; onPick(who | null): a thumbnail was chosen (who: {layer, j, act, output, name});
 * outputRange(): the data plane's [zmin, zmax] for a lone output (its thumbnail matches it).
 * Returns {onFrame(frame), sync(), reset(), setPicked(who)}.
 */
export function createNeuronThumbs(container, { svg, base, near, moving, onPick, outputRange = () => null }) {
  const overlay = h('div', { class: 'neuron-thumbs', 'data-testid': 'neuron-thumbs' });
  // Every map is painted on its own small canvas (not displayed: the neuron's n x n cells, what
  // tests read) and copied, framed, onto this one canvas over the diagram. Fifty displayed
  // canvases over the edges' canvas (a worker's, composited) were fifty compositor layers
  // updated at every frame: at 4x CPU slowdown they halved the frames a playing spiral drew.
  const screen = h('canvas', { class: 'neuron-thumbs-paint', 'aria-hidden': 'true', 'data-testid': 'neuron-thumbs-paint' });
  container.append(overlay);
  let seen = { w: 0, h: 0 }; // the overlay's size in CSS px, from the ResizeObserver
  if (window.ResizeObserver) {
    new ResizeObserver(([e]) => {
      seen = { w: e.contentRect.width, h: e.contentRect.height };
      composite();
    }).observe(overlay);
  }
  let key = ''; // the diagram's build the thumbnails are placed on
  let thumbs = new Map(); // 'l-j' -> {button, canvas}
  let answer = null; // the newest answer drawn
  let askedStep = null; // the step the newest fetch was made for
  let frameStep = null; // the newest frame's step
  let picked = null; // {layer, j} shown on the data plane

  const fetcher = latestOnly(
    () => {
      const b = base();
      // Asked again here: a call the throttle held back may run after the diagram went away.
      if (!b || !near() || document.hidden) return null;
      askedStep = frameStep;
      const grid = moving() ? GRID_PLAYING : GRID_REST;
      return request('GET', `${b}/neurons?grid=${grid}`).then((a) => ({ b, a }));
    },
    MIN_MS,
    (r) => {
      if (!r || r.b !== base()) return;
      answer = r.a;
      draw();
    },
    () => {}, // a refused or failed fetch: the thumbnails keep the last answer until the next step
  );

  /** Ask for the current step's maps, unless the diagram is out of sight or they are here. */
  function want() {
    if (frameStep === null || !near() || document.hidden) return;
    if (askedStep === frameStep && answer) return;
    fetcher.trigger();
  }

  /** Put one button per drawn node beside it (again only when the diagram was rebuilt). */
  function sync() {
    const vb = svg.getAttribute('viewBox');
    const gs = svg.querySelectorAll('g.node');
    const k = `${vb}|${gs.length}`;
    if (!vb || k === key) return;
    key = k;
    const [, , W, H] = vb.split(/\s+/).map(Number);
    overlay.style.aspectRatio = `${W} / ${H}`;
    const nodes = [...gs].map(nodeAt).filter(Boolean);
    const r = Number(svg.querySelector('circle.node-body')?.getAttribute('r')) || 12;
    const cols = [...new Set(nodes.map((n) => n.l))].sort((a, b) => a - b);
    const xs = cols.map((l) => nodes.find((n) => n.l === l).x);
    const colGap = xs.length > 1 ? Math.min(...xs.slice(1).map((x, i) => x - xs[i])) : W;
    const L = cols.length - 1;
    thumbs = new Map();
    const buttons = [];
    const sizeOf = (l) => {
      const col = nodes.filter((m) => m.l === l).map((m) => m.y).sort((a, b) => a - b);
      const gapY = col.length > 1 ? Math.min(...col.slice(1).map((y, i) => y - col[i])) : 60;
      return Math.round(Math.max(16, Math.min(44, gapY - 8, colGap * 0.26)));
    };
    // The inputs' maps sit right of their nodes, the first hidden layer's left of theirs: on a
    // narrow diagram they would touch, and the inputs' (x1, x2 themselves, or a feature) go.
    const roomForInputs = cols.length < 2 || xs[0] + r + 7 + sizeOf(cols[0]) + 24 <= xs[1] - r - 7 - sizeOf(cols[1]);
    for (const n of nodes) {
      if (n.l === 0 && !roomForInputs) continue;
      const s = sizeOf(n.l);
      // Inputs: to the right of the node (their names are on the left); the others to the left,
      // where their incoming edges meet (the outputs' names are on their right).
      const left = n.l === 0 ? n.x + r + 7 : n.x - r - 7 - s;
      const canvas = h('canvas', { width: 1, height: 1, 'aria-hidden': 'true' });
      const name = n.l === 0 ? `X[${n.k}]` : `${n.l === L ? 'O' : `h${n.l}`}[${n.k}]`;
      const button = h(
        'button',
        {
          type: 'button',
          class: 'neuron-thumb',
          'data-testid': `neuron-thumb-${n.l}-${n.k}`,
          'aria-label': `${name} over the input plane: show it on the data plane`,
          'aria-pressed': 'false',
          title: `${name}: click to show it on the data plane`,
        },
        canvas,
      );
      const box = { x: left / W, y: (n.y - s / 2) / H, w: s / W, h: s / H }; // shares of the overlay
      Object.assign(button.style, { left: `${box.x * 100}%`, top: `${box.y * 100}%`, width: `${box.w * 100}%`, height: `${box.h * 100}%` });
      button.hidden = true; // until its map is here
      button.addEventListener('click', () => pick(n.l, n.k));
      thumbs.set(`${n.l}-${n.k}`, { button, canvas, name, box, output: n.l === L });
      buttons.push(button);
    }
    overlay.replaceChildren(screen, ...buttons);
    if (answer) draw();
    mark();
  }

  function pick(layer, j) {
    const t = thumbs.get(`${layer}-${j}`);
    const e = answer?.neurons.find((m) => m.layer === layer && m.j === j);
    if (!t || !e) return;
    const again = picked && picked.layer === layer && picked.j === j;
    picked = again ? null : { layer, j };
    mark();
    onPick?.(again ? null : { layer, j, act: e.activation, output: t.output, name: t.name });
  }

  function mark() {
    for (const [k, t] of thumbs) {
      const on = !!picked && k === `${picked.layer}-${picked.j}`;
      t.button.classList.toggle('picked', on);
      t.button.setAttribute('aria-pressed', String(on));
    }
  }

  /** Paint every thumbnail from the newest answer. */
  function draw() {
    if (!answer) return;
    const bars = !answer.plane;
    overlay.classList.toggle('bars', bars);
    const L = answer.layers.length - 1;
    for (const e of answer.neurons) {
      const t = thumbs.get(`${e.layer}-${e.j}`);
      if (!t) continue; // a neuron the diagram summarises as "+N more"
      const lone = e.layer === L && answer.layers[L] === 1;
      const who = { act: e.activation, k: e.j, output: e.layer === L, range: lone ? outputRange() : null };
      // Bars: each on the node fill's scale (no plane to match); nothing to show on the plane.
      if (bars) paintBars(t.canvas, e.values.slice(0, MAX_BARS), { ...who, output: false });
      else paintMap(t.canvas, e.values, who);
      if (t.button.disabled !== bars) {
        t.button.disabled = bars;
        const what = bars ? `at each of the first ${Math.min(MAX_BARS, answer.samples)} training samples` : 'over the input plane: show it on the data plane';
        t.button.setAttribute('aria-label', `${t.name} ${what}`);
        t.button.title = `${t.name} ${bars ? what : '— click to show it on the data plane'}`;
      }
      if (t.button.hidden) t.button.hidden = false;
      t.button.dataset.step = String(answer.step);
    }
    composite();
  }

  /** Copy every painted map onto the one displayed canvas, each framed as a small card. */
  function composite() {
    const { w: cw, h: ch } = seen;
    if (!cw || !ch || !answer) return;
    const dpr = window.devicePixelRatio || 1;
    const bw = Math.round(cw * dpr);
    const bh = Math.round(ch * dpr);
    if (screen.width !== bw || screen.height !== bh) {
      screen.width = bw;
      screen.height = bh;
    }
    const ctx = screen.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cw, ch);
    const line = getComputedStyle(overlay).getPropertyValue('--line-2').trim() || '#cfd6df';
    for (const t of thumbs.values()) {
      if (t.button.hidden || !t.canvas.width) continue;
      const x = Math.round(t.box.x * cw);
      const y = Math.round(t.box.y * ch);
      const w = Math.round(t.box.w * cw);
      const hh = Math.round(t.box.h * ch);
      ctx.save();
      ctx.shadowColor = 'rgba(16, 24, 40, 0.16)';
      ctx.shadowBlur = 2;
      ctx.shadowOffsetY = 1;
      ctx.fillStyle = '#fff';
      ctx.beginPath();
      ctx.roundRect(x, y, w, hh, 3);
      ctx.fill();
      ctx.restore();
      ctx.save();
      ctx.beginPath();
      ctx.roundRect(x + 1, y + 1, w - 2, hh - 2, 2);
      ctx.clip();
      ctx.drawImage(t.canvas, x + 1, y + 1, w - 2, hh - 2);
      ctx.restore();
      ctx.strokeStyle = line;
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.roundRect(x + 0.5, y + 0.5, w - 1, hh - 1, 3);
      ctx.stroke();
    }
  }

  function paintMap(canvas, values, who) {
    const n = values.length;
    if (canvas.width !== n || canvas.height !== n) {
      canvas.width = n;
      canvas.height = n;
    }
    canvas.getContext('2d').putImageData(new ImageData(neuronPixels(values, who), n, n), 0, 0);
  }

  /** One bar per sample: its height the activation on the neuron's scale, its colour too. */
  function paintBars(canvas, values, who) {
    const W = 48;
    const H = 48;
    if (canvas.width !== W || canvas.height !== H) {
      canvas.width = W;
      canvas.height = H;
    }
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#f6f7f9';
    ctx.fillRect(0, 0, W, H);
    const scale = neuronScale(values, who);
    const lo = scale.kind === 'diverging' ? -scale.hi : scale.lo;
    const hi = scale.hi;
    const zero = H - ((Math.max(lo, Math.min(hi, 0)) - lo) / (hi - lo || 1)) * H;
    const bw = W / Math.max(1, values.length);
    values.forEach((v, i) => {
      const y = Number.isFinite(v) ? H - ((Math.max(lo, Math.min(hi, v)) - lo) / (hi - lo || 1)) * H : zero;
      const [R, G, B] = neuronRGB(v, scale);
      ctx.fillStyle = `rgb(${R},${G},${B})`;
      ctx.fillRect(i * bw + bw * 0.12, Math.min(y, zero), bw * 0.76, Math.max(1, Math.abs(zero - y)));
    });
  }

  return {
    /** A new frame: fetch its maps (throttled, only while the diagram can be seen). */
    onFrame(frame) {
      if (!frame) return;
      frameStep = frame.step;
      want();
    },
    /** The diagram may have been rebuilt: place the thumbnails again (cheap when it was not). */
    sync() {
      sync();
      want();
    },
    /** Another run: forget the maps. */
    reset() {
      fetcher.invalidate();
      answer = null;
      askedStep = frameStep = null;
      picked = null;
      key = '';
      overlay.replaceChildren();
      screen.getContext('2d').clearRect(0, 0, screen.width, screen.height);
      thumbs = new Map();
    },
    /** The data plane went back to the output (or shows `who`). */
    setPicked(who) {
      picked = who ? { layer: who.layer, j: who.j } : null;
      mark();
    },
  };
}
