"""Accessibility in a real Chromium: axe-core on every page, the keyboard, focus, the phone.

axe-core comes from the npm registry, pinned in package.json / package-lock.json; `make test`
runs `npm ci` when node_modules is missing. The pages forbid inline scripts (CSP), so the
browser context injecting axe bypasses the CSP; nothing else differs from a normal visit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from support import CHROMIUM, DEADLINE, ROOT, ServerProcess

pytestmark = pytest.mark.browser

AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "tests" / "screenshots"
T = DEADLINE * 1000  # Playwright's timeouts are in ms
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `backprop-studio` on a free loopback port."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    server = ServerProcess(tmp_path_factory.mktemp("a11y") / "server.log").start()
    try:
        yield server.url
    finally:
        server.stop()


def new_page(browser: Any, viewport: dict[str, int] = DESKTOP) -> tuple[Any, Any, list[str]]:
    """A fresh context and page (CSP bypassed for axe), and the errors the page logs."""
    context = browser.new_context(viewport=viewport, bypass_csp=True, reduced_motion="reduce")
    context.set_default_timeout(T)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))

    def console(message: Any) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", console)
    return context, page, errors


def connected(page: Any) -> None:
    """Wait for the live socket and the first drawn frame."""
    expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
    page.wait_for_function("() => document.querySelectorAll('.network-svg .edge').length > 0")


def room(base: str) -> tuple[str, str]:
    """A new workshop room: its code and the presenter's token."""
    r = httpx.post(f"{base}/api/rooms", json={"config": {"preset": "article"}}, timeout=30)
    assert r.status_code == 201, r.text
    body = r.json()
    return body["code"], body["presenter_token"]


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now; its violations (id, impact, nodes)."""
    if not AXE_JS.exists():
        pytest.fail(f"{AXE_JS} missing: `make test` installs it (npm ci)")
    page.add_script_tag(path=str(AXE_JS))
    result: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document)).violations.map((v) => ({
            id: v.id, impact: v.impact,
            nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ' | ' + n.failureSummary),
        }))"""
    )
    return result


# Moderate rules the issue names: held to zero as well.
NAMED_RULES = {"page-has-heading-one", "heading-order", "scrollable-region-focusable"}


def assert_accessible(page: Any, where: str) -> None:
    """No serious or critical axe violation, and none of the rules the issue names."""
    bad = [
        v
        for v in axe_violations(page)
        if v["impact"] in ("serious", "critical") or v["id"] in NAMED_RULES
    ]
    assert not bad, f"{where}: " + json.dumps(bad, indent=1, ensure_ascii=False)


def step_count(page: Any) -> int:
    """The step the page shows."""
    return int(page.get_by_test_id("step-count").text_content())


def steps_to(page: Any, n: int) -> None:
    """Wait until the page shows step n."""
    expect(page.get_by_test_id("step-count")).to_have_text(str(n))


def test_axe_core_is_the_pinned_version() -> None:
    """The installed axe-core is the version package.json pins (npm ci, not whatever is there)."""
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["axe-core"]
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/axe-core"]["version"] == pinned
    assert AXE_JS.exists(), "run `make test` (it runs npm ci)"
    installed = json.loads((AXE_JS.parent / "package.json").read_text())["version"]
    assert installed == pinned


def test_every_page_passes_axe_after_steps_and_with_the_guide_open(browser: Any, base: str) -> None:
    """`/`, `/join`, `/room/{code}` and `/present/{code}`: no serious or critical violation."""
    context, page, errors = new_page(browser)
    try:
        page.goto(base + "/")
        connected(page)
        assert_accessible(page, "/ at step 0")
        for n in (1, 2, 3):
            page.get_by_test_id("step-button").click()
            steps_to(page, n)
        page.get_by_test_id("guide-button").click()
        for _ in range(4):  # step 5: the long W_ih chain, the widest equation
            page.get_by_test_id("guide-next").click()
        expect(page.get_by_test_id("chain-name")).to_have_text("W_ih[0,0]")
        assert_accessible(page, "/ after 3 steps, guide at step 5")

        # Every formula keeps its text for screen readers; heat maps say what they show.
        maths = page.evaluate(
            "() => [...document.querySelectorAll('math')].map((m) => [m.getAttribute('alttext'),"
            " m.getAttribute('aria-label')])"
        )
        assert maths and all(alt and alt == label for alt, label in maths), maths
        grad = page.get_by_test_id("chain-gradient").locator("math")
        expect(grad).to_have_attribute(
            "alttext", re.compile(r"^∂E/∂W_ih\[0,0\] = −?[0-9.]+(e−?[0-9]+)?$")
        )
        canvas = page.get_by_test_id("heatmap-W-0")
        expect(canvas).to_have_attribute("role", "img")
        expect(canvas).to_have_attribute(
            "aria-label", re.compile(r"^Heat map of W_ih \(4×5\): values from ")
        )

        page.goto(base + "/join")
        expect(page.get_by_test_id("join-form")).to_be_visible()
        assert_accessible(page, "/join")

        code, token = room(base)
        presenter = context.new_page()
        presenter.on("pageerror", lambda e: errors.append(f"presenter: {e}"))
        presenter.goto(f"{base}/present/{code}#token={token}")
        connected(presenter)
        expect(presenter.get_by_test_id("step-button")).to_be_enabled()  # the hello was accepted
        for n in (1, 2):
            presenter.get_by_test_id("step-button").click()
            steps_to(presenter, n)
        presenter.get_by_test_id("guide-button").click()
        presenter.get_by_test_id("guide-next").click()
        expect(presenter.get_by_test_id("guide")).to_be_visible()
        assert_accessible(presenter, "/present after 2 steps, guide open")

        page.goto(f"{base}/room/{code}")
        connected(page)
        steps_to(page, 2)
        expect(page.get_by_test_id("guide")).to_be_visible()  # the presenter's guide step
        # A guide the presenter opened is no modal: it does not take the participant's focus.
        expect(page.get_by_test_id("guide")).to_have_attribute("aria-modal", "false")
        assert_accessible(page, "/room with the presenter's guide open")
        assert errors == []
    finally:
        context.close()


def focused(page: Any) -> str:
    """The data-testid (or id, or tag) of the focused element."""
    return str(
        page.evaluate(
            "() => { const a = document.activeElement; return a ? (a.dataset.testid || a.id ||"
            " a.tagName) : ''; }"
        )
    )


def focus_ring(page: Any) -> bool:
    """True when the focused element draws a visible focus indicator."""
    return bool(
        page.evaluate(
            """() => { const a = document.activeElement;
            const s = getComputedStyle(a);
            return a.matches(':focus-visible') && s.outlineStyle !== 'none'
              && parseFloat(s.outlineWidth) >= 1; }"""
        )
    )


def test_keyboard_only_walk_through_the_main_controls(browser: Any, base: str) -> None:
    """Tab reaches Reset, Step, Play, the data set and the Guide in order; keys activate them."""
    context, page, errors = new_page(browser)
    try:
        page.goto(base + "/")
        connected(page)
        page.evaluate("() => localStorage.removeItem('backprop-studio.shortcuts')")
        order: list[str] = []
        for _ in range(80):
            page.keyboard.press("Tab")
            name = focused(page)
            order.append(name)
            if name in ("reset-button", "step-button", "play-button", "guide-button"):
                assert focus_ring(page), f"no visible focus on {name}"
            if "dataset-select" in order and "guide-button" in order:
                break
        for name in (
            "reset-button",
            "step-button",
            "play-button",
            "guide-button",
            "dataset-select",
        ):
            assert name in order, (name, order)
        assert order.index("reset-button") < order.index("step-button") < order.index("play-button")
        assert order.index("guide-button") < 12, order  # the Guide is near the top, not 41 Tabs

        # Enter on Step steps; Space on Play plays, Space again pauses (the button's own key).
        page.get_by_test_id("step-button").focus()
        page.keyboard.press("Enter")
        steps_to(page, 1)
        page.get_by_test_id("play-button").focus()
        page.keyboard.press("Space")
        expect(page.get_by_test_id("play-button")).to_have_attribute("aria-pressed", "true")
        # The server's own word that it plays, so the paused frame below is the last one.
        page.wait_for_function("() => window.backpropStudio.state.frame.playing === true")
        page.keyboard.press("Space")
        expect(page.get_by_test_id("play-button")).to_have_attribute("aria-pressed", "false")
        page.wait_for_function(
            "() => !window.backpropStudio.state.frame.playing"
        )  # the server stopped too
        # ... and the page has drawn that last frame (at its next animation frame).
        page.wait_for_function(
            "() => +document.querySelector('[data-testid=step-count]').textContent"
            " === window.backpropStudio.state.frame.step"
        )
        n = step_count(page)

        # The Guide: a dialog that takes the focus but is not modal (issue 21: its cards ask
        # for Step and Play), Tab goes on into the page, Escape closes it and gives the focus
        # back to its button.
        page.get_by_test_id("guide-button").focus()
        page.keyboard.press("Enter")
        guide = page.get_by_test_id("guide")
        expect(guide).to_be_visible()
        expect(guide).to_have_attribute("role", "dialog")
        expect(guide).to_have_attribute("aria-modal", "false")
        assert page.evaluate(
            "() => document.getElementById('guide').contains(document.activeElement)"
        )
        label = page.evaluate(
            "() => document.getElementById(document.getElementById('guide')"
            ".getAttribute('aria-labelledby')).textContent"
        )
        assert label == "The network"
        page.keyboard.press("ArrowRight")  # the page's shortcut works beside the guide
        steps_to(page, n + 1)
        left = False
        for _ in range(8):
            page.keyboard.press("Tab")
            left = left or not page.evaluate(
                "() => document.getElementById('guide').contains(document.activeElement)"
            )
        assert left, "Tab never left the guide"
        page.get_by_test_id("guide-next").focus()
        page.keyboard.press("Escape")
        expect(guide).to_be_hidden()
        assert focused(page) == "guide-button"
        assert step_count(page) == n + 1
        assert errors == []
    finally:
        context.close()


def test_shortcuts_skip_form_controls_rows_and_checkboxes_and_can_be_switched_off(
    browser: Any, base: str
) -> None:
    """WCAG 2.1.4: single keys never act in a control, row or checkbox; a switch turns them off."""
    context, page, errors = new_page(browser)
    try:
        page.goto(base + "/")
        connected(page)
        page.evaluate("() => localStorage.removeItem('backprop-studio.shortcuts')")
        page.reload()
        connected(page)
        expect(page.get_by_test_id("shortcuts-toggle")).to_be_checked()

        def step_and_count(before: int) -> None:
            # The socket keeps order: a shortcut that fired before this click shows as +2.
            page.get_by_test_id("step-button").click()
            steps_to(page, before + 1)

        page.evaluate("() => document.activeElement.blur()")
        page.keyboard.press("ArrowRight")  # on the page itself: the shortcut steps
        steps_to(page, 1)

        page.get_by_test_id("log-toggle").focus()  # a checkbox
        for key in ("ArrowRight", "r", "R"):
            page.keyboard.press(key)
        step_and_count(1)
        page.get_by_test_id("seed-input").focus()  # a form field
        page.keyboard.press("ArrowRight")
        step_and_count(2)
        row = page.locator("[data-testid=data-table] tbody tr").first  # a row one picks
        row.focus()
        page.keyboard.press("ArrowRight")
        page.keyboard.press("r")
        step_and_count(3)
        # A drop-down: → neither steps nor picks the next data set (the run would be lost).
        dataset = page.get_by_test_id("dataset-select")
        chosen = dataset.input_value()
        dataset.focus()
        page.keyboard.press("ArrowRight")
        step_and_count(4)  # a new data set would have started again at step 0
        assert dataset.input_value() == chosen
        radio = page.get_by_test_id("mode-gradients")
        radio.focus()
        page.keyboard.press("r")
        step_and_count(5)

        # Switched off (a visible checkbox), remembered across a reload.
        page.get_by_test_id("shortcuts-toggle").uncheck()
        page.reload()
        connected(page)
        expect(page.get_by_test_id("shortcuts-toggle")).not_to_be_checked()
        expect(page.get_by_test_id("step-button")).not_to_have_attribute(
            "aria-keyshortcuts", "ArrowRight"
        )
        at = step_count(page)
        page.evaluate("() => document.activeElement.blur()")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("r")
        step_and_count(at)
        page.get_by_test_id("shortcuts-toggle").check()
        page.evaluate("() => document.activeElement.blur()")
        page.keyboard.press("ArrowRight")
        steps_to(page, at + 2)
        assert errors == []
    finally:
        context.close()


def test_focus_stays_in_the_architecture_editor(browser: Any, base: str) -> None:
    """The editor rebuilds on each change; the button pressed keeps the focus, or its row does."""
    context, page, errors = new_page(browser)
    try:
        page.goto(base + "/")
        connected(page)
        n = int(page.get_by_test_id("arch-n-1").text_content())
        page.get_by_test_id("arch-inc-1").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("arch-n-1")).to_have_text(str(n + 1))
        assert focused(page) == "arch-inc-1"
        page.keyboard.press("Enter")  # the focus is real: the key works again
        expect(page.get_by_test_id("arch-n-1")).to_have_text(str(n + 2))
        page.get_by_test_id("arch-add-layer").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("arch-remove-2")).to_be_visible()
        assert focused(page) == "arch-add-layer"
        page.get_by_test_id("arch-remove-2").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("arch-remove-2")).to_have_count(0)
        # The button went away with its layer: the focus stays in the editor, on a button.
        assert page.evaluate(
            "() => document.activeElement.tagName === 'BUTTON'"
            " && document.getElementById('arch-editor').contains(document.activeElement)"
        )
        assert errors == []
    finally:
        context.close()


def test_fork_by_keyboard_keeps_focus_and_its_shortcuts_work(browser: Any, base: str) -> None:
    """Fork moves the focus to the banner; the buttons' titles promise keys, and they work."""
    code, _token = room(base)
    context, page, errors = new_page(browser)
    try:
        page.goto(f"{base}/room/{code}")
        connected(page)
        page.get_by_test_id("fork-button").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("fork-banner")).to_be_visible()
        expect(page.get_by_test_id("step-button")).to_be_enabled()
        assert focused(page) == "fork-banner"
        title = page.get_by_test_id("step-button").get_attribute("title")
        assert "→" in title
        page.keyboard.press("ArrowRight")
        steps_to(page, 1)
        page.keyboard.press("r")
        steps_to(page, 0)
        page.get_by_test_id("back-button").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("fork-button")).to_be_visible()
        assert focused(page) == "fork-button"
        assert errors == []
    finally:
        context.close()


def test_phone_guide_keeps_next_on_screen_and_the_panel_in_view(browser: Any, base: str) -> None:
    """390x844: every guide step leaves Next on screen, the panel's start above the card,
    and the page never scrolls sideways."""
    context, page, errors = new_page(browser, PHONE)
    try:
        page.goto(base + "/")
        connected(page)
        page.get_by_test_id("guide-button").click()
        for k in range(8):
            expect(page.locator("#guide-count")).to_have_text(f"Step {k + 1} of 8")
            # The step's action may redraw panels: wait until the layout has settled with the
            # panel's start above the card (the guide keeps it at the top, under the sticky
            # transport bar), then look closely.
            page.wait_for_function(
                """() => { const id = document.getElementById('guide').dataset.panel;
                const top = document.getElementById(id).getBoundingClientRect().top;
                const bar = document.querySelector('.topbar').getBoundingClientRect().bottom;
                return top >= bar && top <= bar + 24; }"""
            )
            geo = page.evaluate(
                """() => {
                const card = document.getElementById('guide').getBoundingClientRect();
                const next = document.getElementById('guide-next').getBoundingClientRect();
                const id = document.getElementById('guide').dataset.panel;
                const panel = document.getElementById(id).getBoundingClientRect();
                return {card: [card.top, card.bottom], next: [next.top, next.bottom],
                        panel: [panel.top, panel.height], vh: innerHeight,
                        sideways: document.documentElement.scrollWidth - innerWidth};
            }"""
            )
            assert geo["next"][0] >= 0 and geo["next"][1] <= geo["vh"], (k, geo)
            assert geo["sideways"] <= 0, (k, geo)
            top, height = geo["panel"]
            assert top >= 0, (k, geo)
            assert geo["card"][0] - top >= min(height, 300), (k, geo)  # the panel's start shows
            if k == 4:
                page.screenshot(path=str(SHOTS / "a11y-phone-guide-step5.png"))
            page.get_by_test_id("guide-next").click()
        expect(page.get_by_test_id("guide")).to_be_hidden()

        # The W_ih chain fits the phone (issue 20: equations wrap between factors, the table
        # sizes its font): nothing in it scrolls, so nothing is a useless Tab stop.
        expect(page.get_by_test_id("chain-name")).to_have_text("W_ih[0,0]")
        boxes = page.locator("#chain-panel .kbd-scroll")
        expect(boxes.first).to_be_attached()
        page.wait_for_function(
            """() => [...document.querySelectorAll('#chain-panel .kbd-scroll')].every((b) =>
            b.scrollWidth <= b.clientWidth + 1 && !b.hasAttribute('tabindex'))"""
        )
        # Narrower still, the factor table needs its box: it scrolls by keyboard, and keeps
        # the focus and its scroll when a new frame writes the panel's numbers.
        page.set_viewport_size({"width": 280, "height": 844})
        box = page.locator("#chain-panel .kbd-scroll[tabindex='0']").first
        box.focus()
        page.keyboard.press("ArrowRight")  # scrolls the box; no step
        page.wait_for_function("(b) => b.scrollLeft > 0", arg=box.element_handle())
        before = page.get_by_test_id("chain-sum").text_content()
        at = step_count(page)
        page.evaluate("() => window.backpropStudio.state.socket.send({type: 'step', count: 1})")
        steps_to(page, at + 1)
        expect(page.get_by_test_id("chain-sum")).not_to_have_text(before or "")
        assert page.evaluate("() => document.activeElement.matches('#chain-panel .kbd-scroll')")
        assert box.evaluate("(b) => b.scrollLeft") > 0
        assert errors == []
    finally:
        context.close()


def test_forced_colors_keep_the_mode_and_the_swatches(browser: Any, base: str) -> None:
    """Windows high contrast: the selected mode and the legend's colours stay visible."""
    context, page, errors = new_page(browser)
    try:
        page.emulate_media(forced_colors="active")
        page.goto(base + "/")
        connected(page)
        styles = page.evaluate(
            """() => {
            const bg = (sel) => getComputedStyle(document.querySelector(sel)).backgroundColor;
            return {checked: bg('.seg input:checked + span'),
                    other: bg('.seg input:not(:checked) + span'),
                    pos: bg('.swatch.pos'), neg: bg('.swatch.neg')};
        }"""
        )
        assert styles["checked"] != styles["other"], styles
        assert styles["pos"] == "rgb(33, 102, 172)" and styles["neg"] == "rgb(230, 97, 1)", styles
        assert errors == []
    finally:
        context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, {"width": 1280, "height": 800}, PHONE])
def test_screenshots_of_every_page(browser: Any, base: str, viewport: dict[str, int]) -> None:
    """Every page at 1440x900, 1280x800 and 390x844, for a person to look at; no sideways scroll
    and little layout shift while loading."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    code, token = room(base)
    size = f"{viewport['width']}x{viewport['height']}"
    context, page, errors = new_page(browser, viewport)
    try:
        for name, path in [
            ("main", "/"),
            ("join", "/join"),
            ("present", f"/present/{code}#token={token}"),
            ("room", f"/room/{code}"),
        ]:
            page.goto(base + path)
            if name != "join":
                connected(page)
                page.wait_for_function("() => document.querySelector('.matrix-block canvas')")
            assert page.evaluate("() => document.documentElement.scrollWidth - innerWidth") <= 0
            page.screenshot(path=str(SHOTS / f"a11y-{name}-{size}.png"), full_page=True)
        assert errors == []
    finally:
        context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE])
def test_the_phase_view_passes_axe_with_its_dots_and_buttons(
    browser: Any, base: str, viewport: dict[str, int]
) -> None:
    """The phase panel (previous and next buttons, a dot per phase) at every phase kind."""
    context, page, errors = new_page(browser, viewport)
    try:
        page.goto(base + "/?data=spiral&layers=2-4-1&act=relu&batch=8")
        connected(page)
        label = page.get_by_test_id("phase-label")
        page.get_by_test_id("phase-button").click()
        expect(label).to_have_text("Forward: layer 1")
        assert_accessible(page, f"phase view, forward, {viewport}")
        for name in ["Forward: layer 2", "Error", "Backward: layer 2", "Backward: layer 1"]:
            page.get_by_test_id("phase-next").click()
            expect(label).to_have_text(name)
        page.locator("[data-testid=phase-progress] .phase-dot").nth(5).click()
        expect(label).to_have_text("Update")
        steps_to(page, 1)
        assert_accessible(page, f"phase view, after the update, {viewport}")
        assert errors == []
    finally:
        context.close()


def test_the_trouble_panel_with_tried_fixes_and_an_outcome_passes_axe(
    browser: Any, base: str
) -> None:
    """Findings with their trials, rejected fixes, a fix applied and its outcome: accessible."""
    context, page, errors = new_page(browser)
    page.goto(f"{base}/?preset=article&lr=100")
    connected(page)
    page.get_by_test_id("step-button").click()
    expect(page.get_by_test_id("trouble-tried-step_too_large")).to_be_visible()
    expect(page.get_by_test_id("trouble-rejected-output_saturated")).to_be_visible()
    assert_accessible(page, "trouble panel with tried fixes")
    page.get_by_test_id("trouble-fix-step_too_large").click()
    expect(page.get_by_test_id("fix-outcome")).to_have_attribute("data-worked", "pending")
    assert_accessible(page, "trouble panel with a fix's outcome")
    context.close()
    assert not errors, errors


# ---- issue 21, item 9: accessibility to the letter ------------------------------------------


def assert_no_violations(page: Any, where: str) -> None:
    """Zero axe violations of any impact (minor and moderate included)."""
    found = axe_violations(page)
    assert not found, f"{where}: " + json.dumps(found, indent=1, ensure_ascii=False)


def test_zero_axe_violations_of_any_impact_in_every_state(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Default, the table open, look-back, every phase, the Guide open, every preset, offline."""
    server = ServerProcess(tmp_path_factory.mktemp("a11y21") / "server.log").start()
    context, page, errors = new_page(browser)
    try:
        page.goto(server.url + "/")
        connected(page)
        assert_no_violations(page, "default")
        for n in (1, 2, 3, 4):
            page.get_by_test_id("step-button").click()
            steps_to(page, n)
        page.locator("#network-table summary").click()
        expect(page.get_by_test_id("network-table-edges").locator("tbody tr")).to_have_count(25)
        assert_no_violations(page, "the diagram as a table")
        page.get_by_test_id("back-button").click()
        steps_to(page, 3)
        expect(page.get_by_test_id("timeline-label")).to_have_text("step 3 of 4")
        assert_no_violations(page, "look-back (step 3 of 4)")
        label = page.get_by_test_id("phase-label")
        page.get_by_test_id("phase-button").click()
        expect(label).to_have_text("Forward: layer 1")
        assert_no_violations(page, "phase view: Forward: layer 1")
        for name in ["Forward: layer 2", "Error", "Backward: layer 2", "Backward: layer 1"]:
            page.get_by_test_id("phase-next").click()
            expect(label).to_have_text(name)
            assert_no_violations(page, f"phase view: {name}")
        page.get_by_test_id("phase-close").click()
        page.get_by_test_id("guide-button").click()
        expect(page.get_by_test_id("guide")).to_be_visible()
        assert_no_violations(page, "Guide open")
        page.keyboard.press("Escape")
        presets = [p["name"] for p in httpx.get(server.url + "/api/presets", timeout=30).json()]
        assert len(presets) >= 4
        for name in presets:
            page.goto(f"{server.url}/?preset={name}")
            expect(page.get_by_test_id("connection-status")).to_have_attribute(
                "data-state", "connected"
            )
            # Nodes are SVG on every net; a big net's edges are painted on a canvas.
            page.wait_for_function("() => document.querySelector('#network-plot svg circle')")
            assert_no_violations(page, f"preset {name}")
        server.stop()
        expect(page.get_by_test_id("connection-status")).not_to_have_attribute(
            "data-state", "connected"
        )
        assert_no_violations(page, "disconnected")
        assert errors == [] or all("WebSocket" in e or "Failed to load" in e for e in errors)
    finally:
        context.close()
        server.stop()


def test_step_and_e_are_announced_and_play_is_one_named_toggle(browser: Any, base: str) -> None:
    """A polite live region says STEP and E after a step; Play keeps its name, pressed or not."""
    context, page, errors = new_page(browser)
    try:
        page.goto(base + "/?preset=article")
        connected(page)
        region = page.get_by_test_id("readout-announcer")
        expect(region).to_have_attribute("role", "status")
        expect(region).to_have_text("")  # the first frame is not announced
        page.get_by_test_id("step-button").click()
        steps_to(page, 1)
        loss = page.get_by_test_id("loss-value").text_content()
        expect(region).to_have_text(f"Step 1, E {loss}")
        play = page.get_by_test_id("play-button")
        name = "() => { const b = document.getElementById('play-button'); return b.textContent; }"
        assert page.evaluate(name).split() == ["▶", "Play"]
        play.click()
        expect(play).to_have_attribute("aria-pressed", "true")
        expect(play).to_have_accessible_name(re.compile(r"^\W*Play$"))
        page.wait_for_function("() => window.backpropStudio.state.frame.playing === true")
        play.click()
        expect(play).to_have_attribute("aria-pressed", "false")
        expect(play).to_have_accessible_name(re.compile(r"^\W*Play$"))
        page.wait_for_function("() => !window.backpropStudio.state.frame.playing")
        # Once stopped, the step it stopped at is said (not every step it passed).
        page.wait_for_function(
            "() => +document.querySelector('[data-testid=step-count]').textContent"
            " === window.backpropStudio.state.frame.step"
        )
        n = step_count(page)
        assert n > 1
        expect(region).to_contain_text(f"Step {n}, E ")
        # The charts are named images with a description that follows the run.
        plot = page.locator("#loss-plot")
        expect(plot).to_have_attribute("role", "img")
        expect(plot).to_have_accessible_name("Error curve: E against the step")
        expect(plot).to_have_accessible_description(re.compile(f"to step {n}\\. Now: E "))
        assert errors == []
    finally:
        context.close()


def test_the_diagram_as_a_table_has_every_edge_and_neuron_with_its_value(
    browser: Any, base: str
) -> None:
    """Each weight and bias of the frame, as the REST frame has it, in the table."""
    context, page, errors = new_page(browser)
    try:
        page.goto(base + "/?preset=article")
        connected(page)
        page.get_by_test_id("step-button").click()
        steps_to(page, 1)
        page.locator("#network-table summary").click()
        rows = page.get_by_test_id("network-table-edges").locator("tbody tr")
        expect(rows).to_have_count(4 * 5 + 5 * 1)
        expect(page.get_by_test_id("network-table-edges").locator("caption")).to_have_text(
            "Edges at step 1"
        )
        sid = page.evaluate("() => window.backpropStudio.state.base").rsplit("/", 1)[1]
        frame = httpx.get(f"{base}/api/sessions/{sid}", timeout=30).json()
        assert frame["step"] == 1
        got = rows.evaluate_all("(rs) => rs.map((r) => [...r.cells].map((c) => c.textContent))")
        by_name = {r[0]: r for r in got}
        W = frame["weights"]
        for i in range(4):
            for j in range(5):
                row = by_name[f"W_ih[{i},{j}]"]
                assert row[1] == f"X[{i}]" and row[2] == f"h1[{j}]"
                # fmt: four significant digits, a typographic minus
                shown = float(row[3].replace("−", "-").replace("e", "e"))
                assert abs(shown - W[0][i][j]) <= 5e-4 * abs(W[0][i][j]) + 1e-12, (row, W[0][i][j])
        nodes = page.get_by_test_id("network-table-nodes").locator("tbody tr")
        expect(nodes).to_have_count(4 + 5 + 1)
        # Another step: the open table follows.
        page.get_by_test_id("step-button").click()
        steps_to(page, 2)
        expect(page.get_by_test_id("network-table-edges").locator("caption")).to_have_text(
            "Edges at step 2"
        )
        assert errors == []
    finally:
        context.close()


def test_one_arrow_key_on_the_data_set_menu_does_not_start_a_new_run(
    browser: Any, base: str
) -> None:
    """↓ only moves the choice; Enter applies it (and a pointer's pick applies at once)."""
    context, page, errors = new_page(browser)
    try:
        page.goto(base + "/?preset=article")
        connected(page)
        page.get_by_test_id("step-button").click()
        steps_to(page, 1)
        run = page.evaluate("() => window.backpropStudio.state.base")
        created: list[str] = []
        page.on(
            "request",
            lambda r: (
                created.append(r.url)
                if r.method == "POST" and r.url.endswith("/api/sessions")
                else None
            ),
        )
        menu = page.get_by_test_id("dataset-select")
        before = menu.input_value()
        menu.focus()
        page.keyboard.press("ArrowDown")
        assert menu.input_value() != before  # the choice moved...
        # A step on the socket, clicked without taking the focus from the menu: a new run, had
        # the key started one (its request goes first), would show step 1, not 2.
        page.evaluate("() => document.getElementById('step-button').click()")
        steps_to(page, 2)
        assert page.evaluate("() => document.activeElement.id") == "dataset-select"
        assert page.evaluate("() => window.backpropStudio.state.base") == run  # ...the run did not
        assert created == []
        page.keyboard.press("Enter")
        page.wait_for_function(f"() => window.backpropStudio.state.base !== {json.dumps(run)}")
        steps_to(page, 0)
        assert errors == []
    finally:
        context.close()
