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

/** A fix as words: "rewind to step 0, α = 2", "init Xavier, loss cross-entropy" (pure). */
export function fixLabel(fix) {
  const parts = [];
  if (fix.rewind_to !== undefined) parts.push(`rewind to step ${fix.rewind_to}`);
  if (fix.init) parts.push(`${INIT_NAMES[fix.init] || fix.init} init`);
  if (fix.loss) parts.push(`loss ${LOSS_NAMES[fix.loss] || fix.loss}`);
  if (fix.activation) parts.push(`${fix.activation === 'relu' ? 'ReLU' : fix.activation} hidden units`);
  if (fix.output_activation) parts.push(`${fix.output_activation} output`);
  if (fix.optimizer?.learning_rate !== undefined) parts.push(`α = ${fmt(fix.optimizer.learning_rate)}`);
  const d = fix.dataset || {};
  if (d.standardize && d.scale_targets) parts.push('scale inputs and targets');
  else if (d.standardize) parts.push('standardised inputs');
  else if (d.scale_targets) parts.push('targets scaled into the output’s range');
  return parts.join(', ');
}

/** Where a trial ran, in words: "a new run from step 0", "from step 12 (rewound)" (pure). */
export function trialStart(tried, step) {
  if (tried.restart) return 'a new run from step 0';
  if (tried.from_step !== step) return `the run rewound to step ${tried.from_step}`;
  return `the run from step ${tried.from_step}`;
}

/** The evidence line: "tried on a copy of …: 200 steps, E 0.905 → 0.00414" (pure). */
export function triedText(tried, step) {
  return `Tried on a copy of ${trialStart(tried, step)}: ${tried.steps} steps, E ${num(tried.E_before)} → ${num(tried.E_after)}.`;
}

/** Why a trial's E is not on the same scale as the run's, when it is not (pure). */
export function unitsNote(fix, tried) {
  if (tried.same_units !== false) return '';
  if (fix.dataset?.scale_targets) return ' Its E is on the scaled targets, not in the file’s units.';
  if (fix.loss) return ` Its E is ${LOSS_NAMES[fix.loss] || fix.loss}, another measure than this run’s.`;
  return ' Its E measures the changed output, on another scale than this run’s.';
}

/** Why a tried fix is not offered, with its numbers, from the trial's `reason` (pure). */
export function rejectedText(tried, step) {
  const [a, b] = pair(tried.E_before, tried.E_after);
  const where = `${tried.steps} steps of ${trialStart(tried, step)}`;
  if (tried.reason === 'diverged') return `${where}: E stopped being a finite number`;
  if (tried.reason === 'worse_than_now') return `${where}: E ${a} → ${b}, not below half of the ${num(tried.E_now)} this run has now`;
  const what = tried.E_after < tried.E_before ? 'a fall of less than half' : tried.E_after > tried.E_before ? 'E rose' : 'E did not change';
  return `${where}: E ${a} → ${b}, ${what}`;
}

/** A number in a data set's raw units: 183,410 rather than 1.834e5 (pure). */
export function units(x) {
  if (x === null || x === undefined) return '—';
  const a = Math.abs(x);
  if (a >= 1000 && a < 1e12) return Math.round(x).toLocaleString('en-US').replace(/^-/, '−');
  return fmt(x);
}

/** Why one step is so large, from the finding's `cause` and its numbers (pure). */
function causeText(t, lr) {
  switch (t.cause) {
    case 'target_units':
      return `The targets run from ${units(t.y_min)} to ${units(t.y_max)} in their raw units, so O − Y averages ${units(t.mean_abs_error)}, and every gradient is proportional to O − Y: about ${units(t.mean_abs_error)} times what targets within the output’s range (|O − Y| below 1) would give. Scale the targets into the output’s range.`;
    case 'input_units':
      return `The inputs reach ${units(t.x_max)} in their raw units, so Z = W·X is as large, and so is every ∂E/∂W = δ·X of the first layer. Standardise the inputs.`;
    case 'summed_error':
      return `E = ½ Σ (Y − O)² adds up the errors of all ${t.samples} samples, so its gradient is ${t.samples} times the average sample’s: a rate that suits one sample moves the weights ${t.samples} times too far.`;
    default:
      return `α = ${fmt(lr)} is too large for this network: such a step overshoots the valley the error is in, so E jumps up, or the units saturate and learning stops.`;
  }
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
        title: 'The next step is too large',
        text: [
          `One step would move the weights by ${num(t.relative_step)} times their own size: α · |∂E/∂θ| = ${num(t.learning_rate)} × ${num(t.gradient_norm)}, against |θ| = ${num(t.weight_norm)}.`,
          causeText(t, t.learning_rate),
        ],
      };
    case 'step_too_large': {
      const fell = t.E_after < t.E_before;
      const [b, a] = pair(t.E_before, t.E_after);
      const size = t.relative_step ? ` moved the weights by ${num(t.relative_step)} times their own size (α = ${fmt(t.learning_rate)}):` : ` (α = ${fmt(t.learning_rate)}):`;
      const since = t.stuck
        ? ', but the weights landed where the gradients are almost zero, so learning stopped there'
        : `, and E is ${num(t.E_now)} now, not below the ${b} it had before that step`;
      const now = t.learning_rate_now !== t.learning_rate ? ` α is ${fmt(t.learning_rate_now)} now, but the weights are still where that step threw them.` : '';
      return {
        title: `Step ${t.jump_step} was too large, and the run has not recovered`,
        text: [
          `Step ${t.jump_step}${size} E went ${fell ? 'down' : 'up'} from ${b} to ${a}${fell || t.stuck ? since : ''}.${now}`,
          t.cause === 'learning_rate' || !t.cause ? 'Going on from here cannot undo it: go back to the step before it and take smaller steps.' : causeText(t, t.learning_rate),
        ],
      };
    }
    case 'targets_out_of_range': {
      const [lo, hi] = t.range || [];
      const range = `${lo === null ? '−∞' : fmt(lo)} to ${hi === null ? '∞' : fmt(hi)}`;
      return {
        title: 'The targets are out of the output’s reach',
        text: [
          `Y runs from ${units(t.y_min)} to ${units(t.y_max)}, but ${t.limiter === 'bce' ? 'cross-entropy needs targets' : `a ${t.activation} output can only produce values`} from ${range}: ${pct(t.fraction)} of the targets can never be matched.`,
          'Chasing them drives the output onto the flat end of its activation, where the gradient dies. Scale the targets into the output’s range (predictions are shown back in the original units), or use a linear output.',
        ],
      };
    }
    default:
      return { title: t.kind, text: [] };
  }
}

/** How much E fell from a to b, in percent, never rounded to 0% or 100% when it is not (pure). */
export function fallPercent(a, b) {
  const x = (1 - b / a) * 100;
  for (let d = 0; d < 6; d++) {
    const t = x.toFixed(d);
    if ((Number(t) !== 100 || b === 0) && (Number(t) !== 0 || x === 0)) return `${t}%`;
  }
  return `${x.toPrecision(3)}%`;
}

/** Two numbers with enough digits that they differ whenever the values do (pure). */
export function pair(a, b) {
  if (a === null || a === undefined || b === null || b === undefined) return [num(a), num(b)];
  for (let d = 3; d < 16; d++) {
    const x = fmt(a, d);
    const y = fmt(b, d);
    if (x !== y || a === b) return [x, y];
  }
  return [fmt(a, 16), fmt(b, 16)];
}

const RETRY_MS = 5000; // after a refused /fixes (the work budget), ask again this much later

/** One finding's identity across frames and the /fixes answer. */
const idOf = (t) => `${t.kind}:${t.name ?? ''}:${t.where ?? ''}`;
const keyOf = (fix) => JSON.stringify(fix, Object.keys(fix).sort());

/**
 * Render the trouble list into `root` (a section with a heading); hidden when there is none.
 * The frame carries the findings (cheap); their fixes come from `fetchFixes()` (GET …/fixes,
 * each fix tried on a copy of the run first), asked when the findings change, or at rest when
 * the step does. onFix(fix, tried, finding) applies a fix (none: lessons and evidence only).
 * `setOutcome(text, worked)` shows whether an applied fix worked (kept while the panel is).
 */
export function createTroubleView(root, { onFix, fetchFixes } = {}) {
  let sig = '';
  let proven = null; // the newest /fixes answer: {step, trouble}
  let asked = ''; // what it was asked for: findings and (at rest) step
  let outcome = null;
  let retryAt = 0;
  let last = { trouble: null, config: null, frame: null, playing: false };

  function ask(want) {
    asked = want;
    fetchFixes()
      .then((answer) => {
        if (asked !== want) return;
        proven = answer;
        sig = '';
        render();
      })
      .catch(() => {
        if (asked !== want) return;
        // Over budget or gone: ask again in a while (not with every frame of a playing run).
        asked = '';
        retryAt = performance.now() + RETRY_MS;
        setTimeout(render, RETRY_MS);
      });
  }

  function render() {
    const { trouble, config, frame, playing } = last;
    const all = trouble || [];
    // "Stuck everywhere" is what saturation causes: when a saturated layer is named, its
    // lesson says it, and one panel item is enough.
    const saturated = all.some((t) => t.kind === 'output_saturated' || t.kind === 'hidden_saturated');
    const list = all.filter((t) => !(saturated && t.kind === 'vanishing_gradients' && t.where === 'everywhere'));
    const kinds = list.map(idOf).join(',');
    if (fetchFixes && list.length) {
      const want = playing ? kinds : `${kinds}@${frame?.step}`;
      // While playing: again when the findings change; at rest: when the step does too.
      if (want !== asked && performance.now() >= retryAt) ask(want);
    }
    const byId = new Map((proven?.trouble || []).map((t) => [idOf(t), t]));
    const next = JSON.stringify([list.map((t) => [idOf(t), Math.round((t.fraction ?? 0) * 20), fmt(t.relative_step ?? 0, 1), t.jump_step]), proven?.step, proven?.trouble?.length, config?.loss, outcome]);
    if (next === sig) return;
    sig = next;
    root.hidden = !list.length && !outcome;
    const offered = new Set();
    const items = list.map((t) => {
      const l = lesson(t, config);
      const p = byId.get(idOf(t));
      const at = proven?.step;
      const parts = [];
      if (t.consequence_of === 'step_too_large') parts.push(h('p', { class: 'trouble-cause' }, 'This is what the too-large step above did: fix that, and this goes with it.'));
      parts.push(...l.text.map((x) => h('p', {}, x)));
      if (p?.fix && p.tried) {
        const k = keyOf(p.fix);
        const label = fixLabel(p.fix);
        const [a, b] = pair(p.tried.E_before, p.tried.E_after);
        const where = at === frame?.step ? '' : ` (at step ${at})`;
        if (offered.has(k)) parts.push(h('p', { class: 'trouble-same' }, `The fix above (${label}) is the one for this too.`));
        else {
          parts.push(
            h(
              'p',
              { class: 'trouble-tried', 'data-testid': `trouble-tried-${t.kind}`, 'data-from-step': p.tried.from_step, 'data-steps': p.tried.steps, 'data-e-before': p.tried.E_before, 'data-e-after': p.tried.E_after },
              `Tried on a copy of ${trialStart(p.tried, at)}${where}: ${p.tried.steps} steps, E ${a} → ${b}.${unitsNote(p.fix, p.tried)}`,
            ),
          );
        }
        if (!offered.has(k) && onFix) {
          offered.add(k);
          // A rewind names its step in the label; a new run says so when it drops steps.
          const note = p.tried.restart && frame?.step ? ' (a new run from step 0)' : '';
          parts.push(h('button', { type: 'button', class: 'btn btn-small btn-primary', 'data-testid': `trouble-fix-${t.kind}`, onclick: () => onFix(p.fix, p.tried, t) }, `Fix: ${label}${note}`));
        }
      } else if (p) {
        const tried = (p.rejected || []).slice(0, 2).map((r) => `${fixLabel(r.fix)} (${rejectedText(r.tried, at)})`);
        if (tried.length) parts.push(h('p', { class: 'trouble-rejected', 'data-testid': `trouble-rejected-${t.kind}` }, `Tried on copies and not offered: ${tried.join('; ')}.`));
      } else if (fetchFixes && proven === null) parts.push(h('p', { class: 'trouble-pending' }, 'Trying fixes on a copy of the run…'));
      return h('div', { class: 'trouble-item', 'data-testid': `trouble-${t.kind}`, 'data-kind': t.kind }, h('h3', { class: 'trouble-title' }, l.title), ...parts);
    });
    const out = outcome ? h('p', { class: `fix-outcome${outcome.worked === false ? ' fix-failed' : ''}`, 'data-testid': 'fix-outcome', 'data-worked': outcome.worked === null ? 'pending' : String(outcome.worked) }, outcome.text) : null;
    const head = list.length ? 'Why E is not falling' : 'The fix you applied';
    root.replaceChildren(...[h('h2', { class: 'trouble-head', id: 'trouble-heading' }, head), ...items, out].filter(Boolean));
  }

  return {
    update(trouble, config, frame, playing = false) {
      last = { trouble, config, frame, playing };
      render();
    },
    /** A new run is shown: its fixes are asked for afresh. */
    reset() {
      proven = null;
      asked = '';
      sig = '';
    },
    setOutcome(text, worked) {
      outcome = text ? { text, worked } : null;
      render();
    },
  };
}
