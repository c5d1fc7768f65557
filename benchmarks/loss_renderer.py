"""Which renderer can animate the error curve within the frame budget at 4x CPU slowdown?

Run: .venv/bin/python benchmarks/loss_renderer.py [--seconds 6] [--throttle 4] [--rounds 2]

The article preset plays (1 step a frame at the page's 30 frames/s) in headless Chromium at
1440x900; for `--seconds` a `requestAnimationFrame` loop counts rendered frames (as
benchmarks/page.py does). Two ways to draw the curve, alternating round by round:

- `page`: the page as it is (its own loss chart);
- `plotly`: the page's chart hidden and a Plotly chart of the same size in its place, fed the
  new points at most every 45 ms (the page's cadence) with `Plotly.extendTraces` (plain
  `scatter`: the pinned basic bundle has no `scattergl`), its axes grown geometrically (x range
  doubled, y range widened by half) so `Plotly.relayout` runs O(log n) times.

Each round prints frames/s, long tasks and the time spent inside Plotly's calls.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._server import server
from benchmarks.page import ARGS, BUSY, CHROMIUM, COUNT_FRAMES, wait_for

# The Plotly twin of the error curve: extendTraces with the points since the last call.
PLOTLY_CURVE = """() => {
  const host = document.querySelector('#loss-plot');
  const wrap = host.parentElement;
  const r = wrap.getBoundingClientRect();
  for (const c of wrap.querySelectorAll('canvas')) c.style.visibility = 'hidden';
  const div = document.createElement('div');
  Object.assign(div.style, { position: 'absolute', left: '0', top: '0',
                             width: r.width + 'px', height: r.height + 'px' });
  wrap.append(div);
  const hist = window.backpropStudio.history;
  const stats = { calls: 0, ms: 0, relayouts: 0, relayoutMs: 0 };
  let lastX = -1, xr = [0, 10], yr = [0, 1], last = 0;
  Plotly.newPlot(div, [{ x: [], y: [], type: 'scatter', mode: 'lines', line: { width: 2 } }],
    { margin: { l: 56, r: 12, t: 8, b: 40 }, showlegend: false,
      xaxis: { range: xr }, yaxis: { range: yr } },
    { displayModeBar: false, staticPlot: false });
  function tick(now) {
    requestAnimationFrame(tick);
    if (now - last < 45) return;
    const p = hist.train.points();
    const xs = [], ys = [];
    for (let k = 0; k < p.x.length; k++) if (p.x[k] > lastX) { xs.push(p.x[k]); ys.push(p.y[k]); }
    if (!xs.length) return;
    last = now;
    lastX = xs[xs.length - 1];
    const t0 = performance.now();
    Plotly.extendTraces(div, { x: [xs], y: [ys] }, [0]);
    stats.calls += 1;
    stats.ms += performance.now() - t0;
    const hi = Math.max(...ys);
    if (lastX > xr[1] || hi > yr[1]) {
      if (lastX > xr[1]) xr = [0, xr[1] * 2];
      if (hi > yr[1]) yr = [0, hi * 1.5];
      const t1 = performance.now();
      Plotly.relayout(div, { 'xaxis.range': xr, 'yaxis.range': yr });
      stats.relayouts += 1;
      stats.relayoutMs += performance.now() - t1;
    }
  }
  requestAnimationFrame(tick);
  window.__plotlyCurve = stats;
}"""


def one_round(
    context: Any, base: str, mode: str, seconds: float, throttle: float
) -> dict[str, Any]:
    """Play the article preset with the curve drawn by `mode`; frames/s and Plotly's share."""
    page = context.new_page()
    page.goto(f"{base}/?preset=article&spf=1", wait_until="networkidle")
    wait_for(page, "!!(window.backpropStudio && window.backpropStudio.state.frame)")
    page.locator("#loss-plot").hover()  # the page loads Plotly when the pointer comes to the curve
    wait_for(page, "!!window.Plotly")
    if mode == "plotly":
        page.evaluate(PLOTLY_CURVE)
    cdp = context.new_cdp_session(page)
    plain = min(page.evaluate(BUSY) for _ in range(3))
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": throttle})
    slowed = min(page.evaluate(BUSY) for _ in range(3))
    page.mouse.move(0, 0)
    page.get_by_test_id("play-button").click()
    wait_for(page, "window.backpropStudio.state.prof.frames > 20")
    page.wait_for_timeout(1000)  # warm up
    before = page.evaluate("window.__plotlyCurve ? {...window.__plotlyCurve} : null")
    r = page.evaluate(COUNT_FRAMES, seconds * 1000)
    after = page.evaluate("window.__plotlyCurve ? {...window.__plotlyCurve} : null")
    page.get_by_test_id("play-button").click()
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
    cdp.detach()
    page.close()
    r["slowdown"] = slowed / max(plain, 1e-3)
    if before and after:
        r["plotly"] = {k: after[k] - before[k] for k in after}
    return r


def main() -> None:
    """Alternate page / plotly rounds; print frames/s, long tasks, time inside Plotly."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--throttle", type=float, default=4.0)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    with server() as (base, _), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        for n in range(args.rounds):
            for mode in ("page", "plotly"):
                r = one_round(context, base, mode, args.seconds, args.throttle)
                fps = r["frames"] / r["seconds"]
                long = r["longTasks"]
                line = (
                    f"round {n + 1} {mode:6s} at {args.throttle:g}x "
                    f"(measured {r['slowdown']:.1f}x): {fps:.1f} frames/s, "
                    f"rAF gap p50 {r['gapP50']:.1f} ms p99 {r['gapP99']:.1f} ms, "
                    f"long tasks {len(long)} ({sum(long):.0f} ms)"
                )
                p = r.get("plotly")
                if p and p["calls"]:
                    line += (
                        f"; extendTraces {p['calls']} x {p['ms'] / p['calls']:.1f} ms, "
                        f"relayout {p['relayouts']} ({p['relayoutMs']:.0f} ms)"
                    )
                print(line, flush=True)
        browser.close()


if __name__ == "__main__":
    main()
