"""How the page renders: off-screen panels wait while playing, the chain panel updates in place."""

from __future__ import annotations

from typing import Any

import pytest
from support import ServerProcess, wait_for

playwright_sync = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.browser

PROF = "(k) => window.backpropStudio.state.prof[k] || 0"
STEP = "() => window.backpropStudio.state.frame.step"


def open_page(
    browser: Any, server: ServerProcess, width: int, height: int
) -> tuple[Any, Any, list[str]]:
    """A fresh page at the article preset, once its matrices are drawn."""
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server.url}/?preset=article", wait_until="domcontentloaded")
    wait_for(lambda: page.locator("[data-testid=heatmap-W-0]").count() == 1, "the matrix panel")
    wait_for(lambda: page.locator("[data-testid=chain-table]").count() == 1, "the chain panel")
    return ctx, page, errors


def test_an_off_screen_panel_waits_while_playing_and_catches_up_at_rest(
    server: ServerProcess, browser: Any
) -> None:
    """On a phone the matrix panel, three screens down, is not drawn while the run plays."""
    ctx, page, errors = open_page(browser, server, 390, 844)
    try:
        canvas = page.get_by_test_id("heatmap-W-0")
        # Idle-time drawing at load is over once the heat map has its summary.
        wait_for(lambda: "values from" in (canvas.get_attribute("aria-label") or ""), "heat map")
        before = canvas.get_attribute("aria-label")
        drawn = page.evaluate(PROF, "matrixN")
        page.get_by_test_id("play-button").click()
        wait_for(lambda: page.evaluate(STEP) >= 20, "twenty steps")
        assert page.evaluate(PROF, "matrixN") == drawn  # not drawn off screen
        assert canvas.get_attribute("aria-label") == before
        page.get_by_test_id("play-button").click()
        # At rest it catches up: drawn again, with the newest weights.
        wait_for(lambda: page.evaluate(PROF, "matrixN") > drawn, "the matrix at rest")
        wait_for(lambda: canvas.get_attribute("aria-label") != before, "new heat map summary")
        # Scrolled to while playing, it is drawn while playing.
        page.get_by_test_id("play-button").click()
        wait_for(lambda: page.evaluate("document.body.classList.contains('is-playing')"), "play")
        canvas.scroll_into_view_if_needed()
        at = page.evaluate(PROF, "matrixN")
        wait_for(lambda: page.evaluate(PROF, "matrixN") > at + 2, "the matrix, on screen")
        page.get_by_test_id("play-button").click()
        assert errors == []
    finally:
        ctx.close()


def test_the_chain_panel_updates_its_numbers_in_place(server: ServerProcess, browser: Any) -> None:
    """A step changes the chain's numbers, not its elements; a new parameter rebuilds it."""
    ctx, page, errors = open_page(browser, server, 1440, 900)
    try:
        page.evaluate("window.__table = document.querySelector('[data-testid=chain-table]')")
        before = page.get_by_test_id("chain-sum").text_content()
        page.get_by_test_id("step-button").click()
        wait_for(lambda: page.get_by_test_id("chain-sum").text_content() != before, "new sum")
        same = "window.__table === document.querySelector('[data-testid=chain-table]')"
        assert page.evaluate(same)
        # The numbers are the new frame's: the sum is the gradient of W_ho[0,0].
        grad = page.evaluate("window.backpropStudio.state.frame.gradients.weights[1][0][0]")
        shown = float(page.get_by_test_id("chain-sum").text_content().replace("−", "-"))
        assert shown == pytest.approx(grad, rel=1e-3, abs=1e-12)
        # Every formula's text for screen readers follows its numbers.
        maths = page.evaluate(
            "[...document.querySelectorAll('#chain-panel math')].map((m) =>"
            " [m.getAttribute('alttext'), m.getAttribute('aria-label')])"
        )
        assert maths and all(alt and alt == label for alt, label in maths), maths
        page.get_by_test_id("pick-layer").select_option("0")
        wait_for(lambda: page.get_by_test_id("chain-name").text_content() == "W_ih[0,0]", "W_ih")
        assert not page.evaluate(same)  # another shape: rebuilt
        assert errors == []
    finally:
        ctx.close()


CHART = "(id) => document.querySelector(`[data-testid=${id}]`).chart"


def test_each_chart_has_one_renderer_and_its_axes_grow_rarely(
    server: ServerProcess, browser: Any
) -> None:
    """The error curve, the slope view and predicted-vs-actual are canvas charts alone: the
    article page never loads Plotly, playing or not; the curve's x axis grows with the run, and
    its axes are painted again only when a range grows (geometrically), not at every frame."""
    ctx, page, errors = open_page(browser, server, 1440, 900)
    try:

        def drawn(plot: str) -> bool:
            return bool((page.evaluate(CHART, plot) or {}).get("draws", 0) > 0)

        for plot in ("loss-plot", "slope-plot", "data-pva"):
            wait_for(lambda: drawn(plot), plot)  # noqa: B023 (called at once)
        before = page.evaluate(CHART, "loss-plot")
        slope_note = page.get_by_test_id("slope-note").text_content()
        page.get_by_test_id("play-button").click()
        # Well past the x axis's first range: it had to grow while playing.
        wait_for(lambda: page.evaluate(STEP) > 4 * before["view"]["x"][1], "steps past the range")
        wait_for(lambda: page.get_by_test_id("slope-note").text_content() != slope_note, "slope")
        page.get_by_test_id("play-button").click()
        wait_for(lambda: page.evaluate("document.body.dataset.serverPlaying") == "false", "rest")
        step = page.evaluate(STEP)
        wait_for(lambda: page.evaluate(CHART, "loss-plot")["points"] == step + 1, "the whole run")
        after = page.evaluate(CHART, "loss-plot")
        assert after["view"]["x"][1] >= step > before["view"]["x"][1]
        frames = after["draws"] - before["draws"]
        grown = after["axesPaints"] - before["axesPaints"]
        assert frames > 3 * grown >= 3, (frames, grown)
        assert page.evaluate("typeof window.Plotly") == "undefined"
        assert errors == []
    finally:
        ctx.close()


def test_the_numbers_drawn_each_frame_sit_in_boxes_laid_out_alone(
    server: ServerProcess, browser: Any
) -> None:
    """The readouts and the timeline's label are fixed-size boxes with size and layout
    containment (a change lays out that box, not the page); a longer text widens its box."""
    ctx, page, errors = open_page(browser, server, 1440, 900)
    try:
        ids = ["step-count", "loss-value", "timeline-label"]
        for name in ids:
            contain = page.evaluate(
                "(id) => getComputedStyle(document.getElementById(id)).contain", name
            )
            assert contain == "size layout style", (name, contain)
        fits = (
            "(id) => { const e = document.getElementById(id);"
            " return e.scrollWidth <= e.clientWidth; }"
        )
        page.get_by_test_id("step-button").click()
        wait_for(lambda: page.evaluate(STEP) == 1, "a step")
        assert all(page.evaluate(fits, name) for name in ids)
        # A run long past what the boxes were sized for: each box widens to its text.
        grow = """async ([id, text]) => {
            const { setFixedText } = await import('/static/js/ui.js');
            setFixedText(document.getElementById(id), text, 5);
        }"""
        for name, text in (("step-count", "12345678"), ("loss-value", "1.23457e-12"),
                           ("timeline-label", "step 1234567 of 1234567")):  # fmt: skip
            page.evaluate(grow, [name, text])
            assert page.get_by_test_id(name).text_content() == text
            assert page.evaluate(fits, name), name
        assert errors == []
    finally:
        ctx.close()


SURFACE = """() => { const c = document.querySelector('[data-testid=data-surface]');
  if (!c) return '';
  return c.width + ':' + Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data
    .filter((_, k) => k % 16 === 0)).join(','); }"""
WORKERS = """() => { window.__workers = []; const W = window.Worker;
  window.Worker = function (url, opts) {
    window.__workers.push(String(url));
    if (String(url).includes(window.__refuse || '\\u0000')) throw new Error('no workers here');
    return new W(url, opts);
  }; }"""


@pytest.mark.parametrize("refuse", ["", "surface-worker"])
def test_the_data_plane_is_computed_off_the_page_while_playing(
    server: ServerProcess, browser: Any, refuse: str
) -> None:
    """Playing the spiral, the decision boundary moves, its grid computed in a worker; where no
    worker can start, on the page's thread; at rest it is drawn at full resolution again."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    ctx.add_init_script(f"window.__refuse = {refuse!r};" if refuse else "")
    ctx.add_init_script(f"({WORKERS})();")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{server.url}/?preset=spiral&layers=2-8-8-1", wait_until="domcontentloaded")
        wait_for(lambda: page.evaluate(SURFACE).startswith("40:"), "the surface at rest")
        page.get_by_test_id("play-button").click()
        wait_for(lambda: page.evaluate(SURFACE).startswith("28:"), "the coarser surface")
        seen = {page.evaluate(SURFACE)}

        def moved() -> bool:
            seen.add(page.evaluate(SURFACE))
            return len(seen) >= 3

        wait_for(moved, "it moves")
        made = page.evaluate("() => window.__workers")
        assert any("surface-worker" in u for u in made), made
        by = page.get_by_test_id("data-surface").get_attribute("data-by")
        assert by == ("page" if refuse else "worker")
        page.get_by_test_id("play-button").click()
        wait_for(lambda: page.evaluate(SURFACE).startswith("40:"), "full resolution at rest")
        assert page.get_by_test_id("data-surface").get_attribute("data-by") == "page"
        assert errors == []
    finally:
        ctx.close()


BOX = """(id) => { const e = document.getElementById(id); const s = getComputedStyle(e);
  return [s.contain, e.getBoundingClientRect().height, e.scrollHeight <= e.clientHeight + 1]; }"""


def test_while_playing_the_chain_and_data_panels_are_laid_out_alone(
    server: ServerProcess, browser: Any
) -> None:
    """Playing, the chain and data panels' bodies keep their height at rest with strict
    containment (their numbers lay out that box only), nothing cut off; at rest, as before."""
    ctx, page, errors = open_page(browser, server, 1440, 900)
    try:
        ids = ("chain-panel", "data-plot")
        wait_for(lambda: (page.evaluate(CHART, "data-pva") or {}).get("draws", 0) > 0, "pva")
        rest = {name: page.evaluate(BOX, name) for name in ids}
        assert all(r[0] in ("none", "layout") for r in rest.values()), rest
        page.get_by_test_id("play-button").click()
        wait_for(lambda: page.evaluate(STEP) > 20, "steps")
        before = page.get_by_test_id("chain-sum").text_content()
        wait_for(lambda: page.get_by_test_id("chain-sum").text_content() != before, "chain")
        for name in ids:
            contain, height, whole = page.evaluate(BOX, name)
            assert contain in ("strict", "size layout paint style"), (name, contain)
            assert height == pytest.approx(rest[name][1], abs=1), name
            assert whole, name
        page.get_by_test_id("play-button").click()
        wait_for(lambda: page.evaluate(BOX, "chain-panel")[0] in ("none", "layout"), "at rest")
        assert errors == []
    finally:
        ctx.close()


TICKS = """async () => {
  const { linearTicks, createCanvasChart } = await import('/static/js/canvas-chart.js');
  const { paintSlope, slopeRanges } = await import('/static/js/slope-view.js');
  const flat = { points: [[0, 0.25], [0.5, 0.25 + 5.55e-17], [1, 0.25]], span: [0, 1], value: 0.5,
                 E: 0.25, dE_dw: 0, next_value: 0.5 };
  const div = document.createElement('div');
  Object.assign(div.style, { width: '300px', height: '200px' });
  document.body.append(div);
  const chart = createCanvasChart(div, { titles: ['w', 'E'] });
  chart.draw(slopeRanges(flat), (ctx, map, placer) => paintSlope(ctx, map, flat, placer));
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return [linearTicks(0, 200, 5), linearTicks(-1.3, 0.55, 4), linearTicks(0.25, 0.25 + 5.55e-17),
          linearTicks(1, 1, 3), div.chart.draws];
}"""


def test_canvas_axes_have_round_ticks_and_survive_a_flat_slice(
    server: ServerProcess, browser: Any
) -> None:
    """Ticks at round steps; a range a few ulps wide (a flat slice) neither hangs nor floods."""
    ctx, page, errors = open_page(browser, server, 1440, 900)
    try:
        normal, signed, flat, empty, draws = page.evaluate(TICKS)
        assert draws >= 1  # the flat slice was painted
        assert normal == [0, 50, 100, 150, 200]
        assert signed == [-1, -0.5, 0, 0.5]
        assert len(flat) <= 2 and all(0.25 <= v <= 0.25 + 1e-16 for v in flat)
        assert empty == [1]
        assert errors == []
    finally:
        ctx.close()
