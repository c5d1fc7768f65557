"""Browser tests of the article's claims: the note and its one-click demonstration in the phase
view and in the Guide, showing the server's numbers and words (the real server, Chromium)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from support import ServerProcess, Watched
from test_a11y import AXE_JS, NAMED_RULES, new_page

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.browser

T = 30_000  # ms: generous for a loaded machine, never reached when things work
expect.set_options(timeout=T)
SHOTS = Path("/tmp/backprop-shots")
PHONE = {"width": 390, "height": 844}


def open_article(page: Any, server: ServerProcess) -> str:
    """The demo page on the article preset, live; the session id."""
    page.goto(f"{server.url}/?preset=article", wait_until="domcontentloaded")
    expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
    page.wait_for_function("() => window.backpropStudio && window.backpropStudio.state.frame")
    return str(page.evaluate("() => window.backpropStudio.state.id"))


def steps_to(page: Any, server: ServerProcess, sid: str, n: int) -> None:
    """Step the run by REST; wait until the page shows step n."""
    step = page.evaluate("() => window.backpropStudio.state.frame.step")
    r = httpx.post(f"{server.url}/api/sessions/{sid}/step", json={"count": n - step}, timeout=30)
    assert r.status_code == 200, r.text
    page.wait_for_function(f"() => window.backpropStudio.state.frame.step === {n}")


def claims(server: ServerProcess, sid: str) -> dict[str, Any]:
    r = httpx.get(f"{server.url}/api/sessions/{sid}/claims", timeout=60)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def shows(box: Any, answer: dict[str, Any]) -> None:
    """The box shows the server's answer: its step, sentences and passes."""
    result = box.get_by_test_id("claims-result")
    expect(result).to_have_attribute("data-step", str(answer["step"]))
    for key in ("cost", "order", "mean"):
        expect(box.get_by_test_id(f"claims-{key}")).to_have_text(answer["text"][key])
    g, u = answer["gradients"], answer["update"]
    P = g["parameters"]
    expect(box.get_by_test_id("claims-row-backprop")).to_contain_text("1 + 1")
    fd = g["finite_differences"]["forward_passes"]
    expect(box.get_by_test_id("claims-row-differences")).to_contain_text(f"{fd} + 0 = 2 × {P}")
    L = len(u["sequential"]["stages"])
    expect(box.get_by_test_id("claims-row-sequential")).to_contain_text(f"{L} + {L}")
    in_phase = "true" if answer["mean_phase"]["in_phase"] else "false"
    expect(box.get_by_test_id("claims-mean")).to_have_attribute("data-in-phase", in_phase)


def test_the_phase_view_notes_the_claim_and_demonstrates_it_on_the_live_network(
    page: Any, server: ServerProcess
) -> None:
    sid = open_article(page, server)
    steps_to(page, server, sid, 10)
    page.get_by_test_id("phase-button").click()
    box = page.get_by_test_id("claims-phase")
    expect(box).to_be_visible()
    expect(box).to_contain_text("converges faster")
    expect(box).to_contain_text("every layer is updated at once")
    expect(box.get_by_test_id("claims-result")).to_be_hidden()  # nothing measured until asked

    box.get_by_test_id("claims-run").click()
    answer = claims(server, sid)
    assert answer["step"] == 10
    shows(box, answer)
    # Step 10 of the article: the outputs sit at the mean, and the page says so and why.
    expect(box.get_by_test_id("claims-mean")).to_contain_text("predicting about the mean")
    expect(box.get_by_test_id("claims-mean")).to_contain_text("∂E/∂b_ho")
    expect(box.get_by_test_id("claims-row-differences")).to_contain_text("62 + 0 = 2 × 31")
    frame_E = page.evaluate("() => window.backpropStudio.state.frame.loss")
    assert answer["update"]["E_before"] == pytest.approx(frame_E, abs=1e-15)
    SHOTS.mkdir(parents=True, exist_ok=True)
    box.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "claims-phase-1440.png"))

    # Walk the step's phases to its Update: the step applies, and the shown numbers follow.
    for _ in range(5):
        page.get_by_test_id("phase-button").click()
    page.wait_for_function("() => window.backpropStudio.state.frame.step === 11")
    expect(box.get_by_test_id("claims-result")).to_have_attribute("data-step", "11")
    shows(box, claims(server, sid))


def test_the_guide_ends_with_the_claim_and_its_demonstration(
    page: Any, server: ServerProcess
) -> None:
    sid = open_article(page, server)
    page.emulate_media(reduced_motion="reduce")
    page.get_by_test_id("guide-button").click()
    for _ in range(7):
        page.get_by_test_id("guide-next").click()
    expect(page.locator("#guide-count")).to_have_text("Step 8 of 8")
    expect(page.locator("#guide-title")).to_have_text("The article’s closing claim")
    box = page.get_by_test_id("claims-guide")
    expect(box).to_be_visible()
    expect(box).to_contain_text("recomputes the loss, then moves inward")
    box.get_by_test_id("claims-run").click()
    answer = claims(server, sid)
    assert answer["step"] == 0
    shows(box, answer)
    # At step 0 the outputs are all about 0.91, far from the mean: the phase lies ahead.
    m = answer["mean_phase"]
    expect(box.get_by_test_id("claims-mean")).to_contain_text(
        f"will predict about the mean of Y from step {m['since_step']} to step {m['until_step']}"
    )
    page.screenshot(path=str(SHOTS / "claims-guide-1440.png"))
    page.get_by_test_id("guide-next").click()  # Done
    expect(page.get_by_test_id("guide")).to_be_hidden()


def test_on_a_phone_the_demonstration_fits_the_screen(browser: Any, server: ServerProcess) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(T)
    page = context.new_page()
    watched = Watched(page)
    try:
        sid = open_article(page, server)
        steps_to(page, server, sid, 10)
        page.get_by_test_id("phase-button").click()
        box = page.get_by_test_id("claims-phase")
        box.get_by_test_id("claims-run").click()
        shows(box, claims(server, sid))
        box.get_by_test_id("claims-table").scroll_into_view_if_needed()
        fits = page.evaluate(
            """() => { const s = document.querySelector('.claims-phase .claims-scroll');
            return {table: s.scrollWidth - s.clientWidth,
                    page: document.documentElement.scrollWidth - innerWidth}; }"""
        )
        assert fits == {"table": 0, "page": 0}, fits
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "claims-phase-390.png"))
        page.get_by_test_id("phase-close").click()
        page.get_by_test_id("guide-button").click()
        for _ in range(7):
            page.get_by_test_id("guide-next").click()
        guide = page.get_by_test_id("claims-guide")
        expect(guide.get_by_test_id("claims-result")).to_have_attribute("data-step", "10")
        page.screenshot(path=str(SHOTS / "claims-guide-390.png"))
        assert not watched.errors, watched.errors
    finally:
        context.close()


def box_violations(page: Any, selector: str) -> list[dict[str, Any]]:
    """axe-core on one box of the page: serious, critical and the named rules' violations.

    Only the box: the phase body's own headings (phases.js) are another part's concern.
    """
    page.add_script_tag(path=str(AXE_JS))
    found: list[dict[str, Any]] = page.evaluate(
        """async (sel) => (await axe.run(document.querySelector(sel))).violations.map((v) => ({
            id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')),
        }))""",
        selector,
    )
    return [v for v in found if v["impact"] in ("serious", "critical") or v["id"] in NAMED_RULES]


def test_the_demonstration_passes_axe_in_the_phase_view_and_the_guide(
    browser: Any, server: ServerProcess
) -> None:
    if not AXE_JS.exists():
        pytest.skip("axe-core is not installed (make test installs it)")
    context, page, errors = new_page(browser)
    try:
        sid = open_article(page, server)
        steps_to(page, server, sid, 10)
        page.get_by_test_id("phase-button").click()
        box = page.get_by_test_id("claims-phase")
        box.get_by_test_id("claims-run").click()
        shows(box, claims(server, sid))
        assert box_violations(page, ".claims-phase") == []
        page.get_by_test_id("phase-close").click()
        page.get_by_test_id("guide-button").click()
        for _ in range(7):
            page.get_by_test_id("guide-next").click()
        expect(page.get_by_test_id("claims-guide").get_by_test_id("claims-cost")).to_be_visible()
        assert box_violations(page, "#guide") == []
        assert errors == []
    finally:
        context.close()
