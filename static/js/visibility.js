// Which panels are on (or near) the screen: the page skips drawing the others while a run
// plays and draws them at rest in idle time, so a phone's first screen and each frame only
// pay for what can be seen (benchmarks/page.py: long tasks at load, frames/s at 4x slowdown).

const near = new WeakMap(); // element -> {on, listeners}
let io = null;

function observer() {
  if (io || typeof IntersectionObserver === 'undefined') return io;
  // A quarter of a screen beyond the edges counts as near: scrolling finds it drawn.
  io = new IntersectionObserver(
    (entries) => {
      for (const e of entries) {
        const rec = near.get(e.target);
        if (!rec) continue;
        const was = rec.on;
        rec.on = e.isIntersecting;
        if (rec.on !== was) for (const fn of rec.listeners) fn(rec.on);
      }
    },
    { rootMargin: '25% 0px 25% 0px' },
  );
  return io;
}

/**
 * Watch `el`: returns () => whether it is on or near the screen (true until first known, and
 * always without IntersectionObserver); onChange(on) when that changes.
 */
export function watchNear(el, onChange) {
  if (!el) return () => true;
  let rec = near.get(el);
  if (!rec) {
    rec = { on: true, listeners: [] };
    near.set(el, rec);
    observer()?.observe(el);
  }
  if (onChange) rec.listeners.push(onChange);
  return () => rec.on;
}

/** Run fn in a task of its own once the main thread is idle (soon, at the latest `ms`). */
export function whenIdle(fn, ms = 1000) {
  if (typeof requestIdleCallback === 'function') requestIdleCallback(() => fn(), { timeout: ms });
  else setTimeout(fn, 1);
}

/** Run fn in a task of its own, after what is queued (input and paint may come between). */
export function nextTask(fn) {
  if (globalThis.scheduler?.postTask) globalThis.scheduler.postTask(fn, { priority: 'user-visible' });
  else setTimeout(fn, 0);
}
