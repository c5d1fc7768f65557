"""Discretize in links and rooms (issue 22, item 6): a link reproduces the toggle, and a room's
participants follow the presenter's. A real server, Chromium; every wait has a deadline.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import httpx
import pytest
from support import ServerProcess, Watched, live_room, wait_for, watched_page
from websockets.sync.client import connect

pytestmark = pytest.mark.browser

CIRCLE = {"preset": "xor", "dataset": {"name": "circle"}}


def looks(page: Any, look: str) -> bool:
    """The data surface paints `look` ('discrete' or 'output') and the toggle says so."""
    surface = page.get_by_test_id("data-surface")
    toggle = page.get_by_test_id("discretize-toggle")
    return bool(
        surface.count()
        and surface.get_attribute("data-look") == look
        and toggle.is_checked() == (look == "discrete")
    )


def test_a_link_reproduces_discretize(browser: Any, server: ServerProcess) -> None:
    with watched_page(browser) as page:
        page.goto(f"{server.url}/?preset=xor&data=circle", wait_until="domcontentloaded")
        wait_for(lambda: page.evaluate("() => !!window.backpropStudio?.state?.data"), "data")
        page.get_by_test_id("data-plot").scroll_into_view_if_needed()
        wait_for(lambda: looks(page, "output"), "the smooth plane")
        assert "discretize" not in page.url
        page.get_by_test_id("discretize-toggle").check()
        wait_for(lambda: looks(page, "discrete"), "hard regions")
        wait_for(lambda: "discretize=1" in page.url, "the address bar with discretize")
        link = page.url
    # The link, opened anew: the plane is discretized, the toggle on.
    with watched_page(browser) as page:
        page.goto(link, wait_until="domcontentloaded")
        wait_for(lambda: page.evaluate("() => !!window.backpropStudio?.state?.data"), "data")
        page.get_by_test_id("data-plot").scroll_into_view_if_needed()
        wait_for(lambda: looks(page, "discrete"), "the link's hard regions")
        assert page.evaluate("() => window.backpropStudio.state.view.discrete") is True
        # Off again: the address bar drops it, and so does a link copied now.
        page.get_by_test_id("discretize-toggle").uncheck()
        wait_for(lambda: looks(page, "output"), "the smooth plane again")
        wait_for(lambda: "discretize" not in page.url, "the address bar without it")


def test_participants_follow_the_presenters_discretize(browser: Any, server: ServerProcess) -> None:
    made = httpx.post(f"{server.url}/api/rooms", json={"config": CIRCLE})
    assert made.status_code == 201, made.text
    code, token = made.json()["code"], made.json()["presenter_token"]
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(30_000)
    try:
        presenter, participant = Watched(context.new_page()), Watched(context.new_page())
        presenter.page.goto(f"{server.url}/present/{code}#token={token}")
        live_room(presenter.page)
        participant.page.goto(f"{server.url}/room/{code}")
        live_room(participant.page)
        p, q = presenter.page, participant.page
        for pg in (p, q):
            pg.get_by_test_id("data-plot").scroll_into_view_if_needed()
            wait_for(partial(looks, pg, "output"), "the smooth plane")
        p.get_by_test_id("discretize-toggle").check()
        wait_for(lambda: looks(p, "discrete"), "the presenter's hard regions")
        wait_for(lambda: looks(q, "discrete"), "the participant's hard regions")
        # A late joiner gets it from the room's kept selection, over the WebSocket ...
        with connect(f"{server.ws_url}/ws/rooms/{code}", open_timeout=30) as ws:
            seen = None
            for _ in range(20):
                raw = ws.recv(timeout=30)
                msg = json.loads(raw) if isinstance(raw, str) else {}  # binary: a frame
                if msg.get("type") == "select":
                    seen = msg["selection"]
                    break
            assert seen is not None and seen.get("discrete") is True, seen
        # ... and off again, the participant follows within the presenter's next message.
        p.get_by_test_id("discretize-toggle").uncheck()
        wait_for(lambda: looks(q, "output"), "the participant's smooth plane")
        # A participant who toggles for themself stops following; the presenter's next
        # change then leaves their screen alone.
        q.get_by_test_id("discretize-toggle").check()
        wait_for(lambda: looks(q, "discrete"), "the participant's own choice")
        wait_for(
            lambda: q.get_by_test_id("follow-button").get_attribute("aria-pressed") == "false",
            "following off",
        )
        assert looks(p, "output")
        assert not presenter.errors and not participant.errors, (
            presenter.errors,
            participant.errors,
        )
    finally:
        context.close()
