"""A question round in a browser: the presenter asks about the selected edge, two participants
(one on a phone) answer, the presenter reveals, the projector shows the hall the question and the
bars; screenshots at 1440x900 and 390x844."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from support import ServerProcess, Watched, live_room
from test_a11y import assert_accessible

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.browser

T = 60_000  # ms: generous for a loaded 2-core machine


def way(before: float, after: float) -> str:
    """up / down / stays, as docs/api.md, Version 3 defines it."""
    d = after - before
    if d == 0 or abs(d) <= 1e-10 * max(abs(before), abs(after)):
        return "stays"
    return "up" if d > 0 else "down"


def bar_counts(card: Any) -> dict[str, int]:
    """The histogram a card shows: choice -> the count its bar reads."""
    bars = card.get_by_test_id("quiz-bar")
    return {
        bars.nth(k).get_attribute("data-choice"): int(
            bars.nth(k).get_by_test_id("quiz-bar-n").inner_text().split()[0]
        )
        for k in range(bars.count())
    }


def test_a_question_round(browser: Any, server: ServerProcess) -> None:
    made = httpx.post(f"{server.url}/api/rooms", json={"config": {"preset": "article"}}, timeout=30)
    code, token = made.json()["code"], made.json()["presenter_token"]
    desk = browser.new_context(viewport={"width": 1440, "height": 900}, bypass_csp=True)
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, bypass_csp=True
    )  # CSP bypassed for axe only: the pages run as served
    try:
        for c in (desk, phone):
            c.set_default_timeout(T)
        boss, a = Watched(desk.new_page()), Watched(desk.new_page())
        b = Watched(phone.new_page())
        boss.page.goto(f"{server.url}/present/{code}#token={token}", wait_until="domcontentloaded")
        live_room(boss.page, T)
        expect(boss.page.get_by_test_id("step-button")).to_be_enabled()
        for p in (a, b):
            p.page.goto(f"{server.url}/room/{code}", wait_until="domcontentloaded")
            live_room(p.page, T)
        # The projector (the hall's screen) and the same view on a phone-sized screen.
        hall, hall_phone = Watched(desk.new_page()), Watched(phone.new_page())
        for p in (hall, hall_phone):
            p.page.goto(
                f"{server.url}/present/{code}?view=projector#token={token}",
                wait_until="domcontentloaded",
            )
            live_room(p.page, T)
        shown = hall.page.get_by_test_id("quiz-projector")
        expect(shown).to_be_hidden()  # no question yet
        expect(boss.page.get_by_test_id("join-count")).to_have_text("2")

        # The presenter selects W_ho[2,0] and asks which way it will move.
        menu = boss.page.get_by_test_id("quiz-presenter")
        boss.page.get_by_test_id("pick-layer").select_option("1")
        boss.page.get_by_test_id("pick-i").select_option("2")
        ask = menu.get_by_test_id("quiz-ask-direction")
        expect(ask).to_have_text("Which way will W_ho[2,0] move?")
        ask.click()
        expect(menu.get_by_test_id("quiz-text")).to_contain_text("W_ho[2,0]")
        for p in (a, b):
            expect(p.page.get_by_test_id("quiz-participant")).to_be_visible()
            expect(p.page.get_by_test_id("quiz-text")).to_contain_text("W_ho[2,0]")
        # The right answer, computed here from the trace of the step the reveal will run.
        trace = httpx.get(f"{server.url}/api/rooms/{code}/trace", timeout=30).json()
        up = next(u for u in trace["update"] if u["layer"] == 2)
        right = way(up["W_old"][2][0], up["W_new"][2][0])
        wrong = "stays" if right != "stays" else "up"
        a.page.locator(f'[data-testid=quiz-choice][data-choice="{wrong}"]').click()  # then changes
        a.page.locator(f'[data-testid=quiz-choice][data-choice="{right}"]').click()
        expect(a.page.get_by_test_id("quiz-mine")).to_contain_text("You can change it")
        a.page.reload(wait_until="domcontentloaded")  # the same tab, back: the same voter
        live_room(a.page, T)
        mine = a.page.locator(f'[data-testid=quiz-choice][data-choice="{right}"]')
        expect(mine).to_have_attribute("aria-pressed", "true")
        b.page.locator(f'[data-testid=quiz-choice][data-choice="{wrong}"]').click()
        expect(menu.get_by_test_id("quiz-answered")).to_have_text("2 answered of 2 here")
        bars = menu.locator(
            f'[data-testid=quiz-bar][data-choice="{right}"] [data-testid=quiz-bar-n]'
        )
        expect(bars).to_contain_text("1")
        # The projector: the question as the presenter reads it, its choices, no buttons, and the
        # count of the two answers sent (not the live bars: they would sway the hall).
        expect(shown).to_be_visible()
        expect(shown.get_by_test_id("quiz-text")).to_have_text(
            menu.get_by_test_id("quiz-text").inner_text()
        )
        options = shown.locator("[data-testid=quiz-options] li")
        expect(options).to_have_count(3)
        assert {options.nth(k).get_attribute("data-choice") for k in range(3)} == {
            right,
            wrong,
            next(c for c in ("up", "down", "stays") if c not in (right, wrong)),
        }
        expect(shown.get_by_test_id("quiz-answered")).to_have_text("2 of 2 answered")
        expect(shown.locator("button")).to_have_count(0)
        expect(hall.page.get_by_test_id("quiz-ask-loss")).to_be_hidden()
        expect(hall.page.get_by_test_id("quiz-reveal")).to_be_hidden()
        expect(
            hall_phone.page.get_by_test_id("quiz-projector").get_by_test_id("quiz-answered")
        ).to_have_text("2 of 2 answered")
        hall.page.screenshot(path="/tmp/quiz-projector-asked-1440.png")
        hall_phone.page.screenshot(path="/tmp/quiz-projector-asked-390.png")
        a.page.screenshot(path="/tmp/quiz-participant-1440.png")
        b.page.screenshot(path="/tmp/quiz-participant-390.png")
        boss.page.screenshot(path="/tmp/quiz-presenter-asked-1440.png")
        assert_accessible(boss.page, "the presenter's page with a question open")
        assert_accessible(b.page, "a phone participant's page with a question")

        menu.get_by_test_id("quiz-reveal").click()
        expect(menu.get_by_test_id("quiz-correct")).to_contain_text(
            "it stays" if right == "stays" else f"it moves {right}"
        )
        expect(menu.locator(".quiz-bar.is-right")).to_have_attribute("data-choice", right)
        expect(menu.get_by_test_id("quiz-answered")).to_contain_text("1 of 2 right (step 1)")
        expect(a.page.get_by_test_id("quiz-verdict")).to_contain_text("Right!")
        expect(b.page.get_by_test_id("quiz-verdict")).to_contain_text("Not this time.")
        expect(boss.page.get_by_test_id("step-count")).to_have_text("1")
        # The projector after the reveal: the presenter's bars (one answer each for the two
        # choices sent), the right choice marked, the same tally of right answers.
        expect(shown.locator(".quiz-bar.is-right")).to_have_attribute("data-choice", right)
        expect(shown.get_by_test_id("quiz-answered")).to_have_text("1 of 2 right")
        sent = {c: int(c in (right, wrong)) for c in bar_counts(menu)}
        assert bar_counts(menu) == sent
        assert bar_counts(shown) == sent
        expect(shown.get_by_test_id("quiz-correct")).to_have_text(
            menu.get_by_test_id("quiz-correct").inner_text()
        )
        hall.page.screenshot(path="/tmp/quiz-projector-revealed-1440.png")
        hall_phone.page.screenshot(path="/tmp/quiz-projector-revealed-390.png")
        assert_accessible(hall.page, "the projector after the reveal")
        boss.page.screenshot(path="/tmp/quiz-presenter-revealed-1440.png")
        a.page.screenshot(path="/tmp/quiz-revealed-1440.png")
        b.page.screenshot(path="/tmp/quiz-revealed-390.png")
        assert_accessible(a.page, "a participant's page after the reveal")

        # Round 2: an estimate of dE/dW_ho[2,0], typed; within 10 % is right.
        menu.get_by_test_id("quiz-ask-estimate").click()
        expect(b.page.get_by_test_id("quiz-estimate")).to_be_visible()
        trace = httpx.get(f"{server.url}/api/rooms/{code}/trace", timeout=30).json()
        g = next(x for x in trace["backward"] if x["layer"] == 2)["dW"][2][0]
        a.page.get_by_test_id("quiz-estimate").fill(repr(g * 1.05))
        a.page.get_by_test_id("quiz-estimate-send").click()
        b.page.get_by_test_id("quiz-estimate").fill(repr(-g))
        b.page.get_by_test_id("quiz-estimate").press("Enter")
        expect(menu.get_by_test_id("quiz-answered")).to_have_text("2 answered of 2 here")
        b.page.screenshot(path="/tmp/quiz-estimate-390.png")
        menu.get_by_test_id("quiz-reveal").click()
        expect(a.page.get_by_test_id("quiz-verdict")).to_contain_text("Right!")
        expect(b.page.get_by_test_id("quiz-verdict")).to_contain_text("Not this time.")
        expect(menu.get_by_test_id("quiz-answered")).to_contain_text("1 of 2 right (step 2)")

        # Round 3: which weight of W_ih changes most; the phone answers it right.
        boss.page.get_by_test_id("pick-layer").select_option("0")
        ask = menu.get_by_test_id("quiz-ask-largest")
        expect(ask).to_have_text("Which weight of W_ih will change most?")
        ask.click()
        choices = b.page.get_by_test_id("quiz-choice")
        expect(choices).to_have_count(20)
        trace = httpx.get(f"{server.url}/api/rooms/{code}/trace", timeout=30).json()
        up = next(u for u in trace["update"] if u["layer"] == 1)
        sizes = {
            (i, j): abs(w1 - w0)
            for i, (r0, r1) in enumerate(zip(up["W_old"], up["W_new"], strict=True))
            for j, (w0, w1) in enumerate(zip(r0, r1, strict=True))
        }
        i, j = max(sizes, key=lambda k: sizes[k])
        b.page.locator(f'[data-testid=quiz-choice][data-choice="W_ih[{i},{j}]"]').click()
        b.page.screenshot(path="/tmp/quiz-largest-390.png")
        expect(menu.get_by_test_id("quiz-answered")).to_have_text("1 answered of 2 here")
        expect(shown.get_by_test_id("quiz-answered")).to_have_text("1 of 2 answered")
        expect(shown.locator("[data-testid=quiz-options] li")).to_have_count(20)
        hall.page.screenshot(path="/tmp/quiz-projector-largest-1440.png")
        menu.get_by_test_id("quiz-reveal").click()
        expect(b.page.get_by_test_id("quiz-verdict")).to_contain_text("Right!")
        expect(a.page.get_by_test_id("quiz-verdict")).to_contain_text("You did not answer.")
        expect(menu.get_by_test_id("quiz-correct")).to_contain_text(f"W_ih[{i},{j}] changes most")
        expect(shown.locator(".quiz-bar.is-right")).to_have_attribute(
            "data-choice", f"W_ih[{i},{j}]"
        )
        assert bar_counts(shown) == {c: int(c == f"W_ih[{i},{j}]") for c in bar_counts(menu)}

        # The presenter on a phone: the card still fits.
        mobile_boss = phone.new_page()
        mobile_boss.goto(
            f"{server.url}/present/{code}#token={token}", wait_until="domcontentloaded"
        )
        live_room(mobile_boss, T)
        expect(mobile_boss.get_by_test_id("quiz-ask-loss")).to_be_visible()
        mobile_boss.get_by_test_id("quiz-presenter").scroll_into_view_if_needed()
        mobile_boss.screenshot(path="/tmp/quiz-presenter-390.png")
        for p in (boss, a, b, hall, hall_phone):
            assert p.errors == [], p.errors
    finally:
        desk.close()
        phone.close()
