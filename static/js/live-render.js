// The live page's one render scheduler: which frame is written when, and which panel draws in
// which animation frame or task (docs/frontend.md, "Rendering"). Reads the parts from `L`.

import { realUpdate } from './nn.js';
import { fmt } from './mathml.js';
import { setFixedText, setFlag } from './ui.js';
import { nextTask, whenIdle } from './visibility.js';
import { $, percent } from './live-state.js';

const NETWORK_MS = 45; // the network diagram's shortest redraw interval while playing (~20/s)
const PANELS = ['loss', 'data', 'matrix'];
// While playing, a heavy redraw waits at least `ms` and 8x its own last cost (each panel
// takes at most an eighth of the main thread), so the page stays responsive and keeps
// animating on a slow machine (it shows the newest frame, never a backlog).
const PLAYING_MS = { loss: 150, data: 250, matrix: 150 };

/** Epoch and (classification sets) accuracy beside STEP and E, in fixed boxes. */
function showEpochAndAccuracy(f) {
  const epoch = $('epoch-value');
  if (epoch && f.epoch !== undefined) setFixedText(epoch, String(f.epoch), 5);
  for (const [key, sel, id] of [['accuracy', '.acc-readout', 'accuracy-value'], ['test_accuracy', '.test-acc-readout', 'test-accuracy-value']]) {
    const v = f[key];
    const has = typeof v === 'number';
    setFlag(document.querySelector(sel), 'hidden', !has);
    if (has) setFixedText($(id), percent(v), 6);
  }
}

/** STEP, E, test E, epoch and accuracy: boxes of fixed width (app.css .readouts dd): 5 and 8 characters. */
function writeReadouts(f) {
  setFixedText($('step-count'), String(f.step), 5);
  setFixedText($('loss-value'), f.loss === null || f.loss === undefined ? '—' : String(Number(f.loss.toPrecision(6))), 8);
  const hasTest = f.test_loss !== null && f.test_loss !== undefined;
  setFlag(document.querySelector('.test-readout'), 'hidden', !hasTest);
  if (hasTest) setFixedText($('test-loss-value'), String(Number(f.test_loss.toPrecision(6))), 8);
  showEpochAndAccuracy(f);
}

/** The diverged banner: shown with the learning rate to blame while the frame says so. */
function showDiverged(f, config) {
  const banner = $('diverged-banner');
  if (banner) {
    setFlag(banner, 'hidden', !f.diverged);
    if (f.diverged) {
      const lr = f.learning_rate ?? config?.optimizer?.learning_rate;
      $('diverged-text').textContent = `At step ${f.step} the error stopped being a finite number: the learning rate α = ${fmt(lr)} is too large for this network. Lower it (try ${fmt(lr / 10)}) and reset.`;
    }
  }
}

/**
 * The heavy panels' scheduler over the live parts `L` (S, history, lossView, dataView,
 * matrixView, near, thumbs, chainFetch, sliceFetch, schedule, moving): when the curve, the
 * data and the matrices draw, at rest and while playing, and what an off-screen panel skipped.
 * Returns {wake, checkAtRest, queueRest, markAll, timed, drawPanel, drawOnePanel}.
 */
export function createPanelScheduler(L) {
  const S = L.state;
  const schedule = () => L.schedule();
  const moving = () => L.moving();

  /** A panel came near the screen: draw what it skipped. */
  function wake(key) {
    if (key === 'network') L.thumbs.sync(); // maps skipped while it was out of sight
    if (key === 'chain') {
      if (S.chainStale) {
        S.chainStale = S.sliceStale = false;
        L.chainFetch.trigger();
        L.sliceFetch.trigger();
      }
      return;
    }
    schedule();
  }

  // While playing, a panel skipped off screen is drawn once the run rests: checked now and then.
  let restCheck = null;
  function checkAtRest() {
    if (restCheck) return;
    restCheck = setTimeout(() => {
      restCheck = null;
      if (!moving()) {
        if (S.chainStale) wake('chain');
        if (S.sliceStale) {
          S.sliceStale = false;
          L.sliceFetch.trigger();
        }
        schedule();
      } else checkAtRest();
    }, 400);
  }

  let restQueued = false;
  /**
   * At rest (the first frames, a step, a seek) each panel draws in a task of its own after the
   * network: those near the screen next, the others in idle time. One long task of everything
   * was most of the page's blocking time at load (Lighthouse, mobile).
   */
  function queueRest() {
    if (restQueued) return;
    const near = L.near;
    const soon = PANELS.some((k) => S.pending[k] && near[k]());
    if (!soon && !PANELS.some((k) => S.pending[k])) return;
    restQueued = true;
    (soon ? nextTask : whenIdle)(() => {
      restQueued = false;
      if (!S.frame || moving()) return; // the frame loop draws while playing
      const key = PANELS.find((k) => S.pending[k] && near[k]()) || PANELS.find((k) => S.pending[k]);
      if (!key) return;
      S.pending[key] = false;
      S.last[key] = performance.now();
      timed(key, () => drawPanel(key, S.frame));
      queueRest();
    });
  }

  function drawPanel(key, f) {
    if (key === 'loss') L.lossView.render(L.history, { log: S.view.log, marker: { step: f.step, loss: f.loss }, revision: S.base || 'run' });
    else if (key === 'data') L.dataView.update(f, { sample: S.view.sample });
    else if (L.matrixView.update(f, { chunk: !L.near.matrix() })) S.pending.matrix = true; // layers left
  }

  function markAll() {
    S.pending.loss = S.pending.data = S.pending.matrix = true;
    schedule();
  }

  /** Run fn and add its time to S.prof[key] (ms): a cheap built-in profile of the page. */
  function timed(key, fn) {
    const t = performance.now();
    fn();
    const dt = performance.now() - t;
    S.prof[key] = (S.prof[key] || 0) + dt;
    S.prof[`${key}N`] = (S.prof[`${key}N`] || 0) + 1;
    S.cost[key] = 0.7 * (S.cost[key] || dt) + 0.3 * dt;
  }

  function due(key, now) {
    if (!S.pending[key]) return false;
    if (!L.near[key]()) {
      checkAtRest(); // off screen: drawn when it comes near or the run rests
      return false;
    }
    if (now - S.last[key] < Math.max(PLAYING_MS[key], 8 * (S.cost[key] || 0))) {
      schedule();
      return false;
    }
    S.last[key] = now;
    S.pending[key] = false;
    return true;
  }

  /** While playing: at most one heavy panel (the curve, the data, the matrices) per frame. */
  function drawOnePanel(now, f) {
    const key = PANELS.find((k) => due(k, now));
    if (key) timed(key, () => drawPanel(key, f));
  }

  return { wake, checkAtRest, queueRest, markAll, timed, drawPanel, drawOnePanel };
}

/**
 * The frame writer over the live parts `L` (S, network, thumbs, near, timeline, troubleView,
 * drives, playing, and the panel scheduler's operations): one requestAnimationFrame renders
 * the newest frame. Returns {schedule, moving, render}.
 */
export function createRenderLoop(L) {
  const S = L.state;

  function schedule() {
    if (S.dirty) return;
    S.dirty = true;
    requestAnimationFrame(render);
  }

  /** Whether the run is playing here (the server says so, or this page asked it to). */
  function moving() {
    return !!S.frame?.playing || L.playing();
  }

  /**
   * The diagram, drawn again only when what it shows changed (at load the page renders
   * several times while the chain, matrices and data arrive; each redraw of the diagram cost
   * a style and layout pass). Until the data come (their names and activations label the
   * diagram) it waits, briefly: drawing it twice was a long task on a phone. While playing it
   * redraws at most every NETWORK_MS: its SVG is re-rasterised at each change, which on a
   * machine without GPU raster costs more than everything else on the page together
   * (benchmarks/page.py: 44 -> 51 rendered frames/s on 2 shared cores).
   */
  function drawDiagram(now, f, moving) {
    const optimizer = S.config?.optimizer?.name;
    const netKey = [f, S.data, S.view.mode, S.view.sample, S.view.sel, S.view.mode === 'update' ? S.trace : null, optimizer];
    const netSame = S.netKey && netKey.every((v, k) => v === S.netKey[k]);
    if (netSame || (S.dataWait && !moving)) {
      /* nothing new for the diagram */
    } else if (moving && !L.near.network()) L.checkAtRest();
    else if (!moving || now - S.last.network >= NETWORK_MS) {
      S.last.network = now;
      S.netKey = netKey;
      const real = S.view.mode === 'update' ? realUpdate(f, S.trace) : null;
      L.timed('network', () => L.network.update(f, S.data, { mode: S.view.mode, sample: S.view.sample, selection: S.view.sel, real, optimizer }));
      L.thumbs.sync();
    } else schedule();
  }

  /** The timeline, then the heavy panels: queued at rest, one per frame while playing. */
  function drawTimelineAndPanels(now, f, moving) {
    const t0 = performance.now();
    const timeline = L.timeline;
    if (timeline) {
      timeline.update(f, L.history);
      setFlag($('timeline'), 'disabled', !L.drives() || $('timeline').disabled);
    }
    if (!moving) L.queueRest();
    else if (!S.gap) L.drawOnePanel(now, f); // no frame between writes here (a slow machine)
    else if (PANELS.some((k) => S.pending[k] && L.near[k]())) schedule(); // drawn in a frame between
    S.gap = false;
    S.prof.renders += 1;
    S.prof.render += performance.now() - t0;
  }

  function render(now) {
    S.dirty = false;
    const f = S.frame;
    if (!f) return;
    const moving = !!f.playing || L.playing();
    // While playing, the page writes a frame at most every NETWORK_MS (~20 times a second, as
    // the diagram always did): each write is a style, layout and paint of the page, and frames
    // come 30 a second; between writes the browser has whole frames free for scrolling and input.
    if (moving && now - S.last.draw < NETWORK_MS) {
      // A frame between writes: a panel that is due draws here, alone (a frame that wrote the
      // numbers, the diagram and a panel or two was a 50-80 ms long task at 4x CPU slowdown).
      S.gap = true;
      L.drawOnePanel(now, f);
      schedule();
      return;
    }
    S.last.draw = now;
    writeReadouts(f);
    drawDiagram(now, f, moving);
    drawTimelineAndPanels(now, f, moving);
    L.troubleView?.update(f.trouble, S.config, f, moving);
    showDiverged(f, S.config);
  }

  return { schedule, moving, render };
}

/** Window resizes, settled for 150 ms: the diagram and the curve take their new sizes. */
export function bindResize(L) {
  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      L.network.resize();
      L.state.netKey = null;
      L.lossView.resize();
      L.markAll();
    }, 150);
  });
}
