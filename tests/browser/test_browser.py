"""Browser tests: the real server in a subprocess, driven by Debian's Chromium via Playwright."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from support import ServerProcess, Watched

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "tests" / "screenshots"
T = 30_000  # ms: generous for a loaded CI machine, never reached when things work
expect.set_options(timeout=T)


@pytest.fixture(scope="module")
def context(browser: Any) -> Iterator[Any]:
    """One browser context: pages share the HTTP cache, so Plotly is fetched once."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    ctx.set_default_timeout(T)
    yield ctx
    ctx.close()


def open_page(context: Any, server: ServerProcess, path: str = "/") -> Watched:
    """A new page on `path`, loaded and connected (step count shown)."""
    page = context.new_page()
    w = Watched(page, server.url)
    page.goto(server.url + path, wait_until="domcontentloaded")
    wait_ready(page)
    return w


def wait_ready(page: Any) -> None:
    """Wait until the socket is connected and the first frame is drawn."""
    expect(page.get_by_test_id("connection-status")).to_have_text("Connected")
    expect(page.get_by_test_id("step-count")).not_to_have_text("")
    page.wait_for_function("() => window.backpropStudio && window.backpropStudio.state.data")


def step_count(page: Any) -> int:
    """The step readout as an int."""
    return int(page.get_by_test_id("step-count").text_content())


def blur(page: Any) -> None:
    """Move the focus off any control, as after clicking the page background."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")


def query(page: Any) -> dict[str, str]:
    """The page URL's query string as a flat dict."""
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}


@pytest.fixture(scope="module")
def main(context: Any, server: ServerProcess) -> Iterator[Watched]:
    """The shared page most tests drive, at the article preset."""
    w = open_page(context, server, "/")
    yield w
    w.page.close()


def test_page_loads_with_every_panel(main: Watched) -> None:
    """The article preset: 25 edges, loss plot, chain rule, matrix form, observations table."""
    page = main.page
    expect(page.get_by_test_id("step-count")).to_have_text("0")
    assert float(page.get_by_test_id("loss-value").text_content()) > 0
    expect(page.locator("[data-testid=network-plot] line.edge")).to_have_count(4 * 5 + 5 * 1)
    expect(page.locator("[data-testid=network-plot] .node")).to_have_count(10)
    expect(page.locator("[data-testid=loss-plot] canvas.chart-plot")).to_be_visible()
    expect(page.get_by_test_id("chain-name")).to_have_text("W_ho[0,0]")
    expect(page.locator("[data-testid=chain-panel] math").first).to_be_visible()
    expect(page.locator("[data-testid=matrix-panel] .matrix-block")).to_have_count(2)
    expect(page.locator("[data-testid=data-table] tbody tr")).to_have_count(5)
    expect(page.get_by_test_id("preset-select")).to_have_value("article")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "desktop-1440x900.png"))


def test_step_button_and_right_arrow(main: Watched) -> None:
    """Step applies one update; the Right arrow does the same; the loss changes."""
    page = main.page
    before = page.get_by_test_id("loss-value").text_content()
    page.get_by_test_id("step-button").click()
    expect(page.get_by_test_id("step-count")).to_have_text("1")
    assert page.get_by_test_id("loss-value").text_content() != before
    blur(page)
    page.keyboard.press("ArrowRight")
    expect(page.get_by_test_id("step-count")).to_have_text("2")


def test_play_and_pause_with_button_and_space(main: Watched) -> None:
    """Play streams frames and the curve grows; Space pauses and playing stops."""
    page = main.page
    page.get_by_test_id("play-button").click()
    expect(page.get_by_test_id("play-button")).to_have_attribute("aria-pressed", "true")
    page.wait_for_function(
        "() => +document.querySelector('[data-testid=step-count]').textContent > 12"
    )
    blur(page)
    page.keyboard.press("Space")
    expect(page.get_by_test_id("play-button")).to_have_attribute("aria-pressed", "false")
    # The server's own paused frame is the last one: after it the readouts no longer move, and
    # the curve holds the loss at step 0 and after every step.
    page.wait_for_function(
        """() => document.body.dataset.serverPlaying === 'false'
            && document.querySelector('[data-testid=loss-plot]').chart.points
               === +document.querySelector('[data-testid=step-count]').textContent + 1"""
    )
    assert step_count(page) > 12
    page.keyboard.press("Space")
    expect(page.get_by_test_id("play-button")).to_have_attribute("aria-pressed", "true")
    page.get_by_test_id("play-button").click()
    expect(page.get_by_test_id("play-button")).to_have_attribute("aria-pressed", "false")


def test_reset_button_and_key(main: Watched) -> None:
    """R and the Reset button go back to step 0 with the same initial loss."""
    page = main.page
    blur(page)
    page.keyboard.press("r")
    expect(page.get_by_test_id("step-count")).to_have_text("0")
    loss0 = page.get_by_test_id("loss-value").text_content()
    page.get_by_test_id("step-button").click()
    expect(page.get_by_test_id("step-count")).to_have_text("1")
    page.get_by_test_id("reset-button").click()
    expect(page.get_by_test_id("step-count")).to_have_text("0")
    expect(page.get_by_test_id("loss-value")).to_have_text(loss0)


def test_edge_hover_and_click_update_the_chain_panel(main: Watched) -> None:
    """Hovering an edge names it; clicking selects it; the chain's sum is its gradient."""
    page = main.page
    edge = page.locator('.edge-hit[data-l="1"][data-i="2"][data-j="0"]')
    expect(edge).to_have_count(1)
    # The line's midpoint on the screen (a horizontal line has an empty bounding box).
    x, y = edge.evaluate(
        """l => { const p = l.ownerSVGElement.createSVGPoint();
        p.x = (l.x1.baseVal.value + l.x2.baseVal.value) / 2;
        p.y = (l.y1.baseVal.value + l.y2.baseVal.value) / 2;
        const q = p.matrixTransform(l.getScreenCTM()); return [q.x, q.y]; }"""
    )
    page.mouse.move(x, y)
    expect(page.get_by_test_id("tooltip")).to_contain_text("W_ho[2,0]")
    page.mouse.click(x, y)
    expect(page.get_by_test_id("chain-name")).to_have_text("W_ho[2,0]")
    assert query(page)["sel"] == "w.1.2.0"
    page.locator('.edge-hit[data-l="0"][data-i="2"][data-j="3"]').dispatch_event("click")
    expect(page.get_by_test_id("chain-name")).to_have_text("W_ih[2,3]")
    # The article's five factors: (O-Y), O(1-O), W_ho, h1(1-h1), X.
    expect(page.locator("[data-testid=chain-table] thead th")).to_have_count(1 + 5 + 1)
    grad = page.evaluate("() => window.backpropStudio.state.frame.gradients.weights[0][2][3]")
    shown = float(page.get_by_test_id("chain-sum").text_content().replace("−", "-"))
    assert shown == pytest.approx(grad, rel=1e-3, abs=1e-12)
    # Stepping refreshes the numbers (newest only).
    old = page.get_by_test_id("chain-sum").text_content()
    page.get_by_test_id("step-button").click()
    expect(page.get_by_test_id("chain-sum")).not_to_have_text(old)


def test_parameter_picker_is_keyboard_operable(main: Watched) -> None:
    """The chain panel's selects choose a bias without a mouse."""
    page = main.page
    page.get_by_test_id("pick-layer").select_option("0")  # whatever an earlier test selected
    page.get_by_test_id("pick-kind").focus()
    page.get_by_test_id("pick-kind").select_option("bias")
    expect(page.get_by_test_id("chain-name")).to_have_text(re.compile(r"^b_ih\[\d\]$"))
    page.get_by_test_id("pick-layer").select_option("1")
    expect(page.get_by_test_id("chain-name")).to_have_text("b_ho[0]")
    assert query(page)["sel"] == "b.1.0"


def test_view_modes_and_log_scale(main: Watched) -> None:
    """Gradients / update modes recolour the edges; the log switch changes the y axis."""
    page = main.page
    width = page.locator("line.edge").first.evaluate("e => e.style.strokeWidth")
    page.get_by_test_id("mode-gradients").check(force=True)
    assert query(page)["view"] == "gradients"
    page.wait_for_function(
        "w => document.querySelector('line.edge').style.strokeWidth !== w", arg=width
    )
    page.get_by_test_id("mode-update").check(force=True)
    assert query(page)["view"] == "update"
    page.get_by_test_id("log-toggle").check()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=loss-plot]').chart.log === true"
    )
    page.get_by_test_id("log-toggle").uncheck()
    page.get_by_test_id("mode-weights").check(force=True)


def test_learning_rate_change_keeps_training_state(main: Watched) -> None:
    """A new learning rate goes over the socket: the step count is kept."""
    page = main.page
    n = step_count(page) + 2
    page.get_by_test_id("step-button").click()
    expect(page.get_by_test_id("step-count")).to_have_text(str(n - 1))
    page.get_by_test_id("step-button").click()
    expect(page.get_by_test_id("step-count")).to_have_text(str(n))
    page.get_by_test_id("lr-input").fill("0.1")
    page.get_by_test_id("lr-input").press("Enter")
    page.get_by_test_id("step-button").click()
    expect(page.get_by_test_id("step-count")).to_have_text(str(n + 1))
    page.wait_for_function("() => window.backpropStudio.state.frame.learning_rate === 0.1")
    # The link keeps the run's start and lists the change at its step (test_links_browser.py).
    expect(page).to_have_url(re.compile(rf"[?&]step={n + 1}(&|$)"))
    start_lr = query(page)["lr"]
    assert query(page)["changes"].endswith(f"{n}:lr=0.1") and start_lr != "0.1"
    page.get_by_test_id("optimizer-select").select_option("momentum")
    page.get_by_test_id("batch-select").select_option("2")
    page.get_by_test_id("step-button").click()
    expect(page.get_by_test_id("step-count")).to_have_text(str(n + 2))
    expect(page).to_have_url(re.compile(rf"[?&]step={n + 2}(&|$)"))
    changes = query(page)["changes"]
    assert changes.endswith(f"{n}:lr=0.1;{n + 1}:opt=momentum;{n + 1}:batch=2"), changes
    assert query(page)["lr"] == start_lr
    expect(page.get_by_test_id("optimizer-select")).to_have_value("momentum")


def test_architecture_editor_creates_a_new_session(main: Watched) -> None:
    """+ neuron and + layer rebuild the network; the URL follows."""
    page = main.page
    old = page.evaluate("() => window.backpropStudio.state.id")
    page.get_by_test_id("arch-inc-1").click()
    expect(page.get_by_test_id("arch-n-1")).to_have_text("6")
    expect(page.locator("[data-testid=network-plot] line.edge")).to_have_count(4 * 6 + 6)
    expect(page.get_by_test_id("step-count")).to_have_text("0")
    assert query(page)["layers"] == "4-6-1"
    assert page.evaluate("() => window.backpropStudio.state.id") != old
    page.get_by_test_id("arch-add-layer").click()
    expect(page.locator("[data-testid=network-plot] line.edge")).to_have_count(4 * 6 + 6 * 6 + 6)
    assert query(page)["layers"] == "4-6-6-1"
    expect(page.get_by_test_id("pick-layer").locator("option")).to_have_count(3)
    page.get_by_test_id("arch-remove-2").click()
    page.get_by_test_id("arch-dec-1").click()
    expect(page.locator("[data-testid=network-plot] line.edge")).to_have_count(4 * 5 + 5)
    page.get_by_test_id("activation-select").select_option("tanh")
    expect(page.get_by_test_id("network-plot")).to_contain_text("tanh(Z1)")
    assert query(page)["act"] == "tanh"


def test_dataset_change_shows_the_decision_boundary(main: Watched) -> None:
    """A 2-D data set with a test split: heatmap under train and test points."""
    page = main.page
    page.get_by_test_id("dataset-select").select_option("spiral")
    expect(page.get_by_test_id("data-plane")).to_be_visible()
    expect(page.locator("[data-testid=network-plot] .node[data-node-l='0']")).to_have_count(2)
    assert query(page)["data"] == "spiral"
    page.get_by_test_id("test-input").fill("0.2")
    page.get_by_test_id("test-input").dispatch_event("change")
    expect(page.get_by_test_id("test-loss-value")).to_be_visible()
    # The plane loads Plotly once on screen (the article's charts before it needed none).
    page.get_by_test_id("data-plot").scroll_into_view_if_needed()
    page.wait_for_function(
        "() => (document.querySelector('[data-testid=data-plane]').data || [])"
        ".some(t => t.name === 'test')"
    )
    assert query(page)["test"] == "0.2"
    # The network's output is painted under the points: the middle pixel is opaque.
    alpha = page.evaluate(
        """() => { const c = document.querySelector('[data-testid=data-surface]');
        return c.getContext('2d').getImageData(c.width >> 1, c.height >> 1, 1, 1).data[3]; }"""
    )
    assert alpha > 0
    page.get_by_test_id("play-button").click()
    page.wait_for_function(
        "() => +document.querySelector('[data-testid=step-count]').textContent > 10"
    )
    page.get_by_test_id("play-button").click()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "spiral-1440x900.png"), full_page=True)


def test_preset_menu(main: Watched) -> None:
    """Choosing a preset starts it; back to the article for the tests after."""
    page = main.page
    page.get_by_test_id("preset-select").select_option("xor")
    expect(page).to_have_url(re.compile(r"preset=xor"))
    expect(page.get_by_test_id("data-plane")).to_be_visible()
    page.get_by_test_id("preset-select").select_option("article")
    expect(page).to_have_url(re.compile(r"preset=article"))
    expect(page.get_by_test_id("data-table")).to_be_visible()
    assert query(page)["layers"] == "4-5-1"


def test_responsive_layouts(main: Watched) -> None:
    """No horizontal scrolling at laptop and phone sizes; screenshots for a human look."""
    page = main.page
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, (width, height) in [("laptop-1366x768", (1366, 768)), ("phone-390x844", (390, 844))]:
        page.set_viewport_size({"width": width, "height": height})
        # No sideways scroll once the layout has settled at this size.
        page.wait_for_function(
            "() => document.documentElement.scrollWidth - window.innerWidth <= 1"
        )
        page.screenshot(path=str(SHOTS / f"{name}.png"))
        page.screenshot(path=str(SHOTS / f"{name}-full.png"), full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})


def test_guide_walks_through_the_article(main: Watched) -> None:
    """The guide's steps highlight panels and select the article's weights."""
    page = main.page
    page.emulate_media(reduced_motion="reduce")
    page.get_by_test_id("guide-button").click()
    expect(page.get_by_test_id("guide")).to_be_visible()
    expect(page.locator("#panel-network")).to_have_class("panel panel-network guide-focus")
    for _ in range(3):
        page.get_by_test_id("guide-next").click()
    expect(page.locator("#panel-chain.guide-focus")).to_have_count(1)
    expect(page.get_by_test_id("chain-name")).to_have_text("W_ho[0,0]")
    page.get_by_test_id("guide-next").click()
    expect(page.get_by_test_id("chain-name")).to_have_text("W_ih[0,0]")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("guide")).to_be_hidden()


def test_no_console_errors_and_nothing_leaves_the_machine(main: Watched) -> None:
    """Everything above ran without a console error or an off-machine request."""
    assert main.errors == []
    assert main.foreign == []


def test_url_round_trip(context: Any, server: ServerProcess) -> None:
    """A link reproduces the setup: config, view, selection; the rewritten URL too."""
    path = "/?preset=xor&layers=2-3-1&opt=adam&lr=0.02&sel=w.0.1.2&view=gradients&log=1&seed=7"
    w = open_page(context, server, path)
    page = w.page
    expect(page.get_by_test_id("lr-input")).to_have_value("0.02")
    expect(page.get_by_test_id("optimizer-select")).to_have_value("adam")
    expect(page.get_by_test_id("arch-n-1")).to_have_text("3")
    expect(page.get_by_test_id("seed-input")).to_have_value("7")
    expect(page.get_by_test_id("mode-gradients")).to_be_checked()
    expect(page.get_by_test_id("log-toggle")).to_be_checked()
    expect(page.get_by_test_id("chain-name")).to_have_text("W_ih[1,2]")
    q = query(page)
    assert q["layers"] == "2-3-1"
    assert q["data"] == "xor"
    cfg = page.evaluate("() => window.backpropStudio.state.config")
    loss0 = page.get_by_test_id("loss-value").text_content()
    again = open_page(context, server, urlparse(page.url).path + "?" + urlparse(page.url).query)
    assert again.page.evaluate("() => window.backpropStudio.state.config") == cfg
    expect(again.page.get_by_test_id("loss-value")).to_have_text(loss0)
    assert w.errors == [] and again.errors == []
    page.close()
    again.page.close()


def test_csv_upload_errors_and_escaping(context: Any, server: ServerProcess) -> None:
    """A bad CSV shows the server's message; a good one loads, its header shown as text."""
    w = open_page(context, server, "/")
    page = w.page
    page.get_by_test_id("csv-input").set_input_files(
        files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": b"a,b\n1,oops\n2,3\n"}]
    )
    expect(page.get_by_test_id("csv-error")).to_be_visible()
    expect(page.get_by_test_id("csv-error")).to_contain_text("bad.csv")
    csv = b"<b>size</b>,rooms,price\n1,2,0.3\n2,3,0.5\n3,3,0.6\n4,5,0.9\n"
    page.get_by_test_id("csv-input").set_input_files(
        files=[{"name": "good.csv", "mimeType": "text/csv", "buffer": csv}]
    )
    expect(page).to_have_url(re.compile(r"data=custom"))
    expect(page.get_by_test_id("csv-error")).to_be_hidden()
    expect(page.get_by_test_id("data-table")).to_contain_text("<b>size</b>")
    assert page.locator("[data-testid=data-table] b").count() == 0
    expect(page.locator("[data-testid=network-plot] .node[data-node-l='0']")).to_have_count(2)
    assert w.foreign == []
    page.close()


def test_divergence_banner_and_fix(context: Any, server: ServerProcess) -> None:
    """A run that blows up says so and offers the fix."""
    w = open_page(context, server, "/?preset=article&act=linear&out=linear&lr=50")
    page = w.page
    page.get_by_test_id("play-button").click()
    expect(page.get_by_test_id("diverged-banner")).to_be_visible()
    expect(page.get_by_test_id("diverged-banner")).to_contain_text("learning rate")
    expect(page.get_by_test_id("play-button")).to_have_attribute("aria-pressed", "false")
    page.get_by_test_id("diverged-fix").click()
    expect(page.get_by_test_id("diverged-banner")).to_be_hidden()
    expect(page.get_by_test_id("step-count")).to_have_text("0")
    expect(page.get_by_test_id("lr-input")).to_have_value("5")
    assert w.errors == []
    page.close()


def test_reconnects_after_a_server_restart(context: Any, server: ServerProcess) -> None:
    """The socket comes back and the run carries on (snapshots outlive the process); a run the
    server no longer has is replayed from its link to the same step, and the page says so."""
    w = open_page(context, server, "/?preset=article&lr=0.3")
    page = w.page
    page.get_by_test_id("step-button").click()
    expect(page.get_by_test_id("step-count")).to_have_text("1")
    server.stop()
    expect(page.get_by_test_id("connection-status")).not_to_have_text("Connected")
    expect(page.get_by_test_id("step-button")).to_be_disabled()
    server.start()
    expect(page.get_by_test_id("connection-status")).to_have_text("Connected")
    page.get_by_test_id("step-button").click()
    expect(page.get_by_test_id("step-count")).to_have_text("2")  # the same run, one step on
    expect(page.get_by_test_id("notice")).to_be_hidden()
    # Restarted with no state directory: the run is gone, the page starts it again.
    server.stop()
    expect(page.get_by_test_id("connection-status")).not_to_have_text("Connected")
    keep = server.env["BACKPROP_STATE_DIR"]
    server.env["BACKPROP_STATE_DIR"] = ""
    try:
        server.start()
    finally:
        server.env["BACKPROP_STATE_DIR"] = keep
    expect(page.get_by_test_id("connection-status")).to_have_text("Connected")
    expect(page.get_by_test_id("notice")).to_be_visible()
    expect(page.get_by_test_id("notice")).to_contain_text("replayed to step 2")
    expect(page.get_by_test_id("step-count")).to_have_text("2")
    expect(page.get_by_test_id("lr-input")).to_have_value("0.3")
    # The same run: the seed and config stepped twice over REST give the same weights.
    made = httpx.post(
        f"{server.url}/api/sessions",
        json={"preset": "article", "optimizer": {"learning_rate": 0.3}},
    ).json()
    ref = httpx.post(f"{server.url}/api/sessions/{made['id']}/step", json={"count": 2}).json()
    sid = page.evaluate("() => window.backpropStudio.state.id")
    assert httpx.get(f"{server.url}/api/sessions/{sid}").json()["weights"] == ref["weights"]
    page.get_by_test_id("step-button").click()
    expect(page.get_by_test_id("step-count")).to_have_text("3")
    page.close()
