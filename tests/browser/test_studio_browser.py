"""The presenter's whole studio in a real browser: presenter, participant, projector and phone."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import ServerProcess, Watched, live_room, room_pages

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.browser

T = 20_000  # ms: generous for a loaded machine, never reached when things work
expect.set_options(timeout=T)
SHAPE = (
    "() => { const f = window.backpropRoom.live.state.frame;"
    " return f ? [f.weights[0].length, ...f.weights.map(w => w[0].length)] : null; }"
)
CONFIG = (
    "() => { const c = window.backpropRoom.live.state.config;"
    " return c && [c.layers, c.activation, c.dataset.name || 'custom']; }"
)
EDGES = "() => document.querySelectorAll('#network-plot .edge').length"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real server in a subprocess; its base URL."""
    srv = ServerProcess(tmp_path_factory.mktemp("studio-browser") / "server.log").start()
    try:
        yield srv.url
    finally:
        srv.stop()
    assert "Traceback" not in srv.log(), srv.log()[-4000:]


def follows(page: Any, layers: list[int], activation: str, dataset: str) -> None:
    """The page shows the run of this shape: its config, its frame, its drawn edges."""
    page.wait_for_function(
        f"() => JSON.stringify(({CONFIG})()) === '{_json([layers, activation, dataset])}'"
    )
    page.wait_for_function(f"() => JSON.stringify(({SHAPE})()) === '{_json(layers)}'")
    edges = sum(a * b for a, b in itertools.pairwise(layers))
    page.wait_for_function(f"() => ({EDGES})() === {edges}")


def _json(value: Any) -> str:
    """Compact JSON, as JSON.stringify writes it."""
    return json.dumps(value, separators=(",", ":"))


def test_presenter_switches_the_room_and_everyone_follows(browser: Any, base: str) -> None:
    with room_pages(browser, base, base, T) as (code, presenter, participant):
        p, q = presenter.page, participant.page
        # The main page's controls, all of them, in the presenter's sidebar.
        for testid in (
            "preset-select",
            "dataset-select",
            "csv-input",
            "arch-editor",
            "activation-select",
            "loss-select",
            "optimizer-select",
            "batch-select",
            "l2-input",
            "init-select",
            "bias-select",
            "seed-input",
            "lr-input",
            "spf-select",
            "join-box",
        ):
            expect(p.get_by_test_id(testid)).to_be_attached()
        p.wait_for_function("() => document.querySelectorAll('#preset-select option').length > 2")
        expect(p.get_by_test_id("preset-select")).to_have_value("article")
        token = p.evaluate("() => window.backpropRoom.state.token")

        # The projector view holds the token too; the network and the curve only.
        context = p.context
        projector = Watched(context.new_page())
        r = projector.page
        r.goto(f"{base}/present/{code}?view=projector#token={token}", wait_until="domcontentloaded")
        live_room(r)
        expect(r.get_by_test_id("projector")).to_be_attached()
        expect(r.locator("#panel-network")).to_be_visible()
        expect(r.locator("#panel-loss")).to_be_visible()
        for hidden in ("#panel-data", "#panel-chain", "#panel-matrix", ".sidebar"):
            expect(r.locator(hidden)).to_be_hidden()

        # Article -> spiral (tanh, [2, 8, 8, 1]) from the preset menu.
        p.get_by_test_id("step-button").click()
        expect(q.get_by_test_id("step-count")).to_have_text("1")
        p.get_by_test_id("preset-select").select_option("spiral")
        for page in (p, q, r):
            follows(page, [2, 8, 8, 1], "tanh", "spiral")
            expect(page.get_by_test_id("step-count")).to_have_text("0")
        expect(p.get_by_test_id("activation-select")).to_have_value("tanh")
        expect(p.get_by_test_id("dataset-select")).to_have_value("spiral")
        # One control at a time: the hidden activation, then a layer's width.
        p.get_by_test_id("activation-select").select_option("relu")
        follows(q, [2, 8, 8, 1], "relu", "spiral")
        p.get_by_test_id("arch-inc-1").click()
        follows(q, [2, 9, 8, 1], "relu", "spiral")
        # The projector drives too (its keys): the participant sees the step.
        r.locator("#main").click(position={"x": 5, "y": 5})
        r.keyboard.press("ArrowRight")
        expect(q.get_by_test_id("step-count")).to_have_text("1")
        r.set_viewport_size({"width": 1440, "height": 900})
        r.wait_for_timeout(
            300
        )  # let the plots settle for the picture only; nothing is asserted on it
        r.screenshot(path="/tmp/studio-projector-1440.png")
        p.screenshot(path="/tmp/studio-presenter-1440.png")
        p.locator(".sidebar").evaluate("el => { el.scrollTop = el.scrollHeight; }")
        p.screenshot(path="/tmp/studio-presenter-1440-network.png")
        q.screenshot(path="/tmp/studio-participant-1440.png")

        # Back to the article.
        p.get_by_test_id("preset-select").select_option("article")
        for page in (p, q, r):
            follows(page, [4, 5, 1], "sigmoid", "houses")
        assert httpx.get(f"{base}/api/rooms/{code}").json()["code"] == code

        # A bad setup: a clear error to the presenter, the room unchanged.
        p.get_by_test_id("samples-input").fill("100000")
        p.get_by_test_id("samples-input").dispatch_event("change")
        expect(p.locator("#toasts")).to_contain_text("over the limit")
        follows(q, [4, 5, 1], "sigmoid", "houses")
        expect(p.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
        projector.page.close()
        for watched in (presenter, participant, projector):
            assert [e for e in watched.errors if "422" not in e] == [], watched.errors


def test_the_presenters_phone_is_a_remote(browser: Any, base: str) -> None:
    """Laptop and phone both hold the token and both drive; each follows the other's changes."""
    made = httpx.post(f"{base}/api/rooms", json={"config": {"preset": "article"}}).json()
    code, token = made["code"], made["presenter_token"]
    desk = browser.new_context(viewport={"width": 1440, "height": 900})
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True)
    desk.set_default_timeout(T)
    context.set_default_timeout(T)
    try:
        laptop, phone = Watched(desk.new_page()), Watched(context.new_page())
        d, p = laptop.page, phone.page
        for page in (d, p):
            page.goto(f"{base}/present/{code}#token={token}", wait_until="domcontentloaded")
            live_room(page)
            expect(page.get_by_test_id("step-button")).to_be_enabled()
        p.get_by_test_id("step-button").click()
        expect(d.get_by_test_id("step-count")).to_have_text("1")
        p.wait_for_function("() => document.querySelectorAll('#preset-select option').length > 2")
        p.screenshot(path="/tmp/studio-presenter-390.png")
        # α from the phone: the laptop's field shows it (the run is kept: a `set`).
        p.get_by_test_id("lr-input").fill("0.25")
        p.get_by_test_id("lr-input").dispatch_event("change")
        expect(d.get_by_test_id("lr-input")).to_have_value("0.25")
        # A new setup from the phone: the laptop's controls and panels follow.
        p.get_by_test_id("preset-select").select_option("xor")
        d.wait_for_function("() => window.backpropRoom.live.state.config.dataset.name === 'xor'")
        expect(d.get_by_test_id("preset-select")).to_have_value("xor")
        config = httpx.get(f"{base}/api/rooms/{code}/config").json()
        assert config["dataset"]["name"] == "xor" and config["preset"] == "xor"
        # ... and back from the laptop: the phone follows.
        d.get_by_test_id("preset-select").select_option("article")
        p.wait_for_function("() => window.backpropRoom.live.state.config.dataset.name === 'houses'")
        expect(p.get_by_test_id("preset-select")).to_have_value("article")
        p.goto(f"{base}/present/{code}?view=projector#token={token}", wait_until="domcontentloaded")
        live_room(p)
        p.screenshot(path="/tmp/studio-projector-390.png")
        assert phone.errors == [] and laptop.errors == []
    finally:
        context.close()
        desk.close()


def test_break_it_then_fix_it_with_the_guardrails_fix_button(browser: Any, base: str) -> None:
    """The article's settings on XOR (α 1 on a summed error of 200 samples) blow the output up:
    the presenter's fix button applies the fix the server tried (GET .../fixes), for the whole
    room, and the participant follows."""
    broken = {"preset": "article", "layers": [2, 5, 1], "dataset": {"name": "xor"}}
    made = httpx.post(f"{base}/api/rooms", json={"config": broken}).json()
    code, token = made["code"], made["presenter_token"]
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(T)
    try:
        presenter, participant = Watched(context.new_page()), Watched(context.new_page())
        p, q = presenter.page, participant.page
        p.goto(f"{base}/present/{code}#token={token}", wait_until="domcontentloaded")
        live_room(p)
        q.goto(f"{base}/room/{code}", wait_until="domcontentloaded")
        live_room(q)
        expect(p.get_by_test_id("step-button")).to_be_enabled()
        p.get_by_test_id("step-button").click()
        fix = p.get_by_test_id("trouble-fix-step_too_large")
        expect(fix).to_be_visible()
        expect(q.get_by_test_id("trouble-fix-step_too_large")).to_have_count(0)  # presenter's
        offered = httpx.get(f"{base}/api/rooms/{code}/fixes").json()["trouble"][0]
        assert offered["kind"] == "step_too_large" and offered["tried"]["worked"]
        rate = offered["fix"]["optimizer"]["learning_rate"]
        fix.click()
        # As tried: rewound to the step before the jump, with the new α, for everyone.
        back = offered["fix"]["rewind_to"]
        q.wait_for_function(
            "([r, s]) => { const f = window.backpropRoom.live.state.frame;"
            " return f && f.learning_rate === r && f.step === s; }",
            arg=[rate, back],
        )
        expect(q.get_by_test_id("step-count")).to_have_text(str(back))
        config = httpx.get(f"{base}/api/rooms/{code}/config").json()
        assert config["dataset"]["name"] == "xor"
        assert presenter.errors == [] and participant.errors == []
    finally:
        context.close()
