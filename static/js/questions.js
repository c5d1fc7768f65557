// Questions tied to the live network (docs/api.md): the presenter's menu and histogram, a
// participant's question card. The server asks, counts and computes the answer from the run's
// own next step; these only show it. Built here, styled by css/quiz.css: no template changes.

import { paramName } from './nn.js';
import { h } from './ui.js';

const CSS = new URL('../css/quiz.css', import.meta.url).href;

function loadCss() {
  if (document.querySelector('link[data-quiz-css]')) return;
  document.head.append(h('link', { rel: 'stylesheet', href: CSS, 'data-quiz-css': '' }));
}

const WAY_WORDS = { up: 'up ↑', down: 'down ↓', stays: 'stays' };

/** A choice as people read it (estimates: the bins' own labels). */
const choiceLabel = (c) => WAY_WORDS[c] || String(c);

/** A number as the card shows it: 4 significant digits. */
const num = (x) => (typeof x === 'number' && Number.isFinite(x) ? Number(x.toPrecision(4)).toString() : '—');

/** What the right answer is, in words. */
function correctWords(kind, correct) {
  if (correct === null || correct === undefined) return 'no answer: the step diverged';
  if (kind === 'estimate') return `∂E/∂W = ${num(correct)} (right: within 10 %)`;
  if (kind === 'loss') return correct === 'stays' ? 'E stays the same' : `E goes ${correct}`;
  if (kind === 'direction') return correct === 'stays' ? 'it stays' : `it moves ${correct}`;
  return `${correct} changes most`;
}

/** Bars: one row per choice; `correct` highlighted once known. */
function histogram(counts, correct, kind) {
  const entries = Object.entries(counts || {});
  const total = entries.reduce((s, [, n]) => s + n, 0);
  const max = Math.max(1, ...entries.map(([, n]) => n));
  return h(
    'div',
    { class: 'quiz-bars', 'data-testid': 'quiz-bars' },
    entries.map(([choice, n]) => {
      const right = kind !== 'estimate' && correct !== null && correct !== undefined && choice === correct;
      return h(
        'div',
        { class: `quiz-bar${right ? ' is-right' : ''}`, 'data-choice': choice, 'data-testid': 'quiz-bar' },
        h('span', { class: 'quiz-bar-label' }, choiceLabel(choice)),
        h('span', { class: 'quiz-bar-track' }, h('span', { class: 'quiz-bar-fill', style: `width:${(100 * n) / max}%` })),
        h('span', { class: 'quiz-bar-n', 'data-testid': 'quiz-bar-n' }, `${n}`, total ? h('small', {}, ` ${Math.round((100 * n) / total)}%`) : null),
      );
    }),
  );
}

// ---------------------------------------------------------------- the presenter

/**
 * The presenter's "Ask the room" card, appended to `into`.
 * opts: send(msg), selection() -> the edge on screen or null, layers() -> sizes, exportCsv().
 */
export function createQuizPresenter(into, { send, selection, layers, exportCsv }) {
  loadCss();
  const S = { question: null, tally: null, revealed: null };
  const card = h('section', { class: 'side-section quiz-card', 'data-testid': 'quiz-presenter', 'aria-labelledby': 'quiz-title' });
  into.append(card);

  function target() {
    const sel = selection();
    const sz = layers() || [];
    if (!sel || sel.kind !== 'weight' || sz.length < 2) return null;
    return { sel, name: paramName(sel, sz.length - 1) };
  }

  function ask(kind) {
    const t = target();
    const q = { kind };
    if (kind !== 'loss') {
      if (!t) return;
      q.layer = t.sel.layer;
      if (kind !== 'largest') Object.assign(q, { i: t.sel.i, j: t.sel.j });
    }
    send({ type: 'ask', question: q });
  }

  function menu() {
    const t = target();
    const on = t ? t.name : null;
    const layer = t ? t.name.slice(0, t.name.indexOf('[')) : null;
    const item = (kind, label, needs) =>
      h('button', { type: 'button', class: 'btn btn-small quiz-ask', 'data-testid': `quiz-ask-${kind}`, disabled: needs && !t, onclick: () => ask(kind) }, label);
    return h(
      'div',
      { class: 'quiz-menu' },
      h('p', { class: 'hint' }, on ? h('span', {}, 'About ', h('b', {}, on), ' (the selected edge), before the next step:') : 'Select an edge to ask about it; or ask about E:'),
      item('direction', on ? `Which way will ${on} move?` : 'Which way will this weight move?', true),
      item('largest', layer ? `Which weight of ${layer} will change most?` : 'Which weight of this layer will change most?', true),
      item('loss', 'Will E go up or down?', false),
      item('estimate', on ? `Estimate ∂E/∂${on}` : 'Estimate ∂E/∂W', true),
    );
  }

  function render() {
    const q = S.question;
    const parts = [h('h2', { id: 'quiz-title' }, 'Ask the room')];
    if (q && !S.revealed) {
      const t = S.tally && S.tally.id === q.id ? S.tally : null;
      parts.push(
        h('p', { class: 'quiz-text', 'data-testid': 'quiz-text' }, q.text),
        histogram(t ? t.counts : Object.fromEntries((q.kind === 'estimate' ? ['< 0', '0', '> 0'] : q.choices).map((c) => [c, 0])), null, q.kind),
        h('p', { class: 'quiz-answered', 'data-testid': 'quiz-answered' }, `${t ? t.answered : 0} answered of ${t ? t.present : '…'} here`),
        h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'quiz-reveal', onclick: () => send({ type: 'reveal', id: q.id }) }, 'Reveal: run the step'),
      );
    } else {
      if (q && S.revealed) {
        const r = S.revealed;
        parts.push(
          h('p', { class: 'quiz-text' }, q.text),
          h('p', { class: 'quiz-correct', 'data-testid': 'quiz-correct' }, 'Answer: ', h('b', {}, correctWords(r.kind, r.correct))),
          histogram(r.counts, r.correct, r.kind),
          h('p', { class: 'quiz-answered', 'data-testid': 'quiz-answered' }, `${r.right} of ${r.answered} right (step ${r.step})`),
        );
      }
      parts.push(menu());
    }
    parts.push(h('button', { type: 'button', class: 'btn btn-small btn-ghost quiz-csv', 'data-testid': 'quiz-csv', onclick: exportCsv }, 'Download answers (CSV)'));
    card.replaceChildren(...parts);
  }

  render();
  return {
    /** A socket message; true if it was the quiz's. */
    onMessage(msg) {
      if (msg.type === 'question') {
        S.question = msg;
        S.revealed = null;
        S.tally = null;
      } else if (msg.type === 'tally') S.tally = msg;
      else if (msg.type === 'revealed') {
        if (S.question?.id === msg.id) S.revealed = msg;
      } else return false;
      render();
      return true;
    },
    /** The selection or the network changed: the menu names the new edge. */
    refresh() {
      if (!S.question || S.revealed) render();
    },
  };
}

// ---------------------------------------------------------------- the projector

/** The hall's read-only card on the projector view: the open question, its choices and how many
 *  answered (no live bars: they would sway the hall); after the reveal the bars and the answer.
 *  The same `question`, `tally`, `revealed` messages as the presenter's card; no buttons. */
export function createQuizProjector() {
  loadCss();
  const S = { question: null, tally: null, revealed: null };
  const card = h('section', { class: 'quiz-float quiz-projector', 'data-testid': 'quiz-projector', role: 'region', 'aria-label': 'Question to the room', 'aria-live': 'polite', hidden: true });
  document.body.append(card);

  function render() {
    const q = S.question;
    card.hidden = !q;
    if (!q) return;
    const r = S.revealed;
    const parts = [h('p', { class: 'quiz-kicker' }, r ? 'The step ran' : 'Question: answer on your phone'), h('p', { class: 'quiz-text', 'data-testid': 'quiz-text' }, q.text)];
    if (!r) {
      const t = S.tally && S.tally.id === q.id ? S.tally : null;
      parts.push(
        q.kind === 'estimate'
          ? h('p', { class: 'quiz-type' }, 'Type a number.')
          : h('ul', { class: `quiz-options${q.choices.length > 4 ? ' is-many' : ''}`, 'data-testid': 'quiz-options' }, q.choices.map((c) => h('li', { 'data-choice': c }, choiceLabel(c)))),
        h('p', { class: 'quiz-answered', 'data-testid': 'quiz-answered' }, `${t ? t.answered : 0} of ${t ? t.present : '…'} answered`),
      );
    } else {
      parts.push(
        h('p', { class: 'quiz-correct', 'data-testid': 'quiz-correct' }, 'Answer: ', h('b', {}, correctWords(r.kind, r.correct))),
        histogram(r.counts, r.correct, r.kind),
        h('p', { class: 'quiz-answered', 'data-testid': 'quiz-answered' }, `${r.right} of ${r.answered} right`),
      );
    }
    card.replaceChildren(...parts);
  }

  return {
    /** A socket message; true if it was the quiz's. */
    onMessage(msg) {
      if (msg.type === 'question') Object.assign(S, { question: msg, tally: null, revealed: null });
      else if (msg.type === 'tally') S.tally = msg;
      else if (msg.type === 'revealed') {
        if (S.question?.id === msg.id) S.revealed = msg;
      } else return false;
      render();
      return true;
    },
  };
}

// ---------------------------------------------------------------- a participant

/** This tab's anonymous voter id for a room (sessionStorage): a reconnect or a server restart
 *  keeps its answer one answer. Random, never shown, and only good while nobody else uses it. */
export function voterId(code) {
  const key = `backprop-studio.voter.${code}`;
  try {
    let id = sessionStorage.getItem(key);
    if (!id || !/^[A-Za-z0-9_-]{16,64}$/.test(id)) {
      id = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
      sessionStorage.setItem(key, id);
    }
    return id;
  } catch {
    return ''; // storage disabled: the server picks one per connection
  }
}

/** A participant's question card (floating over the page); send(msg) answers. */
export function createQuizParticipant({ send }) {
  loadCss();
  const S = { question: null, mine: null, revealed: null, hidden: false };
  const card = h('section', { class: 'quiz-float', 'data-testid': 'quiz-participant', role: 'region', 'aria-label': 'Question from the presenter', hidden: true });
  document.body.append(card);

  function answer(choice) {
    if (!S.question || S.revealed) return;
    if (send({ type: 'answer', id: S.question.id, choice })) {
      S.mine = choice;
      render();
    }
  }

  function choices(q) {
    if (q.kind === 'estimate') {
      const input = h('input', { type: 'number', step: 'any', inputmode: 'decimal', 'data-testid': 'quiz-estimate', 'aria-label': 'Your estimate', value: S.mine ?? '' });
      const submit = () => {
        const x = Number(input.value);
        if (input.value.trim() !== '' && Number.isFinite(x)) answer(x);
      };
      input.addEventListener('keydown', (e) => e.key === 'Enter' && submit());
      return h('div', { class: 'quiz-estimate' }, input, h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'quiz-estimate-send', onclick: submit }, 'Answer'));
    }
    return h(
      'div',
      { class: `quiz-choices${q.choices.length > 4 ? ' is-many' : ''}` },
      q.choices.map((c) =>
        h('button', { type: 'button', class: `btn quiz-choice${S.mine === c ? ' is-mine' : ''}`, 'aria-pressed': S.mine === c ? 'true' : 'false', 'data-testid': 'quiz-choice', 'data-choice': c, onclick: () => answer(c) }, choiceLabel(c)),
      ),
    );
  }

  function render() {
    const q = S.question;
    card.hidden = !q || S.hidden;
    if (!q) return;
    const close = h('button', { type: 'button', class: 'quiz-close', 'aria-label': 'Hide the question', onclick: () => ((S.hidden = true), render()) }, '×');
    const parts = [close, h('p', { class: 'quiz-kicker' }, S.revealed ? 'The step ran' : 'Question from the presenter'), h('p', { class: 'quiz-text', 'data-testid': 'quiz-text' }, q.text)];
    if (!S.revealed) {
      parts.push(choices(q));
      parts.push(h('p', { class: 'hint', 'data-testid': 'quiz-mine' }, S.mine === null ? 'Answer before the presenter runs the step.' : `Your answer: ${q.kind === 'estimate' ? num(S.mine) : choiceLabel(S.mine)}. You can change it until the reveal.`));
    } else {
      const r = S.revealed;
      const yours = r.yours;
      parts.push(
        h(
          'p',
          { class: `quiz-verdict ${yours ? (yours.right ? 'is-right' : 'is-wrong') : ''}`, 'data-testid': 'quiz-verdict' },
          yours ? (yours.right ? '✓ Right!' : '✗ Not this time.') : 'You did not answer.',
          yours ? ` You said ${q.kind === 'estimate' ? num(yours.choice) : choiceLabel(yours.choice)}.` : '',
        ),
        h('p', { class: 'quiz-correct', 'data-testid': 'quiz-correct' }, 'Answer: ', h('b', {}, correctWords(r.kind, r.correct))),
        histogram(r.counts, r.correct, r.kind),
        h('p', { class: 'hint' }, `${r.right} of ${r.answered} right`),
      );
    }
    card.replaceChildren(...parts);
  }

  return {
    onMessage(msg) {
      if (msg.type === 'question') {
        // Once per question and connection (asked, or on joining): shown, even if closed before.
        if (S.question?.id !== msg.id) Object.assign(S, { mine: null, revealed: null });
        if (msg.yours !== undefined && msg.yours !== null) S.mine = msg.yours; // answered before a reconnect
        S.question = msg;
        S.hidden = false;
      } else if (msg.type === 'revealed') {
        if (S.question?.id !== msg.id) return true;
        S.revealed = msg;
        S.hidden = false;
        if (msg.yours) S.mine = msg.yours.choice;
      } else return false;
      render();
      return true;
    },
    /** Leaving the room (a fork): no card. */
    hide() {
      S.hidden = true;
      render();
    },
  };
}
