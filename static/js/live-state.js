// The live page's shared state: the `S` record every live-*.js part reads and writes, and `$`.

export const $ = (id) => document.getElementById(id);

/** A share 0..1 as the page prints it: "97.5%" (one decimal, so 1 sample in 1,000 shows). */
export function percent(share) {
  return `${(share * 100).toFixed(1)}%`;
}

/** The run shown, the view on it, and the render scheduler's clocks, pending panels and costs. */
export function createLiveState() {
  return {
    base: null, // REST prefix of the run shown: /api/rooms/CODE or /api/sessions/ID
    config: null,
    frame: null,
    data: null,
    view: { mode: 'weights', sample: 0, sel: null, log: true, guide: null, discrete: false }, // log: E's tail stays readable
    applying: false,
    dirty: false,
    last: { draw: 0, loss: 0, data: 0, matrix: 0, network: 0, explain: -Infinity },
    pending: { loss: false, data: false, matrix: false },
    matrixSig: '',
    matrixItems: null,
    learningRate: null,
    trace: null, // the newest trace: the "Next update" view's real step
    prof: { renders: 0, render: 0, frames: 0 },
    cost: {},
  };
}
