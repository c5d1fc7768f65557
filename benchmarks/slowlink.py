"""The first visit over a slow link, and Plotly's first load on a slow phone (issue 21, item 6).

Run: .venv/bin/python benchmarks/slowlink.py [--runs 3] [--kbit 400] [--rtt 400]
     [--width 1440 --height 900] [--app-dir /path/to/another/checkout] [--no-plotly]

Slow link: a fresh browser context (empty cache) with CDP `Network.emulateNetworkConditions`
(`--kbit` down and up, `--rtt` ms added to every request) opens `/?preset=article`. A script
injected before the page's own (Playwright's init script) notes, on every animation frame, when
E first shows a number, when the diagram first has its nodes, and when the page is connected
(the live socket open, so Step is honoured). The benchmark then clicks Step and notes when STEP
reads 1. Times are from the navigation's start (`performance.now()`); the waterfall lists each
request's start and end and the depth of the ES-module chain.

Plotly at 4x: a fresh context at 390x844 with CDP `Emulation.setCPUThrottlingRate` 4 (no network
throttling) opens the page, waits until Plotly has been loaded (the page asks for it in idle
time, or when the data panel comes near) and reports every long task (PerformanceObserver,
buffered) and the longest one that began while Plotly's script ran (the task that evaluated it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._server import ROOT, server

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]

# Injected before any of the page's scripts; polls on every frame (and every 20 ms, for a
# frame the renderer skips) until E, the diagram and the connection have all been seen.
MARKS = """(() => {
  const marks = (window.__marks = {});
  const long = (window.__long = []);
  try {
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) long.push([e.startTime, e.duration]);
    }).observe({ type: 'longtask', buffered: true });
  } catch (e) { /* no long-task timing */ }
  const now = () => performance.now();
  function poll() {
    const loss = document.getElementById('loss-value');
    if (!marks.E && loss && /[0-9]/.test(loss.textContent)) marks.E = now();
    if (!marks.diagram && document.querySelector('#network-plot svg circle')) marks.diagram = now();
    const st = document.getElementById('connection-status');
    if (!marks.connected && st && st.dataset.state === 'connected') marks.connected = now();
    const sel = document.getElementById('preset-select');
    if (!marks.selects && sel && !sel.disabled && sel.options.length > 1) marks.selects = now();
    const step = document.getElementById('step-count');
    const one = step && step.textContent.trim() === '1';
    if (marks.clicked && !marks.stepped && one) marks.stepped = now();
    if (!marks.plotly && window.Plotly) marks.plotly = now();
  }
  (function frame() { poll(); requestAnimationFrame(frame); })();
  setInterval(poll, 20);
})();"""


def wait_for(page: Page, expression: str, seconds: float = 120.0) -> Any:
    """Poll an expression until it is truthy (the page's CSP forbids wait_for_function's eval)."""
    for _ in range(int(seconds * 20)):
        got = page.evaluate(expression)
        if got:
            return got
        page.wait_for_timeout(50)
    raise TimeoutError(expression)


def slow_visit(browser: Any, base: str, kbit: float, rtt: float, size: tuple[int, int]) -> dict:
    """One first visit over the slow link: the marks (ms) and the request waterfall."""
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    context.add_init_script(MARKS)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    rate = kbit * 1000 / 8  # bytes per second
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": rtt, "downloadThroughput": rate, "uploadThroughput": rate},
    )
    reqs: dict[str, dict[str, Any]] = {}
    t0: list[float] = []

    def sent(e: dict[str, Any]) -> None:
        if not t0:
            t0.append(e["timestamp"])
        reqs[e["requestId"]] = {
            "url": e["request"]["url"],
            "start": e["timestamp"],
            "priority": e["request"].get("initialPriority", ""),
        }

    def done(e: dict[str, Any]) -> None:
        if e["requestId"] in reqs:
            reqs[e["requestId"]]["end"] = e["timestamp"]
            reqs[e["requestId"]]["bytes"] = e["encodedDataLength"]

    def enc(e: dict[str, Any]) -> None:
        if e["requestId"] in reqs:
            reqs[e["requestId"]]["enc"] = e["response"]["headers"].get(
                "content-encoding", e["response"]["headers"].get("Content-Encoding", "")
            )

    cdp.on("Network.requestWillBeSent", sent)
    cdp.on("Network.loadingFinished", done)
    cdp.on("Network.responseReceived", enc)
    page.goto(f"{base}/?preset=article", wait_until="commit")
    wait_for(page, "window.__marks && __marks.E && __marks.diagram && __marks.connected")
    page.evaluate("__marks.clicked = performance.now()")
    page.get_by_test_id("step-button").click()
    wait_for(page, "__marks.stepped")
    marks = page.evaluate("__marks")
    # The page's time origin is the navigation start; CDP's timestamps are seconds (monotonic).
    base_t = t0[0] if t0 else 0.0
    rows = sorted(
        (
            (r["start"] - base_t) * 1000,
            (r.get("end", r["start"]) - base_t) * 1000,
            r["url"].replace(base, ""),
            r.get("bytes", 0),
            r.get("enc", ""),
            r["priority"],
        )
        for r in reqs.values()
    )
    context.close()
    return {"marks": marks, "rows": rows}


def plotly_at_4x(browser: Any, base: str) -> dict[str, Any]:
    """A phone at 4x CPU slowdown: every long task, and Plotly's evaluation among them."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.add_init_script(MARKS)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
    page.goto(f"{base}/?preset=article", wait_until="commit")
    wait_for(page, "window.__marks && __marks.connected && __marks.diagram")
    # Not scrolled: a page that loads Plotly in idle time has it before the data panel is seen;
    # one that waits for the panel gets it at the first scroll (as the visitor would).
    try:
        wait_for(page, "!!window.Plotly", 15)
        how = "idle"
    except TimeoutError:
        how = "scrolled"
        for _ in range(600):  # scrolled to again: panels drawn meanwhile move it
            page.locator("#data-plot").scroll_into_view_if_needed()
            if page.evaluate("!!window.Plotly"):
                break
            page.wait_for_timeout(200)
    page.wait_for_timeout(2000)
    got = page.evaluate(
        """() => {
          const all = performance.getEntriesByType('resource');
          const e = all.find((r) => r.name.includes('plotly'));
          const end = e ? e.responseEnd : null;
          return { long: window.__long, plotlyEnd: end, marks: window.__marks };
        }"""
    )
    context.close()
    long = got["long"]
    end = got["plotlyEnd"] or 0
    at_plotly = [d for s, d in long if s >= end - 1 and s <= got["marks"].get("plotly", 1e12)]
    return {
        "how": how,
        "long": long,
        "plotly_task": max(at_plotly) if at_plotly else 0.0,
        "longest": max((d for _, d in long), default=0.0),
    }


def main() -> None:
    """Print the slow-link marks (median of --runs), one waterfall, and Plotly's long task."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kbit", type=float, default=400)
    ap.add_argument("--rtt", type=float, default=400)
    ap.add_argument("--width", type=int, default=1440)
    ap.add_argument("--height", type=int, default=900)
    ap.add_argument("--no-plotly", action="store_true", help="skip the 4x Plotly measurement")
    ap.add_argument("--app-dir", type=Path, default=ROOT, help="the checkout to serve")
    args = ap.parse_args()
    with server(root=args.app_dir) as (base, _), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        runs = [
            slow_visit(browser, base, args.kbit, args.rtt, (args.width, args.height))
            for _ in range(args.runs)
        ]
        print(
            f"slow link {args.kbit:g} kbit/s, {args.rtt:g} ms per request, "
            f"{args.width}x{args.height}, {args.runs} runs (median, ms from navigation start):"
        )
        for key in ("selects", "E", "diagram", "connected", "stepped", "plotly"):
            got = [r["marks"][key] for r in runs if key in r["marks"]]
            if got:
                each = ", ".join(f"{g:.0f}" for g in got)
                print(f"  {key:10s} {statistics.median(got):7.0f}   ({each})")
        ready = [max(r["marks"][k] for k in ("E", "diagram", "connected")) for r in runs]
        print(f"  interactive (E, diagram and connected): {statistics.median(ready):.0f} ms")
        last = runs[-1]
        upto = max(last["marks"][k] for k in ("E", "diagram", "connected"))
        early = [r for r in last["rows"] if r[1] <= upto and r[3]]
        size = sum(r[3] for r in early) / 1024
        print(f"  before interactive: {len(early)} responses, {size:.0f} KiB on the wire")
        print("  waterfall of the last run (start, end ms; bytes on the wire; encoding):")
        for start, end, url, size, enc, priority in runs[-1]["rows"]:
            kib = size / 1024
            print(f"    {start:7.0f} {end:7.0f} {kib:7.1f} KiB {enc:5s} {priority:8s} {url[:80]}")
        if not args.no_plotly:
            p = plotly_at_4x(browser, base)
            print(
                f"plotly at 4x CPU, 390x844 (loaded: {p['how']}): the task that evaluated it "
                f"{p['plotly_task']:.0f} ms; longest task {p['longest']:.0f} ms; "
                f"{len(p['long'])} long tasks, {sum(d for _, d in p['long']):.0f} ms in all"
            )
        browser.close()


if __name__ == "__main__":
    main()
