"""The visualiser page in headless Chromium: bytes of a first load, frames rendered while playing.

Run: .venv/bin/python benchmarks/page.py [--seconds 10] [--spf 10] [--throttle 4]
     [--presets article,spiral16] [--lighthouse] [--app-dir /path/to/another/checkout]

`--throttle 4`: the playing measurements run at 4x CPU slowdown (CDP
`Emulation.setCPUThrottlingRate`), as Lighthouse's mobile preset does. `--presets`: which runs
to play: `article` ([4,5,1]), `spiral` ([2,8,8,1]), `spiral16` (spiral on [2,16,16,16,1]); each
reports rendered frames/s, long tasks and the size of the stream's frames (CDP
`Network.webSocketFrameReceived`). `--lighthouse`: Lighthouse 12.2.3 (`npx`, mobile preset,
simulated throttling) on `/` and on a room's `/room/{code}`: performance and accessibility
scores, total blocking time, cumulative layout shift, time to interactive. `--app-dir`: serve
another checkout (say, `git worktree add /tmp/before <commit>`) for before/after figures.

First load: a fresh browser context (empty cache) opens `/?preset=spiral`; every response's
bytes on the wire (CDP `Network.loadingFinished.encodedDataLength`: headers and the body as
sent, i.e. gzipped when it was) are summed until the network is idle. A second visit in the same
context shows what the cache saves. Rendering: while the spiral preset plays (decision boundary
shown, `--spf` steps per frame at the page's 30 frames/s), a `requestAnimationFrame` loop in the
page counts the frames Chromium rendered per second; the page's own timings
(`window.backpropStudio.state.prof`) and long tasks (> 50 ms) say where the time went.
Chromium runs without a GPU, so the page is painted in software on the same 2 cores as the
server.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Page, sync_playwright
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._server import ROOT, server

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BUDGET = 2 * 1024 * 1024
LIGHTHOUSE = "lighthouse@12.2.3"
PRESETS = {
    "article": "preset=article",
    "spiral": "preset=spiral",
    "spiral16": "preset=spiral&layers=2-16-16-16-1",
}

# A fixed piece of work on the page's thread, timed (ms): the slowdown really applied.
BUSY = """() => { const t = performance.now(); let x = 0;
  for (let i = 0; i < 2e6; i++) x += Math.sqrt(i);
  return performance.now() - t + 0 * x; }"""
COUNT_FRAMES = """(ms) => new Promise((resolve) => {
  const times = [];
  const t0 = performance.now();
  const prof0 = {...window.backpropStudio.state.prof};
  const longTasks = [];
  let obs = null;
  try {
    obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) longTasks.push(e.duration);
    });
    obs.observe({ type: 'longtask' });
  } catch (e) { /* older browsers: no long-task timing */ }
  function tick(now) {
    times.push(now);
    if (now - t0 < ms) requestAnimationFrame(tick);
    else {
      if (obs) obs.disconnect();
      const prof = window.backpropStudio.state.prof;
      const delta = {};
      for (const k of Object.keys(prof)) delta[k] = prof[k] - (prof0[k] || 0);
      const gaps = times.slice(1).map((t, i) => t - times[i]).sort((a, b) => a - b);
      resolve({
        frames: times.length - 1,
        seconds: (times[times.length - 1] - times[0]) / 1000,
        gapP50: gaps[Math.floor(gaps.length / 2)] || 0,
        gapP99: gaps[Math.floor(gaps.length * 0.99)] || 0,
        gapMax: gaps[gaps.length - 1] || 0,
        longTasks,
        prof: delta,
      });
    }
  }
  requestAnimationFrame(tick);
})"""


def wait_for(page: Page, expression: str, seconds: float = 30.0) -> None:
    """Poll an expression (page.evaluate: the page's CSP forbids wait_for_function's eval)."""
    for _ in range(int(seconds * 20)):
        if page.evaluate(expression):
            return
        page.wait_for_timeout(50)
    raise TimeoutError(expression)


def first_load(page: Page, url: str) -> dict[str, Any]:
    """Bytes on the wire per response for one navigation, until the network is idle."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    urls: dict[str, str] = {}
    sizes: dict[str, float] = {}
    cached: set[str] = set()
    cdp.on(
        "Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"])
    )
    cdp.on("Network.requestServedFromCache", lambda e: cached.add(e["requestId"]))
    cdp.on(
        "Network.responseReceived",
        lambda e: e["response"].get("fromDiskCache") and cached.add(e["requestId"]),
    )
    cdp.on(
        "Network.loadingFinished",
        lambda e: sizes.__setitem__(e["requestId"], e["encodedDataLength"]),
    )
    page.goto(url, wait_until="networkidle")
    wait_for(page, "!!(window.backpropStudio && window.backpropStudio.state.frame)")
    cdp.detach()
    rows = sorted(
        ((sizes[r], urls.get(r, "?"), r in cached) for r in sizes), key=lambda row: -row[0]
    )
    return {"total": sum(s for s, _, _ in rows), "rows": rows}


METRICS = ("TaskDuration", "ScriptDuration", "RecalcStyleDuration", "LayoutDuration")


def metrics(cdp: Any) -> dict[str, float]:
    """Chromium's cumulative main-thread timings (seconds): all tasks, script, style, layout."""
    got = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {k: float(got.get(k, 0.0)) for k in METRICS}


def print_profile(profile: dict[str, Any], base: str, top: int = 25) -> None:
    """Self time per function of a CDP CPU profile (Profiler.stop), hottest first."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    hits: dict[int, int] = {}
    for sample in profile["samples"]:
        hits[sample] = hits.get(sample, 0) + 1
    total = sum(hits.values()) or 1
    by_fn: dict[str, int] = {}
    for node_id, n in hits.items():
        f = nodes[node_id]["callFrame"]
        where = f["url"].replace(base, "").split("/")[-1]
        key = f"{f['functionName'] or '(anonymous)'} {where}:{f['lineNumber'] + 1}"
        by_fn[key] = by_fn.get(key, 0) + n
    print("  CPU profile, self time:")
    for key, n in sorted(by_fn.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {n / total:6.1%}  {key}")


def playing(
    context: BrowserContext,
    base: str,
    query: str,
    seconds: float,
    throttle: float,
    profile: bool = False,
) -> dict[str, Any]:
    """Play a run with the decision boundary shown; rendered frames/s, long tasks, frame bytes."""
    page = context.new_page()
    page.goto(f"{base}/?{query}&spf=1", wait_until="networkidle")
    # The charts drawn (before issue 21 the error curve waited for Plotly; now it is a canvas
    # chart and the article's page never loads Plotly).
    wait_for(
        page,
        "!!(window.backpropStudio && window.backpropStudio.state.frame"
        " && (window.Plotly || document.querySelector('#loss-plot').chart?.draws))",
    )
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    sizes: list[int] = []

    def frame_bytes(e: dict[str, Any]) -> None:
        data = e["response"]["payloadData"]
        if data.startswith('{"type":"frame"'):
            sizes.append(len(data.encode()))

    cdp.on("Network.webSocketFrameReceived", frame_bytes)
    # Chromium throttles one thread of the renderer; with a worker in the page (the diagram's
    # edge painter) it has been seen to throttle not the page's thread: measure what it did.
    plain = min(page.evaluate(BUSY) for _ in range(3))
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": throttle})
    slowed = min(page.evaluate(BUSY) for _ in range(3))
    page.get_by_test_id("play-button").click()
    wait_for(page, "window.backpropStudio.state.prof.frames > 20")
    page.wait_for_timeout(1000)  # warm up: the boundary and the curve have been drawn
    sizes.clear()
    if profile:
        cdp.send("Performance.enable")
        m0 = metrics(cdp)
        cdp.send("Profiler.enable")
        cdp.send("Profiler.start")
    r = page.evaluate(COUNT_FRAMES, seconds * 1000)
    if profile:
        print_profile(cdp.send("Profiler.stop")["profile"], base)
        m1 = metrics(cdp)
        busy = {k: (m1[k] - m0[k]) / r["seconds"] for k in METRICS}
        shown = [f"{k.removesuffix('Duration').lower()} {v * 1000:.0f} ms" for k, v in busy.items()]
        print("  main thread per second: " + ", ".join(shown))
    page.get_by_test_id("play-button").click()
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
    cdp.detach()
    page.close()
    r["frameBytes"] = sizes
    r["slowdown"] = slowed / max(plain, 1e-3)
    return r


def lighthouse(url: str, save: Path | None = None) -> dict[str, float]:
    """Lighthouse's mobile preset on one URL (npx; Debian's Chromium, headless)."""
    flags = "--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "lh.json"
        cmd = [
            "npx", "--yes", LIGHTHOUSE, url, "--quiet", "--output=json", f"--output-path={out}",
            "--only-categories=performance,accessibility", f"--chrome-flags={flags}",
        ]  # fmt: skip
        env = {**os.environ, "CHROME_PATH": CHROMIUM}
        subprocess.run(cmd, check=True, env=env, timeout=240, capture_output=True)
        report = json.loads(out.read_text())
        if save is not None:
            save.write_text(out.read_text())
    audits = report["audits"]
    return {
        "performance": report["categories"]["performance"]["score"] * 100,
        "accessibility": report["categories"]["accessibility"]["score"] * 100,
        "tbt": audits["total-blocking-time"]["numericValue"],
        "cls": audits["cumulative-layout-shift"]["numericValue"],
        "tti": audits["interactive"]["numericValue"],
        "fcp": audits["first-contentful-paint"]["numericValue"],
        "lcp": audits["largest-contentful-paint"]["numericValue"],
    }


def lighthouse_pages(base: str, save: Path | None) -> None:
    """Lighthouse on `/` and on a room's page, with a presenter connected as in a workshop."""
    made = httpx.post(f"{base}/api/rooms", json={"config": {"preset": "article"}})
    made.raise_for_status()
    code = made.json()["code"]
    # Without a presenter the room's page says the room waits (a banner): not the usual case.
    with connect(f"{base.replace('http', 'ws')}/ws/rooms/{code}") as presenter:
        presenter.send(json.dumps({"type": "hello", "token": made.json()["presenter_token"]}))
        for name, path in (("/", "/"), ("/room/{code}", f"/room/{code}")):
            report = save / f"{'room' if 'room' in name else 'index'}.json" if save else None
            lh = lighthouse(base + path, report)
            print(
                f"lighthouse mobile {name}: performance {lh['performance']:.0f}, "
                f"accessibility {lh['accessibility']:.0f}, "
                f"TBT {lh['tbt']:.0f} ms, CLS {lh['cls']:.3f}, TTI {lh['tti'] / 1000:.1f} s, "
                f"FCP {lh['fcp'] / 1000:.1f} s, LCP {lh['lcp'] / 1000:.1f} s"
            )  # fmt: skip


def main() -> None:
    """Print first-load and repeat-visit bytes, frame rates, Lighthouse figures, a summary."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--spf", type=int, default=1, help="steps per frame while playing (page: 1)")
    ap.add_argument("--profile", action="store_true", help="print the page's hottest functions")
    ap.add_argument("--throttle", type=float, default=1.0, help="CPU slowdown while playing")
    ap.add_argument("--presets", default="", help="also play these: article,spiral,spiral16")
    ap.add_argument("--lighthouse", action="store_true", help="Lighthouse mobile on / and a room")
    ap.add_argument("--no-load", action="store_true", help="skip the first-load measurements")
    ap.add_argument("--save", type=Path, default=None, help="keep Lighthouse's reports here")
    ap.add_argument("--app-dir", type=Path, default=ROOT, help="the checkout to serve")
    args = ap.parse_args()
    with server(root=args.app_dir) as (base, _), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        for name in [p for p in args.presets.split(",") if p]:
            r = playing(context, base, PRESETS[name], args.seconds, args.throttle, args.profile)
            fps = r["frames"] / r["seconds"]
            sizes = r["frameBytes"] or [0]
            long = r["longTasks"]
            print(
                f"playing {name} at {args.throttle:g}x CPU slowdown: {fps:.1f} rendered frames/s "
                f"(rAF gap p50 {r['gapP50']:.1f} ms, p99 {r['gapP99']:.1f} ms); "
                f"long tasks {len(long)} ({sum(long):.0f} ms); stream frames "
                f"{len(r['frameBytes']) / r['seconds']:.1f}/s, mean {sum(sizes) / len(sizes):.0f} "
                f"bytes, max {max(sizes)} bytes; measured slowdown {r['slowdown']:.1f}x"
            )  # fmt: skip
            prof = r["prof"]
            per = []
            for key in ("network", "loss", "data", "matrix", "chain"):
                n = prof.get(f"{key}N", 0)
                if n:
                    per.append(f"{key} {prof[key] / n:.1f} ms x {n / r['seconds']:.1f}/s")
            print("  page's own timings: " + ", ".join(per))
        if args.lighthouse:
            browser.close()
            lighthouse_pages(base, args.save)
            return
        if args.no_load:
            browser.close()
            return
        page = context.new_page()
        url = f"{base}/?preset=spiral&spf={args.spf}"
        load = first_load(page, url)
        print(f"first load: {load['total'] / 1024:.0f} KiB over {len(load['rows'])} responses")
        for size, where, _ in load["rows"][:6]:
            print(f"  {size / 1024:8.1f} KiB  {where.replace(base, '')}")
        page2 = context.new_page()
        again = first_load(page2, url)
        hits = sum(1 for _, _, c in again["rows"] if c)
        print(
            f"second visit (same browser): {again['total'] / 1024:.0f} KiB, "
            f"{hits} of {len(again['rows'])} responses from the cache"
        )
        page2.close()
        idle = page.evaluate(COUNT_FRAMES, 2000)  # the ceiling: the same page, not playing
        page.get_by_test_id("play-button").click()
        wait_for(page, "window.backpropStudio.state.prof.frames > 30")
        page.wait_for_timeout(1000)  # warm up: the boundary and the curve have been drawn
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        m0 = metrics(cdp)
        if args.profile:
            cdp.send("Profiler.enable")
            cdp.send("Profiler.start")
        r = page.evaluate(COUNT_FRAMES, args.seconds * 1000)
        m1 = metrics(cdp)
        if args.profile:
            print_profile(cdp.send("Profiler.stop")["profile"], base)
        page.get_by_test_id("play-button").click()
        browser.close()
    fps = r["frames"] / r["seconds"]
    print(f"idle page (not playing): {idle['frames'] / idle['seconds']:.1f} rendered frames/s")
    prof = r["prof"]
    print(
        f"while playing spiral ({args.spf} steps/frame): {fps:.1f} rendered frames/s "
        f"(rAF gap p50 {r['gapP50']:.1f} ms, p99 {r['gapP99']:.1f} ms, max {r['gapMax']:.0f} ms); "
        f"{prof.get('frames', 0) / r['seconds']:.1f} stream frames/s received"
    )
    per = []
    for key in ("network", "loss", "data", "matrix"):
        n = prof.get(f"{key}N", 0)
        if n:
            per.append(f"{key} {prof[key] / n:.1f} ms x {n / r['seconds']:.1f}/s")
    busy = {k: (m1[k] - m0[k]) / r["seconds"] for k in METRICS}
    shown = [f"{k.removesuffix('Duration').lower()} {v * 1000:.0f} ms" for k, v in busy.items()]
    print("  main thread per second (CDP Performance.getMetrics): " + ", ".join(shown))
    long = r["longTasks"]
    print(
        "  page's own timings: " + ", ".join(per) + f"; long tasks: {len(long)}"
        + (f" (longest {max(long):.0f} ms)" if long else "")
    )  # fmt: skip
    print(
        f"summary: first load {load['total'] / 1024:.0f} KiB "
        f"({'within' if load['total'] <= BUDGET else 'OVER'} 2 MiB), "
        f"{fps:.1f} rendered frames/s while playing spiral"
    )


if __name__ == "__main__":
    main()
