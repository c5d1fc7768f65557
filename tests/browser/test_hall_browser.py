"""A hall joining at once, in a browser: a 429 and a full room are temporary, then it connects."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import DEADLINE, ServerProcess, live_room, wait_for
from websockets.sync.client import connect

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.browser

T = 60_000  # ms: a refused page waits 2 s, doubling: generous for a loaded machine
expect.set_options(timeout=T)
BUSY = "too many people at once: a test's refusal"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The real server, with rooms of one seat (a full room is easy to make)."""
    env = {"BACKPROP_MAX_PARTICIPANTS": "1", "BACKPROP_STATE_DIR": ""}
    srv = ServerProcess(tmp_path_factory.mktemp("hall-browser") / "server.log", env).start()
    try:
        yield srv
    finally:
        srv.stop()


def seated(srv: ServerProcess, code: str) -> int:
    """Participants the server counts in the room."""
    return int(httpx.get(f"{srv.url}/api/rooms/{code}", timeout=10).json()["participants"])


def test_a_refused_page_says_it_waits_then_connects(browser: Any, base: ServerProcess) -> None:
    made = httpx.post(f"{base.url}/api/rooms", json={"config": {"preset": "article"}}, timeout=30)
    code = made.json()["code"]
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(T)
    refused = {"config": True, "count": 0}

    def config(route: Any) -> None:
        """The room's config answers 429 (as a busy server would) until the test lets it go."""
        if refused["config"]:
            refused["count"] += 1
            route.fulfill(
                status=429,
                headers={"Retry-After": "1", "Content-Type": "application/json"},
                body=json.dumps({"detail": BUSY}),
            )
        else:
            route.continue_()

    try:
        page = context.new_page()
        page.route(f"**/api/rooms/{code}/config", config)
        # The one seat taken by someone else: the page's socket will find the room full.
        with connect(f"{base.ws_url}/ws/rooms/{code}", open_timeout=10) as other:
            assert json.loads(other.recv(timeout=10))["type"] == "frame"
            wait_for(lambda: seated(base, code) == 1, "the seat taken")
            page.goto(f"{base.url}/room/{code}", wait_until="domcontentloaded")
            notice = page.get_by_test_id("wait-notice")
            expect(notice).to_be_visible()
            # The server's words, as a sentence.
            expect(page.get_by_test_id("wait-message")).to_have_text(
                BUSY[0].upper() + BUSY[1:] + "."
            )
            expect(page.get_by_test_id("wait-when")).to_contain_text("trying again")
            # Route handlers run only while Playwright is called: wait in the page, not in sleep.
            end = time.monotonic() + DEADLINE
            while refused["count"] < 2 and time.monotonic() < end:
                page.wait_for_timeout(50)
            assert refused["count"] >= 2, "no second try after Retry-After"
            page.screenshot(path="/tmp/hall-wait-429-1440.png")
            refused["config"] = False
            # The config gets through; the socket finds the room full: temporary too.
            full = "This room is full: it seats at most 1 participant; a seat frees up when"
            expect(page.get_by_test_id("wait-message")).to_contain_text(full)
            expect(notice).to_be_visible()
            assert page.evaluate("() => window.backpropRoom.live.state.frame") is None
            page.set_viewport_size({"width": 390, "height": 844})
            page.screenshot(path="/tmp/hall-wait-full-390.png")
            page.set_viewport_size({"width": 1440, "height": 900})
        # The seat is free: the page gets in by itself, and the banner goes.
        live_room(page, timeout_ms=T)
        expect(notice).to_be_hidden()
        wait_for(lambda: seated(base, code) == 1, "the page seated", deadline=DEADLINE)
    finally:
        context.close()


def test_the_presenter_page_proves_its_token_in_the_handshake(
    browser: Any, base: ServerProcess
) -> None:
    """With the room full, the presenter's page still connects at once and drives."""
    made = httpx.post(f"{base.url}/api/rooms", json={"config": {"preset": "article"}}, timeout=30)
    code, token = made.json()["code"], made.json()["presenter_token"]
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(T)
    try:
        with connect(f"{base.ws_url}/ws/rooms/{code}", open_timeout=10) as other:
            assert json.loads(other.recv(timeout=10))["type"] == "frame"
            page = context.new_page()
            sockets: list[Any] = []
            page.on("websocket", lambda ws: sockets.append(ws))
            page.goto(f"{base.url}/present/{code}#token={token}", wait_until="domcontentloaded")
            live_room(page)
            expect(page.get_by_test_id("step-button")).to_be_enabled()  # welcomed
            expect(page.get_by_test_id("wait-notice")).to_be_hidden()
            assert len(sockets) == 1  # the first try
            page.get_by_test_id("step-button").click()
            wait_for(
                lambda: json.loads(other.recv(timeout=10)).get("step") == 1, "the room stepped"
            )
    finally:
        context.close()


BACKOFF = """async () => {
  const { backoffMs, retryAfterMs } = await import('/static/js/patience.js');
  const wait = (k, after) => backoffMs(k, { base: 1000, cap: 30000, retryAfterMs: after });
  const runs = (after) =>
    Array.from({ length: 40 }, () => Array.from({ length: 6 }, (_, k) => wait(k, after)));
  const parsed = [retryAfterMs('7'), retryAfterMs(null), retryAfterMs('x')];
  return { none: runs(0), five: runs(5000), parsed };
}"""


def test_the_wait_honours_retry_after_and_is_spread(browser: Any, base: ServerProcess) -> None:
    """Never before Retry-After; from 1 s doubling to 30 s otherwise; never all the same."""
    page = browser.new_page()
    try:
        page.goto(f"{base.url}/join", wait_until="domcontentloaded")
        out = page.evaluate(BACKOFF)
    finally:
        page.close()
    assert out["parsed"] == [7000, 0, 0]
    for waits in out["none"]:
        for k, wait in enumerate(waits):
            nominal = min(30_000, 1000 * 2**k)
            assert 0.5 * nominal <= wait <= 1.5 * nominal, (k, waits)
    for waits in out["five"]:
        for k, wait in enumerate(waits):
            nominal = min(30_000, 1000 * 2**k)
            lo = max(0.5 * nominal, 5000)
            assert lo <= wait <= max(1.5 * nominal, 1.5 * lo), (k, waits)
    firsts = [waits[0] for waits in out["five"]]
    assert len(set(firsts)) > 1, firsts  # a hall told "5 s" together does not return together
