// Why a run is not learning: the frame's `trouble` (app/engine/diagnose.py) as lessons with
// the live numbers and a one-click fix, and the data-set switch's "what changed" (pure
// helpers plus one renderer).

import { fmt } from './mathml.js';
import { h } from './ui.js';

const LOSS_NAMES = { half_sse: '½ Σ (Y − O)²', mse: 'mean (Y − O)²', bce: 'cross-entropy' };
const INIT_NAMES = { xavier: 'Xavier', he: 'He', uniform01: 'U(0, 1)' };

/** The settings a data-set switch may change, with their labels and how to read them. */
const FIELDS = [
  ['layers', 'layers', (c) => (c.layers || []).join('-')],
  ['activation', 'hidden activation', (c) => c.activation],
  ['output_activation', 'output activation', (c) => c.output_activation],
  ['loss', 'loss', (c) => LOSS_NAMES[c.loss] || c.loss],
  ['optimizer', 'optimizer', (c) => c.optimizer?.name],
  ['learning_rate', 'learning rate', (c) => c.optimizer?.learning_rate],
  ['batch_size', 'batch', (c) => (c.batch_size ? String(c.batch_size) : 'full')],
  ['init', 'init', (c) => INIT_NAMES[c.init] || c.init],
];

/** The config a data set's own settings give, from the current one (pure). */
export function applySettings(config, settings) {
  if (!settings) return { ...config };
  const out = { ...config, ...settings };
  out.optimizer = { ...(config.optimizer || {}), ...(settings.optimizer || {}) };
  if (settings.layers) out.layers = settings.layers.slice();
  return out;
}

/** What differs between two configs, as "label old → new" strings (pure). */
export function describeChanges(before, after) {
  const out = [];
  for (const [, label, read] of FIELDS) {
    const a = read(before);
    const b = read(after);
    if (a !== undefined && b !== undefined && String(a) !== String(b)) out.push(`${label} ${a} → ${b}`);
  }
  return out;
}

/** The fix a trouble suggests, adapted to the data (built-in sets have no target scaling). */
export function fixFor(t, config) {
  const fix = t.fix || {};
  if (fix.dataset?.scale_targets && config?.dataset?.name) return { output_activation: 'linear', loss: 'mse' };
  if (fix.dataset?.standardize && config?.dataset?.name === 'houses') {
    const rest = { ...fix };
    delete rest.dataset; // the article's houses are already scaled into (0, 1)
    return rest;
  }
  return fix;
}

/** A fix as words: "init Xavier, loss cross-entropy" (pure). */
export function fixLabel(fix) {
  const parts = [];
  if (fix.init) parts.push(`${INIT_NAMES[fix.init] || fix.init} init`);
  if (fix.loss) parts.push(`loss ${LOSS_NAMES[fix.loss] || fix.loss}`);
  if (fix.activation) parts.push(`${fix.activation === 'relu' ? 'ReLU' : fix.activation} hidden units`);
  if (fix.output_activation) parts.push(`${fix.output_activation} output`);
  if (fix.optimizer?.learning_rate !== undefined) parts.push(`α = ${fmt(fix.optimizer.learning_rate)}`);
  if (fix.dataset?.standardize) parts.push('standardised inputs');
  if (fix.dataset?.scale_targets) parts.push('targets scaled into the output’s range');
  return parts.join(', ');
}

const pct = (x) => `${Math.round((x ?? 0) * 100)}%`;
const num = (x) => (x === null || x === undefined ? '—' : fmt(x, 3));

/** One trouble's title and lesson paragraphs with its live numbers (pure: strings). */
export function lesson(t, config) {
  const lossName = config?.loss;
  switch (t.kind) {
    case 'output_saturated': {
      const s = t.sample || {};
      const sig = t.activation === 'sigmoid';
      const dName = sig ? 'O(1 − O)' : '1 − O²';
      return {
        title: `The output ${t.name} is saturated`,
        text: [
          `On ${pct(t.fraction)} of the samples ${t.name} sits on a flat end of its ${t.activation}: sample ${s.index + 1} has Z = ${num(s.Z)}, O = ${num(s.O)} where Y = ${num(s.Y)}.`,
          `Every weight's gradient carries the factor dO/dZ = ${dName} = ${num(s.derivative)} (its largest value is ${t.max_derivative}, at ${sig ? 'O = 0.5' : 'O = 0'}), so δ = (O − Y) · ${dName} = ${num(s.delta)}: the error is large, but its gradient is almost zero, and E stays flat.`,
          sig && lossName !== 'bce'
            ? 'Cross-entropy cancels that factor (its ∂E/∂O = (O − Y)/(O(1 − O))), and small initial weights keep Z near 0 where the sigmoid is steep.'
            : 'Small initial weights keep Z near 0, where the activation is steep.',
        ],
      };
    }
    case 'hidden_saturated':
      return {
        title: `Hidden layer ${t.name} is saturated`,
        text: [
          `${pct(t.fraction)} of its units × samples sit on a flat end of the ${t.activation}: |Z| averages ${num(t.mean_abs_z)} and ${t.activation === 'sigmoid' ? `${t.name}(1 − ${t.name})` : `1 − ${t.name}²`} averages ${num(t.mean_derivative)} (at most ${t.max_derivative}).`,
          `Backpropagation multiplies the error signal by that derivative on its way down, so every weight below ${t.name} gets almost no gradient. Inputs on a large scale or large initial weights push Z there.`,
        ],
      };
    case 'vanishing_gradients':
      if (t.where === 'first_layers') {
        return {
          title: 'The gradients vanish towards the input',
          text: [
            `The first layer's gradients are ${num(t.ratio)} times the last layer's (RMS per layer, input first: ${(t.rms || []).map(num).join(', ')}).`,
            'Each sigmoid layer multiplies the backward signal by its derivative, at most 0.25: through many layers the product goes to zero, and the layers near the input hardly learn.',
          ],
        };
      }
      return {
        title: 'The network is stuck: the gradients are almost zero',
        text: [
          `A step moves the weights by ${num(t.relative_step)} of their size, while E is still about as high as always predicting the mean target.`,
          'Nothing will change by waiting: the units the error flows through are saturated, so every gradient is multiplied by a derivative near zero.',
        ],
      };
    case 'exploding_gradients':
      return {
        title: 'The steps are too large',
        text: [
          `One step would move the weights by ${num(t.relative_step)} times their own size: α · |∂E/∂θ| = ${num(t.learning_rate)} × ${num(t.gradient_norm)}, against |θ| = ${num(t.weight_norm)}.`,
          t.loss === 'half_sse'
            ? `E = ½ Σ (Y − O)² sums over all ${t.samples} samples, so its gradient grows with their number: a learning rate that suits 5 houses throws ${t.samples} samples' outputs to 0 or 1 in one step, where they saturate.`
            : 'Such a step overshoots the valley the error is in: E jumps up, or the units saturate and learning stops.',
        ],
      };
    case 'targets_out_of_range': {
      const [lo, hi] = t.range || [];
      const range = `${lo === null ? '−∞' : fmt(lo)} to ${hi === null ? '∞' : fmt(hi)}`;
      return {
        title: 'The targets are out of the output’s reach',
        text: [
          `Y runs from ${num(t.y_min)} to ${num(t.y_max)}, but ${t.limiter === 'bce' ? 'cross-entropy needs targets' : `a ${t.activation} output can only produce values`} from ${range}: ${pct(t.fraction)} of the targets can never be matched.`,
          'Chasing them drives the output onto the flat end of its activation, where the gradient dies. Scale the targets into the output’s range (predictions are shown back in the original units), or use a linear output.',
        ],
      };
    }
    default:
      return { title: t.kind, text: [] };
  }
}

/**
 * Render the trouble list into `root` (a section with a heading); hidden when there is none.
 * onFix(fix) applies a fix. Re-renders only when the kinds or their rounded numbers change.
 */
export function createTroubleView(root, { onFix }) {
  let sig = '';
  return {
    update(trouble, config) {
      // "Stuck everywhere" is what saturation causes: when a saturated layer is named, its
      // lesson says it, and one panel item is enough.
      const all = trouble || [];
      const saturated = all.some((t) => t.kind === 'output_saturated' || t.kind === 'hidden_saturated');
      const list = all.filter((t) => !(saturated && t.kind === 'vanishing_gradients' && t.where === 'everywhere'));
      const next = JSON.stringify(list.map((t) => [t.kind, t.name, t.where, Math.round((t.fraction ?? 0) * 20), fmt(t.relative_step ?? 0, 1)])) + (config?.loss || '');
      if (next === sig) return;
      sig = next;
      root.hidden = !list.length;
      if (!list.length) {
        root.replaceChildren();
        return;
      }
      const items = list.map((t) => {
        const l = lesson(t, config);
        const fix = fixFor(t, config);
        const label = fixLabel(fix);
        return h(
          'div',
          { class: 'trouble-item', 'data-testid': `trouble-${t.kind}`, 'data-kind': t.kind },
          h('h3', { class: 'trouble-title' }, l.title),
          ...l.text.map((p) => h('p', {}, p)),
          label && onFix ? h('button', { type: 'button', class: 'btn btn-small btn-primary', 'data-testid': `trouble-fix-${t.kind}`, onclick: () => onFix(fix, t) }, `Fix: ${label}`) : null,
        );
      });
      root.replaceChildren(h('h2', { class: 'trouble-head', id: 'trouble-heading' }, 'Why E is not falling'), ...items);
    },
  };
}
