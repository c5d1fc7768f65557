// A hall joining at once: a 429 or a full room is temporary, never a dead end. The page says
// so in a banner with a countdown, waits (at least the server's Retry-After, spread at random so
// a hall refused together does not come back together) and tries again (api.js, docs/api.md, Version 3).

/** Milliseconds to wait before try number `attempt` (0, 1, ...): from `base` doubling to `cap`,
 * spread x0.5..x1.5 at random, never earlier than the server's `retryAfterMs`. */
export function backoffMs(attempt, { base, cap, retryAfterMs = 0 }) {
  const nominal = Math.min(cap, base * 2 ** attempt);
  const lo = Math.max(0.5 * nominal, retryAfterMs);
  const hi = Math.max(1.5 * nominal, 1.5 * lo);
  return Math.round(lo + Math.random() * (hi - lo));
}

/** The server's Retry-After (seconds, or an HTTP date) in milliseconds; 0 when absent. */
export function retryAfterMs(value) {
  if (value === null || value === undefined || value === '') return 0;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(String(value));
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : 0;
}

/** The server's words as a sentence: a capital first, a full stop last. */
function sentence(text) {
  const t = String(text || 'The server is busy').trim();
  return t.charAt(0).toUpperCase() + t.slice(1) + (/[.!?…]$/.test(t) ? '' : '.');
}

/**
 * The banner that says "not in yet, trying again in N s" (#wait-notice). Several waits may run
 * at once (the config, the data, the socket): each has a key; the newest message is shown, and
 * the banner goes when none is left.
 */
export function createWaitNotice(el = document.getElementById('wait-notice')) {
  const waits = new Map(); // key -> { message, until }
  let ticker = null;

  function render() {
    if (!el) return;
    if (!waits.size) {
      el.hidden = true;
      clearInterval(ticker);
      ticker = null;
      return;
    }
    const { message, until } = [...waits.values()].at(-1);
    const s = Math.ceil((until - performance.now()) / 1000);
    const when = s > 0 ? `trying again in ${s} s…` : 'trying again now…';
    el.querySelector('.wait-message').textContent = sentence(message);
    el.querySelector('.wait-when').textContent = `Nothing is wrong on your side: ${when}`;
    el.hidden = false;
  }

  return {
    /** `key` waits `ms` because of `message` (the server's words). */
    show(key, message, ms) {
      waits.delete(key); // to the end: the newest is shown
      waits.set(key, { message, until: performance.now() + ms });
      render();
      if (!ticker) ticker = setInterval(render, 1000);
    },
    /** `key` got through. */
    clear(key) {
      if (waits.delete(key)) render();
    },
    get waiting() {
      return waits.size > 0;
    },
  };
}
