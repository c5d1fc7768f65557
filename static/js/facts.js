// What the server says of itself (limits, loss formulas): read from the page, never copied here.

const parsed = (() => {
  try {
    return JSON.parse(document.body?.dataset.facts || '{}');
  } catch {
    return {};
  }
})();

/** The server's facts, with the shipped defaults where a page has none (e.g. a unit test). */
export const FACTS = {
  max_hidden_layers: 6,
  max_neurons: 64,
  max_csv_bytes: 1_000_000,
  loss_formulas: {},
  ...parsed,
};
