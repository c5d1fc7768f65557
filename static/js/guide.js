// The guide: the article's story in eight steps, each pointing at the panel that shows it.

import { focusOn, keyboardScrollable } from './a11y.js';
import { formula } from './mathml.js';
import { h, reducedMotion } from './ui.js';

/** The steps: title, text paragraphs, equations, panel ids to highlight, and an action. */
export const GUIDE_STEPS = [
  {
    title: 'The network',
    text: [
      'The article\u2019s network has 4 inputs (house features) in X, 5 sigmoid hidden neurons h1 and one sigmoid output O, the predicted price.',
      'Edges are coloured by sign (blue positive, orange negative) and their width shows the size of the weight. A neuron\u2019s fill is its activation on its own range: light to purple from 0 to 1 for a sigmoid, so a pale O is a low price, not a negative one. Choose the article preset to follow along exactly.',
    ],
    eq: [],
    panels: ['panel-network'],
    action: { mode: 'weights' },
  },
  {
    title: 'Forward pass',
    text: ['Each layer multiplies by a weight matrix, adds a bias and squashes with the sigmoid. The node fills show these numbers for the chosen sample.'],
    eq: ['Z1 = W_ih^T X + b', 'h1 = sigma(Z1)', 'Z2 = W_ho^T h1 + b', 'O = sigma(Z2)'],
    panels: ['panel-network'],
    action: { mode: 'weights' },
  },
  {
    title: 'The error',
    text: ['The error compares the predictions O with the true prices Y over all observations. The data panel lists Y, O and O − Y; the curve tracks E at every step.'],
    eq: ['E = 1/2 sum (Y - O)^2'],
    panels: ['panel-data', 'panel-loss'],
  },
  {
    title: 'Chain rule for W_ho',
    text: ['How much does E change when one hidden-to-output weight moves? Multiply the local derivatives along the path from E back to that weight, per sample, then add up.'],
    eq: ['dE/dW_ho = (O - Y) * O(1 - O) * h1'],
    panels: ['panel-chain'],
    action: { select: 'last' },
  },
  {
    title: 'Chain rule for W_ih',
    text: ['One layer further back the path gets longer: through O, through the weight W_ho and through the hidden neuron\u2019s own sigmoid.'],
    eq: ['dE/dW_ih = (O - Y) * O(1 - O) * W_ho * h1(1 - h1) * X'],
    panels: ['panel-chain', 'panel-network'],
    action: { select: 'first', mode: 'gradients' },
  },
  {
    title: 'Matrix form',
    text: ['All the weights of a layer at once: the activations feeding the layer times the transposed error signal δ. The shapes must line up.'],
    eq: ['dE/dW_ho = h1 . [(O - Y) * O(1 - O)]^T', '(5×5) . (5×1) = 5×1'],
    panels: ['panel-matrix'],
  },
  {
    title: 'The update',
    text: [
      'Every weight takes a small step against its gradient. The edges now show that step. Press Step (→) and watch the numbers move, or Play (Space) to train.',
      'To see one step in the article’s order, press Phase (key .) again and again: the forward pass layer by layer, the error, the backward pass from the output in, then the update, each with its numbers. ▶ Slow plays them for you; ← goes back one step, and the slider under the error curve moves through the whole run.',
    ],
    eq: ['W_new = W_old - alpha * dE/dW'],
    panels: ['panel-network', 'panel-chain'],
    action: { mode: 'update' },
  },
  {
    title: 'The article’s closing claim',
    text: [],
    eq: [],
    panels: ['panel-network'],
    demo: 'claims', // the note and its one-click demonstration (claims-view.js)
  },
];

/**
 * Bind the guide card, a dialog. onAction(action) applies a step's action (view mode,
 * selection); onStep(k) hears the step shown, null once closed (a workshop presenter shares it);
 * demos[name]() gives the element a step's `demo` shows under its text.
 * Returns {open(k, {remote}), close(), isOpen()}: a card the person opens takes the focus
 * (Escape closes it, focus returns to where it was) but is not modal: the page's controls and
 * keys keep working; one a presenter opens on a participant's screen (`remote`) leaves focus alone.
 */
export function createGuide(card, { onAction, button, onStep, demos = {} } = {}) {
  const title = card.querySelector('#guide-title');
  const body = card.querySelector('#guide-body');
  const count = card.querySelector('#guide-count');
  const prev = card.querySelector('#guide-prev');
  const next = card.querySelector('#guide-next');
  let k = 0;
  let modal = false;
  let opener = null;
  const phone = () => window.matchMedia?.('(max-width: 640px)').matches ?? false;

  function clearHighlight() {
    document.querySelectorAll('.guide-focus').forEach((p) => p.classList.remove('guide-focus'));
  }

  /** Put the card in the corner that hides least of the highlighted panels. */
  function place() {
    if (card.hidden) return;
    const panels = GUIDE_STEPS[k].panels.map((id) => document.getElementById(id)).filter(Boolean);
    const corners = phone() ? ['bottom', 'top'] : ['bottom-right', 'bottom-left', 'top-right', 'top-left'];
    const vw = window.innerWidth;
    const vh = window.innerHeight;
    const w = card.offsetWidth;
    const ht = card.offsetHeight;
    const m = phone() ? 6 : 18;
    // On a phone the step's panel is scrolled to the top: the card's place is below it.
    if (phone() && panels[0] && panels[0].getBoundingClientRect().top < vh / 2) {
      card.dataset.place = 'bottom';
      return;
    }
    const cost = (c) => {
      const left = c.endsWith('left') || c === 'bottom' || c === 'top' ? m : vw - w - m;
      const bar = document.querySelector('.topbar')?.getBoundingClientRect().bottom ?? 70;
      const top = c.startsWith('top') ? Math.max(0, bar) + m : vh - ht - m; // under the sticky top bar
      let hidden = 0;
      panels.forEach((p, n) => {
        const r = p.getBoundingClientRect();
        const x = Math.max(0, Math.min(r.right, left + w, vw) - Math.max(r.left, left, 0));
        const y = Math.max(0, Math.min(r.bottom, top + ht, vh) - Math.max(r.top, top, 0));
        hidden += x * y * (n === 0 ? 2 : 1); // the first panel is the one the step is about
      });
      return hidden;
    };
    let best = corners[0];
    let bestCost = cost(best);
    for (const c of corners.slice(1)) {
      const v = cost(c);
      if (v < bestCost - 1) [best, bestCost] = [c, v];
    }
    card.dataset.place = best;
  }

  // A step's action redraws panels (a new selection refetches the chain): on a phone, where the
  // panel sits at the top above the card, keep it there while the page's heights change.
  let settle = null;
  function keepAtTop(p) {
    settle?.disconnect();
    if (!window.ResizeObserver) return;
    const main = document.getElementById('main') || document.body;
    settle = new ResizeObserver(() => {
      // Where scrollIntoView puts it: under the sticky transport bar (its scroll-margin-top).
      const at = parseFloat(getComputedStyle(p).scrollMarginTop) || 0;
      const top = p.getBoundingClientRect().top;
      if (!card.hidden && (top < at - 2 || top > at + 24)) {
        p.scrollIntoView({ block: 'start', behavior: 'auto' });
        place(); // the card goes where it hides least of the panel's new place
      }
    });
    settle.observe(main); // until the next step or the card closes
  }

  function show(i) {
    k = Math.max(0, Math.min(GUIDE_STEPS.length - 1, i));
    const s = GUIDE_STEPS[k];
    title.textContent = s.title;
    count.textContent = `Step ${k + 1} of ${GUIDE_STEPS.length}`;
    const eqs = s.eq.length ? [keyboardScrollable(h('div', { class: 'eq' }, ...s.eq.map((e) => formula(e, 'block'))), 'Equations')] : [];
    const demo = s.demo && demos[s.demo] ? [demos[s.demo]()] : [];
    body.replaceChildren(...s.text.map((t) => h('p', {}, t)), ...eqs, ...demo);
    const hadFocus = card.contains(document.activeElement);
    prev.disabled = k === 0;
    next.textContent = k === GUIDE_STEPS.length - 1 ? 'Done' : 'Next →';
    if (hadFocus && !card.contains(document.activeElement)) next.focus(); // Back just went disabled
    clearHighlight();
    card.dataset.panel = s.panels[0]; // the panel this step is about (kept in view)
    s.panels.forEach((id, n) => {
      const p = document.getElementById(id);
      if (!p) return;
      p.classList.add('guide-focus');
      // On a phone the panel goes to the top, the card to the bottom: it never hides the start.
      if (n === 0) {
        p.scrollIntoView({ block: phone() ? 'start' : 'nearest', behavior: reducedMotion() || phone() ? 'auto' : 'smooth' });
        if (phone()) keepAtTop(p);
      }
    });
    if (s.action) onAction?.(s.action);
    onStep?.(k);
    place();
    window.addEventListener('scrollend', place, { once: true });
  }

  function open(i = 0, { remote = false } = {}) {
    const wasOpen = !card.hidden;
    card.hidden = false;
    document.body.classList.add('guide-open');
    // Never modal (issue 21): its cards ask for Step (→) and Play (Space), which must work
    // while it shows. The person's own card takes the focus itself (not its Next button, so
    // Space plays rather than turning the page); Tab reaches its buttons and the page.
    if (!remote || !wasOpen) modal = !remote;
    card.setAttribute('aria-modal', 'false');
    button?.setAttribute('aria-expanded', 'true');
    show(i);
    if (modal && !wasOpen) {
      opener = document.activeElement instanceof HTMLElement && document.activeElement !== document.body ? document.activeElement : button;
      focusOn(card, { scroll: false });
    }
  }

  function close() {
    const focusWasInside = card.contains(document.activeElement);
    card.hidden = true;
    settle?.disconnect();
    document.body.classList.remove('guide-open');
    button?.setAttribute('aria-expanded', 'false');
    onStep?.(null);
    clearHighlight();
    if (modal || focusWasInside) {
      // Back where the person was: the opener, else the Guide button, else the panels.
      const back = [opener, button].find((el) => el && el.isConnected && !el.hidden && el.offsetParent !== null);
      if (!focusOn(back, { scroll: false })) focusOn(document.getElementById('main'), { scroll: false });
    }
    modal = false;
    opener = null;
  }

  prev.addEventListener('click', () => show(k - 1));
  next.addEventListener('click', () => (k === GUIDE_STEPS.length - 1 ? close() : show(k + 1)));
  card.querySelector('#guide-close').addEventListener('click', close);
  card.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      ev.preventDefault();
      close();
    }
  });
  window.addEventListener('resize', place);
  return { open, close, isOpen: () => !card.hidden };
}
