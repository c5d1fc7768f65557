// The live page's newest-only fetches (the trace, the chain rule, the matrices, the slope's
// slice) and the panels whose modules load on first use (the landscape, the GIF export).

import { latestOnly, request } from './api.js';
import { renderChain, renderChainMessage } from './chain-view.js';
import { paramName } from './nn.js';
import { createSlopeView } from './slope-view.js';
import { $ } from './live-state.js';

/** The query naming a parameter for …/chain and …/slice. */
function chainQuery(sel) {
  const q = new URLSearchParams({ kind: sel.kind, layer: String(sel.layer), j: String(sel.j) });
  if (sel.kind === 'weight') q.set('i', String(sel.i));
  return q;
}

/** {traceFetch, chainFetch, matrixFetch, slopeView, sliceFetch} over the live parts `L`. */
export function createFetches(L, { drives }) {
  const S = L.state;
  const traceFetch = latestOnly(
    () => (S.base && S.view.mode === 'update' && S.frame && !S.frame.update && (S.config?.optimizer?.name || 'sgd') !== 'sgd' && S.trace?.step !== S.frame.step ? request('GET', `${S.base}/trace`) : null),
    250,
    (trace) => {
      if (!trace) return;
      S.trace = trace;
      L.schedule();
    },
    () => {},
  );

  const chainFetch = latestOnly(
    () => (S.base && S.view.sel ? request('GET', `${S.base}/chain?${chainQuery(S.view.sel)}`) : null),
    200,
    (chain) => chain && L.timed('chain', () => renderChain($('chain-panel'), chain, { optimizer: S.config?.optimizer?.name, lossName: S.config?.loss })),
    (err) => err.status !== 404 && renderChainMessage($('chain-panel'), err.message),
  );

  const matrixFetch = latestOnly(
    () => (S.base ? request('GET', `${S.base}/matrix`) : null),
    300,
    (items) => {
      if (!items) return;
      const sig = JSON.stringify(items.map((it) => [it.equation, it.A.shape, it.delta.shape, it.result_shape]));
      S.matrixItems = items;
      if (sig !== S.matrixSig) {
        S.matrixSig = sig;
        L.matrixView.setMatrix(items, S.data || S.config);
      }
      S.pending.matrix = true; // drawn by the scheduler: near the screen soon, else when idle
      L.schedule();
    },
    () => {},
  );

  const slopeView = $('slope-view')
    ? createSlopeView($('slope-view'), {
        // A click on the curve sets the parameter to that point's value (hand-edits.js).
        onPick: (v) => S.view.sel && L.hand.editTo(v),
        canPick: drives,
      })
    : null;
  const sliceFetch = latestOnly(
    () => (slopeView && S.base && S.view.sel && S.frame && !S.frame.diverged ? request('GET', `${S.base}/slice?${chainQuery(S.view.sel)}`) : null),
    400,
    (slice) => {
      if (!slice) return;
      $('slope-view').hidden = false;
      slopeView.render(slice, paramName(S.view.sel, L.sizes().length - 1, S.config?.bias === 'shared'));
    },
    () => ($('slope-view').hidden = true),
  );
  return { traceFetch, chainFetch, matrixFetch, slopeView, sliceFetch };
}

/**
 * The error landscape and the GIF export (docs/api.md): their modules load only on the first
 * click, so the first screen never pays for them (issue 13's page speed). Sets L.landscape.
 */
export function bindLazyPanels(L, { exporter }) {
  const S = L.state;
  L.landscape = null;
  $('landscape-open')?.addEventListener('click', async () => {
    const open = $('landscape-view').hidden;
    $('landscape-view').hidden = !open;
    $('landscape-open').setAttribute('aria-expanded', String(open));
    $('landscape-open').textContent = open ? 'Hide' : 'Show the landscape';
    if (!open || L.landscape) return;
    const { createLandscapeView } = await import('./landscape-view.js');
    L.landscape = createLandscapeView($('landscape-view'), { base: () => S.base, frame: () => S.frame, config: () => S.config, sel: () => S.view.sel, playing: L.moving });
    L.landscape.refresh();
  });
  if ($('export-animation')) {
    if (!exporter?.()) $('export-row').hidden = true;
    $('export-animation').addEventListener('click', async () => {
      const { exportAnimation } = await import('./export-animation.js');
      const el = { button: $('export-animation'), progress: $('export-progress'), status: $('export-status'), link: $('export-link') };
      if (S.base) exportAnimation({ base: S.base, headers: exporter?.() || {}, withLandscape: $('export-landscape').checked, el, frame: S.frame });
    });
  }
}
