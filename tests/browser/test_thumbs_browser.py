"""Neuron thumbnails and the discretized plane in the browser (issue 22, items 1 and 6).

A real server (tests/support.py ServerProcess) and Chromium through Playwright; every wait is on
a condition with a deadline. What the canvases show is checked against the server's numbers
(GET .../neurons): each thumbnail's colours follow its neuron's sign cell by cell, the picked
neuron's map on the big plane likewise, and the discretized plane's regions are the classes the
server's outputs give (O >= 0.5, or the largest output).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import DEADLINE, ServerProcess, Watched, live_room, wait_for

pytestmark = pytest.mark.browser

T = DEADLINE * 1000  # Playwright counts in ms
SHOTS = Path("/tmp")
# Pixels of a canvas as [[r, g, b], ...] rows from the top.
PIXELS = """el => { const c = el.tagName === 'CANVAS' ? el : el.querySelector('canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; const rows = [];
  for (let y = 0; y < c.height; y++) { const row = [];
    for (let x = 0; x < c.width; x++) {
      const o = (y * c.width + x) * 4; row.push([d[o], d[o + 1], d[o + 2], d[o + 3]]); }
    rows.push(row); } return rows; }"""
# The displayed canvas (one for every map) at the middle of a thumbnail's button, and the middle
# cell of that neuron's own map: [[r, g, b, a], [r, g, b, a]].
SHOWN = """el => { const own = el.querySelector('canvas');
  const screen = el.parentElement.querySelector('canvas.neuron-thumbs-paint');
  const b = el.getBoundingClientRect(), s = screen.getBoundingClientRect();
  const x = Math.floor(((b.left + b.width / 2 - s.left) / s.width) * screen.width);
  const y = Math.floor(((b.top + b.height / 2 - s.top) / s.height) * screen.height);
  const a = screen.getContext('2d').getImageData(x, y, 1, 1).data;
  const m = own.getContext('2d').getImageData(own.width >> 1, own.height >> 1, 1, 1).data;
  return [[...a], [...m]]; }"""
SOFTMAX3 = "data=spiral3&layers=2-8-3&act=tanh&out=softmax&loss=ce&opt=adam&lr=0.03&batch=32"
# CATEGORICAL (nn.js) for the three classes.
CLASS_RGB = [(0xE6, 0x9F, 0x00), (0x00, 0x72, 0xB2), (0x00, 0x9E, 0x73)]


@pytest.fixture
def ctx(browser: Any) -> Iterator[Any]:
    """A desktop-sized context."""
    c = browser.new_context(viewport={"width": 1440, "height": 900})
    c.set_default_timeout(T)
    yield c
    c.close()


def open_page(ctx: Any, server: ServerProcess, query: str) -> tuple[Watched, str]:
    """The page from a link once its first frame is drawn; (watched page, REST base)."""
    w = Watched(ctx.new_page(), server.url)
    w.page.goto(f"{server.url}/?{query}", wait_until="domcontentloaded")
    wait_for(lambda: w.page.evaluate("() => !!window.backpropStudio?.state?.data"), "the data")
    sid = w.page.evaluate("() => window.backpropStudio.state.id")
    return w, f"{server.url}/api/sessions/{sid}"


def step(page: Any, base: str, n: int) -> int:
    """Click Step n times; the run's step once the page shows it."""
    for _ in range(n):
        page.get_by_test_id("step-button").click()
    want = httpx.get(base).json()["step"]
    wait_for(lambda: page.get_by_test_id("step-count").text_content() == str(want), "the step")
    return int(want)


def thumbs_at(page: Any, ids: list[str], at: int) -> bool:
    """Every thumbnail `ids` is shown and painted from the answer of step `at`."""
    thumbs = [page.get_by_test_id(t) for t in ids]
    return all(t.is_visible() and t.get_attribute("data-step") == str(at) for t in thumbs)


def sign_agreement(pixels: list[list[list[int]]], values: list[list[float]], mid: float) -> int:
    """Cells where the map's colour contradicts the value's side of `mid` (blue above it,
    orange below, first row of values at the bottom); cells within 0.05 of `mid` not counted."""
    n = len(values)
    wrong = 0
    for r in range(n):
        for c in range(n):
            v = values[r][c]
            R, _, B, A = pixels[n - 1 - r][c]
            assert A == 255
            if abs(v - mid) < 0.05:
                continue
            if (v > mid) != (B > R):
                wrong += 1
    return wrong


def test_thumbnails_show_each_neuron_over_the_plane_and_a_click_puts_it_on_the_data_plane(
    ctx: Any, server: ServerProcess
) -> None:
    w, base = open_page(ctx, server, "preset=xor&data=circle&layers=2-4-1&act=tanh")
    page = w.page
    at = step(page, base, 3)
    layers = httpx.get(f"{base}/config").json()["layers"]
    ids = [f"neuron-thumb-{l}-{j}" for l in range(len(layers)) for j in range(layers[l])]
    wait_for(lambda: thumbs_at(page, ids, at), "every thumbnail at the step")
    answer = httpx.get(f"{base}/neurons", params={"grid": 24}).json()
    assert answer["step"] == at
    for n in answer["neurons"]:
        thumb = page.get_by_test_id(f"neuron-thumb-{n['layer']}-{n['j']}")
        px = thumb.evaluate(PIXELS)
        assert len(px) == len(px[0]) == 24  # the grid asked for at rest
        assert len({tuple(p) for row in px for p in row}) > 3, "not a blank map"
        # Inputs and tanh neurons on a diverging scale about 0; the sigmoid output about 0.5.
        mid = 0.5 if n["activation"] == "sigmoid" else 0.0
        assert sign_agreement(px, n["values"], mid) == 0, n["name"]
        # What is on screen is that map: the one displayed canvas shows its middle there.
        shown, own = thumb.evaluate(SHOWN)
        assert shown[3] == 255
        assert max(abs(a - b) for a, b in zip(shown[:3], own[:3], strict=True)) <= 48
    SHOTS.mkdir(exist_ok=True)
    page.locator("#panel-network").screenshot(path=str(SHOTS / "thumbs-circle-1440.png"))

    # A click: the big plane shows h1[2]'s map (by its sign, against the server's values).
    surface = page.get_by_test_id("data-surface")
    assert surface.get_attribute("data-look") == "output"
    page.get_by_test_id("neuron-thumb-1-2").click()
    wait_for(lambda: surface.get_attribute("data-look") == "1-2", "the neuron on the plane")
    assert page.get_by_test_id("neuron-thumb-1-2").get_attribute("aria-pressed") == "true"
    assert page.get_by_test_id("plane-neuron-name").text_content() == "h1[2]"
    n = len(surface.evaluate(PIXELS))
    grid = httpx.get(f"{base}/neurons", params={"grid": n}).json()
    h12 = next(e for e in grid["neurons"] if (e["layer"], e["j"]) == (1, 2))
    assert sign_agreement(surface.evaluate(PIXELS), h12["values"], 0.0) == 0
    page.locator("#panel-data").screenshot(path=str(SHOTS / "thumbs-picked-plane-1440.png"))
    # Back to the output, by the note's button.
    page.get_by_test_id("plane-output").click()
    wait_for(lambda: surface.get_attribute("data-look") == "output", "the output again")
    assert page.get_by_test_id("neuron-thumb-1-2").get_attribute("aria-pressed") == "false"
    assert page.get_by_test_id("plane-neuron").is_hidden()
    assert not w.errors, w.errors


def test_thumbnails_follow_the_run_while_it_plays(ctx: Any, server: ServerProcess) -> None:
    """While playing the maps are asked for again (a coarser grid) and reach the last step."""
    w, base = open_page(ctx, server, "preset=xor&data=circle&layers=2-4-1&act=tanh")
    page = w.page
    wait_for(lambda: page.get_by_test_id("neuron-thumb-1-0").get_attribute("data-step"), "a map")
    page.get_by_test_id("play-button").click()
    wait_for(
        lambda: int(page.get_by_test_id("neuron-thumb-1-0").get_attribute("data-step") or 0) > 5,
        "a map of a later step while playing",
    )
    page.get_by_test_id("play-button").click()
    wait_for(lambda: page.evaluate("() => document.body.dataset.serverPlaying") == "false", "pause")
    at = httpx.get(base).json()["step"]
    wait_for(lambda: thumbs_at(page, ["neuron-thumb-1-0", "neuron-thumb-2-0"], at), "last step")
    asked = [u for u in w.urls if "/neurons?" in u]
    assert any("grid=16" in u for u in asked), "the coarser grid while playing"
    assert asked[-1].endswith("grid=24"), "the full grid at rest"
    # At most two a second: each fetch starts at least 500 ms after the one before (the
    # browser's own clock; a loaded machine only spreads them further).
    starts = page.evaluate(
        "() => performance.getEntriesByType('resource')"
        ".filter(e => e.name.includes('/neurons?')).map(e => e.startTime)"
    )
    assert len(starts) == len(asked) >= 3
    gaps = [b - a for a, b in pairwise(starts)]
    assert min(gaps) >= 495, gaps
    assert not w.errors, w.errors


def test_the_articles_net_shows_bars_per_sample(ctx: Any, server: ServerProcess) -> None:
    w, _ = open_page(ctx, server, "preset=article")
    page = w.page
    ids = [f"neuron-thumb-{l}-{j}" for l, n in enumerate([4, 5, 1]) for j in range(n)]
    wait_for(lambda: thumbs_at(page, ids, 0), "bars for every neuron")
    for t in ids:
        thumb = page.get_by_test_id(t)
        assert thumb.is_disabled()  # nothing to put on a plane
        px = thumb.evaluate(PIXELS)
        assert len({tuple(p) for row in px for p in row}) >= 3, "bars drawn"
    assert page.get_by_test_id("discretize-toggle").count() == 0  # a table, no plane
    page.locator("#panel-network").screenshot(path=str(SHOTS / "thumbs-article-bars-1440.png"))
    assert not w.errors, w.errors


def classes_of(values: dict[int, list[list[float]]], r: int, c: int) -> tuple[int, float]:
    """The class at cell (r, c) and its margin over the runner-up (one output: O - 0.5)."""
    if len(values) == 1:
        o = values[0][r][c]
        return int(o >= 0.5), abs(o - 0.5)
    ranked = sorted(((v[r][c], k) for k, v in values.items()), reverse=True)
    return ranked[0][1], ranked[0][0] - ranked[1][0]


def nearest_class(rgb: Any, palette: list[tuple[int, int, int]]) -> int:
    """The palette entry closest to a pixel."""

    def distance(k: int) -> int:
        return sum((a - b) ** 2 for a, b in zip(rgb, palette[k], strict=True))

    return min(range(len(palette)), key=distance)


@pytest.mark.parametrize(
    ("query", "palette"),
    [
        ("preset=xor&data=circle&layers=2-4-1&act=tanh", [(0xE6, 0x61, 0x01), (0x21, 0x66, 0xAC)]),
        (SOFTMAX3, CLASS_RGB),
    ],
    ids=["one-output", "softmax"],
)
def test_discretize_paints_the_classes_as_hard_regions(
    ctx: Any, server: ServerProcess, query: str, palette: list[tuple[int, int, int]]
) -> None:
    """Each cell of the discretized plane is its class's one colour: the class the server's
    outputs give there (cells where the page's float32 weights could tip it not counted)."""
    w, base = open_page(ctx, server, query)
    page = w.page
    step(page, base, 8)
    toggle = page.get_by_test_id("discretize-toggle")
    assert toggle.is_visible() and not toggle.is_checked()
    surface = page.get_by_test_id("data-surface")
    smooth = {tuple(p) for row in surface.evaluate(PIXELS) for p in row}
    toggle.check()
    wait_for(lambda: surface.get_attribute("data-look") == "discrete", "hard regions")
    px = surface.evaluate(PIXELS)
    colours = {tuple(p) for row in px for p in row}
    assert len(colours) <= len(palette) < len(smooth)
    n = len(px)
    answer = httpx.get(f"{base}/neurons", params={"grid": n}).json()
    L = len(answer["layers"]) - 1
    outs = {e["j"]: e["values"] for e in answer["neurons"] if e["layer"] == L}
    tone = {tuple(p[:3]): nearest_class(p[:3], palette) for p in colours}
    assert len(set(tone.values())) == len(colours), "one colour per class"
    wrong = 0
    for r in range(n):
        for c in range(n):
            k, margin = classes_of(outs, r, c)
            if margin >= 1e-3 and tone[tuple(px[n - 1 - r][c][:3])] != k:
                wrong += 1
    assert wrong == 0
    page.locator("#panel-data").screenshot(path=str(SHOTS / f"discretized-{len(palette)}-1440.png"))
    toggle.uncheck()
    wait_for(lambda: surface.get_attribute("data-look") == "output", "the smooth plane")
    assert not w.errors, w.errors


def test_room_participants_see_the_presenters_thumbnails(
    browser: Any, server: ServerProcess
) -> None:
    config = {
        "layers": [2, 5, 3], "activation": "tanh", "output_activation": "softmax",
        "loss": "ce", "features": ["x1", "x2", "x1_x2"], "dataset": {"name": "blobs3"},
    }  # fmt: skip
    room = httpx.post(f"{server.url}/api/rooms", json={"config": config}).json()
    code, token = room["code"], room["presenter_token"]
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(T)
    try:
        presenter = Watched(context.new_page(), server.url)
        participant = Watched(context.new_page(), server.url)
        p, q = presenter.page, participant.page
        p.goto(f"{server.url}/present/{code}#token={token}", wait_until="domcontentloaded")
        q.goto(f"{server.url}/room/{code}", wait_until="domcontentloaded")
        live_room(p)
        live_room(q)
        ids = [f"neuron-thumb-{l}-{j}" for l, n in enumerate([3, 5, 3]) for j in range(n)]
        wait_for(lambda: thumbs_at(q, ids, 0), "the participant's thumbnails")
        for _ in range(4):
            p.get_by_test_id("step-button").click()
        wait_for(lambda: httpx.get(f"{server.url}/api/rooms/{code}").json()["step"] == 4, "4")
        wait_for(lambda: thumbs_at(q, ids, 4), "the participant's thumbnails at step 4")
        answer = httpx.get(f"{server.url}/api/rooms/{code}/neurons").json()
        h = next(e for e in answer["neurons"] if (e["layer"], e["j"]) == (1, 0))
        px = q.get_by_test_id("neuron-thumb-1-0").evaluate(PIXELS)
        assert sign_agreement(px, h["values"], 0.0) == 0
        asked = [u for u in participant.urls if "/neurons?" in u]
        assert asked and all(f"/api/rooms/{code}/neurons" in u for u in asked)
        q.locator("#panel-network").screenshot(path=str(SHOTS / "thumbs-room-1440.png"))
        assert not presenter.errors, presenter.errors
        assert not participant.errors, participant.errors
    finally:
        context.close()


@pytest.mark.parametrize("width", [1440, 390])
def test_screenshots_of_thumbnails_softmax_and_the_discretized_plane(
    browser: Any, server: ServerProcess, width: int
) -> None:
    """For a human look: the diagram with its thumbnails and the softmax spiral, smooth and
    discretized, at a laptop's and a phone's width (no horizontal scrolling)."""
    context = browser.new_context(viewport={"width": width, "height": 900 if width > 500 else 844})
    context.set_default_timeout(T)
    try:
        w, base = open_page(context, server, SOFTMAX3)
        page = w.page
        step(page, base, 30)
        at = httpx.get(base).json()["step"]
        wait_for(lambda: thumbs_at(page, ["neuron-thumb-1-0", "neuron-thumb-2-2"], at), "maps")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width
        page.locator("#panel-network").screenshot(path=str(SHOTS / f"thumbs-spiral3-{width}.png"))
        # On a phone the data panel is drawn once it comes near the screen; panels drawn
        # meanwhile move it, so each poll scrolls to it again.
        surface = page.get_by_test_id("data-surface")

        def drawn() -> bool:
            page.locator("#panel-data").scroll_into_view_if_needed()
            return bool(surface.get_attribute("data-look") == "output")

        wait_for(drawn, "the plane drawn", poll=0.3)
        page.locator("#panel-data").screenshot(path=str(SHOTS / f"plane-spiral3-{width}.png"))
        page.get_by_test_id("discretize-toggle").check()
        wait_for(lambda: surface.get_attribute("data-look") == "discrete", "hard regions")
        page.locator("#panel-data").screenshot(path=str(SHOTS / f"discrete-spiral3-{width}.png"))
        assert not w.errors, w.errors
    finally:
        context.close()


def test_thumbnails_are_not_fetched_while_the_diagram_is_out_of_sight(
    browser: Any, server: ServerProcess
) -> None:
    """A phone scrolled to the foot of the page: playing asks for no maps; back near the
    diagram, the maps of the current step come."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.set_default_timeout(T)
    try:
        w, base = open_page(context, server, "preset=xor&data=circle&layers=2-4-1&act=tanh")
        page = w.page
        wait_for(lambda: page.get_by_test_id("neuron-thumb-1-0").get_attribute("data-step"), "maps")
        page.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
        far = page.evaluate(
            "() => document.getElementById('panel-network').getBoundingClientRect().bottom"
        )
        assert far < -0.25 * 844, "the diagram is more than a quarter screen away"
        # The page learns it from an IntersectionObserver, told at the next rendering steps.
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => setTimeout(r)))")
        asked = len([u for u in w.urls if "/neurons?" in u])
        # Clicked from script: Playwright's click would scroll the button (and the diagram) in.
        play = "() => document.querySelector('[data-testid=play-button]').click()"
        page.evaluate(play)
        start = httpx.get(base).json()["step"]
        # 60 steps at 1 step a frame: seconds of playing, several throttle periods.
        wait_for(lambda: httpx.get(base).json()["step"] >= start + 60, "60 steps played")
        page.evaluate(play)
        playing = "() => document.body.dataset.serverPlaying"
        wait_for(lambda: page.evaluate(playing) == "false", "paused")
        assert page.evaluate("() => window.scrollY") > 0, "still at the foot of the page"
        assert len([u for u in w.urls if "/neurons?" in u]) == asked
        at = httpx.get(base).json()["step"]
        page.get_by_test_id("neuron-thumb-1-0").scroll_into_view_if_needed()
        wait_for(lambda: thumbs_at(page, ["neuron-thumb-1-0"], at), "the maps at the last step")
        assert not w.errors, w.errors
    finally:
        context.close()
