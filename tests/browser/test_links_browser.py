"""Browser tests of links that reproduce a run: Copy link and the address bar, opened anew."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest
from support import ServerProcess, Watched

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.browser

T = 30_000  # ms: generous for a loaded machine, never reached when things work
expect.set_options(timeout=T)
FRAME = "() => window.backpropStudio.state.frame"
SHOTS = Path("/tmp/links-shots")


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser context at 1440x900 that may use the clipboard."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    ctx.set_default_timeout(T)
    try:
        yield ctx
    finally:
        ctx.close()


def watched_page(context: Any) -> tuple[Any, Watched]:
    """A new page whose errors the test asserts on."""
    page = context.new_page()
    return page, Watched(page)


def open_page(page: Any, url: str) -> str:
    """Open a page; wait for the socket and the first frame; the session id."""
    page.goto(url, wait_until="domcontentloaded")
    expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
    page.wait_for_function("() => window.backpropStudio && window.backpropStudio.state.frame")
    return str(page.evaluate("() => window.backpropStudio.state.id"))


def rest_step(server: ServerProcess, sid: str, count: int) -> None:
    """Step the page's session over REST: the page follows on its socket."""
    r = httpx.post(f"{server.url}/api/sessions/{sid}/step", json={"count": count}, timeout=10)
    assert r.status_code == 200, r.text


def query(url: str) -> dict[str, str]:
    """A URL's query as a dict of single values."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_a_link_copied_after_changing_alpha_opens_the_same_run(
    context: Any, server: ServerProcess
) -> None:
    """α 1 → 5 at step 20, Copy link at step 40: a new page opens at step 40 with the same E."""
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page, watched = watched_page(context)
    sid = open_page(page, f"{server.url}/?preset=article")
    rest_step(server, sid, 20)
    expect(page.get_by_test_id("step-count")).to_have_text("20")
    lr = page.get_by_test_id("lr-input")
    lr.fill("5")
    lr.press("Enter")
    page.wait_for_function("() => window.backpropStudio.state.frame.settings_log !== null")
    rest_step(server, sid, 20)
    expect(page.get_by_test_id("step-count")).to_have_text("40")
    # The address bar follows: the step, the start's α and the change at step 20.
    page.wait_for_function("() => new URLSearchParams(location.search).get('step') === '40'")
    at = query(page.url)
    assert at["lr"] == "1" and at["changes"] == "20:lr=5"
    page.get_by_test_id("share-button").click()
    expect(page.get_by_test_id("toast-info").last).to_contain_text("opens this run at step 40")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert query(copied) == query(page.url)
    original = httpx.get(f"{server.url}/api/sessions/{sid}", timeout=10).json()
    shown = page.get_by_test_id("loss-value").inner_text()

    other, other_watched = watched_page(context)
    other_sid = open_page(other, copied)
    expect(other.get_by_test_id("step-count")).to_have_text("40")
    expect(other.get_by_test_id("loss-value")).to_have_text(shown)
    expect(other.get_by_test_id("lr-input")).to_have_value("5")  # the setting in force now
    mine = httpx.get(f"{server.url}/api/sessions/{other_sid}", timeout=10).json()
    assert mine["step"] == 40
    assert abs(mine["loss"] - original["loss"]) <= 1e-12
    for a, b in zip(mine["weights"], original["weights"], strict=True):
        np.testing.assert_array_equal(np.array(a), np.array(b))
    # The numbers: E 0.272881 on screen, where yesterday's link opened at 0.152915.
    assert shown == "0.272881"
    # Its own address bar is the same link, and a seek back shows the settings of then.
    other.wait_for_function(
        "(q) => location.search.includes('changes=20:lr=5') && location.search.includes(q)",
        arg="step=40",
    )
    other.evaluate(
        """() => { const t = document.querySelector('[data-testid=timeline]');
        t.value = '10'; t.dispatchEvent(new Event('change')); }"""
    )
    expect(other.get_by_test_id("step-count")).to_have_text("10")
    expect(other.get_by_test_id("lr-input")).to_have_value("1")
    other.wait_for_function("() => !new URLSearchParams(location.search).has('changes')")
    assert not watched.errors and not other_watched.errors, watched.errors + other_watched.errors


def test_the_address_bar_carries_the_step_while_stepping_and_playing(
    context: Any, server: ServerProcess
) -> None:
    """Each step is in the address bar, while playing too (throttled); a reload opens there."""
    page, watched = watched_page(context)
    open_page(page, f"{server.url}/?preset=xor")
    for n in (1, 2, 3):
        page.get_by_test_id("step-button").click()
        expect(page.get_by_test_id("step-count")).to_have_text(str(n))
        page.wait_for_function(
            "(n) => new URLSearchParams(location.search).get('step') === String(n)", arg=n
        )
    page.get_by_test_id("play-button").click()
    page.wait_for_function("() => Number(new URLSearchParams(location.search).get('step')) > 20")
    page.get_by_test_id("play-button").click()
    expect(page.get_by_test_id("play-button")).to_have_attribute("aria-pressed", "false")
    page.wait_for_function(
        """() => { const f = window.backpropStudio.state.frame;
                   const at = new URLSearchParams(location.search).get('step');
                   return !f.playing && at === String(f.step); }"""
    )
    at = page.evaluate(FRAME)
    page.reload(wait_until="domcontentloaded")
    expect(page.get_by_test_id("step-count")).to_have_text(str(at["step"]))
    page.wait_for_function(
        "(loss) => window.backpropStudio.state.frame.loss === loss", arg=at["loss"]
    )
    assert not watched.errors, watched.errors


def test_a_link_to_uploaded_data_that_is_gone_says_it_cannot_reproduce(
    context: Any, server: ServerProcess
) -> None:
    """A custom-data link with a step and a change, in a tab without the CSV: the notice says so."""
    page, watched = watched_page(context)
    step, changes = 40, "20:lr=5"
    open_page(
        page, f"{server.url}/?preset=article&data=custom&csv=abc&step={step}&changes={changes}"
    )
    notice = page.get_by_test_id("notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text(
        f"so it cannot reproduce its run at step {step} with 1 settings change"
    )
    expect(page.get_by_test_id("step-count")).to_have_text("0")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "gone-1440.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(SHOTS / "gone-390.png"))
    # A log that cannot be read is said as well, and the link's config still opens.
    page.set_viewport_size({"width": 1440, "height": 900})
    open_page(page, f"{server.url}/?preset=article&step=5&changes=9:lr=2")
    expect(notice).to_contain_text("a change at step 9 is after the link\u2019s step, 5")
    expect(page.get_by_test_id("step-count")).to_have_text("0")
    page.screenshot(path=str(SHOTS / "bad-log-1440.png"))
    assert not watched.errors, watched.errors


def test_a_change_the_server_refuses_stops_the_replay_and_says_where(
    context: Any, server: ServerProcess
) -> None:
    """changes=5:batch=999 on the five houses: the PATCH's 422 is in the notice, at step 5."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    open_page(page, f"{server.url}/?preset=article&step=8&changes=5:batch=999")
    notice = page.get_by_test_id("notice")
    expect(notice).to_contain_text(
        "This link cannot reproduce its run: the server refused its settings change at step 5: "
        "batch_size 999 is larger than the 5 training samples"
    )
    expect(notice).to_contain_text("Showing step 5 of the run it describes instead of step 8.")
    expect(page.get_by_test_id("step-count")).to_have_text("5")
    expect(page.get_by_test_id("step-button")).to_be_enabled()  # hands back once it stopped
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "refused-1440.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(SHOTS / "refused-390.png"))
    assert not errors, errors


def test_a_run_with_more_changes_than_a_link_carries_says_so_on_copy(
    context: Any, server: ServerProcess
) -> None:
    """101 changes: Copy link says the link opens at step 0 and the address bar has no step."""
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page, watched = watched_page(context)
    sid = open_page(page, f"{server.url}/?preset=article")
    count = 101
    with httpx.Client(timeout=10) as http:
        for k in range(count):
            body = {"optimizer": {"learning_rate": 1 + k % 2}}
            assert http.patch(f"{server.url}/api/sessions/{sid}", json=body).status_code == 200
    rest_step(server, sid, 3)
    expect(page.get_by_test_id("step-count")).to_have_text("3")
    page.get_by_test_id("share-button").click()
    expect(page.get_by_test_id("toast-info").last).to_contain_text(
        f"this run changed its settings {count} times, more than a link carries (100): "
        "it opens at step 0"
    )
    # The controls still show the settings in force (the last change set α to 1 + 100 % 2).
    expect(page.get_by_test_id("lr-input")).to_have_value("1")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "too-many-1440.png"))
    copied = query(page.evaluate("() => navigator.clipboard.readText()"))
    assert "step" not in copied and "changes" not in copied and copied["lr"] == "1"
    assert not watched.errors, watched.errors


def test_the_changes_parameter_round_trips_every_double(
    context: Any, server: ServerProcess
) -> None:
    """state.js writes and reads `changes` without losing a bit of any value, through the URL."""
    page, watched = watched_page(context)
    open_page(page, f"{server.url}/?preset=article")
    changes = [
        {"step": 0, "set": {"optimizer": {"learning_rate": 0.30000000000000004}}},
        {"step": 3, "set": {}},
        {"step": 3, "set": {"optimizer": {"name": "adam", "eps": 1e-8, "beta2": 0.9999}}},
        {"step": 9, "set": {"batch_size": 2, "l2": 1e-7}},
        {"step": 12, "set": {"full_batch": True, "optimizer": {"momentum": 0.123456789012345}}},
    ]
    back = page.evaluate(
        """async (changes) => {
            const m = await import('/static/js/state.js');
            const text = m.logToString({ start: {}, count: changes.length, changes });
            const url = new URL(`/?changes=${text}`, location.href);  // as a pasted link
            return m.logFromString(new URLSearchParams(url.search).get('changes'), 12);
        }""",
        changes,
    )
    assert back == {"changes": changes}
    assert not watched.errors, watched.errors
