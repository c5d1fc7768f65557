"""Editing a weight and drawing points in the browser (issue 22, items 7 and 8).

A real server and Chromium: click an edge, type a value, Enter; the run's weight is that value
and the page's E is the server's at it. Click the plane with drawing on: a point of the chosen
class joins the run where it was clicked (read back from GET .../data); Undo takes it back.
Every wait is on a condition with a deadline.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import DEADLINE, ServerProcess, live_room, strict_context, wait_for

T = DEADLINE * 1000  # Playwright counts in ms


@pytest.fixture(params=[(1440, 900), (390, 844)], ids=["desktop", "phone"])
def ctx(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A context of the given size (touch on the phone); fails on any page error."""
    w, h = request.param
    phone = w < 500
    yield from strict_context(
        browser, viewport={"width": w, "height": h}, has_touch=phone, is_mobile=phone
    )


def open_page(ctx: Any, server: ServerProcess, query: str) -> tuple[Any, str]:
    """The page from a link, once its first frame and data are in; (page, REST base)."""
    page = ctx.new_page()
    page.goto(f"{server.url}/?{query}", wait_until="domcontentloaded")
    wait_for(lambda: page.evaluate("() => !!window.backpropStudio?.state?.data"), "the first data")
    sid = page.evaluate("() => window.backpropStudio.state.id")
    return page, f"{server.url}/api/sessions/{sid}"


def test_type_a_weight_and_the_run_takes_it(ctx: Any, server: ServerProcess) -> None:
    page, base = open_page(ctx, server, "preset=xor&data=circle")
    field = page.get_by_test_id("edit-value")
    field.scroll_into_view_if_needed()
    wait_for(lambda: field.is_visible(), "the edit field")
    sel = page.evaluate("() => window.backpropStudio.state.view.sel")
    field.fill("abc")
    field.press("Enter")
    wait_for(
        lambda: "is not a number" in str(page.get_by_test_id("edit-help").text_content()),
        "the refusal of a non-number",
    )
    field.fill("-1.375")
    field.press("Enter")

    def weight() -> float:
        f = httpx.get(base).json()
        w: float = (
            f["weights"][sel["layer"]][sel["i"]][sel["j"]]
            if sel["kind"] == "weight"
            else f["biases"][sel["layer"]][sel["j"]]
        )
        return w

    wait_for(lambda: weight() == -1.375, "the run's weight at -1.375")
    frame = httpx.get(base).json()
    assert frame["settings_log"]["changes"][-1]["edit"]["value"] == -1.375
    # The page's frame is the server's: the same weight and E at it.
    wait_for(
        lambda: page.evaluate("() => window.backpropStudio.state.frame.loss") == frame["loss"],
        "the page's E at the edit",
    )
    wait_for(
        lambda: page.get_by_test_id("edit-value").get_attribute("placeholder") == "-1.375",
        "the field's placeholder at the new value",
    )
    # The slope view is asked again at the same step: its curve is centred on the new value.
    wait_for(lambda: page.get_by_test_id("slope-view").is_visible(), "the slope view")
    # ... and says where E went: from the value and E before the edit to the new ones.
    wait_for(lambda: page.get_by_test_id("slope-edit").is_visible(), "the slope's edit note")
    said = str(page.get_by_test_id("slope-edit").text_content()).replace("−", "-")
    assert said.startswith(f"Set by hand at step {frame['step']}:") and "→ -1.375, E" in said
    page.screenshot(path=f"/tmp/playb-edit-{page.viewport_size['width']}.png", full_page=False)
    # A click on the slope's curve sets the parameter to that point's value, exactly. (The
    # slope is a canvas chart: the point's place from the chart's ranges and plot area; in the
    # middle of the screen, clear of the sticky top bar.)
    page.evaluate(
        "document.querySelector('[data-testid=\"slope-plot\"]').scrollIntoView({block: 'center'})"
    )
    wait_for(
        lambda: page.evaluate(
            "() => document.querySelector('[data-testid=\"slope-plot\"]').chart?.slice?.points"
        ),
        "the slope drawn",
    )
    x, y, value = page.evaluate(
        """() => {
          const plot = document.querySelector('[data-testid="slope-plot"]');
          const c = plot.chart, v = c.view, a = c.area, r = plot.getBoundingClientRect();
          const pts = c.slice.points, k = Math.floor(pts.length * 0.8);
          const [w, e] = pts[k];
          return [r.left + a.l + (w - v.x[0]) / (v.x[1] - v.x[0]) * a.w,
                  r.top + a.t + a.h - (e - v.y[0]) / (v.y[1] - v.y[0]) * a.h, w];
        }"""
    )
    page.mouse.click(x, y)
    wait_for(lambda: weight() == value, f"the run's weight at the curve's {value}")


def plane_point(page: Any, fx: float, fy: float) -> tuple[float, float, float, float]:
    """Page coordinates of the plane's plot area at fractions (fx, fy), and the data there."""
    got: list[float] = page.evaluate(
        """([fx, fy]) => {
          const plot = document.querySelector('[data-testid="data-plane"]');
          const fl = plot._fullLayout, s = fl._size, r = plot.getBoundingClientRect();
          const xr = fl.xaxis.range, yr = fl.yaxis.range;
          return [r.left + s.l + fx * s.w, r.top + s.t + fy * s.h,
                  xr[0] + fx * (xr[1] - xr[0]), yr[1] - fy * (yr[1] - yr[0])];
        }""",
        [fx, fy],
    )
    return got[0], got[1], got[2], got[3]


def test_click_the_plane_to_draw_points_then_undo(ctx: Any, server: ServerProcess) -> None:
    page, base = open_page(ctx, server, "preset=xor&data=gauss")
    bar = page.get_by_test_id("draw-bar")
    bar.scroll_into_view_if_needed()
    wait_for(lambda: bar.is_visible(), "the draw bar")
    page.get_by_test_id("data-plot").scroll_into_view_if_needed()
    wait_for(
        lambda: page.evaluate(
            "() => !!document.querySelector('[data-testid=\"data-plane\"]')?._fullLayout?._size"
        ),
        "the plane drawn",
    )
    page.get_by_test_id("draw-toggle").check()
    page.get_by_test_id("draw-class-0").click()
    phone = page.viewport_size["width"] < 500
    x, y, x1, x2 = plane_point(page, 0.8, 0.25)
    (page.touchscreen.tap if phone else page.mouse.click)(x, y)
    wait_for(lambda: len(httpx.get(f"{base}/data").json()["drawn"]["x"]) == 1, "the drawn point")
    drawn = httpx.get(f"{base}/data").json()["drawn"]
    assert drawn["y"] == [0]
    # Where it was clicked, to a pixel of the plane (the page sends 6 significant digits).
    plot_w = page.evaluate(
        "() => document.querySelector('[data-testid=\"data-plane\"]')._fullLayout._size.w"
    )
    span = page.evaluate(
        "() => { const r = document.querySelector('[data-testid=\"data-plane\"]')"
        "._fullLayout.xaxis.range; return r[1] - r[0]; }"
    )
    assert abs(drawn["x"][0][0] - x1) <= 1.5 * span / plot_w
    assert abs(drawn["x"][0][1] - x2) <= 1.5 * span / plot_w
    # Visibly: the ring canvas holds it, and the count says so.
    wait_for(lambda: page.get_by_test_id("drawn-points").text_content() == "1 drawn", "1 drawn")
    wait_for(
        lambda: page.get_by_test_id("drawn-rings").get_attribute("data-count") == "1",
        "one ring on the plane",
    )
    ring_pixels = page.evaluate(
        """([x, y]) => {
          const c = document.querySelector('[data-testid="drawn-rings"]');
          const r = c.getBoundingClientRect(), k = c.width / r.width;
          const cx = (x - r.left) * k - 2, cy = (y - r.top) * k - 2;
          const d = c.getContext('2d').getImageData(cx, cy, 5, 5).data;
          let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n;
        }""",
        [x, y],
    )
    assert ring_pixels > 10  # the marker is painted where the click was
    page.get_by_test_id("draw-class-1").click()
    x, y, _, _ = plane_point(page, 0.3, 0.7)
    (page.touchscreen.tap if phone else page.mouse.click)(x, y)
    wait_for(lambda: httpx.get(f"{base}/data").json()["drawn"]["y"] == [0, 1], "a class-1 point")
    wait_for(lambda: page.get_by_test_id("drawn-points").text_content() == "2 drawn", "2 drawn")
    page.screenshot(path=f"/tmp/playb-draw-{page.viewport_size['width']}.png", full_page=False)
    page.get_by_test_id("draw-undo").click()
    wait_for(lambda: httpx.get(f"{base}/data").json()["drawn"]["y"] == [0], "the undo")
    wait_for(
        lambda: page.get_by_test_id("drawn-rings").get_attribute("data-count") == "1",
        "one ring again",
    )
    page.get_by_test_id("draw-clear").click()
    wait_for(lambda: httpx.get(f"{base}/data").json()["drawn"]["y"] == [], "the clear")
    wait_for(lambda: page.get_by_test_id("drawn-points").text_content() == "none drawn", "none")
    # A regression set offers no drawing (its points have no class to click).
    page2, _ = open_page(ctx, server, "preset=xor&data=plane")
    wait_for(lambda: not page2.get_by_test_id("draw-bar").is_visible(), "no draw bar")


def test_the_pages_link_replays_edits_and_points_bit_for_bit(
    ctx: Any, server: ServerProcess
) -> None:
    """Edit, draw, step; the address bar's link opened in a new tab gives the same run."""
    page, base = open_page(ctx, server, "preset=xor&data=circle&batch=16")
    step = lambda n: httpx.post(f"{base}/step", json={"count": n}).raise_for_status()  # noqa: E731
    step(7)
    edit = {"kind": "weight", "layer": 0, "i": 1, "j": 2, "value": 0.1 + 0.2}  # 0.30000000000000004
    httpx.post(f"{base}/edit", json=edit).raise_for_status()
    step(5)
    pts = {"op": "add", "x": [[0.123456789, -0.5]], "y": [1]}
    httpx.post(f"{base}/points", json=pts).raise_for_status()
    httpx.post(f"{base}/points", json={"op": "add", "x": [[-0.25, 0.75]], "y": [0]})
    step(9)
    httpx.post(f"{base}/points", json={"op": "undo"}).raise_for_status()
    step(4)
    original = httpx.get(base).json()
    wait_for(lambda: page.evaluate("() => window.backpropStudio.state.frame.step") == 25, "step 25")
    href = lambda: str(page.evaluate("() => location.href"))  # noqa: E731
    wait_for(lambda: "changes=" in href() and "step=25" in href(), "the link in the bar")
    link = href()
    assert "w=0_1_2_0.30000000000000004" in link and ":undo" in link
    other = ctx.new_page()
    other.goto(link, wait_until="domcontentloaded")
    wait_for(
        lambda: (
            other.evaluate("() => window.backpropStudio?.state?.frame?.step") == 25
            and not other.evaluate("() => window.backpropStudio.state.replaying")
        ),
        "the link replayed to step 25",
    )
    sid = other.evaluate("() => window.backpropStudio.state.id")
    again = httpx.get(f"{server.url}/api/sessions/{sid}").json()
    assert again["weights"] == original["weights"] and again["biases"] == original["biases"]
    assert again["loss"] == original["loss"]
    assert again["settings_log"]["changes"] == original["settings_log"]["changes"]
    assert not other.get_by_test_id("notice").is_visible()


def test_a_room_participant_sees_the_presenters_edit_and_points(
    browser: Any, server: ServerProcess
) -> None:
    """The presenter types an edit and taps the plane on its page; the participant's page has
    the weight in its frame and the point ringed on its plane, and no controls to change them."""
    body = httpx.post(
        f"{server.url}/api/rooms", json={"config": {"preset": "xor", "dataset": {"name": "gauss"}}}
    ).json()
    code, token = body["code"], body["presenter_token"]
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(T)
    errors: list[str] = []
    context.on("page", lambda p: p.on("pageerror", lambda e: errors.append(str(e))))
    try:
        p, q = context.new_page(), context.new_page()
        p.goto(f"{server.url}/present/{code}#token={token}", wait_until="domcontentloaded")
        q.goto(f"{server.url}/room/{code}", wait_until="domcontentloaded")
        live_room(p)
        live_room(q)
        state = "() => window.backpropRoom.live.state"
        wait_for(lambda: p.get_by_test_id("edit-value").is_visible(), "the presenter's field")
        assert not q.get_by_test_id("edit-value").is_visible()
        sel = p.evaluate(f"() => ({state})().view.sel")
        p.get_by_test_id("edit-value").fill("2.5")
        p.get_by_test_id("edit-value").press("Enter")

        def participant_weight() -> float | None:
            f = q.evaluate(f"() => ({state})().frame")
            w = (
                f["weights"][sel["layer"]][sel["i"]][sel["j"]]
                if sel["kind"] == "weight"
                else f["biases"][sel["layer"]][sel["j"]]
            )
            return float(w)

        wait_for(lambda: participant_weight() == 2.5, "the participant's frame at 2.5")
        p.get_by_test_id("data-plot").scroll_into_view_if_needed()
        wait_for(lambda: p.get_by_test_id("draw-bar").is_visible(), "the presenter's draw bar")
        wait_for(
            lambda: p.evaluate(
                "() => !!document.querySelector('[data-testid=\"data-plane\"]')?._fullLayout?._size"
            ),
            "the presenter's plane",
        )
        p.get_by_test_id("draw-toggle").check()
        x, y, _, _ = plane_point(p, 0.5, 0.5)
        p.mouse.click(x, y)
        wait_for(
            lambda: q.get_by_test_id("drawn-rings").get_attribute("data-count") == "1",
            "the participant's ring",
        )
        assert not q.get_by_test_id("draw-bar").is_visible()
        drawn = httpx.get(f"{server.url}/api/rooms/{code}/data").json()["drawn"]
        assert drawn["y"] == [1] and len(drawn["x"]) == 1
    finally:
        context.close()
    assert not errors, errors
