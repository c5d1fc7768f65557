"""The presenter's page says how many forks of the room's network the server keeps at 30 fps."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import ServerProcess, Watched, live_room

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.browser

T = 20_000  # ms: the page asks again every 5 s; generous for a loaded machine


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real server in a subprocess; its base URL."""
    srv = ServerProcess(tmp_path_factory.mktemp("capacity-browser") / "server.log").start()
    try:
        yield srv.url
    finally:
        srv.stop()


def expected_text(capacity: dict[str, Any]) -> str:
    """The page's sentence, from the REST numbers, written independently of the server's code."""
    need = 30 * (capacity["step_us"] + capacity["frame_us"]) / 1e6
    forks = math.floor(1 / need)
    assert capacity["forks"] == forks
    shown = forks if forks < 100 else int(str(forks)[:2]) * 10 ** (len(str(forks)) - 2)
    return f"This server keeps ~{shown} fork{'' if shown == 1 else 's'} of this network at 30 fps."


@pytest.mark.parametrize("viewport", [(1440, 900), (390, 844)])
def test_the_presenter_is_told_the_capacity(
    browser: Any, base: str, viewport: tuple[int, int]
) -> None:
    made = httpx.post(f"{base}/api/rooms", json={"config": {"preset": "article"}}, timeout=30)
    code, token = made.json()["code"], made.json()["presenter_token"]
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(T)
    try:
        watched = Watched(context.new_page())
        p = watched.page
        p.goto(f"{base}/present/{code}#token={token}", wait_until="domcontentloaded")
        live_room(p)
        expect(p.get_by_test_id("play-button")).to_be_enabled()
        p.get_by_test_id("play-button").click()
        p.wait_for_function("() => window.backpropRoom.live.state.frame.step >= 20")
        p.get_by_test_id("play-button").click()  # pause: the figure stops moving
        p.wait_for_function("() => window.backpropRoom.live.state.frame.playing === false")
        rest = httpx.get(f"{base}/api/rooms/{code}/capacity", timeout=30).json()["capacity"]
        expect(p.get_by_test_id("capacity")).to_have_text(expected_text(rest), timeout=T)
        p.get_by_test_id("capacity").scroll_into_view_if_needed()
        p.screenshot(path=f"/tmp/capacity-{width}x{height}.png")
        assert watched.errors == []
    finally:
        context.close()
