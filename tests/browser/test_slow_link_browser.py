"""A slow link, as Chromium meets it (issue 21, item 6): what it is sent compressed, and the
first session, its data and its socket asked for while the modules still download.
Times are benchmarks/slowlink.py's."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from support import ServerProcess, wait_for, watched_page

from app.main import STATIC_DIR
from app.web.modules import static_imports

pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.browser

PRELOAD = re.compile(r"<link rel=\"modulepreload\" href=\"([^\"]+)\"([^>]*)>")
FIRST_RUN = re.compile(r'<script type="module" async src="([^"]+/js/first-run\.js)"></script>')


def watch(page: Any) -> list[Any]:
    """Every response the page gets, in order (its request, headers and status with it)."""
    got: list[Any] = []
    page.on("response", lambda r: got.append(r))
    return got


def pumped(page: Any, probe: Any) -> Any:
    """`probe()` after letting Playwright deliver the events it holds (a round trip)."""
    page.evaluate("0")
    return probe()


def sessions_made(responses: list[Any]) -> list[Any]:
    """The POST /api/sessions answers among `responses`."""
    return [
        r
        for r in responses
        if r.request.method == "POST" and r.url.split("?")[0].endswith("/api/sessions")
    ]


def loaded(page: Any) -> None:
    """Wait for the diagram, E and a live Step."""
    wait_for(lambda: page.locator("#network-plot svg circle").count(), "the diagram")
    wait_for(lambda: re.search(r"\d", page.locator("#loss-value").text_content() or ""), "E")
    wait_for(lambda: page.get_by_test_id("step-button").is_enabled(), "Step enabled")


def test_the_browser_is_sent_the_page_json_and_modules_gzipped(
    server: ServerProcess, browser: Any
) -> None:
    with watched_page(browser) as page:
        responses = watch(page)
        page.goto(f"{server.url}/?preset=article", wait_until="domcontentloaded")
        loaded(page)
        page.wait_for_load_state("load")
        seen = {r.url.removeprefix(server.url): r for r in responses}
        sid = page.evaluate("window.backpropStudio.state.id")

        def encoding(path: str) -> str:
            return str(seen[path].all_headers().get("content-encoding", ""))

        assert encoding("/?preset=article") == "gzip"
        modules = [p for p in seen if re.fullmatch(r"/static/v[0-9a-f]{12}/js/[\w-]+\.js", p)]
        assert len(modules) > 10, modules
        for path in modules:
            assert encoding(path) == "gzip", path
            assert "javascript" in seen[path].all_headers()["content-type"], path
        made = sessions_made(responses)
        assert len(made) == 1
        assert made[0].all_headers()["content-encoding"] == "gzip"
        assert made[0].json()["id"] == sid
        data = seen[f"/api/sessions/{sid}/data"]
        assert data.all_headers()["content-encoding"] == "gzip"
        assert data.all_headers()["content-type"].startswith("application/json")
        # What Chromium decoded is what the server meant: the same JSON as a plain request.
        plain = httpx.get(
            f"{server.url}/api/sessions/{sid}/data", headers={"accept-encoding": "identity"}
        )
        assert "content-encoding" not in plain.headers
        assert data.json() == plain.json()


def test_only_the_first_run_module_is_fetched_first_and_it_imports_nothing(
    server: ServerProcess,
) -> None:
    """The critical path's shape: one tiny module ahead, every other module preloaded behind."""
    html = httpx.get(f"{server.url}/?preset=article", timeout=30).text
    first = FIRST_RUN.search(html)
    assert first, "the page loads first-run.js as an async module of its own"
    preloads = PRELOAD.findall(html)
    assert preloads[0][0] == first.group(1), "it is the first preload (one module, one fetch)"
    assert "fetchpriority" not in preloads[0][1]
    for href, attrs in preloads[1:]:
        assert 'fetchpriority="low"' in attrs, href
    # A page without an early module (a room's participant's) fetches its modules as before.
    made = httpx.post(f"{server.url}/api/rooms", json={"config": {"preset": "article"}}, timeout=30)
    assert made.status_code == 201, made.text
    room = httpx.get(f"{server.url}/room/{made.json()['code']}", timeout=30).text
    assert PRELOAD.findall(room) and not FIRST_RUN.search(room)
    assert "fetchpriority" not in room
    source = (STATIC_DIR / "js" / "first-run.js").read_text()
    assert static_imports(source) == [], "anything it imports would have to arrive first"
    assert "import(" not in source


def test_the_session_is_asked_for_before_the_modules_run_and_adopted(
    server: ServerProcess, browser: Any
) -> None:
    with watched_page(browser) as page:
        responses = watch(page)
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        held: list[Any] = []
        # main.js is held: the page's modules cannot run until it is let go.
        page.route("**/js/main.js*", lambda route: held.append(route))
        page.goto(f"{server.url}/?preset=xor", wait_until="commit")
        made = wait_for(lambda: pumped(page, lambda: sessions_made(responses)), "the session")
        assert made[0].request.post_data_json == {"preset": "xor"}
        sid = made[0].json()["id"]
        data = f"{server.url}/api/sessions/{sid}/data"
        wait_for(lambda: pumped(page, lambda: [r for r in responses if r.url == data]), "data")
        wait_for(lambda: pumped(page, lambda: sockets), "its socket")
        assert f"/ws/sessions/{sid}?" in sockets[0]
        assert page.get_by_test_id("step-button").is_disabled()  # nothing looks live yet
        wait_for(lambda: held, "main.js asked for")
        held[0].continue_()
        loaded(page)
        assert page.evaluate("window.backpropStudio.state.id") == sid  # that session, taken
        page.get_by_test_id("step-button").click()
        wait_for(lambda: page.locator("#step-count").text_content() == "1", "STEP 1")
        page.evaluate("0")
        asked = [(r.request.method, r.url.removeprefix(server.url)) for r in responses]
        assert len(sessions_made(responses)) == 1, asked
        assert [a for a in asked if a[1].endswith("/data")] == [("GET", data[len(server.url) :])]
        assert not [a for a in asked if a[0] == "DELETE"], asked
        assert len(sockets) == 1, sockets  # the early socket was taken, not a second opened


def test_a_link_with_more_than_a_preset_is_not_guessed_at(
    server: ServerProcess, browser: Any
) -> None:
    with watched_page(browser) as page:
        responses = watch(page)
        page.goto(f"{server.url}/?preset=xor&seed=3&lr=0.25", wait_until="domcontentloaded")
        loaded(page)
        page.evaluate("0")
        made = sessions_made(responses)
        assert len(made) == 1, [r.request.post_data for r in made]
        body = made[0].request.post_data_json
        assert body["seed"] == 3 and body["optimizer"]["learning_rate"] == 0.25
        # The guess itself, as the module makes it (the page's own copy of it).
        src = page.evaluate("document.querySelector('script[src$=\"/js/first-run.js\"]').src")
        cases = [
            ["", "article"],
            ["?preset=xor", "article"],
            ["?preset=", "spiral"],
            ["?preset=xor&seed=3", "article"],
            ["?preset=xor&preset=and", "article"],
            ["?step=4", "article"],
            ["?data=custom", "article"],
            ["", ""],
        ]
        got = page.evaluate(
            """async ([src, cases]) => {
              const m = await import(src);
              return cases.map(([q, d]) => m.plainRequest(q, d));
            }""",
            [src, cases],
        )
        want = [{"preset": "article"}, {"preset": "xor"}, {"preset": "spiral"}]
        assert got == want + [None] * 5, json.dumps(got)
