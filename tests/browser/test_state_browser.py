"""A server restart under open workshop pages: both come back by themselves, same room and code."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import CHROMIUM, CHROMIUM_ARGS, ServerProcess, live_room

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.browser

T = 30_000  # ms: a restart plus the pages' reconnect backoff, on a loaded machine


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A restartable server with its own state directory."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    proc = ServerProcess(tmp_path / "server.log", env={"BACKPROP_STATE_DIR": str(tmp_path / "st")})
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def test_pages_carry_on_after_a_restart(server: ServerProcess, tmp_path: Path) -> None:
    """Presenter and participant reconnect to the same room; the presenter still drives it."""
    body = httpx.post(f"{server.url}/api/rooms", json={"config": {"preset": "article"}}).json()
    code, token = body["code"], body["presenter_token"]
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            context.set_default_timeout(T)
            p, q, learner = context.new_page(), context.new_page(), context.new_page()
            errors: list[str] = []
            for page in (p, q, learner):
                page.on("pageerror", lambda e: errors.append(str(e)))
            p.goto(f"{server.url}/present/{code}#token={token}", wait_until="domcontentloaded")
            live_room(p, T)
            expect(p.get_by_test_id("step-button")).to_be_enabled()
            q.goto(f"{server.url}/room/{code}", wait_until="domcontentloaded")
            live_room(q, T)
            p.get_by_test_id("step-button").click()
            p.get_by_test_id("step-button").click()
            expect(q.get_by_test_id("step-count")).to_have_text("2")
            # A learner on the main page, with a session of their own at step 3.
            learner.goto(server.url + "/", wait_until="domcontentloaded")
            expect(learner.get_by_test_id("connection-status")).to_have_attribute(
                "data-state", "connected"
            )
            for _ in range(3):
                learner.get_by_test_id("step-button").click()
            expect(learner.get_by_test_id("step-count")).to_have_text("3")
            sid = learner.evaluate("() => window.backpropStudio.state.id")

            server.stop(signal.SIGTERM)
            for page in (p, q, learner):
                expect(page.get_by_test_id("connection-status")).not_to_have_attribute(
                    "data-state", "connected"
                )
            server.start()

            # Both pages come back by themselves: no reload, no new code, no "room has ended".
            live_room(p, T)
            live_room(q, T)
            expect(p.get_by_test_id("step-button")).to_be_enabled()  # the token still works
            expect(q.get_by_test_id("step-count")).to_have_text("2")
            assert f"/present/{code}" in p.url and q.url.endswith(f"/room/{code}")
            p.get_by_test_id("step-button").click()
            expect(q.get_by_test_id("step-count")).to_have_text("3")
            for page in (p, q):
                expect(page.locator("#room-gone")).to_be_hidden()
            # The learner's page reconnects to the same session: same id, same step, no notice.
            expect(learner.get_by_test_id("connection-status")).to_have_attribute(
                "data-state", "connected"
            )
            assert learner.evaluate("() => window.backpropStudio.state.id") == sid
            learner.get_by_test_id("step-button").click()
            expect(learner.get_by_test_id("step-count")).to_have_text("4")
            p.screenshot(path=str(tmp_path / "presenter-after-restart.png"))
            assert not errors, errors
        finally:
            browser.close()
