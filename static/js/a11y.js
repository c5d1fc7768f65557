// Keyboard and screen-reader helpers the pages share: the single-key shortcuts (with their
// off switch, WCAG 2.1.4), keeping focus somewhere sensible, and scroll boxes a keyboard reaches.

const SHORTCUTS_KEY = 'backprop-studio.shortcuts';

/** True unless the person switched the single-key shortcuts off (remembered in localStorage). */
export function shortcutsOn() {
  try {
    return localStorage.getItem(SHORTCUTS_KEY) !== 'off';
  } catch {
    return true; // storage disabled: the default
  }
}

function rememberShortcuts(on) {
  try {
    localStorage.setItem(SHORTCUTS_KEY, on ? 'on' : 'off');
  } catch {
    /* storage disabled: the switch still works for this page */
  }
}

// Where a key belongs to the element, never to a shortcut: form controls (checkboxes and radios
// included), table rows one picks with the keyboard, links, scroll boxes, editable text.
const OWN_KEYS = 'input, select, textarea, [contenteditable=""], [contenteditable="true"], tr, [role="row"], [role="radio"], [role="checkbox"], [role="slider"]';

/** True when `key` pressed on `target` must go to the element, not to a page shortcut. */
export function keyBelongsToElement(target, key) {
  if (!(target instanceof Element)) return false;
  if (target.closest(OWN_KEYS)) return true;
  const tag = target.tagName;
  // Space and Enter activate buttons, links and disclosure summaries.
  if (key === ' ' && (tag === 'BUTTON' || tag === 'A' || tag === 'SUMMARY')) return true;
  // A focused scroll box (an equation wider than its panel) scrolls with the arrows.
  if ((key.startsWith('Arrow') || key === ' ') && target.classList.contains('kbd-scroll')) return true;
  return false;
}

/**
 * Bind Space (play/pause), Right arrow (step) and R (reset) to `actions` ({togglePlay, step,
 * reset}, and optionally `back` for the Left arrow, `nextPhase` for "." and `prevPhase` for
 * ","), with a visible
 * checkbox `toggle` that switches them off (made next to the page's `.keys` hint when the
 * page has none); `active()` says whether this page may use them now.
 */
export function bindShortcuts({ toggle = null, actions, active = () => true, swallow = () => false }) {
  let on = shortcutsOn();
  const box = toggle || shortcutsToggle(document.querySelector('.keys'));
  // The buttons announce their keys (aria-keyshortcuts) only while the keys work.
  const announced = [...document.querySelectorAll('[aria-keyshortcuts]')].map((el) => [el, el.getAttribute('aria-keyshortcuts')]);
  const announce = () => announced.forEach(([el, k]) => (on ? el.setAttribute('aria-keyshortcuts', k) : el.removeAttribute('aria-keyshortcuts')));
  if (box) {
    box.checked = on;
    box.addEventListener('change', () => {
      on = box.checked;
      rememberShortcuts(on);
      announce();
    });
  }
  announce();
  const keys = { ' ': 'togglePlay', ArrowRight: 'step', ArrowLeft: 'back', '.': 'nextPhase', ',': 'prevPhase', r: 'reset', R: 'reset' };
  document.addEventListener('keydown', (ev) => {
    // Left/Right on a closed drop-down would pick the next option (a new data set throws the
    // run away) when the person meant "step": they do nothing there; Up/Down still choose.
    if ((ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') && ev.target instanceof HTMLSelectElement && !ev.altKey) {
      ev.preventDefault();
      return;
    }
    if (!on || ev.ctrlKey || ev.metaKey || ev.altKey || ev.defaultPrevented) return;
    const name = keys[ev.key];
    if (!name || !actions[name] || keyBelongsToElement(ev.target, ev.key)) return;
    if (!active()) {
      if (swallow()) ev.preventDefault(); // a key that cannot act now must not scroll the page either
      return;
    }
    if (document.querySelector('[role="dialog"][aria-modal="true"]:not([hidden])')) return;
    ev.preventDefault();
    actions[name]();
  });
  return { isOn: () => on };
}

/** The visible on/off switch for the shortcuts, put before the page's key hint `hint`. */
function shortcutsToggle(hint) {
  if (!hint) return null;
  const input = document.createElement('input');
  Object.assign(input, { type: 'checkbox', id: 'shortcuts-toggle', checked: true });
  input.dataset.testid = 'shortcuts-toggle';
  const label = document.createElement('label');
  label.className = 'check shortcuts-switch';
  label.title = 'Single-key shortcuts never act while a field, a row or a checkbox has the focus';
  label.append(input, ' Single-key shortcuts');
  hint.before(label);
  return input;
}

const FOCUSABLE = 'button:not([disabled]), [href], input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/** The elements of `root` Tab can reach, in order. */
export function focusables(root) {
  return [...root.querySelectorAll(FOCUSABLE)].filter((el) => !el.hidden && el.offsetParent !== null);
}

/** Keep Tab and Shift+Tab inside `root` (a modal dialog) while `active()` says so. */
export function trapFocus(root, active) {
  root.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Tab' || !active()) return;
    const items = focusables(root);
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (ev.shiftKey && (document.activeElement === first || !root.contains(document.activeElement))) {
      ev.preventDefault();
      last.focus();
    } else if (!ev.shiftKey && document.activeElement === last) {
      ev.preventDefault();
      first.focus();
    }
  });
}

/** Focus `el` (made focusable by script only when it is not already); true when it worked. */
export function focusOn(el, { scroll = true } = {}) {
  if (!el || el.hidden) return false;
  if (el.tabIndex < 0 && !el.hasAttribute('tabindex')) el.setAttribute('tabindex', '-1');
  el.focus({ preventScroll: !scroll });
  return document.activeElement === el;
}

/**
 * Keep keyboard focus when `container` is rebuilt: call before replacing its children, then
 * call the returned function after; focus goes back to the element with the same
 * data-testid, or to `fallback(oldElement)` when that is gone or disabled.
 */
export function keepFocusIn(container, fallback) {
  const active = document.activeElement;
  const id = active && container.contains(active) ? active.dataset?.testid : null;
  return () => {
    if (!id) return;
    const again = container.querySelector(`[data-testid="${id}"]`);
    if (again && !again.disabled && focusOn(again, { scroll: false })) return;
    focusOn(fallback?.(active) || container, { scroll: false });
  };
}

// A removed box reports a last size (0 x 0): it is dropped then, so rebuilt panels leak nothing
// (a box built before it is added to the page reports 0 x 0 too, and is kept).
const shown = new WeakSet();
const scrollables = new ResizeObserver((entries) => {
  for (const e of entries) {
    if (e.target.isConnected) {
      shown.add(e.target);
      syncScrollable(e.target);
    } else if (shown.has(e.target)) scrollables.unobserve(e.target);
  }
});

/** Make a box that may scroll sideways reachable by keyboard (a labelled group, Tab stop). */
export function keyboardScrollable(el, label) {
  labelScrollable(el, label);
  // Once laid out, and again when its size changes: a ResizeObserver reads the sizes after the
  // browser's own layout (no forced layout at load) and not at all while the box is off screen
  // in a content-visibility: auto panel.
  scrollables.observe(el);
  return el;
}

/** keyboardScrollable's role, label and class alone: for a tree only copied into a live one (ui.js morph). */
export function labelScrollable(el, label) {
  el.setAttribute('role', 'group');
  el.setAttribute('aria-label', label);
  el.classList.add('kbd-scroll');
  return el;
}

/** A Tab stop only while the box has something to scroll (no useless stops otherwise). */
export function syncScrollable(el) {
  if (!el.isConnected) return;
  const scrolls = el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1;
  if (scrolls) el.tabIndex = 0;
  else if (document.activeElement !== el) el.removeAttribute('tabindex');
}

let resizeTimer = null;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => document.querySelectorAll('.kbd-scroll').forEach(syncScrollable), 200);
});

/**
 * `apply()` when a select's choice is meant (WCAG 3.2.2): a pointer's pick at once, but arrows or
 * letters on a closed select only move the choice; Enter or leaving the select applies it. One
 * ↓ on the data-set menu no longer throws the run away.
 */
export function applyOnCommit(select, apply) {
  let keyed = false; // the value changed by keys since it was last applied
  let applied = select.value;
  const commit = () => {
    keyed = false;
    if (select.value === applied) return;
    applied = select.value;
    apply();
  };
  select.addEventListener('focus', () => {
    applied = select.value; // set by the page since (a preset's data set, a new run)
  });
  select.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      if (select.value !== applied) e.preventDefault();
      commit();
    } else if (e.key !== 'Tab' && e.key !== 'Escape' && !e.altKey) keyed = true;
  });
  select.addEventListener('pointerdown', () => {
    keyed = false;
  });
  select.addEventListener('change', () => {
    if (!keyed) commit();
  });
  select.addEventListener('blur', commit);
}
