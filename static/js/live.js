// The visualiser, once for every page: the panels (network, curve, chain, matrices, data,
// trouble, phases, timeline, slope, guide) fed by a WebSocket of frames, one render scheduler,
// and a view (edge, mode, sample, guide step) a presenter shares and a participant follows.
// main.js, present.js and room.js build on it; transport.js holds play, pause, step and keys.

import { createToasts, createTooltip, setFlag, setText } from './ui.js';
import { LossHistory } from './loss-history.js';
import { fmt } from './mathml.js';
import { $, createLiveState, percent } from './live-state.js';
import { bindResize, createPanelScheduler, createRenderLoop } from './live-render.js';
import { createGuideViews, createStepViews, createViews } from './live-panels.js';
import { bindViewControls, createSelection } from './live-selection.js';
import { bindLazyPanels, createFetches } from './live-fetch.js';
import { createSource } from './live-source.js';

export { $, percent };

export { LiveSocket } from './api.js';

const STATUS_TEXT = { connecting: 'Connecting…', connected: 'Live', gone: 'Ended' };

/** Show a connection state in the top bar's status pill; `text` overrides the words per state. */
export function showStatus(state, detail, text = {}) {
  const el = $('connection-status');
  el.dataset.state = state;
  const words = { ...STATUS_TEXT, ...text };
  el.textContent = state === 'reconnecting' ? `Reconnecting${detail ? ` in ${Math.max(1, Math.round(detail / 1000))} s` : ''}…` : words[state] || state;
}

export { setText }; // the pages' one way to write a changing text (ui.js)

/**
 * Wire the panels. Options:
 *   send(msg): send on this page's socket (null: a follower never sends)
 *   canDrive(): whether this screen may step, seek and walk phases now
 *   onUserView(view, {guide, closed}): the person at this screen changed the shareable view
 *     (changes made by applyView() never call it)
 *   onViewChange(): any change of the view (the main page writes its URL)
 *   refreshConfig(): the run's config again, when the frame says someone else changed α
 *   onPhase(index, step): this screen moved to a phase
 *   onFix(fix): a trouble's one-click fix (none: the lesson only)
 *   onData(data): the run's data arrived
 *   exporter(): the headers a GIF export sends (a presenter's token), or null: no export here
 * Returns the controller the page drives.
 *
 * The parts share one record `L` (the state S as L.state, the views, the fetches, the
 * scheduler's and the view's operations), each part reading the others from it when called:
 * live-render.js (the scheduler), live-panels.js (the panels), live-selection.js (the view),
 * live-fetch.js (newest-only fetches), live-source.js (the run and its frames).
 */
export function createLive({ onUserView, onViewChange, refreshConfig, send, canDrive, onPhase, onFix, onData, exporter = () => ({}) } = {}) {
  const S = createLiveState();
  const L = { state: S, transport: null, history: new LossHistory(), toasts: createToasts($('toasts')), tooltip: createTooltip(document.body) };
  L.playing = () => !!L.transport?.playing; // play state and pause, once the page made one (transport.js)
  L.drives = () => !!send && (canDrive ? canDrive() : true);
  L.pauseFirst = () => L.playing() && L.transport.pause();
  Object.assign(L, createRenderLoop(L), createPanelScheduler(L));
  Object.assign(L, createSelection(L, { onUserView, onViewChange }));
  Object.assign(L, createViews(L));
  Object.assign(L, createStepViews(L, { send, onPhase }));
  Object.assign(L, createFetches(L, { drives: L.drives }));
  Object.assign(L, createGuideViews(L, { onFix, onUserView }));
  bindViewControls(L);
  bindLazyPanels(L, { exporter });
  Object.assign(L, createSource(L, { onData, refreshConfig }));
  bindResize(L);
  return controller(L);
}

/** What the pages drive: the state, the run's source and frames, the view, the parts they reach. */
function controller(L) {
  const S = L.state;
  return {
    state: S,
    history: L.history,
    toasts: L.toasts,
    guide: L.guide,
    setSource: L.setSource,
    onFrame: L.onFrame,
    view: L.view,
    applyView: L.applyView,
    setMode: L.setMode,
    setSample: L.setSample,
    setDiscrete: L.setDiscrete,
    select: L.select,
    defaultSel: L.defaultSel,
    markAll: L.markAll,
    fmt,
    phaser: L.phaser,
    timeline: L.timeline,
    troubleView: L.troubleView,
    /** Fetch the matrices again (the page changed a setting they show). */
    refreshMatrix: () => L.matrixFetch.trigger(),
    /** The page's transport (transport.js): the render cadence and pauses follow its play state. */
    useTransport(t) {
      L.transport = t;
    },
    /**
     * Re-read whether this screen drives (the controls follow). The transport asks at every
     * frame; only a change does work (redrawing the draw bar and its rings at each of 30-60
     * frames a second cost a style pass and a canvas each: benchmarks/page.py at 4x).
     */
    refreshDrive() {
      const on = L.drives();
      if (on === S.drove) return;
      S.drove = on;
      L.schedule();
      L.hand.refresh();
      L.slopeView?.refresh(); // its ring to drag is the driver's
      for (const id of ['phase-button', 'phase-play']) if ($(id)) setFlag($(id), 'disabled', !on);
    },
  };
}

/** Nothing to wait for: each view loads Plotly when it needs it (plotly-loader.js). */
export async function whenPlotly() {}
