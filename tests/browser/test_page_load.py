"""The page on a slow phone: its charts need no Plotly, it fetches once, streams packed frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from support import ServerProcess, wait_for

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect
pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[1] / "screenshots"


def flatten(x: Any) -> list[float]:
    """Nested lists of numbers as one list."""
    return [v for y in x for v in flatten(y)] if isinstance(x, list) else [x]


def painted(page: Any, selector: str) -> int:
    """How many pixels of the first canvas matching `selector` are not transparent."""
    return int(
        page.evaluate(
            """(sel) => {
              const c = document.querySelector(sel);
              if (!c || !c.width) return 0;
              const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
              let n = 0;
              for (let k = 3; k < d.length; k += 4) n += d[k] > 0;
              return n;
            }""",
            selector,
        )
    )


def test_the_page_draws_before_plotly_and_fetches_each_thing_once(
    server: ServerProcess, browser: Any
) -> None:
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    errors: list[str] = []
    requests: list[str] = []
    frames: list[str] = []
    page.on("console", lambda m: errors.extend([m.text] if m.type == "error" else []))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(str(f))))
    # Plotly's answer is held back until the test lets it go: the page must work without it.
    held: list[Any] = []
    page.route("**/vendor/**", lambda route: held.append(route))
    try:
        page.goto(f"{server.url}/?preset=article", wait_until="domcontentloaded")
        wait_for(lambda: page.locator("[data-testid=network-plot] svg circle").count(), "nodes")
        wait_for(lambda: page.locator("#step-count").text_content() == "0", "the readout")
        assert page.evaluate("typeof window.Plotly") == "undefined"
        wait_for(lambda: page.locator("#play-button").is_enabled(), "the controls")
        page.locator("#step-button").click()  # the page answers without Plotly
        wait_for(lambda: page.locator("#step-count").text_content() == "1", "a step")
        where = "(() => { const r = document.querySelector('#loss-plot').getBoundingClientRect();"
        where += " return [r.top + scrollY, r.height]; })()"
        box = page.evaluate(where)
        assert box[1] > 100  # the curve's box holds its place
        # The curve is a canvas chart: painted without Plotly. On the article's data (a table
        # and predicted vs actual, another canvas chart) no panel needs Plotly at all.
        wait_for(lambda: painted(page, "#loss-plot canvas.chart-plot") > 20, "the curve painted")
        assert page.evaluate("typeof window.Plotly") == "undefined"
        plot = page.locator("[data-testid=data-plot]")
        # Scrolled to again at each poll: panels drawn meanwhile may move it off the screen
        # (issue 21's jump on a phone).
        wait_for(
            lambda: (
                plot.scroll_into_view_if_needed()
                or painted(page, "[data-testid=data-pva] canvas.chart-plot") > 20
            ),
            "predicted vs actual painted",
            poll=0.2,
        )
        wait_for(lambda: page.locator("[data-testid=data-table] tbody tr").count(), "data table")
        after = page.evaluate(where)
        assert abs(after[0] - box[0]) < 1 and abs(after[1] - box[1]) < 1  # no layout shift
        page.wait_for_load_state("networkidle")
        assert not held and page.evaluate("typeof window.Plotly") == "undefined"
        matrix = [u for u in requests if u.endswith("/matrix")]
        chain = [u for u in requests if "/chain?" in u]
        data = [u for u in requests if u.endswith("/data")]
        assert len(matrix) == 1, matrix
        assert len(chain) == 2, chain  # step 0 at start, step 1 after the click: once each
        assert len(data) == 1, data
        assert frames and all('"f32"' in f for f in frames if '"type":"frame"' in f)
        # Unpacked, the streamed frame is the REST frame to float32's precision.
        wait_for(lambda: page.evaluate("() => window.backpropStudio.state.frame.step") == 1, "1")
        shown = page.evaluate(
            "() => { const f = window.backpropStudio.state.frame;"
            " return [f.weights, f.biases, f.gradients.weights]; }"
        )
        base = page.evaluate("() => window.backpropStudio.state.base")
        rest = httpx.get(f"{server.url}{base}", timeout=30).json()
        assert rest["step"] == 1
        want = [rest["weights"], rest["biases"], rest["gradients"]["weights"]]
        got, exp = flatten(shown), flatten(want)
        assert len(got) == len(exp) > 30
        assert all(abs(a - b) <= 1e-6 * abs(b) + 1e-30 for a, b in zip(got, exp, strict=True))
        assert not errors, errors
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / "page-load-phone.png"), full_page=True)
    finally:
        ctx.close()


def test_fast_grid_equals_the_forward_pass_and_the_curve_is_painted(
    server: ServerProcess, browser: Any
) -> None:
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{server.url}/?preset=spiral&layers=2-16-16-16-1", wait_until="networkidle")
        # The data plot asks for Plotly once on screen (the diagram and its key may push it
        # just below the first screen at 1440x900).
        page.locator("#data-plot").scroll_into_view_if_needed()
        wait_for(lambda: page.evaluate("!!window.Plotly"), "Plotly")
        wait_for(lambda: page.locator("[data-testid=data-surface]").count(), "the surface")
        same = page.evaluate(
            """async () => {
              const main = document.querySelector('script[type=module]').src;
              const base = main.replace(/js\\/main\\.js.*$/, '');
              const nn = await import(base + 'js/nn.js');
              const fast = await import(base + 'js/grid-fast.js');
              const f = window.backpropStudio.state.frame;
              const out = [];
              for (const [act, k] of [['tanh', 0], ['relu', 0], ['sigmoid', 'argmax']]) {
                const args = [f.weights, f.biases, [-1, 1], [-2, 2], 17, act, 'sigmoid', k];
                const a = nn.outputGrid(...args);
                const b = fast.outputGridFast(...args);
                out.push(JSON.stringify(a) === JSON.stringify(b) && a.z.length === 17);
              }
              return out;
            }"""
        )
        assert same == [True, True, True]
        # The curve is on the canvas over the plot: some of its pixels are not transparent.
        assert painted(page, "#loss-plot canvas.chart-plot") > 20
        assert not errors, errors
    finally:
        ctx.close()


def test_the_curve_key_names_the_test_error_before_plotly(
    server: ServerProcess, browser: Any
) -> None:
    """On a phone the curve is painted before Plotly loads; its key already names test E."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    try:
        page.goto(f"{server.url}/?preset=spiral", wait_until="domcontentloaded")
        wait_for(lambda: painted(page, "#loss-plot canvas.chart-plot") > 0, "the curve")
        assert page.evaluate("() => !window.Plotly")  # its panel is below the first screen
        keys = page.locator(".loss-key-item")
        expect(keys.nth(1)).to_be_visible()
        expect(keys.nth(1)).to_have_text("test E")
    finally:
        ctx.close()


def test_the_slope_view_is_painted_without_plotly(server: ServerProcess, browser: Any) -> None:
    """Plotly never arrives (a flaky network): the slope view is painted and explained anyway."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    ctx.route("**/vendor/**", lambda route: route.abort())  # the pinned Plotly bundle
    page = ctx.new_page()
    try:
        page.goto(f"{server.url}/?preset=article", wait_until="domcontentloaded")
        page.get_by_test_id("chain-panel").scroll_into_view_if_needed()
        expect(page.get_by_test_id("slope-view")).to_be_visible()
        page.get_by_test_id("slope-view").scroll_into_view_if_needed()
        expect(page.get_by_test_id("slope-note")).to_contain_text("the slope ∂E/∂W_ho[0,0]")
        wait_for(lambda: painted(page, "#slope-view canvas.chart-plot") > 500, "the slope, painted")
        assert page.evaluate("() => !window.Plotly")
    finally:
        ctx.close()
