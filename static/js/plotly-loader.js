// Plotly on demand: no view waits for it. The page paints the network, readouts and controls
// first; the first view that needs Plotly asks for it here, the script is injected after the
// next paint (so it never delays the first one), and each caller's callback runs once it is
// there. The URL comes from the page (`data-plotly` on <body>: the pinned local bundle).

let promise = null;
const waiting = []; // callbacks of onPlotly, run when Plotly arrives (whoever loaded it)

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
        script.onload = () => {
          if (!window.Plotly) {
            reject(new Error('Plotly did not load'));
            return;
          }
          resolve(window.Plotly);
          for (const fn of waiting.splice(0)) fn(window.Plotly);
        };
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

/** Run `fn` when Plotly arrives (now, if it is there), without asking for it to be loaded. */
export function onPlotly(fn) {
  if (window.Plotly) fn(window.Plotly);
  else waiting.push(fn);
}

/**
 * Run `fn` once Plotly is there (now, if it already is), loading it: at once, or, with `near`,
 * once that element comes into the viewport (a phone's panels below the fold do not
 * cost their Plotly until scrolled to). A failed load is left to the placeholder.
 */
export function withPlotly(fn, near = null) {
  if (window.Plotly) return fn(window.Plotly);
  if (near && 'IntersectionObserver' in window) {
    onPlotly(fn);
    loadPlotlyWhenIdle(); // before the panel is scrolled to: its first scroll does not freeze
    const seen = new IntersectionObserver((entries) => {
      if (!entries.some((e) => e.isIntersecting)) return;
      seen.disconnect();
      loadPlotly().catch(() => {});
    }, { rootMargin: '0px' });
    seen.observe(near);
    return undefined;
  }
  loadPlotly().then(fn, () => {});
  return undefined;
}

let idleAsked = false;

/**
 * Load Plotly when the page has nothing better to do: after its load event, in an idle period
 * (not on a connection that asks to save data). Its evaluation is one long task; here it comes
 * while nobody scrolls, instead of at the first scroll to a chart (issue 21).
 */
export function loadPlotlyWhenIdle() {
  if (idleAsked || window.Plotly || navigator.connection?.saveData) return;
  idleAsked = true;
  const go = () => {
    const load = () => loadPlotly().catch(() => {});
    if (typeof requestIdleCallback === 'function') requestIdleCallback(load, { timeout: 10000 });
    else setTimeout(load, 2000);
  };
  if (document.readyState === 'complete') setTimeout(go, 0);
  else window.addEventListener('load', go, { once: true });
}
