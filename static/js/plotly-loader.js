// Plotly on demand: no view waits for it. The page paints the network, readouts and controls
// first; the first view that needs Plotly asks for it here, the script is injected after the
// next paint (so it never delays the first one), and each caller's callback runs once it is
// there. The URL comes from the page (`data-plotly` on <body>: the pinned local bundle).

let promise = null;

/** Plotly, loading it once (after the next paint); rejects if the script cannot load. */
export function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!promise) {
    promise = new Promise((resolve, reject) => {
      const inject = () => {
        const src = document.body?.dataset.plotly;
        if (!src) {
          reject(new Error('this page names no Plotly script'));
          return;
        }
        const script = document.createElement('script');
        script.src = src;
        script.async = true;
        script.onload = () => (window.Plotly ? resolve(window.Plotly) : reject(new Error('Plotly did not load')));
        script.onerror = () => {
          promise = null; // a later call may try again (a dropped connection)
          reject(new Error('Plotly could not be loaded'));
        };
        document.head.append(script);
      };
      // After the next frame is painted: requestAnimationFrame runs before paint, the timeout after.
      requestAnimationFrame(() => setTimeout(inject, 0));
    });
  }
  return promise;
}

/** Run `fn` once Plotly is there (now, if it already is); a failed load is left to the placeholder. */
export function withPlotly(fn) {
  if (window.Plotly) return fn(window.Plotly);
  loadPlotly().then(fn, () => {});
  return undefined;
}
