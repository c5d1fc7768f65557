"""The slope view's note in the browser: the server's verdict, exact numbers, and its step.

A real server (tests/support.py ServerProcess) and Chromium through Playwright; every wait is
on a condition with a deadline.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import httpx
import numpy as np
import pytest
from support import DEADLINE, ServerProcess, wait_for

T = DEADLINE * 1000  # Playwright counts in ms
Param = tuple[str, int, int | None, int]
NUMBER = r"−?\d+(?:\.\d+)?(?:e−?\d+)?"


@pytest.fixture
def ctx(browser: Any) -> Iterator[Any]:
    """A desktop-sized context; fails on any page error."""
    c = browser.new_context(viewport={"width": 1440, "height": 900})
    c.set_default_timeout(T)
    errors: list[str] = []
    c.on("page", lambda p: p.on("pageerror", lambda e: errors.append(str(e))))
    yield c
    c.close()
    assert not errors, errors


def open_at(ctx: Any, server: ServerProcess, query: str, step: int) -> tuple[Any, str]:
    """The page opened from a link at `step`, its note written for that step; (page, base)."""
    page = ctx.new_page()
    page.goto(f"{server.url}/?{query}&step={step}", wait_until="domcontentloaded")
    wait_for(lambda: note(page).get("step") == str(step), f"the note at step {step}", 4 * DEADLINE)
    sid = page.evaluate("() => window.backpropStudio.state.id")
    return page, f"{server.url}/api/sessions/{sid}"


def note(page: Any) -> dict[str, str]:
    """The note's text and data attributes."""
    got: dict[str, str] = page.evaluate(
        """() => { const n = document.querySelector('[data-testid=slope-note]');
        return n ? { ...n.dataset, text: n.textContent } : {}; }"""
    )
    return got


def number(text: str) -> float:
    """A number as the page writes it (a true minus sign)."""
    return float(text.replace("−", "-"))


def printed_exactly(text: str, exact: float) -> bool:
    """Whether `text` is `exact` rounded to the significant digits `text` shows."""
    digits = re.sub(r"e.*$", "", text.replace("−", "")).replace(".", "").lstrip("0")
    unit = 10 ** (math.floor(math.log10(abs(exact))) - len(digits) + 1)
    return bool(abs(number(text) - exact) <= 0.5 * unit * (1 + 1e-9))


def query(p: Param) -> dict[str, Any]:
    kind, layer, i, j = p
    return {"kind": kind, "layer": layer, "j": j, **({"i": i} if kind == "weight" else {})}


def pick(page: Any, base: str, p: Param) -> dict[str, Any]:
    """Select p with the parameter picker; the server's slice once the note shows p."""
    kind, layer, i, j = p
    for picker, value in (("kind", kind), ("layer", layer), ("i", i), ("j", j)):
        box = page.get_by_test_id(f"pick-{picker}")
        if value is not None and box.input_value() != str(value):  # each change fetches
            box.select_option(str(value))
    name = httpx.get(f"{base}/chain", params=query(p)).json()["name"]
    wait_for(lambda: note(page).get("param") == name, f"the note for {name}")
    got: dict[str, Any] = httpx.get(f"{base}/slice", params=query(p)).json()
    return got


def check_note(shown: dict[str, str], sl: dict[str, Any]) -> None:
    """The note says what the slice says: verdict, direction, step, and E before and after."""
    assert shown["verdict"] == sl["verdict"]
    assert shown["direction"] == sl["direction"]
    assert shown["step"] == str(sl["step"])
    text = shown["text"]
    assert text.startswith(f"Step {sl['step']}: ")
    assert ("against the slope" in text) == (sl["direction"] == "against")
    assert ("with the slope" in text) == (sl["direction"] == "with")
    if sl["verdict"] == "flat":
        assert "less than one part in 10¹⁰" in text
        assert abs(sl["next_E"] - sl["E"]) <= 1e-10 * max(abs(sl["E"]), abs(sl["next_E"]))
        return
    pair = re.search(f"({NUMBER}) → ({NUMBER})", text)
    assert pair, text
    before, after = pair.groups()
    assert before != after  # E changed, so do the digits shown
    assert printed_exactly(before, sl["E"]) and printed_exactly(after, sl["next_E"]), text
    assert (number(after) < number(before)) == (sl["verdict"] == "downhill")
    assert "α" not in text or sl["verdict"] == "overshoot"  # only a step past the bottom is α's


def every_parameter(sizes: list[int]) -> Iterator[Param]:
    for layer, (n_in, n_out) in enumerate(pairwise(sizes)):
        for i in range(n_in):
            for j in range(n_out):
                yield ("weight", layer, i, j)
        for j in range(n_out):
            yield ("bias", layer, None, j)


def test_the_article_at_step_1000_every_parameter(ctx: Any, server: ServerProcess) -> None:
    """The interpolated curve claimed 10 overshoots here; the note now reads the server."""
    page, base = open_at(ctx, server, "preset=article", 1000)
    verdicts = set()
    for p in every_parameter([4, 5, 1]):
        sl = pick(page, base, p)
        check_note(note(page), sl)
        verdicts.add(sl["verdict"])
    assert "overshoot" not in verdicts and "downhill" in verdicts


def test_the_momentum_example_reads_uphill_without_blaming_alpha(
    ctx: Any, server: ServerProcess
) -> None:
    page, base = open_at(ctx, server, "preset=article&opt=momentum&lr=0.5&mom=0.9&sel=w.0.0.0", 2)
    sl = httpx.get(f"{base}/slice", params=query(("weight", 0, 0, 0))).json()
    assert (sl["verdict"], sl["direction"]) == ("uphill", "with")
    shown = note(page)
    assert shown["param"] == "W_ih[0,0]"
    check_note(shown, sl)
    assert "momentum’s velocity" in shown["text"]
    # The point after the step is drawn at the exact E, not read off the sampled curve: the
    # chart's readout at that point says so.
    plot = page.get_by_test_id("slope-plot")
    plot.scroll_into_view_if_needed()
    wait_for(lambda: (page.evaluate(SLOPE_CHART) or {}).get("slice", {}).get("step") == 2, "slice")
    c = page.evaluate(SLOPE_CHART)
    v, a = c["view"], c["area"]
    px = a["l"] + (sl["next_value"] - v["x"][0]) / (v["x"][1] - v["x"][0]) * a["w"]
    py = a["t"] + a["h"] - (sl["next_E"] - v["y"][0]) / (v["y"][1] - v["y"][0]) * a["h"]
    box = plot.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + px, box["y"] + py)
    tip = page.locator("[data-testid=slope-plot] .chart-tip")
    wait_for(lambda: "after the step" in (tip.text_content() or ""), "the readout after the step")
    shown_e = float(tip.text_content().split("E = ")[1].replace("−", "-"))
    assert shown_e == pytest.approx(sl["next_E"], rel=1e-9)


SLOPE_CHART = "() => document.querySelector('[data-testid=slope-plot]').chart"


def test_a_spiral_with_adam_and_minibatches(ctx: Any, server: ServerProcess) -> None:
    """[2,16,16,16,1], Adam, batches of 32: steps with the slope read uphill, as the server says."""
    page, base = open_at(ctx, server, "preset=spiral&layers=2-16-16-16-1", 40)
    with httpx.Client(base_url=base) as http:
        slices = {
            p: http.get("/slice", params=query(p)).json()
            for p in every_parameter([2, 16, 16, 16, 1])
        }
    by = {v: [p for p, s in slices.items() if s["verdict"] == v] for v in ("uphill", "downhill")}
    assert by["uphill"] and by["downhill"]
    for p in by["uphill"][:3] + by["downhill"][:3]:
        sl = pick(page, base, p)
        assert sl == slices[p]  # looking changed nothing
        check_note(note(page), sl)
    check_sentences(page, list(slices.values()))


def test_while_playing_the_note_and_the_chain_are_labelled_with_their_step(
    ctx: Any, server: ServerProcess
) -> None:
    """Refreshed together; when both show one step their slopes agree; at rest all is one step."""
    page = ctx.new_page()
    page.goto(f"{server.url}/?preset=article", wait_until="domcontentloaded")
    wait_for(lambda: note(page).get("step") == "0", "the note at step 0")
    read = """() => {
      const n = document.querySelector('[data-testid=slope-note]');
      const c = document.querySelector('[data-testid=chain-step]');
      const g = document.querySelector('[data-testid=chain-gradient]');
      return { note: n.dataset.step, text: n.textContent, chain: c.dataset.step,
               label: c.textContent, gradient: g.textContent };
    }"""
    page.get_by_test_id("play-button").click()
    same: set[str] = set()

    def sample() -> bool:
        r = page.evaluate(read)
        assert r["text"].startswith(f"Step {r['note']}: ")
        assert r["label"] == f"step {r['chain']}"
        if r["note"] == r["chain"] and r["note"] != "0":
            slope = re.search(f"= ({NUMBER}) is", r["text"])
            assert slope and r["gradient"].replace(" ", "").endswith(slope.group(1)), r
            same.add(r["note"])
        return len(same) >= 3

    wait_for(sample, "three steps where the note and the chain agree", 4 * DEADLINE, poll=0.05)
    page.get_by_test_id("play-button").click()
    step = lambda: str(page.evaluate("() => window.backpropStudio.state.frame.step"))  # noqa: E731
    wait_for(
        lambda: (
            page.evaluate("() => !window.backpropStudio.state.frame.playing")
            and page.evaluate(read)["note"] == page.evaluate(read)["chain"] == step()
        ),
        "the note and the chain at the frame's step",
    )
    # At rest the edge label, the chain panel and the note describe that one step.
    label = page.locator(".edge-label").text_content() or ""
    assert label.startswith("W_ho[0,0] = ")
    assert page.locator(".edge-label").get_attribute("data-step") == step()
    value = page.get_by_test_id("chain-panel").locator(".chain-value").text_content() or ""
    w = page.evaluate("() => window.backpropStudio.state.frame.weights[1][0][0]")
    assert printed_exactly(label.split(" = ")[1], w) and printed_exactly(value[2:], w)
    assert note(page)["param"] == "W_ho[0,0]"


def check_sentences(page: Any, slices: list[dict[str, Any]]) -> None:
    """The page's own note sentence (slope-view.js slopeSentence) for each slice, checked."""
    texts = page.evaluate(
        """async (slices) => { const m = await import('/static/js/slope-view.js');
        return slices.map((s) => m.slopeSentence(s, 'w')); }""",
        slices,
    )
    for sl, text in zip(slices, texts, strict=True):
        shown = {"verdict": sl["verdict"], "direction": sl["direction"], "step": str(sl["step"])}
        check_note({**shown, "text": text}, sl)


def test_every_note_of_the_article_at_the_issues_steps(ctx: Any, server: ServerProcess) -> None:
    """The page's sentence for every parameter of the article at steps 1, 10, 100, 1000, 3000
    (with the spiral's 609 above: where the interpolated curve gave 87 false overshoots, 45
    steps "against the slope" that went with it, and 10 pairs with identical digits)."""
    slices = []
    with httpx.Client(base_url=server.url) as http:
        sid = http.post("/api/sessions", json={"preset": "article"}).json()["id"]
        at = 0
        for n in (1, 10, 100, 1000, 3000):
            http.post(f"/api/sessions/{sid}/step", json={"count": n - at})
            at = n
            slices += [
                http.get(f"/api/sessions/{sid}/slice", params=query(p)).json()
                for p in every_parameter([4, 5, 1])
            ]
    page = ctx.new_page()
    page.goto(f"{server.url}/?preset=article", wait_until="domcontentloaded")
    check_sentences(page, slices)
    assert {s["verdict"] for s in slices} == {"downhill", "flat"}


def test_a_pair_differs_whenever_the_change_is_not_flat(ctx: Any, server: ServerProcess) -> None:
    """slope-view.js pairDigits and sig: 2,000 pairs across magnitudes 1e-8 to 1e8, changes from
    just over the flat bound (1e-10 of E) to E itself, either way; and powers of ten crossed."""
    rng = np.random.default_rng(20)
    E = 10.0 ** rng.uniform(-8, 8, 2000)
    change = E * 10.0 ** rng.uniform(-9.99, 0, 2000) * rng.choice([-1, 1], 2000)
    pairs = [[float(a), float(a + d)] for a, d in zip(E, change, strict=True)]
    pairs += [
        [0.1, 0.1 - 2e-11],
        [1e-4, 1e-4 - 2e-14],
        [99999.99999, 100000.00001],
        [1.0, 1.0 + 2e-10],
    ]
    page = ctx.new_page()
    page.goto(f"{server.url}/?preset=article", wait_until="domcontentloaded")
    shown = page.evaluate(
        """async (pairs) => { const m = await import('/static/js/slope-view.js');
        return pairs.map(([a, b]) => {
          const d = m.pairDigits(a, b);
          return [m.sig(a, d), m.sig(b, d), d];
        }); }""",
        pairs,
    )
    for (a, b), (sa, sb, d) in zip(pairs, shown, strict=True):
        assert sa != sb and d <= 12, (a, b, sa, sb)
        assert printed_exactly(sa, a) and printed_exactly(sb, b), (a, b, sa, sb)
