// The live page's view on the run: the selected parameter (and its picker), the edges' mode,
// the sample, the log scale, and the shareable view a presenter sends and a participant follows.

import { GUIDE_STEPS } from './guide.js';
import { biasName, defaultSel as defaultSelFor, isValidSel, layerSizes, weightName } from './nn.js';
import { h } from './ui.js';
import { $ } from './live-state.js';

/**
 * The view's operations over the live parts `L`: {userChange, viewChanged, sizes, validSel,
 * defaultSel, select, syncPicker, setMode, setSample, setDiscrete, view, applyView}.
 */
export function createSelection(L, { onUserView, onViewChange }) {
  const S = L.state;

  /** Run a change the person made, then report the new view. */
  function userChange(fn) {
    fn();
    if (!S.applying) onUserView?.(view(), {});
  }

  /** The view changed (any way): the page may keep it somewhere (the main page's URL). */
  function viewChanged() {
    onViewChange?.();
  }

  /** Layer sizes of the current frame: [n_in, n_h1, ..., n_out]. */
  function sizes() {
    return layerSizes(S.frame, S.config);
  }

  function validSel(sel) {
    return isValidSel(sel, sizes());
  }

  function defaultSel() {
    return defaultSelFor(sizes());
  }

  function select(sel) {
    if (!validSel(sel)) return;
    S.view.sel = sel.kind === 'bias' ? { kind: 'bias', layer: sel.layer, j: sel.j } : { kind: 'weight', layer: sel.layer, i: sel.i, j: sel.j };
    syncPicker();
    L.chainFetch.invalidate();
    L.chainFetch.trigger();
    L.sliceFetch.invalidate();
    L.sliceFetch.trigger();
    L.hand.onSelect();
    viewChanged();
    L.schedule();
  }

  function syncPicker() {
    const sz = sizes();
    const n = sz.length - 1;
    if (n < 1) return;
    const sel = S.view.sel || defaultSel();
    const opts = (k) => Array.from({ length: k }, (_, m) => h('option', { value: String(m) }, String(m)));
    $('pick-kind').value = sel.kind;
    $('pick-layer').replaceChildren(...Array.from({ length: n }, (_, l) => h('option', { value: String(l) }, sel.kind === 'bias' ? biasName(l, n) : weightName(l, n))));
    $('pick-layer').value = String(sel.layer);
    $('pick-i').replaceChildren(...opts(sz[sel.layer] || 0));
    $('pick-i').disabled = sel.kind === 'bias';
    $('pick-i').value = String(sel.i ?? 0);
    $('pick-j').replaceChildren(...opts(sz[sel.layer + 1] || 0));
    $('pick-j').value = String(sel.j);
  }

  function setMode(mode) {
    if (!['weights', 'gradients', 'update'].includes(mode)) return;
    S.view.mode = mode;
    for (const r of document.querySelectorAll('input[name="mode"]')) r.checked = r.value === mode;
    if (mode === 'update') L.traceFetch.trigger();
    viewChanged();
    L.schedule();
  }

  function setSample(k) {
    const n = S.data?.x?.length || 1;
    S.view.sample = Math.max(0, Math.min(n - 1, Math.floor(Number(k) || 0)));
    $('sample-input').value = String(S.view.sample + 1);
    L.phaser.redraw(); // the worked neuron follows the sample
    viewChanged();
    S.pending.data = true;
    L.schedule();
  }

  /** The shareable view: what a participant following this screen sees. */
  function view() {
    return { edge: S.view.sel, mode: S.view.mode, sample: S.view.sample, guide: S.view.guide, discrete: S.view.discrete };
  }

  /** The data plane's classes as hard regions, or not (the toggle, a link, the presenter). */
  function setDiscrete(on) {
    S.view.discrete = !!on;
    L.dataView.setDiscrete(S.view.discrete);
    viewChanged();
  }

  /** Show someone else's view (the presenter's) without reporting it as this person's. */
  function applyView(v) {
    if (!v || typeof v !== 'object') return;
    S.applying = true;
    try {
      // The guide first: its steps carry actions (mode, edge) the rest of the view overrides.
      const guide = L.guide;
      const step = Number.isInteger(v.guide) && v.guide >= 0 && v.guide < GUIDE_STEPS.length ? v.guide : null;
      if (step === null && guide.isOpen()) guide.close();
      else if (step !== null && (!guide.isOpen() || S.view.guide !== step)) guide.open(step, { remote: true });
      if (typeof v.mode === 'string') setMode(v.mode);
      if (Number.isInteger(v.sample)) setSample(v.sample);
      if (v.edge) select(v.edge);
      if (typeof v.discrete === 'boolean') setDiscrete(v.discrete);
    } finally {
      S.applying = false;
    }
  }

  return { userChange, viewChanged, sizes, validSel, defaultSel, select, syncPicker, setMode, setSample, setDiscrete, view, applyView };
}

/** The view's own controls: the parameter picker, the mode radios, the sample field, the log toggle. */
export function bindViewControls(L) {
  const S = L.state;
  function pickerChanged() {
    const kind = $('pick-kind').value;
    const layer = Number($('pick-layer').value);
    const sz = L.sizes();
    const i = Math.min(Number($('pick-i').value) || 0, (sz[layer] || 1) - 1);
    const j = Math.min(Number($('pick-j').value) || 0, (sz[layer + 1] || 1) - 1);
    L.userChange(() => L.select(kind === 'bias' ? { kind, layer, j } : { kind, layer, i, j }));
  }
  for (const id of ['pick-kind', 'pick-layer', 'pick-i', 'pick-j']) $(id).addEventListener('change', pickerChanged);
  for (const r of document.querySelectorAll('input[name="mode"]')) {
    r.addEventListener('change', () => r.checked && L.userChange(() => L.setMode(r.value)));
  }
  $('sample-input').addEventListener('change', () => L.userChange(() => L.setSample((Number($('sample-input').value) || 1) - 1)));
  $('log-toggle').addEventListener('change', () => {
    S.view.log = $('log-toggle').checked;
    S.pending.loss = true;
    L.viewChanged();
    L.schedule();
  });
}
