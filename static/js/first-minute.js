// The first minute on the main page (issue 21): the first-visit intro that points at Step, and
// the offline state (a banner with the countdown and "Retry now", the transport off with its
// reason). Both float over the page (position: fixed): coming and going moves nothing.

const INTRO_KEY = 'backprop-studio.intro';
const $ = (id) => document.getElementById(id);

/** True once the intro was dismissed in this browser (or storage is off: never nag). */
export function introSeen() {
  try {
    return localStorage.getItem(INTRO_KEY) === 'seen';
  } catch {
    return true;
  }
}

function rememberIntro() {
  try {
    localStorage.setItem(INTRO_KEY, 'seen');
  } catch {
    /* storage disabled: it closes for this page only */
  }
}

/**
 * The intro card under the Step button, on a first visit only. Closing it (Got it, Escape, the
 * tour, or pressing Step: the action it points at) is remembered. Never modal: every control
 * and key works while it shows. Returns {open, close, isOpen}.
 */
export function createIntro({ onTour } = {}) {
  const card = $('intro');
  const step = $('step-button');
  if (!card || !step) return { open() {}, close() {}, isOpen: () => false };

  /** Under Step, its arrow at Step's middle (the bar's layout differs by width). */
  function place() {
    if (card.hidden) return;
    const r = step.getBoundingClientRect();
    const w = card.offsetWidth;
    const left = Math.max(10, Math.min(window.innerWidth - w - 10, r.left + r.width / 2 - 40));
    card.style.setProperty('--intro-left', `${Math.round(left)}px`);
    card.style.setProperty('--intro-arrow', `${Math.round(r.left + r.width / 2 - left - 7)}px`);
    // Below the bar (the readouts stay in view), its arrow reaching up to Step.
    const bar = step.closest('.topbar')?.getBoundingClientRect().bottom ?? r.bottom;
    card.style.top = `${Math.round(Math.max(r.bottom, bar) + 10)}px`;
  }

  function open() {
    card.hidden = false;
    document.body.classList.add('intro-open');
    place();
  }

  function close() {
    if (card.hidden) return;
    card.hidden = true;
    document.body.classList.remove('intro-open');
    rememberIntro();
  }

  $('intro-close')?.addEventListener('click', close);
  $('intro-tour')?.addEventListener('click', () => {
    close();
    onTour?.();
  });
  // The action it points at: pressed (button or →), the intro has done its job.
  step.addEventListener('click', close);
  document.addEventListener('keydown', (ev) => {
    if (card.hidden) return;
    if (ev.key === 'Escape' || (ev.key === 'ArrowRight' && !(ev.target instanceof HTMLInputElement || ev.target instanceof HTMLSelectElement))) close();
  });
  window.addEventListener('resize', place);
  window.addEventListener('scroll', place, { passive: true });
  if (!introSeen()) open();
  return { open, close, isOpen: () => !card.hidden };
}

/**
 * The offline banner. update(state, waitMs) follows the socket's status (live.js showStatus's
 * states); retry() is "Retry now". The transport's buttons follow the connection themselves
 * (transport.js, timeline.js); body.offline says so to CSS.
 */
export function createOffline({ retry } = {}) {
  const banner = $('offline-banner');
  const countdown = $('offline-countdown');
  let offline = false;
  let until = 0;
  let timer = null;

  function tick() {
    const left = Math.max(0, until - performance.now());
    countdown.textContent = left > 300 ? `Retrying in ${Math.ceil(left / 1000)} s…` : 'Retrying…';
  }

  /** Offline from the first "reconnecting" until "connected" (attempts in between say "connecting"). */
  function update(state, waitMs) {
    const now = state === 'connected' ? false : state === 'reconnecting' ? true : offline;
    if (state === 'reconnecting' && Number.isFinite(waitMs)) until = performance.now() + waitMs;
    if (now !== offline) {
      offline = now;
      banner.hidden = !now;
      document.body.classList.toggle('offline', now);
      clearInterval(timer);
      timer = now ? setInterval(tick, 250) : null;
    }
    if (now) tick();
  }

  $('offline-retry')?.addEventListener('click', () => {
    until = performance.now();
    tick();
    retry?.();
  });
  return { update, isOffline: () => offline };
}

/** The floating trouble panel folds to its heading and back on a click of the heading. */
export function foldableTrouble() {
  const panel = $('trouble-panel');
  panel?.addEventListener('click', (ev) => {
    if (ev.target instanceof Element && ev.target.closest('.trouble-head')) panel.classList.toggle('folded');
  });
}
