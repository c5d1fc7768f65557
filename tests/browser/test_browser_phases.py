"""Browser tests of one step in phases and of time travel: the real server, Debian's Chromium."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
from support import ServerProcess, room_pages

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.browser

T = 30_000  # ms: generous for a loaded machine, never reached when things work
expect.set_options(timeout=T)

ARTICLE_PHASES = [
    "Forward: layer 1",
    "Forward: layer 2",
    "Error",
    "Backward: layer 2",
    "Backward: layer 1",
    "Update",
]
FRAME = "() => window.backpropStudio.state.frame"


def open_demo(page: Any, server: ServerProcess, query: str) -> str:
    """Open the demo page with a query; wait for the socket and the first frame; the session id."""
    page.goto(f"{server.url}/?{query}", wait_until="domcontentloaded")
    expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
    page.wait_for_function("() => window.backpropStudio && window.backpropStudio.state.frame")
    return str(page.evaluate("() => window.backpropStudio.state.id"))


def lit_edges(page: Any) -> int:
    """How many edges of the diagram the current phase lights."""
    return int(page.evaluate("() => document.querySelectorAll('.network-svg .edge.lit').length"))


def test_the_phases_run_in_the_articles_order_then_the_step_applies_the_traced_update(
    page: Any, server: ServerProcess
) -> None:
    sid = open_demo(page, server, "preset=article")
    trace = httpx.get(f"{server.url}/api/sessions/{sid}/trace", timeout=10).json()
    assert trace["step"] == 0
    label = page.get_by_test_id("phase-label")
    lit = []
    for name in ARTICLE_PHASES:
        page.get_by_test_id("phase-button").click()
        expect(label).to_have_text(name)
        expect(page.get_by_test_id("phase-panel")).to_be_visible()
        lit.append(lit_edges(page))
        if name != "Update":  # the step is applied once the Update shows
            expect(page.get_by_test_id("step-count")).to_have_text("0")
    # Forward lights W_ih (4x5) then W_ho (5x1); the error no edge; backward W_ho, then W_ho
    # (delta2 flows back through it) and W_ih; the update every edge.
    assert lit == [20, 5, 0, 5, 25, 25]
    expect(page.get_by_test_id("step-count")).to_have_text("1")
    # The step applied is the trace's update, bit for bit (REST has full precision; the
    # page's streamed frame carries float32, good to 7 digits).
    page.wait_for_function("() => window.backpropStudio.state.frame.step === 1")
    frame = page.evaluate(FRAME)
    applied = httpx.get(f"{server.url}/api/sessions/{sid}", timeout=10).json()
    assert applied["step"] == 1
    for u in trace["update"]:
        assert applied["weights"][u["layer"] - 1] == u["W_new"]
        assert applied["biases"][u["layer"] - 1] == u["b_new"]
        shown = np.array(frame["weights"][u["layer"] - 1])
        np.testing.assert_allclose(shown, np.array(u["W_new"]), rtol=1e-6)
    # The Update phase shows W_new with its numbers; the next press starts step 2's forward pass.
    expect(page.get_by_test_id("phase-body")).to_contain_text("LAYER 1: W_IH", ignore_case=True)
    page.keyboard.press(".")
    expect(label).to_have_text("Forward: layer 1")
    assert page.evaluate("() => window.backpropStudio.phaser.trace.step") == 1


def test_a_deeper_net_has_a_phase_per_layer_and_the_slow_motion_walks_them(
    page: Any, server: ServerProcess
) -> None:
    open_demo(page, server, "data=spiral&layers=2-4-4-1&act=tanh&opt=momentum&lr=0.1")
    page.get_by_test_id("phase-speed").select_option("fast")
    # Every label the stepper shows, in order, recorded by the page itself.
    page.evaluate(
        """() => { const el = document.querySelector('[data-testid=phase-label]');
        window.seenPhases = [];
        new MutationObserver(() => window.seenPhases.push(el.textContent))
          .observe(el, { childList: true, characterData: true, subtree: true }); }"""
    )
    page.get_by_test_id("phase-play").click()
    page.wait_for_function("() => window.seenPhases.includes('Update')")
    page.get_by_test_id("phase-play").click()  # pause
    seen = page.evaluate("() => window.seenPhases")
    expect(page.get_by_test_id("phase-play")).to_have_attribute("aria-pressed", "false")
    order = [
        "Forward: layer 1",
        "Forward: layer 2",
        "Forward: layer 3",
        "Error",
        "Backward: layer 3",
        "Backward: layer 2",
        "Backward: layer 1",
        "Update",
    ]
    assert seen[: seen.index("Update") + 1] == order
    expect(page.get_by_test_id("step-count")).not_to_have_text("0")


def test_back_and_the_timeline_revisit_steps_and_a_new_branch_cuts_the_curve(
    page: Any, server: ServerProcess
) -> None:
    open_demo(page, server, "preset=article")
    for n in (1, 2, 3):
        page.get_by_test_id("step-button").click()
        expect(page.get_by_test_id("step-count")).to_have_text(str(n))
    at3 = page.evaluate(FRAME)
    page.get_by_test_id("back-button").click()
    expect(page.get_by_test_id("step-count")).to_have_text("2")
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_have_attribute("max", "3")
    expect(timeline).to_have_value("2")
    # The curve still runs to step 3 (a look back), with the marker at step 2.
    assert page.evaluate("() => window.backpropStudio.history.train.lastX") == 3
    # Scrub to 0, then forward to 3 again: the very same frame as before.
    page.evaluate(
        """() => { const t = document.querySelector('[data-testid=timeline]');
        t.value = '0'; t.dispatchEvent(new Event('input'));
        t.dispatchEvent(new Event('change')); }"""
    )
    expect(page.get_by_test_id("step-count")).to_have_text("0")
    page.evaluate(
        """() => { const t = document.querySelector('[data-testid=timeline]');
        t.value = '3'; t.dispatchEvent(new Event('change')); }"""
    )
    expect(page.get_by_test_id("step-count")).to_have_text("3")
    again = page.evaluate(FRAME)
    assert again["weights"] == at3["weights"] and again["loss"] == at3["loss"]
    # From step 1, a step starts a new branch: the head is 2 and the curve stops there.
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_test_id("step-count")).to_have_text("2")
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_test_id("step-count")).to_have_text("1")
    page.get_by_test_id("step-button").click()
    expect(page.get_by_test_id("step-count")).to_have_text("2")
    expect(timeline).to_have_attribute("max", "2")
    page.wait_for_function("() => window.backpropStudio.history.train.lastX === 2")


def test_a_link_with_a_step_opens_there_and_copy_link_carries_the_step(
    page: Any, server: ServerProcess
) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    open_demo(page, server, "preset=article&step=7")
    expect(page.get_by_test_id("step-count")).to_have_text("7")
    # The same seed and config stepped 7 times over REST: the same weights.
    made = httpx.post(f"{server.url}/api/sessions", json={"preset": "article"}, timeout=10).json()
    ref = httpx.post(
        f"{server.url}/api/sessions/{made['id']}/step", json={"count": 7}, timeout=10
    ).json()
    sid = page.evaluate("() => window.backpropStudio.state.id")
    mine = httpx.get(f"{server.url}/api/sessions/{sid}", timeout=10).json()
    assert mine["step"] == 7 and mine["weights"] == ref["weights"]  # bit for bit, over REST
    shown = page.evaluate(FRAME)["weights"]  # the page's frame: float32 on the wire
    for a, b in zip(shown, ref["weights"], strict=True):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-6)
    page.get_by_test_id("back-button").click()
    expect(page.get_by_test_id("step-count")).to_have_text("6")
    page.get_by_test_id("share-button").click()
    page.wait_for_function("() => navigator.clipboard.readText().then((t) => /[?&]step=6/.test(t))")


def test_the_next_update_view_and_the_chain_panel_show_adams_real_step(
    page: Any, server: ServerProcess
) -> None:
    sid = open_demo(page, server, "preset=article&opt=adam&lr=0.05&sel=w.0.0.0")
    page.get_by_test_id("mode-update").click()
    trace = httpx.get(f"{server.url}/api/sessions/{sid}/trace", timeout=10).json()
    w_ih = trace["update"][0]
    steps = [
        [new - old for new, old in zip(row_new, row_old, strict=True)]
        for row_new, row_old in zip(w_ih["W_new"], w_ih["W_old"], strict=True)
    ]
    # Adam's first step moves every weight by about alpha = 0.05, whatever its gradient
    # (plain gradient descent would move them by 0.0001 to 0.0008 here).
    assert all(abs(abs(d) - 0.05) < 1e-3 for row in steps for d in row), steps
    # Streamed frames leave the update out (it would double their size): the page asks the
    # trace for it while the "next update" view is on.
    page.wait_for_function(
        "() => { const s = window.backpropStudio.state;"
        " return !!s.trace && s.trace.step === s.frame.step; }"
    )
    shown = page.evaluate(
        """() => { const u = window.backpropStudio.state.trace.update[0];
        return u.W_new.map((row, i) => row.map((v, j) => v - u.W_old[i][j])); }"""
    )
    assert all(
        abs(a - b) < 1e-12
        for ra, rb in zip(shown, steps, strict=True)
        for a, b in zip(ra, rb, strict=True)
    )
    expect(page.get_by_test_id("chain-update")).to_contain_text("0.05")
    # The edge's tooltip says the same.
    # The middle of a line is the middle of its box: hovering there is on the edge.
    page.locator('.edge-hit[data-l="0"][data-i="0"][data-j="0"]').hover(force=True)
    tooltip = page.get_by_test_id("tooltip")
    expect(tooltip).to_contain_text("next update (adam)")
    expect(tooltip).to_contain_text("0.05")


def test_the_room_follows_the_presenters_phase(browser: Any, server: ServerProcess) -> None:
    with room_pages(browser, server.url, server.url, T) as (_, presenter, participant):
        p, q = presenter.page, participant.page
        expect(p.get_by_test_id("phase-button")).to_be_enabled()
        expect(q.get_by_test_id("phase-button")).to_be_hidden()
        for name in ARTICLE_PHASES:
            p.get_by_test_id("phase-button").click()
            expect(p.get_by_test_id("phase-label")).to_have_text(name)
            expect(q.get_by_test_id("phase-label")).to_have_text(name)
        expect(q.get_by_test_id("step-count")).to_have_text("1")
        expect(q.get_by_test_id("phase-panel")).to_be_visible()
        # The participant sees where the room is (the dots), not buttons that would step it.
        expect(q.locator("[data-testid=phase-progress] .phase-dot")).to_have_count(6)
        expect(q.get_by_test_id("phase-prev")).to_be_hidden()
        expect(q.get_by_test_id("phase-next")).to_be_hidden()
        expect(p.get_by_test_id("phase-prev")).to_be_enabled()
        # The presenter goes back one step: the room follows.
        p.get_by_test_id("back-button").click()
        expect(q.get_by_test_id("step-count")).to_have_text("0")
        expect(q.get_by_test_id("phase-label")).to_have_text("Phases")
