// The live page's panels, built once and wired to the live parts `L`: the diagram and its
// neuron maps, the curve, the matrices, the data; the phases, claims, timeline and edits;
// the trouble lessons and the Guide.

import { request } from './api.js';
import { createLossView } from './loss-view.js';
import { createNetworkView } from './network-view.js';
import { createMatrixView } from './matrix-view.js';
import { createDataView, targetRange } from './data-view.js';
import { createNeuronThumbs } from './neuron-thumbs.js';
import { createHandEdits } from './hand-edits.js';
import { createTroubleView } from './trouble.js';
import { createGuide } from './guide.js';
import { layAlone } from './ui.js';
import { createPhaseStepper } from './phase-stepper.js';
import { createClaimsView } from './claims-view.js';
import { createTimeline } from './timeline.js';
import { watchNear } from './visibility.js';
import { $ } from './live-state.js';

/** The drawn panels: {network, lossView, matrixView, dataView, thumbs, near}. */
export function createViews(L) {
  const S = L.state;
  const onSelect = (sel) => L.userChange(() => L.select(sel));
  const network = createNetworkView($('network-plot'), {
    onSelect,
    tooltip: L.tooltip,
    legend: $('node-legend'),
    onStale: () => {
      S.netKey = null;
      L.schedule();
    },
  });
  const lossView = createLossView($('loss-plot'));
  const matrixView = createMatrixView($('matrix-panel'), { onSelect, tooltip: L.tooltip });
  const dataView = createDataView($('data-plot'), { onSample: (k) => L.userChange(() => L.setSample(k)), onNeuron: (who) => thumbs.setPicked(who), onDiscrete: (on) => L.userChange(() => L.setDiscrete(on)) });
  // Each neuron over the input plane beside its node (GET …/neurons); a click puts it on the plane.
  const thumbs = createNeuronThumbs($('network-plot'), {
    svg: network.element,
    base: () => S.base,
    near: () => near.network?.() ?? true,
    moving: () => L.moving(),
    outputRange: () => (S.data ? targetRange(S.data) : null),
    onPick: (who) => {
      dataView.showNeuron(who);
      if (who && !near.data()) $('panel-data')?.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    },
  });
  for (const id of ['chain-panel', 'data-plot']) if ($(id)) layAlone($(id)); // numbers change inside while playing
  // Panels near the screen draw while playing; the others wait until they come near or the run
  // rests, then draw in idle time (a phone's first screen shows two of six panels).
  const near = {};
  for (const key of ['network', 'loss', 'data', 'matrix', 'chain']) {
    near[key] = watchNear($(`panel-${key}`), (on) => on && L.wake(key));
  }
  return { network, lossView, matrixView, dataView, thumbs, near };
}

/** Edits, one step in phases, the closing claims and the timeline: {hand, phaser, claims, timeline}. */
export function createStepViews(L, { send, onPhase }) {
  const S = L.state;
  const drives = L.drives;
  // Edits and drawn points (issue 22, items 7 and 8): a field in the chain panel, a bar under the plane.
  const hand = createHandEdits({ chainRoot: $('panel-chain'), dataRoot: $('panel-data'), state: S, send: (m) => (send ? send(m) : false), drives, toast: (t) => L.toasts.show(t, 'error') });
  // One step in phases (the presenter's phase follows to the room) and time travel.
  const phaser = createPhaseStepper({
    el: { button: $('phase-button'), prev: $('phase-prev'), next: $('phase-next'), label: $('phase-label'), play: $('phase-play'), speed: $('phase-speed'), panel: $('phase-body'), panelRoot: $('panel-phase'), progress: $('phase-progress'), close: $('phase-close') },
    base: () => S.base,
    frame: () => S.frame,
    config: () => S.config,
    sample: () => S.view.sample,
    network: { highlight: (spec) => L.network.highlight(spec) },
    applyStep: send ? () => send({ type: 'step', count: 1 }) : null,
    seek: send ? (n) => send({ type: 'seek', step: n }) : null,
    setSample: (k) => L.userChange(() => L.setSample(k)),
    before: L.pauseFirst,
    canDrive: drives,
    onPhase: (k, step) => drives() && onPhase?.(k, step),
    onTrace: (trace) => {
      S.trace = trace;
      L.schedule();
    },
    onError: (err) => L.toasts.show(`Could not trace this step: ${err.message}`, 'error'),
  });
  // The article's closing claims: a note in the phase view and the Guide, measured on one click.
  const claims = createClaimsView({ base: () => S.base, frame: () => S.frame, playing: L.playing });
  $('phase-body')?.after(claims.mount('phase'));
  // The step-back button: `back-step-button` on the workshop pages, `back-button` on the main one.
  const timeline = $('timeline')
    ? createTimeline(
        { input: $('timeline'), label: $('timeline-label'), back: $('back-step-button') || $('back-button'), root: $('timeline-row') },
        {
          onSeek: (n) => {
            if (!drives()) return;
            L.pauseFirst();
            send({ type: 'seek', step: n });
          },
          enabled: drives,
        },
      )
    : null;
  return { hand, phaser, claims, timeline };
}

/** The trouble lessons and the Guide (its button, Escape): {troubleView, guide}. */
export function createGuideViews(L, { onFix, onUserView }) {
  const S = L.state;
  // Rooms show why a run is stuck (a lesson for everyone); fixes only where the page has onFix.
  // Fixes are tried on a copy of the run by the server (GET …/fixes) before one is offered.
  const fetchFixes = () => (S.base ? request('GET', `${S.base}/fixes`) : Promise.reject(new Error('no run')));
  const troubleView = $('trouble-panel') ? createTroubleView($('trouble-panel'), onFix ? { onFix, fetchFixes } : { fetchFixes }) : null;
  const guide = createGuide($('guide'), {
    button: $('guide-button'),
    demos: { claims: () => L.claims.mount('guide') },
    onAction(a) {
      if (a.mode) L.setMode(a.mode);
      if (a.select === 'last') L.select(L.defaultSel());
      if (a.select === 'first') L.select({ kind: 'weight', layer: 0, i: 0, j: 0 });
    },
    onStep(k) {
      S.view.guide = k;
      if (!S.applying) onUserView?.(L.view(), { guide: true, closed: k === null });
    },
  });
  $('guide-button')?.addEventListener('click', () => (guide.isOpen() ? guide.close() : guide.open(0)));
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && !ev.defaultPrevented && guide.isOpen()) guide.close();
  });
  return { troubleView, guide };
}
