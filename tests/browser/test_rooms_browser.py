"""Workshop rooms in a real browser: a presenter page and a participant page side by side."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import ServerProcess, Watched, live_room, room_pages

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
T = 15_000  # ms: generous for a loaded machine, never reached when things work
expect.set_options(timeout=T)
EDGES = "() => [...document.querySelectorAll('#network-plot .edge')].map(e => e.style.cssText)"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real server in a subprocess; its base URL."""
    srv = ServerProcess(tmp_path_factory.mktemp("rooms-browser") / "server.log").start()
    try:
        yield srv.url
    finally:
        srv.stop()


def test_presenter_steps_and_the_participant_follows_then_forks(browser: Any, base: str) -> None:
    # One context: the two pages share the HTTP cache, so Plotly loads once. The participant's
    # page never reads the presenter's localStorage; the room's token check is server-side.
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(T)
    try:
        presenter = Watched(context.new_page())
        participant = Watched(context.new_page())
        p, q = presenter.page, participant.page

        # "Start a workshop" on the main page opens the presenter's page, token in the fragment.
        p.goto(base + "/", wait_until="domcontentloaded")
        expect(p.get_by_test_id("workshop-button")).to_be_enabled()
        p.wait_for_function("() => window.backpropStudio && window.backpropStudio.state.config")
        p.get_by_test_id("workshop-button").click()
        p.wait_for_url("**/present/**#token=*")
        code = p.url.split("/present/")[1].split("#")[0]
        token = p.url.split("#token=")[1]
        live_room(p)
        expect(p.get_by_test_id("step-button")).to_be_enabled()  # the hello was accepted
        expect(p.get_by_test_id("join-qr")).to_be_visible()
        host = base.split("://", 1)[1]
        expect(p.get_by_test_id("join-link")).to_have_text(f"{host}/room/{code}")

        q.goto(f"{base}/room/{code}", wait_until="domcontentloaded")
        live_room(q)
        expect(q.get_by_test_id("step-count")).to_have_text("0")
        expect(q.get_by_test_id("step-button")).to_be_hidden()
        expect(p.get_by_test_id("join-count")).to_have_text("1")
        q.wait_for_function(f"() => {EDGES}().length === 25")
        before = q.evaluate(EDGES)

        # The presenter clicks Step: the participant's step count and network move with it.
        p.get_by_test_id("step-button").click()
        p.get_by_test_id("step-button").click()
        expect(q.get_by_test_id("step-count")).to_have_text("2")
        q.wait_for_function(f"before => {EDGES}().join() !== before.join()", arg=before)

        # The presenter's selection: an edge in the chain-rule panel and the view mode.
        p.select_option("#pick-layer", "0")
        p.select_option("#pick-i", "1")
        p.select_option("#pick-j", "2")
        p.get_by_test_id("mode-gradients").check(force=True)
        expect(q.get_by_test_id("chain-name")).to_have_text("W_ih[1,2]")
        expect(q.get_by_test_id("mode-gradients")).to_be_checked()
        expect(q.get_by_test_id("follow-button")).to_have_attribute("aria-pressed", "true")

        # Fork: a private session at the room's state, driven from the same page.
        q.get_by_test_id("fork-button").click()
        expect(q.get_by_test_id("fork-banner")).to_be_visible()
        expect(q.get_by_test_id("step-button")).to_be_enabled()
        expect(q.get_by_test_id("step-count")).to_have_text("2")
        q.get_by_test_id("step-button").click()
        q.get_by_test_id("step-button").click()
        expect(q.get_by_test_id("step-count")).to_have_text("4")
        assert httpx.get(f"{base}/api/rooms/{code}").json()["step"] == 2  # the room stayed

        # Back to the room: following again, at the room's step.
        q.get_by_test_id("back-button").click()
        expect(q.get_by_test_id("fork-banner")).to_be_hidden()
        expect(q.get_by_test_id("step-count")).to_have_text("2")
        live_room(q)
        p.get_by_test_id("step-button").click()
        expect(q.get_by_test_id("step-count")).to_have_text("3")
        expect(q.get_by_test_id("chain-name")).to_have_text("W_ih[1,2]")

        assert not presenter.errors, presenter.errors
        assert not participant.errors, participant.errors
        assert not [u for u in presenter.urls + participant.urls if token in u]
    finally:
        context.close()


def test_a_participant_page_draws_a_playing_room_as_the_presenter_does(
    browser: Any, base: str
) -> None:
    """The participant never pressed Play: the server's frames say the room plays, and its page
    takes the playing paths too (panels laid out alone), its curve grows as the presenter's."""
    with room_pages(browser, base, base, T) as (_, presenter, participant):
        p, q = presenter.page, participant.page
        curve = "document.querySelector('[data-testid=loss-plot]').chart"
        q.wait_for_function(f"() => {curve}.draws > 0")
        chain = "() => getComputedStyle(document.getElementById('chain-panel')).contain"
        assert q.evaluate(chain) in ("none", "layout")
        p.get_by_test_id("play-button").click()
        # Past step 10 the curve's x axis had to grow, while playing.
        q.wait_for_function("() => window.backpropRoom.live.state.frame.step > 15")
        q.wait_for_function(f"() => {curve}.view.x[1] > 15")
        assert q.evaluate(chain) in ("strict", "size layout paint style")
        p.get_by_test_id("play-button").click()
        q.wait_for_function(f"() => ['none', 'layout'].includes(({chain})())")
        assert not presenter.errors, presenter.errors
        assert not participant.errors, participant.errors
