// The phase view drawn from the stepper's state: the label, the diagram's lit layers, the
// phase panel (phases.js renderPhase), the progress dots and the previous/next buttons.

import { phaseLights, renderPhase } from './phases.js';
import { h } from './ui.js';

/** The previous-phase button: off where there is no phase before this one. */
export function syncButtons(P) {
  const { S, el, opts } = P;
  const drive = P.drivable();
  for (const b of [el.prev, el.next]) if (b) b.hidden = !drive; // a follower's phases follow the presenter
  if (!el.prev) return;
  const first = S.index <= 0 && !(S.index === 0 && S.trace?.step > 0 && opts.seek);
  el.prev.disabled = first || !drive;
}

/** The progress dots, one per phase: a click jumps there. */
function drawDots(P, el) {
  const { S } = P;
  const canJump = (k) => k !== S.index && (P.drivable() || (!P.isUpdate(k) && !P.isUpdate()));
  // The dots are drawn again: a keyboard's focus stays on the dot it was on.
  const focused = el.progress?.contains(document.activeElement) ? [...el.progress.children].indexOf(document.activeElement) : -1;
  el.progress?.replaceChildren(
    ...S.phases.map((p, k) =>
      h('button', {
        type: 'button',
        class: `phase-dot${k === S.index ? ' on' : ''}${k < S.index ? ' done' : ''}`,
        title: p.label,
        'aria-label': p.label,
        'aria-current': k === S.index ? 'step' : null,
        disabled: canJump(k) || k === S.index ? null : '',
        onclick: () => P.jump(k),
      }),
    ),
  );
  if (focused >= 0) el.progress.children[focused]?.focus({ preventScroll: true });
}

/** Draw the phase shown (none: the whole network again, the panel hidden). */
export function drawPhase(P) {
  const { S, el, opts } = P;
  const phase = S.index >= 0 ? S.phases[S.index] : null;
  const nL = S.trace ? S.trace.update.length : P.layers();
  el.label.textContent = phase ? phase.label : 'Phases';
  el.label.dataset.phase = phase ? String(S.index) : '';
  el.button?.setAttribute('aria-label', phase ? `Next phase (now: ${phase.label})` : 'Walk one step phase by phase');
  opts.network.highlight(phase ? phaseLights(phase, nL) : null);
  document.body.classList.toggle('in-phases', !!phase);
  if (el.panelRoot) el.panelRoot.hidden = !phase;
  syncButtons(P);
  if (!phase) return;
  const ws = S.trace.update.slice().sort((a, b) => a.layer - b.layer);
  renderPhase(el.panel, S.trace, phase, {
    L: nL,
    config: opts.config(),
    weights: ws.map((u) => u.W_old),
    biases: ws.map((u) => u.b_old),
    sample: opts.sample?.() ?? 0, // a data sample: its column in the batch is looked up
    // A phone's panel shows four columns of each matrix (six would pass its edge); read
    // once per phase drawn, never per frame.
    maxCols: el.panel.clientWidth > 0 && el.panel.clientWidth < 520 ? 4 : 6,
  });
  drawDots(P, el);
}
