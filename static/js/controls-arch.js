// The architecture editor: layer sizes after an edit (pure), and its rows of buttons.

import { FACTS } from './facts.js';
import { h } from './ui.js';
import { keepFocusIn } from './a11y.js';

export const MAX_HIDDEN_LAYERS = FACTS.max_hidden_layers;
export const MAX_NEURONS = FACTS.max_neurons;

/** New layer sizes after an architecture edit (pure). op: add-layer | remove-layer | inc | dec. */
export function editLayers(layers, op, index = 0) {
  const out = layers.slice();
  const hidden = out.length - 2;
  if (op === 'add-layer' && hidden < MAX_HIDDEN_LAYERS) {
    const n = hidden > 0 ? out[out.length - 2] : 4;
    out.splice(out.length - 1, 0, n);
  } else if (op === 'remove-layer' && hidden > 0) {
    out.splice(index, 1);
  } else if (op === 'inc' && out[index] < MAX_NEURONS) {
    out[index] += 1;
  } else if (op === 'dec' && out[index] > 1) {
    out[index] -= 1;
  }
  return out;
}

/** Build the editor in `arch` for these layer sizes; each button asks onConfig({layers}). */
export function renderArch(arch, layers, onConfig) {
  const rows = [];
  const last = layers.length - 1;
  layers.forEach((n, k) => {
    const name = k === 0 ? 'X' : k === last ? 'O' : `h${k}`;
    const label = k === 0 ? 'inputs (from data)' : k === last ? 'outputs (from data)' : `hidden layer ${k}`;
    const row = h('div', { class: 'arch-row', 'data-testid': `arch-row-${k}` }, h('span', { class: 'arch-name' }, name), h('span', { class: 'arch-label' }, label));
    if (k === 0 || k === last) {
      row.append(h('span', { class: 'arch-n', 'data-testid': `arch-n-${k}` }, String(n)));
    } else {
      row.append(
        h('button', { type: 'button', class: 'btn btn-icon', 'aria-label': `Remove a neuron from hidden layer ${k}`, 'data-testid': `arch-dec-${k}`, disabled: n <= 1, onclick: () => onConfig({ layers: editLayers(layers, 'dec', k) }) }, '−'),
        h('span', { class: 'arch-n', 'data-testid': `arch-n-${k}`, 'aria-live': 'polite' }, String(n)),
        h('button', { type: 'button', class: 'btn btn-icon', 'aria-label': `Add a neuron to hidden layer ${k}`, 'data-testid': `arch-inc-${k}`, disabled: n >= MAX_NEURONS, onclick: () => onConfig({ layers: editLayers(layers, 'inc', k) }) }, '+'),
        h('button', { type: 'button', class: 'btn btn-icon btn-ghost', 'aria-label': `Remove hidden layer ${k}`, title: 'Remove this layer', 'data-testid': `arch-remove-${k}`, onclick: () => onConfig({ layers: editLayers(layers, 'remove-layer', k) }) }, '×'),
      );
    }
    rows.push(row);
  });
  const add = h(
    'button',
    { type: 'button', class: 'btn btn-small', 'data-testid': 'arch-add-layer', disabled: layers.length - 2 >= MAX_HIDDEN_LAYERS, onclick: () => onConfig({ layers: editLayers(layers, 'add-layer') }) },
    '+ hidden layer',
  );
  // Each edit rebuilds the editor: the button pressed keeps the focus, or (gone, disabled)
  // its neighbour in the row, else "+ hidden layer".
  const restore = keepFocusIn(arch, (old) => {
    const row = old.closest('.arch-row');
    const near = row && arch.querySelector(`[data-testid="${row.dataset.testid}"] button:not(:disabled)`);
    return near || [...arch.querySelectorAll('button')].find((b) => !b.disabled);
  });
  arch.replaceChildren(...rows, add);
  restore();
}
