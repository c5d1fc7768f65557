// Time travel: a scrubber over the run (0..head) and a Back button, both asking the server to
// seek. The frame at an earlier step is the one the run had then; stepping on from it starts
// a new branch (the server drops the old steps after it, and the error curve shows the cut).

import { setFixedText, setFlag } from './ui.js';

/** The furthest step of the run: the frame's `head`, else what the curve has seen. */
export function headOf(frame, history) {
  if (!frame) return 0;
  if (Number.isInteger(frame.head)) return frame.head;
  const last = history?.train?.lastX ?? -1;
  return Math.max(frame.step, last);
}

/** Whether a frame shows an earlier step of the run (a seek), not its newest. */
export function isLookBack(frame) {
  return !!frame && Number.isInteger(frame.head) && frame.step < frame.head;
}

/**
 * Bind the scrubber. el: {input, label, back}; onSeek(n) asks the server for step n
 * (called at most every `throttle` ms while dragging, and once when released); enabled()
 * says whether this screen may seek now (Back is off while it may not: offline).
 */
export function createTimeline(el, { onSeek, throttle = 120, enabled = () => true } = {}) {
  let lastSent = 0;
  let timer = null;
  let dragging = false;
  let frame = null;
  let head = 0;

  function send(n) {
    clearTimeout(timer);
    timer = null;
    lastSent = performance.now();
    onSeek?.(n);
  }

  el.input.addEventListener('input', () => {
    dragging = true;
    const n = Number(el.input.value);
    showLabel(n);
    const wait = throttle - (performance.now() - lastSent);
    if (wait <= 0) send(n);
    else {
      clearTimeout(timer);
      timer = setTimeout(() => send(Number(el.input.value)), wait);
    }
  });
  el.input.addEventListener('change', () => {
    dragging = false;
    send(Number(el.input.value));
  });
  el.back?.addEventListener('click', () => back());

  function back() {
    if (frame && frame.step > 0) send(frame.step - 1);
  }

  function showLabel(n) {
    setFixedText(el.label, `step ${n} of ${head}`, 15); // a box 15ch wide (phases.css)
  }

  return {
    /** Show the frame's place in the run. */
    update(f, history) {
      frame = f;
      head = headOf(f, history);
      if (String(el.input.max) !== String(head)) el.input.max = String(head);
      if (!dragging && el.input.value !== String(f.step)) el.input.value = String(f.step);
      setFlag(el.input, 'disabled', head === 0); // 30 times a second: write only what changed
      el.input.setAttribute('aria-valuetext', `step ${f.step} of ${head}`);
      if (el.back) setFlag(el.back, 'disabled', f.step <= 0 || !enabled());
      if (!dragging) showLabel(f.step);
      el.root?.classList.toggle('looking-back', f.step < head);
    },
    back,
  };
}
