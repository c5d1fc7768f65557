"""The page never lets a learner meet a silently stuck network (issue 11, learning half).

A real server (tests/support.py ServerProcess) and Chromium through Playwright; every wait is
on a condition with a deadline.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from playwright.sync_api import expect
from support import DEADLINE, ServerProcess

T = DEADLINE * 1000  # Playwright counts in ms
SHOTS = Path(__file__).resolve().parents[1] / "screenshots"  # ignored by git; looked at by people


@pytest.fixture
def page(browser: Any, server: ServerProcess) -> Iterator[Any]:
    """A fresh page on the article preset (houses), connected; fails on any page error."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    ctx.set_default_timeout(T)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(server.url + "/?preset=article", wait_until="domcontentloaded")
    wait_ready(pg)
    yield pg
    ctx.close()
    assert not errors, errors


def wait_ready(page: Any) -> None:
    """Socket connected, first frame and data drawn."""
    expect(page.get_by_test_id("connection-status")).to_have_text("Connected")
    page.wait_for_function("() => window.backpropStudio && window.backpropStudio.state.data")


def state(page: Any, expr: str) -> Any:
    """A value from the page's read-only state (window.backpropStudio.state)."""
    return page.evaluate(f"() => {{ const S = window.backpropStudio.state; return {expr}; }}")


def switch_dataset(page: Any, name: str) -> None:
    """Pick a data set in the sidebar and wait for its session and data."""
    old = state(page, "S.id")
    page.get_by_test_id("dataset-select").select_option(name)
    page.wait_for_function(
        "([old, name]) => { const S = window.backpropStudio.state;"
        " return S.id !== old && S.data && S.data.name === name && S.frame; }",
        arg=[old, name],
    )
    expect(page.get_by_test_id("connection-status")).to_have_text("Connected")


def play_until_halved(page: Any, max_steps: int) -> tuple[float, float]:
    """Play at 100 steps a frame; E at step 0 and the lowest E within max_steps steps."""
    assert state(page, "S.frame.step") == 0
    e0 = state(page, "S.frame.loss")
    page.get_by_test_id("spf-select").select_option("100")
    page.get_by_test_id("play-button").click()
    page.wait_for_function(
        "([e0, n]) => { const f = window.backpropStudio.state.frame;"
        " return f.step >= n || f.loss <= e0 / 2 || f.diverged; }",
        arg=[e0, max_steps],
        timeout=4 * T,
    )
    page.get_by_test_id("play-button").click()  # pause
    pts = page.evaluate("() => window.backpropStudio.history.train.points()")
    within = [
        y for x, y in zip(pts["x"], pts["y"], strict=True) if x <= max_steps and y is not None
    ]
    return e0, min(within)


@pytest.mark.parametrize("name", ["xor", "circle"])
def test_switch_from_houses_applies_settings_that_train(page: Any, name: str) -> None:
    """houses -> xor / circle: the notice says what changed, and E halves within 2,000 steps."""
    switch_dataset(page, name)
    notice = page.get_by_test_id("switch-notice")
    expect(notice).to_be_visible()
    text = page.get_by_test_id("switch-text").text_content()
    assert f"Switched to {name}" in text
    for change in (
        "layers 4-5-1 → 2-4-1",
        "loss ½ Σ (Y − O)² → cross-entropy",
        "init U(0, 1) → Xavier",
    ):
        assert change in text, text
    expect(page.get_by_test_id("loss-select")).to_have_value("bce")
    e0, best = play_until_halved(page, 2000)
    assert best <= e0 / 2, (e0, best)
    expect(page.get_by_test_id("trouble-panel")).to_be_hidden()
    if name == "xor":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "learning-switch-notice-1440x900.png"))


def test_undo_brings_the_old_run_back(page: Any) -> None:
    """Undo after a switch: the same session, at the same step, with the same settings."""
    for _ in range(3):
        page.get_by_test_id("step-button").click()
    expect(page.get_by_test_id("step-count")).to_have_text("3")
    old_id, old_loss = state(page, "S.id"), state(page, "S.frame.loss")
    switch_dataset(page, "xor")
    expect(page.get_by_test_id("step-count")).to_have_text("0")
    page.get_by_test_id("switch-undo").click()
    page.wait_for_function("id => window.backpropStudio.state.id === id", arg=old_id)
    expect(page.get_by_test_id("step-count")).to_have_text("3")
    expect(page.get_by_test_id("dataset-select")).to_have_value("houses")
    expect(page.get_by_test_id("loss-select")).to_have_value("half_sse")
    expect(page.get_by_test_id("switch-notice")).to_be_hidden()
    assert state(page, "S.frame.loss") == old_loss
    # The curve kept its steps 0..3.
    page.wait_for_function(
        "() => window.backpropStudio.history.train.points().x.filter(x => x <= 3).length === 4"
    )


def test_reset_key_keeps_the_run_for_undo(page: Any) -> None:
    """R goes to step 0 at once, and Undo brings the run at step 3 back."""
    for _ in range(3):
        page.get_by_test_id("step-button").click()
    expect(page.get_by_test_id("step-count")).to_have_text("3")
    old_id = state(page, "S.id")
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.keyboard.press("r")
    expect(page.get_by_test_id("step-count")).to_have_text("0")
    expect(page.get_by_test_id("switch-text")).to_contain_text("run at step 3 is kept")
    expect(page.get_by_test_id("switch-keep")).to_be_hidden()
    page.get_by_test_id("switch-undo").click()
    page.wait_for_function("id => window.backpropStudio.state.id === id", arg=old_id)
    expect(page.get_by_test_id("step-count")).to_have_text("3")
    page.get_by_test_id("step-button").click()
    expect(page.get_by_test_id("step-count")).to_have_text("4")


def test_keeping_unsuitable_settings_warns_and_offers_a_fix(page: Any) -> None:
    """'Keep my old settings' on xor: the trouble panel explains and the fix makes E fall."""
    switch_dataset(page, "xor")
    old = state(page, "S.id")
    page.get_by_test_id("switch-keep").click()
    page.wait_for_function("old => window.backpropStudio.state.id !== old", arg=old)
    expect(page.get_by_test_id("loss-select")).to_have_value("half_sse")
    panel = page.get_by_test_id("trouble-panel")
    expect(panel).to_be_visible()
    expect(page.get_by_test_id("trouble-exploding_gradients")).to_contain_text("200 samples")
    page.get_by_test_id("step-button").click()
    expect(page.get_by_test_id("step-count")).to_have_text("1")
    saturated = page.get_by_test_id("trouble-output_saturated")
    expect(saturated).to_contain_text("O(1 − O)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "learning-trouble-1440x900.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    panel.screenshot(path=str(SHOTS / "learning-trouble-390x844.png"))
    page.set_viewport_size({"width": 1440, "height": 900})
    # Xavier and cross-entropy were tried on copies and did not help: the step did it.
    expect(page.get_by_test_id("trouble-fix-output_saturated")).to_have_count(0)
    fix = page.get_by_test_id("trouble-fix-step_too_large")
    expect(fix).to_contain_text("rewind to step 0")
    fix.click()
    expect(page.get_by_test_id("step-count")).to_have_text("0")
    expect(page.get_by_test_id("lr-input")).not_to_have_value("1")
    expect(page.get_by_test_id("loss-select")).to_have_value("half_sse")
    expect(page.get_by_test_id("trouble-output_saturated")).to_have_count(0)


def test_right_arrow_on_a_dropdown_neither_changes_it_nor_throws_the_run_away(page: Any) -> None:
    """Shortcuts never fire in a form control: the dropdown keeps its value, the run its steps."""
    switch_dataset(page, "xor")
    run = state(page, "S.id")
    select = page.get_by_test_id("dataset-select")
    select.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowLeft")
    expect(select).to_have_value("xor")
    page.get_by_test_id("optimizer-select").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_test_id("optimizer-select")).to_have_value("sgd")
    assert state(page, "S.id") == run and state(page, "S.data.name") == "xor"
    expect(page.get_by_test_id("step-count")).to_have_text("0")
    # Off the control, the same key steps.
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.keyboard.press("ArrowRight")
    expect(page.get_by_test_id("step-count")).to_have_text("1")


def houses_csv(n: int = 40, seed: int = 3) -> bytes:
    """Houses in raw units: square feet, bedrooms, dollars."""
    rng = np.random.default_rng(seed)
    area = rng.uniform(800, 3500, n)
    beds = rng.integers(1, 6, n)
    price = 50_000 + 150 * area + 10_000 * beds + rng.normal(0, 20_000, n)
    rows = "".join(f"{a:.0f},{b},{p:.0f}\n" for a, b, p in zip(area, beds, price, strict=True))
    return ("sqft,bedrooms,price\n" + rows).encode()


def test_csv_in_raw_units_trains_and_shows_dollars(page: Any) -> None:
    """Square feet and dollars: scaled by default, E falls, the table shows dollars."""
    old = state(page, "S.id")
    page.get_by_test_id("csv-input").set_input_files(
        files=[{"name": "houses.csv", "mimeType": "text/csv", "buffer": houses_csv()}]
    )
    page.wait_for_function(
        "old => { const S = window.backpropStudio.state;"
        " return S.id !== old && S.data && S.data.name === 'custom'; }",
        arg=old,
    )
    expect(page.get_by_test_id("connection-status")).to_have_text("Connected")
    expect(page.get_by_test_id("scale-info")).to_contain_text("price = ")
    expect(page.get_by_test_id("data-units")).to_be_visible()
    # The Y column is in dollars, not in the network's 0.1 .. 0.9.
    first_y = page.locator("[data-testid=data-table] tbody tr td.y").first.text_content()
    assert float(first_y.replace(",", "")) > 1000, first_y
    e0, best = play_until_halved(page, 3000)
    assert best <= e0 / 2, (e0, best)
    expect(page.get_by_test_id("trouble-panel")).to_be_hidden()
    # Off: the raw numbers saturate the net, and the page says why.
    old = state(page, "S.id")
    page.get_by_test_id("scale-toggle").uncheck()
    page.wait_for_function("old => window.backpropStudio.state.id !== old", arg=old)
    expect(page.get_by_test_id("trouble-targets_out_of_range")).to_be_visible()
    page.get_by_test_id("trouble-fix-targets_out_of_range").click()
    expect(page.get_by_test_id("trouble-targets_out_of_range")).to_have_count(0)
    expect(page.get_by_test_id("scale-toggle")).to_be_checked()  # the box shows the real config


def test_error_curve_is_logarithmic_and_keeps_its_zoom(page: Any) -> None:
    """Log y by default; a zoom dragged with the mouse survives the redraws of new frames; the
    reset button and a double-click bring the whole curve back; hovering reads a point out."""
    expect(page.get_by_test_id("log-toggle")).to_be_checked()
    expect(page.get_by_test_id("loss-hint")).to_contain_text("double-click")
    chart = "document.querySelector('[data-testid=loss-plot]').chart"
    page.wait_for_function(f"() => {chart}.log === true && {chart}.draws > 0")
    plot = page.get_by_test_id("loss-plot")
    plot.scroll_into_view_if_needed()
    box = plot.bounding_box()
    assert box is not None
    view = page.evaluate(f"() => {chart}.view")
    # Drag across the middle third of the plot area (the chart's left margin is 56 px or more).
    y = box["y"] + box["height"] / 2
    x0, x1 = box["x"] + box["width"] * 0.4, box["x"] + box["width"] * 0.6
    page.mouse.move(x0, y)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, y, steps=3)
    page.mouse.move(x1, y, steps=3)
    page.mouse.up()
    page.wait_for_function(f"() => {chart}.zoomed")
    zoomed = page.evaluate(f"() => {chart}.view")
    assert view["x"][0] < zoomed["x"][0] < zoomed["x"][1] < view["x"][1]
    assert zoomed["y"] == view["y"]  # a flat drag zooms the steps only: E follows the data
    expect(page.locator("[data-testid=loss-plot] + .chart-reset")).to_be_visible()
    for n in range(1, 6):
        page.get_by_test_id("step-button").click()
        expect(page.get_by_test_id("step-count")).to_have_text(str(n))
    page.wait_for_function(f"() => {chart}.points >= 6")
    assert page.evaluate(f"() => {chart}.view")["x"] == zoomed["x"]
    # Hovering the curve reads out a step and its E, in the chart's own tooltip.
    plot.scroll_into_view_if_needed()
    box = plot.bounding_box()  # the Step button's clicks may have scrolled the page
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    tip = page.locator("[data-testid=loss-plot] .chart-tip")
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("training E =")
    page.locator("[data-testid=loss-plot] + .chart-reset").click()
    page.wait_for_function(f"() => !{chart}.zoomed")
    assert page.evaluate(f"() => {chart}.view")["x"][1] >= 5
    expect(page.locator("[data-testid=loss-plot] + .chart-reset")).to_be_hidden()


def test_article_bias_switch_keeps_the_weights(page: Any) -> None:
    """The preset says which bias it uses; one click switches it; W stays the same."""
    expect(page.locator("#preset-description")).to_contain_text("one shared bias")
    w0 = state(page, "S.frame.weights")
    old = state(page, "S.id")
    page.get_by_test_id("bias-switch").click()
    page.wait_for_function("old => window.backpropStudio.state.id !== old", arg=old)
    expect(page.get_by_test_id("bias-select")).to_have_value("shared")
    expect(page.get_by_test_id("preset-select")).to_have_value("article")
    # Equal as the wire carries them: a packed frame holds float32, a REST one float64.
    w1 = state(page, "S.frame.weights")
    for a, b in zip(w0, w1, strict=True):
        assert np.array_equal(np.float32(a), np.float32(b))
    assert len(state(page, "S.frame.biases")[0]) == 1
    expect(page.get_by_test_id("bias-switch")).to_have_text("Back to one bias per neuron")


def test_docs_work_offline(browser: Any, server: ServerProcess) -> None:
    """/docs and /redoc render with every request off this server refused."""
    ctx = browser.new_context()
    ctx.set_default_timeout(T)
    foreign: list[str] = []

    def only_local(route: Any) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    ctx.route("**/*", only_local)
    pg = ctx.new_page()
    pg.goto(server.url + "/docs")
    expect(pg.locator(".swagger-ui .info .title")).to_contain_text("Backprop Studio")
    pg.goto(server.url + "/redoc")
    expect(pg.locator("h1").first).to_contain_text("Backprop Studio")
    ctx.close()
    assert not foreign, foreign


def test_a_room_shows_the_lesson_without_fix_buttons(browser: Any, server: ServerProcess) -> None:
    """A participant sees why the room's run is stuck; fixes need a run of one's own."""
    cfg = {"preset": "article", "layers": [2, 5, 1], "dataset": {"name": "xor"}}
    r = httpx.post(f"{server.url}/api/rooms", json={"config": cfg}, timeout=DEADLINE)
    assert r.status_code == 201, r.text
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    ctx.set_default_timeout(T)
    pg = ctx.new_page()
    pg.goto(f"{server.url}/room/{r.json()['code']}", wait_until="domcontentloaded")
    item = pg.get_by_test_id("trouble-exploding_gradients")
    expect(item).to_be_visible()
    expect(item).to_contain_text("200 samples")
    # The evidence is for everyone; applying it is the presenter's (or a fork's) business.
    expect(pg.get_by_test_id("trouble-tried-exploding_gradients")).to_contain_text("200 steps")
    expect(pg.get_by_test_id("trouble-fix-exploding_gradients")).to_have_count(0)
    ctx.close()
