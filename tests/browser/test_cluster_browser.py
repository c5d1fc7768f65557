"""Peers in a real browser: the presenter's page on one peer, a participant's on another."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import RedisProcess, ServerProcess, room_pages, running, start_peers

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.browser

T = 15_000  # ms: generous for a loaded machine, never reached when things work


@pytest.fixture
def peers(redis_server: RedisProcess, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Two peers sharing the test's redis-server."""
    yield from running(start_peers(tmp_path, redis_server.url, 2))


def test_presenter_on_one_peer_participant_on_another(
    browser: Any, peers: list[ServerProcess]
) -> None:
    """Steps, the selection and the head count cross peers; the participant's panels load."""
    a, b = peers
    with room_pages(browser, a.url, b.url, T) as (code, presenter, participant):
        p, q = presenter.page, participant.page
        expect(q.get_by_test_id("step-count")).to_have_text("0")
        expect(p.get_by_test_id("join-count")).to_have_text("1")  # counted across peers

        p.get_by_test_id("step-button").click()
        p.get_by_test_id("step-button").click()
        expect(q.get_by_test_id("step-count")).to_have_text("2")

        p.select_option("#pick-layer", "0")
        p.select_option("#pick-i", "1")
        p.select_option("#pick-j", "2")
        expect(q.get_by_test_id("chain-name")).to_have_text("W_ih[1,2]")
        # The participant's chain-rule numbers come from the peer that trains the room.
        chain = httpx.get(f"{a.url}/api/rooms/{code}/chain?layer=0&i=1&j=2").json()
        assert chain == httpx.get(f"{b.url}/api/rooms/{code}/chain?layer=0&i=1&j=2").json()
        q.screenshot(path=str(Path(a.log_path).parent / "participant-on-peer-b.png"))

        assert not presenter.errors, presenter.errors
        assert not participant.errors, participant.errors
