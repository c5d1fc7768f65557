"""The landscape panel and the GIF export in a real Chromium: marker, redraw, rooms, export."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from support import ServerProcess, Watched, room_pages, watched_page
from test_a11y import assert_accessible

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.browser

T = 30_000  # ms: generous for a loaded machine, never reached when things work
expect.set_options(timeout=T)
FRAME = "() => window.backpropStudio.state.frame"
SHOTS = Path("/tmp")


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page at 1440x900 whose errors fail the test; downloads kept, CSP bypassed for
    axe-core's script only (tests/browser/test_a11y.py does the same)."""
    with watched_page(browser, accept_downloads=True, bypass_csp=True) as pg:
        yield pg


def open_demo(page: Any, server: ServerProcess, query: str) -> None:
    """The demo page with a query, connected, its first frame there."""
    page.goto(f"{server.url}/?{query}", wait_until="domcontentloaded")
    expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
    page.wait_for_function("() => window.backpropStudio && window.backpropStudio.state.frame")


def marker_at(page: Any, step: int, frame_js: str = FRAME) -> None:
    """Wait for the marker to stand at `step`, at the frame's own W_ho[0,0] and b_ho."""
    view = page.get_by_test_id("landscape-view")
    expect(view).to_have_attribute("data-marker-step", str(step))
    frame = page.evaluate(frame_js)
    assert frame["step"] == step
    assert float(view.get_attribute("data-marker-a")) == frame["weights"][1][0][0]
    assert float(view.get_attribute("data-marker-b")) == frame["biases"][1][0]


def scrub(page: Any, n: int) -> None:
    """Drag the timeline to step n."""
    page.evaluate(
        """(n) => { const t = document.querySelector('[data-testid=timeline]');
        t.value = String(n); t.dispatchEvent(new Event('input'));
        t.dispatchEvent(new Event('change')); }""",
        n,
    )


def test_landscape_marker_follows_step_seek_scrub_and_play(
    page: Any, server: ServerProcess
) -> None:
    open_demo(page, server, "preset=article")
    # Closed at first: its module is not even loaded.
    assert not any("landscape-view.js" in u for u in page.evaluate(
        "() => performance.getEntriesByType('resource').map((e) => e.name)"))  # fmt: skip
    for n in (1, 2, 3):
        page.get_by_test_id("step-button").click()
        expect(page.get_by_test_id("step-count")).to_have_text(str(n))
    page.get_by_test_id("landscape-open").click()
    view = page.get_by_test_id("landscape-view")
    expect(view).to_be_visible()
    expect(view).to_have_attribute("data-step", "3")  # the surface, at step 3
    marker_at(page, 3)
    expect(page.get_by_test_id("landscape-a")).to_have_value("w.1.0.0")  # the chain panel's edge
    expect(page.get_by_test_id("landscape-b")).to_have_value("b.1.0")
    note = page.get_by_test_id("landscape-note")
    expect(note).to_contain_text("every other weight held where it is at step 3: a slice")
    expect(note).to_contain_text("redrawn at the current step")
    assert_accessible(page, "the landscape panel open")
    # A step: the marker moves at once, and the surface is drawn again there once at rest.
    page.get_by_test_id("step-button").click()
    marker_at(page, 4)
    expect(view).to_have_attribute("data-step", "4")
    # A seek back (the back button), then a scrub of the timeline.
    page.get_by_test_id("back-button").click()
    marker_at(page, 3)
    scrub(page, 1)
    marker_at(page, 1)
    expect(view).to_have_attribute("data-step", "1")
    scrub(page, 4)
    marker_at(page, 4)
    # Play: the marker follows the run; paused, it stands at the last frame.
    page.get_by_test_id("play-button").click()
    page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=landscape-view]')"
        ".dataset.markerStep) > 20"
    )
    page.get_by_test_id("play-button").click()
    expect(page.get_by_test_id("play-button")).to_have_attribute("aria-pressed", "false")
    page.wait_for_function("() => !window.backpropStudio.state.frame.playing")
    # The paused run's last frame may come after the first one that says "not playing": wait
    # until the marker and the readout both stand at the frame's step, then check the marker.
    page.wait_for_function(
        "() => { const s = String(window.backpropStudio.state.frame.step);"
        " return document.querySelector('[data-testid=landscape-view]').dataset.markerStep === s"
        " && document.querySelector('[data-testid=step-count]').textContent === s; }"
    )
    step = int(page.get_by_test_id("step-count").text_content())
    marker_at(page, step)
    expect(view).to_have_attribute("data-step", str(step))
    # The gradient arrow points downhill: minus the frame's two partial derivatives.
    frame = page.evaluate(FRAME)
    g = frame["gradients"]
    arrow = [float(v) for v in view.get_attribute("data-arrow").split(",")]
    assert arrow == [-g["weights"][1][0][0], -g["biases"][1][0]]
    page.screenshot(path=str(SHOTS / "landscape-1440.png"), full_page=True)
    # The whole run's plane.
    page.get_by_test_id("landscape-mode").select_option("trajectory")
    expect(note).to_contain_text("of the trajectory's variance")
    # The share the sentence gives is the server's (tests/web/test_landscape.py checks it against
    # an independent PCA), to the digits shown.
    sid = page.evaluate("() => window.backpropStudio.state.id")
    ans = httpx.get(f"{server.url}/api/sessions/{sid}/landscape?mode=trajectory&grid=3").json()
    pct = 100 * ans["variance"]["explained"]
    shown = f"{pct:.2f}" if pct > 99.9 or pct < 0.1 else f"{pct:.1f}"
    expect(note).to_contain_text(f"it holds {shown}% of the trajectory's variance")
    expect(page.get_by_test_id("landscape-marker")).to_contain_text(f"step {step}")
    page.get_by_test_id("landscape-view").screenshot(path=str(SHOTS / "landscape-plane.png"))


def test_export_button_gives_a_gif_with_a_progress_indicator(
    page: Any, server: ServerProcess, tmp_path: Path
) -> None:
    open_demo(page, server, "preset=article")
    for n in (1, 2):
        page.get_by_test_id("step-button").click()
        expect(page.get_by_test_id("step-count")).to_have_text(str(n))
    page.evaluate(
        """() => { window.__progressSeen = false;
        new MutationObserver(() => { if (!document.querySelector('[data-testid=export-progress]')
        .hidden) window.__progressSeen = true; }).observe(
        document.querySelector('[data-testid=export-progress]'), { attributes: true }); }"""
    )
    with page.expect_download() as info:
        page.get_by_test_id("export-animation").click()
    target = tmp_path / "run.gif"
    info.value.save_as(target)
    with Image.open(target) as image:
        assert image.format == "GIF" and getattr(image, "n_frames", 1) == 3  # steps 0, 1, 2
    expect(page.get_by_test_id("export-status")).to_contain_text("Ready")
    expect(page.get_by_test_id("export-progress")).to_be_hidden()
    assert page.evaluate("() => window.__progressSeen")
    expect(page.get_by_test_id("export-link")).to_contain_text("backprop-studio-steps-0-2.gif")


def test_phone_layout_shows_the_landscape(browser: Any, server: ServerProcess) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    context.set_default_timeout(T)
    try:
        page = context.new_page()
        watched = Watched(page)
        open_demo(page, server, "preset=article")
        page.get_by_test_id("step-button").click()
        expect(page.get_by_test_id("step-count")).to_have_text("1")
        page.get_by_test_id("landscape-open").scroll_into_view_if_needed()
        page.get_by_test_id("landscape-open").click()
        view = page.get_by_test_id("landscape-view")
        expect(view).to_have_attribute("data-marker-step", "1")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390  # nothing wider than the phone
        page.get_by_test_id("landscape-panel").screenshot(path=str(SHOTS / "landscape-390.png"))
        assert not watched.errors, watched.errors
    finally:
        context.close()


def test_a_rooms_participant_sees_the_landscape_follow_the_presenter(
    browser: Any, server: ServerProcess
) -> None:
    with room_pages(browser, server.url, server.url, T) as (_code, presenter, participant):
        guest = participant.page
        expect(guest.get_by_test_id("export-animation")).to_be_hidden()  # the presenter's
        expect(presenter.page.get_by_test_id("export-animation")).to_be_visible()
        guest.get_by_test_id("landscape-open").click()
        view = guest.get_by_test_id("landscape-view")
        expect(view).to_have_attribute("data-marker-step", "0")
        presenter.page.get_by_test_id("step-button").click()
        expect(guest.get_by_test_id("step-count")).to_have_text("1")
        marker_at(guest, 1, "() => window.backpropRoom.live.state.frame")
        expect(view).to_have_attribute("data-step", "1")  # the room route, redrawn at rest
        presenter.page.get_by_test_id("landscape-open").click()
        expect(presenter.page.get_by_test_id("landscape-view")).to_have_attribute("data-step", "1")
        presenter.page.screenshot(path=str(SHOTS / "landscape-present.png"), full_page=True)
        with presenter.page.expect_download() as info:
            presenter.page.get_by_test_id("export-animation").click()
        assert info.value.suggested_filename == "backprop-studio-steps-0-1.gif"
        assert not participant.errors and not presenter.errors
