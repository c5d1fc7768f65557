"""Drag along the slope view's curve to set a weight (issue 22, item 7), in the browser.

A real server and Chromium. The ringed marker on the slope's point "now" is dragged with the
mouse (or moved with the arrow keys); on release the page sends an `edit` with the value under
the pointer. The run's weight (GET .../sessions/{id}, the server's) is then exactly the value the
page sent (read off the WebSocket), and the page's E and the slope's point are the server's at
it. A room's participant gets no marker. Every wait is on a condition with a deadline.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import DEADLINE, ServerProcess, Watched, live_room, strict_context, wait_for

pytestmark = pytest.mark.browser

T = DEADLINE * 1000  # Playwright counts in ms
SHOTS = Path("/tmp/slope-drag-shots")
SLICE = "document.querySelector('[data-testid=slope-plot]').chart"


@pytest.fixture(params=[(1440, 900), (390, 844)], ids=["desktop", "phone"])
def ctx(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A context of the given size; fails on any page error."""
    w, h = request.param
    yield from strict_context(browser, viewport={"width": w, "height": h})


def open_page(ctx: Any, server: ServerProcess, query: str) -> tuple[Any, str, list[dict[str, Any]]]:
    """The page from a link once its slope view is drawn; (page, REST base, edits it sends)."""
    page = ctx.new_page()
    sent: list[dict[str, Any]] = []

    def on_socket(ws: Any) -> None:
        def framesent(payload: Any) -> None:
            try:
                msg = json.loads(payload)
            except (TypeError, ValueError):
                return  # a binary frame: never an edit
            if isinstance(msg, dict) and msg.get("type") == "edit":
                sent.append(msg)

        ws.on("framesent", framesent)

    page.on("websocket", on_socket)
    page.goto(f"{server.url}/?{query}", wait_until="domcontentloaded")
    wait_for(lambda: page.evaluate("() => !!window.backpropStudio?.state?.data"), "the first data")
    sid = page.evaluate("() => window.backpropStudio.state.id")
    page.evaluate(
        "document.querySelector('[data-testid=\"slope-plot\"]').scrollIntoView({block: 'center'})"
    )
    wait_for(lambda: page.evaluate(f"() => !!{SLICE}?.slice?.points"), "the slope drawn")
    wait_for(lambda: page.get_by_test_id("slope-handle").is_visible(), "the slope's marker")
    return page, f"{server.url}/api/sessions/{sid}", sent


def slope_drawn(page: Any) -> bool:
    """The slope view drew a slice."""
    return bool(page.evaluate(f"() => !!{SLICE}?.slice?.points"))


def sent_now(page: Any, sent: list[dict[str, Any]]) -> int:
    """How many edits the page sent so far (a round trip first: Playwright hands its events
    over only while a call of it is under way)."""
    page.evaluate("0")
    return len(sent)


def weight_of(frame: dict[str, Any], sel: dict[str, Any]) -> float:
    """The selected parameter's value in a frame."""
    w: float = (
        frame["weights"][sel["layer"]][sel["i"]][sel["j"]]
        if sel["kind"] == "weight"
        else frame["biases"][sel["layer"]][sel["j"]]
    )
    return w


def on_screen(page: Any, x: float, y: float) -> bool:
    """The slope chart is what the page shows at (x, y) (in the viewport, nothing over it)."""
    return bool(
        page.evaluate(
            """([x, y]) => {
              const e = document.elementFromPoint(x, y);
              return !!e && !!e.closest('.chart-wrap');
            }""",
            [x, y],
        )
    )


def page_xy(page: Any, w: float, e: float) -> tuple[float, float]:
    """Page coordinates of (w, E) on the slope chart, from its ranges and plot area."""
    got: list[float] = page.evaluate(
        """([w, e]) => {
          const plot = document.querySelector('[data-testid="slope-plot"]');
          const c = plot.chart, v = c.view, a = c.area, r = plot.getBoundingClientRect();
          return [r.left + a.l + (w - v.x[0]) / (v.x[1] - v.x[0]) * a.w,
                  r.top + a.t + a.h - (e - v.y[0]) / (v.y[1] - v.y[0]) * a.h];
        }""",
        [w, e],
    )
    return got[0], got[1]


def test_drag_the_marker_along_the_curve_sets_the_weight(ctx: Any, server: ServerProcess) -> None:
    page, base, sent = open_page(ctx, server, "preset=xor&data=circle&sel=w.1.0.0")
    sel = page.evaluate("() => window.backpropStudio.state.view.sel")
    before = httpx.get(base).json()
    s = page.evaluate(f"() => {SLICE}.slice")
    assert s["value"] == weight_of(before, sel) and s["step"] == before["step"]
    # The marker sits on the point now (its centre within a pixel of the chart's dot), on screen.
    page.evaluate(
        "document.querySelector('[data-testid=\"slope-plot\"]').scrollIntoView({block: 'center'})"
    )
    wait_for(lambda: on_screen(page, *page_xy(page, s["value"], s["E"])), "the marker on screen")
    box = page.get_by_test_id("slope-handle").bounding_box()
    x0, y0 = page_xy(page, s["value"], s["E"])
    assert abs(box["x"] + box["width"] / 2 - x0) <= 1.5
    assert abs(box["y"] + box["height"] / 2 - y0) <= 1.5
    # Drag it to a sampled point a quarter of the way in, through a few moves.
    k = len(s["points"]) // 4
    w1, e1 = s["points"][k]
    x1, y1 = page_xy(page, w1, e1)
    page.mouse.move(x0, y0)
    # Hovered, the ring lets the chart's readout through: the point now, its exact numbers.
    tip = page.locator("[data-testid=slope-plot] .chart-tip")
    wait_for(lambda: str(tip.text_content()).startswith("now:"), "the readout under the ring")
    page.mouse.down()
    for f in (0.25, 0.5, 0.75, 1.0):
        page.mouse.move(x0 + f * (x1 - x0), y0 + f * (y1 - y0))
    # While dragged: the tip says where it is, E read off the curve.
    wait_for(lambda: page.get_by_test_id("slope-drag-tip").is_visible(), "the drag's tip")
    assert "let go to set it" in str(page.get_by_test_id("slope-drag-tip").text_content())
    width = page.viewport_size["width"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"slope-dragging-{width}.png"))
    page.mouse.up()
    wait_for(lambda: sent_now(page, sent) == 1, "the edit sent on release")
    msg = sent[0]
    assert {k: msg.get(k) for k in ("kind", "layer", "i", "j")} == {
        k: sel.get(k) for k in ("kind", "layer", "i", "j")
    }
    # The value under the pointer: within a pixel's worth of w of the sampled point aimed at.
    pixel = page.evaluate(
        f"() => {{ const c = {SLICE}; return (c.view.x[1] - c.view.x[0]) / c.area.w; }}"
    )
    assert abs(msg["value"] - w1) <= 1.5 * pixel, (msg["value"], w1, pixel)
    assert msg["value"] != s["value"]
    # The server's weight is exactly the value sent; its frame is the page's.
    wait_for(lambda: weight_of(httpx.get(base).json(), sel) == msg["value"], "the run's weight")
    frame = httpx.get(base).json()
    assert frame["step"] == before["step"] and frame["loss"] != before["loss"]
    assert frame["settings_log"]["changes"][-1]["edit"]["value"] == msg["value"]
    wait_for(
        lambda: page.evaluate("() => window.backpropStudio.state.frame.loss") == frame["loss"],
        "the page's E at the edit",
    )
    # The slope view shows where E went: its point is the server's (value, E), the marker on it.
    wait_for(lambda: page.evaluate(f"() => {SLICE}.slice.value") == msg["value"], "the new slice")
    query = {k: sel[k] for k in ("kind", "layer", "i", "j")}
    after = httpx.get(f"{base}/slice", params=query).json()
    assert page.evaluate(f"() => {SLICE}.slice.E") == after["E"]
    assert after["value"] == msg["value"]
    wait_for(lambda: page.get_by_test_id("slope-edit").is_visible(), "the slope's edit note")
    said = str(page.get_by_test_id("slope-edit").text_content())
    assert said.startswith(f"Set by hand at step {frame['step']}:")
    handle = page.get_by_test_id("slope-handle")
    wait_for(lambda: handle.get_attribute("data-value") == str(msg["value"]), "the marker there")
    assert "E =" in str(handle.get_attribute("aria-valuetext"))  # the server's E, not "≈"
    page.screenshot(path=str(SHOTS / f"slope-dragged-{width}.png"))


def test_arrow_keys_move_the_marker_and_the_release_sets_it(
    ctx: Any, server: ServerProcess
) -> None:
    page, base, sent = open_page(ctx, server, "preset=xor&data=gauss&sel=w.0.1.2")
    sel = page.evaluate("() => window.backpropStudio.state.view.sel")
    s = page.evaluate(f"() => {SLICE}.slice")
    handle = page.get_by_test_id("slope-handle")
    assert handle.get_attribute("role") == "slider"
    assert "along the curve" in str(handle.get_attribute("aria-label"))
    handle.focus()
    # Held down (keydown repeats, one keyup): two sampled points right, one edit on release.
    page.keyboard.down("ArrowRight")
    page.keyboard.down("ArrowRight")
    xs = [p[0] for p in s["points"]]
    mid = xs.index(s["value"])  # the middle sampled point is the parameter's own value
    wait_for(lambda: handle.get_attribute("data-value") == str(xs[mid + 2]), "two points right")
    assert sent_now(page, sent) == 0
    page.keyboard.up("ArrowRight")
    wait_for(lambda: sent_now(page, sent) == 1, "the edit sent on the key's release")
    assert sent[0]["value"] == xs[mid + 2]
    wait_for(lambda: weight_of(httpx.get(base).json(), sel) == xs[mid + 2], "the run's weight")
    frame = httpx.get(base).json()
    wait_for(
        lambda: page.evaluate("() => window.backpropStudio.state.frame.loss") == frame["loss"],
        "the page's E at the edit",
    )
    wait_for(lambda: page.evaluate(f"() => {SLICE}.slice.value") == xs[mid + 2], "the new slice")
    # Home: the curve's left end; Escape before the release puts it back, nothing sent.
    s2 = page.evaluate(f"() => {SLICE}.slice")
    page.keyboard.down("Home")
    wait_for(lambda: handle.get_attribute("data-value") == str(s2["points"][0][0]), "the left end")
    page.keyboard.press("Escape")
    page.keyboard.up("Home")
    wait_for(lambda: handle.get_attribute("data-value") == str(s2["value"]), "back where it was")
    assert sent_now(page, sent) == 1


def test_a_participant_gets_no_marker(browser: Any, server: ServerProcess) -> None:
    made = httpx.post(
        f"{server.url}/api/rooms", json={"config": {"preset": "xor", "dataset": {"name": "circle"}}}
    )
    assert made.status_code == 201, made.text
    code, token = made.json()["code"], made.json()["presenter_token"]
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(T)
    try:
        presenter, participant = Watched(context.new_page()), Watched(context.new_page())
        presenter.page.goto(f"{server.url}/present/{code}#token={token}")
        live_room(presenter.page)
        participant.page.goto(f"{server.url}/room/{code}")
        live_room(participant.page)
        for w in (presenter, participant):
            w.page.evaluate(
                "document.querySelector('[data-testid=\"slope-plot\"]')"
                ".scrollIntoView({block: 'center'})"
            )
            wait_for(partial(slope_drawn, w.page), "a slope")
        wait_for(lambda: presenter.page.get_by_test_id("slope-handle").is_visible(), "a marker")
        assert participant.page.get_by_test_id("slope-handle").is_hidden()
        assert not presenter.errors and not participant.errors, (
            presenter.errors,
            participant.errors,
        )
    finally:
        context.close()


def test_a_finger_drags_the_ring_on_a_touch_screen(browser: Any, server: ServerProcess) -> None:
    """On a phone (touch, no hover) the ring takes the finger: a drag sets the weight (had the
    page panned instead, the browser would have cancelled the pointer and nothing be sent)."""
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    ctx.set_default_timeout(T)
    try:
        page, base, sent = open_page(ctx, server, "preset=xor&data=circle&sel=w.1.0.0")
        sel = page.evaluate("() => window.backpropStudio.state.view.sel")
        s = page.evaluate(f"() => {SLICE}.slice")
        page.evaluate(
            "document.querySelector('[data-testid=\"slope-plot\"]')"
            ".scrollIntoView({block: 'center'})"
        )
        wait_for(lambda: on_screen(page, *page_xy(page, s["value"], s["E"])), "the ring on screen")
        x0, y0 = page_xy(page, s["value"], s["E"])
        w1, e1 = s["points"][len(s["points"]) * 3 // 4]
        x1, y1 = page_xy(page, w1, e1)
        cdp = ctx.new_cdp_session(page)

        def touch(kind: str, x: float, y: float) -> None:
            points = [] if kind == "touchEnd" else [{"x": x, "y": y, "id": 1}]
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

        touch("touchStart", x0, y0)
        for f in (0.25, 0.5, 0.75, 1.0):
            touch("touchMove", x0 + f * (x1 - x0), y0 + f * (y1 - y0))
        touch("touchEnd", x1, y1)
        wait_for(lambda: sent_now(page, sent) == 1, "the edit sent when the finger lifts")
        value = sent[0]["value"]
        assert value != s["value"]
        wait_for(lambda: weight_of(httpx.get(base).json(), sel) == value, "the run's weight")
    finally:
        ctx.close()
