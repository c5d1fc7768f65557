// Stop rules beside Play (issue 22): E below x, at step n, the test E rising k steps in a row.
// The server checks them after every step and names the one met in the frame (`stopped`).

import { setFlag, setText } from './ui.js';

const $ = (id) => document.getElementById(id);
const RULES = ['loss_below', 'at_step', 'test_rising'];

/** The note for a frame that a rule stopped: which rule, with its own number. */
export function stoppedText(stopped, rules, step) {
  if (stopped === 'loss_below') return `Stopped at step ${step}: E fell below ${rules?.loss_below}`;
  if (stopped === 'at_step') return `Stopped at step ${step}, as asked`;
  if (stopped === 'test_rising') return `Stopped at step ${step}: the test E rose ${rules?.test_rising} steps in a row`;
  return '';
}

/** Bind the stop fields (absent on pages without them); onSet(patch) sends a `set`. */
export function createStopRules({ onSet, rules }) {
  const inputs = Object.fromEntries(RULES.map((k) => [k, $(`stop-${k.replace('_', '-')}`)]));
  const note = $('stopped-note');
  if (!inputs.at_step) return { setConfig() {}, onFrame() {} };
  const read = () => {
    const r = {};
    for (const k of RULES) {
      const el = inputs[k];
      const v = Number(el.value);
      const ok = el.value !== '' && Number.isFinite(v) && v > 0 && (k === 'loss_below' || Number.isInteger(v));
      el.toggleAttribute('aria-invalid', el.value !== '' && !ok);
      if (ok) r[k] = v;
    }
    return r;
  };
  for (const k of RULES) inputs[k].addEventListener('change', () => onSet({ stop: read() }));
  return {
    setConfig(c) {
      for (const k of RULES) inputs[k].value = c?.stop?.[k] ?? '';
    },
    onFrame(f) {
      setText(note, stoppedText(f.stopped, rules(), f.step));
      setFlag(note, 'hidden', !f.stopped);
    },
  };
}
