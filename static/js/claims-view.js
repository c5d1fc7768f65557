// The article's closing claims, shown on the live network: a note in the phase view and in the
// Guide, and a one-click demonstration from GET {base}/claims. Every number and sentence of the
// demonstration is the server's (app/domain/claims.py); this module only lays them out.

import { request } from './api.js';
import { h } from './ui.js';

/** The note: what the article's last paragraph says, and what backprop does instead. */
export const CLAIMS_NOTE = [
  'The article ends by saying backprop updates the layer nearest the output first, recomputes the loss, then moves inward, and that it “converges faster” than forward propagation.',
  'What it does: one forward and one backward pass give every gradient (δ flows from the output layer in, each layer’s δ reused for the next), then every layer is updated at once. Estimating the same gradients without backprop takes two forward passes per parameter. So backprop is faster per step; it is not a rule that converges in fewer steps.',
];

/** Significant digits enough for a and b to read differently when they differ (as the server). */
function digits(a, b, least = 4) {
  if (a === null || b === null || a === b) return least;
  for (let n = least; n < 18; n += 1) if (Number(a).toPrecision(n) !== Number(b).toPrecision(n)) return Math.min(n, 17);
  return 17;
}

const num = (x, n = 4) => (x === null || x === undefined ? '—' : String(Number(Number(x).toPrecision(n))));

/** The table: passes (forward + backward) and E after one step, for each way of doing it. */
function table(a) {
  const g = a.gradients;
  const u = a.update;
  const fd = g.finite_differences;
  const n = digits(u.simultaneous.E_after, u.sequential.E_after);
  const passes = (x) => `${x.forward_passes} + ${x.backward_passes}`;
  const row = (what, p, E, testid) => h('tr', { 'data-testid': testid }, h('th', { scope: 'row' }, what), h('td', {}, p), h('td', {}, E));
  return h(
    'table',
    { class: 'claims-table', 'data-testid': 'claims-table' },
    h('caption', {}, `One step from step ${a.step}: ${g.parameters} parameters, ${g.samples} sample${g.samples === 1 ? '' : 's'}, E ${num(u.E_before, n)} before`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Way'), h('th', { scope: 'col', title: 'forward + backward passes' }, 'passes'), h('th', { scope: 'col' }, 'E after'))),
    h(
      'tbody',
      {},
      row('Backprop, every layer at once', passes(u.simultaneous), num(u.simultaneous.E_after, n), 'claims-row-backprop'),
      row('Central differences (the gradients)', `${passes(fd)} = 2 × ${g.parameters}`, 'same step', 'claims-row-differences'),
      row('The article’s order, layer by layer', passes(u.sequential), num(u.sequential.E_after, n), 'claims-row-sequential'),
    ),
  );
}

/**
 * The claims, for one page. opts: base() the run's REST prefix, frame() the frame shown,
 * playing() whether the run plays. mount(where) builds a box (note, button, result) for a
 * place ('phase', 'guide'); onFrame(frame) refreshes shown results when the run rests at a new step.
 */
export function createClaimsView({ base, frame, playing = () => false }) {
  const boxes = new Set();
  // open: a demonstration was asked for (every box shows it); error: the last one failed.
  const S = { answer: null, answerBase: null, busy: null, timer: null, open: false, error: null };

  function render(box) {
    const a = S.answer;
    box.run.disabled = !!S.busy;
    const label = S.busy ? 'Measuring…' : a ? `Measure again (step ${frame()?.step ?? a.step})` : 'Show it on this network';
    if (box.run.textContent !== label) box.run.textContent = label;
    // Drawn once per answer (or error): frames while playing only touch the button.
    const what = S.open ? S.error || a : null;
    if (box.drawn === what) return;
    box.drawn = what;
    if (!what) return box.result.replaceChildren();
    if (S.error) {
      box.result.replaceChildren(h('p', { class: 'claims-error', role: 'alert' }, S.error));
      return;
    }
    const m = a.mean_phase;
    box.result.dataset.step = String(a.step);
    box.result.replaceChildren(
      h('div', { class: 'claims-scroll' }, table(a)),
      h('p', {}, h('strong', {}, 'Cost per step. '), h('span', { 'data-testid': 'claims-cost' }, a.text.cost)),
      h('p', {}, h('strong', {}, 'Order. '), h('span', { 'data-testid': 'claims-order' }, a.text.order)),
      h('p', { class: `claims-mean${m.in_phase ? ' now' : ''}` }, h('strong', {}, 'The mean. '), h('span', { 'data-testid': 'claims-mean', 'data-in-phase': String(!!m.in_phase) }, a.text.mean)),
    );
  }

  function renderAll() {
    boxes.forEach(render);
  }

  async function measure() {
    const b = base();
    if (!b) return;
    S.open = true;
    const ask = request('GET', `${b}/claims`);
    S.busy = ask;
    renderAll();
    try {
      const answer = await ask;
      if (base() !== b) return;
      S.answer = answer;
      S.answerBase = b;
      S.error = null;
    } catch (err) {
      S.error = `Could not measure the claims: ${err.message}`;
    } finally {
      if (S.busy === ask) S.busy = null;
      renderAll();
    }
    // The run moved on while this was measured: follow it (never after a failure, which would
    // ask again and again).
    if (!S.error && S.answer && frame()?.step !== S.answer.step) {
      clearTimeout(S.timer);
      S.timer = setTimeout(follow, 300);
    }
  }

  const mounted = {};

  /** The box for a place, built once (the Guide builds its card's body again at every step). */
  function mount(where) {
    if (mounted[where]) return mounted[where].root;
    const run = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'claims-run' }, 'Show it on this network');
    const result = h('div', { class: 'claims-result', 'data-testid': 'claims-result', 'aria-live': 'polite' });
    const root = h(
      'div',
      { class: `claims claims-${where}`, 'data-testid': `claims-${where}` },
      h('h3', { class: 'claims-title' }, 'The article’s closing claim, checked'),
      ...CLAIMS_NOTE.map((t) => h('p', { class: 'claims-note' }, t)),
      run,
      result,
    );
    const box = { root, run, result, drawn: null };
    run.addEventListener('click', () => measure());
    boxes.add(box);
    mounted[where] = box;
    // A box shown again (the phase view reopened, the Guide at this step) after the run moved
    // on: its numbers follow, once the run rests.
    if (window.IntersectionObserver) new IntersectionObserver((seen) => seen.some((e) => e.isIntersecting) && follow()).observe(root);
    render(box);
    return root;
  }

  /** A box is shown when it is in the page and laid out (its panel or card is open). */
  const shown = (box) => box.root.isConnected && box.root.offsetParent !== null;

  /** Measure again when a demonstration was asked for, is shown, and the run rests elsewhere. */
  function follow() {
    const f = frame();
    const a = S.answer;
    if (!S.open || !a || S.busy || !f || f.step === a.step || f.playing || playing()) return;
    if (S.answerBase === base() && [...boxes].some(shown)) measure();
  }

  return {
    mount,
    /** A new frame: a shown result follows the run to its new step once it rests. */
    onFrame(f) {
      const a = S.answer;
      if (!a || S.answerBase !== base()) {
        if (a) {
          S.answer = null; // another run: forget the old one's numbers
          S.open = false;
        }
        renderAll();
        return;
      }
      if (f.step === a.step || f.playing || playing()) {
        renderAll(); // the button names the step it would measure
        return;
      }
      clearTimeout(S.timer);
      S.timer = setTimeout(follow, 300); // a burst of steps (a key held down) asks once
    },
  };
}
