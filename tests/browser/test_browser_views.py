"""Browser tests of issue 20's front end: node colours that mean what the legend says, a phase
stepper without dead ends, and maths that fits its panel. Real server, Debian's Chromium.

Expected values are computed here, from the server's full-precision REST answers and the
activations' ranges, never by calling the page's code.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
from support import ServerProcess, Watched

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.browser

T = 30_000  # ms: generous for a loaded machine, never reached when things work
expect.set_options(timeout=T)

# The palettes the legend names (docs/api.md): light to purple for a range bounded below,
# orange - grey - blue for a symmetric one; 48 tones a side.
SEQ_LO, SEQ_HI = (242, 240, 247), (84, 39, 143)
NEG, MID, POS = (230, 97, 1), (236, 238, 241), (33, 102, 172)
TONES = 48
LABEL = "() => document.querySelector('[data-testid=phase-label]').textContent"


def open_demo(page: Any, server: ServerProcess, query: str) -> str:
    """Open the demo page with a query; wait for the socket and the drawn diagram; the session."""
    page.goto(f"{server.url}/?{query}", wait_until="domcontentloaded")
    expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
    page.wait_for_function(
        "() => window.backpropStudio?.state.frame && window.backpropStudio.state.data"
        " && document.querySelector('.network-svg .node[data-value]:not([data-value=\"\"])')"
    )
    return str(page.evaluate("() => window.backpropStudio.state.id"))


def rest(server: ServerProcess, sid: str, what: str = "") -> Any:
    """A GET on the session's REST routes (full precision)."""
    r = httpx.get(f"{server.url}/api/sessions/{sid}{what}", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


# ---------------------------------------------------------------- item 4: colours


def js_round(x: float) -> float:
    """JavaScript's Math.round (halves up), not Python's banker's rounding."""
    return math.floor(x + 0.5)


def expected_scale(act: str, values: list[float]) -> tuple[str, float, float]:
    """The range a layer's fill spans: the activation's own, or the layer's largest (>= 1)."""
    if act in ("sigmoid", "softmax"):  # a softmax output is a probability
        return ("sequential", 0.0, 1.0)
    if act == "tanh":
        return ("diverging", -1.0, 1.0)
    if act == "relu":
        return ("sequential", 0.0, max(1.0, max(values)))
    m = max(1.0, max(abs(v) for v in values))  # leaky ReLU, linear: unbounded both ways
    return ("diverging", -m, m)


def input_scale(column: list[float]) -> tuple[str, float, float]:
    """An input's range in the data: from 0 when never negative, else symmetric."""
    m = max(abs(v) for v in column)
    return ("sequential", 0.0, m) if min(column) >= 0 else ("diverging", -m, m)


def expected_rgb(v: float, scale: tuple[str, float, float]) -> tuple[int, int, int]:
    """The fill for v on its scale: its place t, in 1/48 steps, along the palette."""
    kind, lo, hi = scale

    def mix(a: tuple[int, ...], b: tuple[int, ...], u: float) -> tuple[int, int, int]:
        r, g, bl = (int(js_round(x + (y - x) * u)) for x, y in zip(a, b, strict=True))
        return (r, g, bl)

    if kind == "sequential":
        t = js_round(min(1.0, max(0.0, (v - lo) / (hi - lo))) * TONES) / TONES
        return mix(SEQ_LO, SEQ_HI, t)
    t = js_round(min(1.0, max(-1.0, v / hi)) * TONES) / TONES
    return mix(MID, POS if t >= 0 else NEG, abs(t))


def forward(frame: dict[str, Any], x: list[float], act: str, out: str) -> list[list[float]]:
    """The activations of every layer for one sample, from the REST weights (numpy, float64)."""
    f: dict[str, Callable[[Any], Any]] = {
        "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
        "tanh": np.tanh,
        "relu": lambda z: np.maximum(z, 0),
        "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
        "linear": lambda z: z,
        "softmax": lambda z: np.exp(z - z.max()) / np.exp(z - z.max()).sum(),
    }
    a = np.array(x, dtype=float)
    layers = [a.tolist()]
    L = len(frame["weights"])
    for k, (W, b) in enumerate(zip(frame["weights"], frame["biases"], strict=True)):
        z = np.array(W, dtype=float).T @ a + np.array(b, dtype=float)
        a = f[out if k == L - 1 else act](z)
        layers.append(a.tolist())
    return layers


def rgb_of(css: str) -> tuple[int, int, int]:
    """'rgb(1, 2, 3)' -> (1, 2, 3)."""
    found = re.findall(r"\d+", css)
    return (int(found[0]), int(found[1]), int(found[2]))


NODES = """() => [...document.querySelectorAll('.network-svg .node')].map((g) => ({
  l: Number(g.dataset.nodeL), k: Number(g.dataset.nodeK), value: Number(g.dataset.value),
  scale: g.dataset.scale, fill: g.querySelector('.node-body').style.fill }))"""


@pytest.mark.parametrize(
    ("query", "act", "out"),
    [
        ("preset=article", "sigmoid", "sigmoid"),
        ("data=spiral&layers=2-4-3-1&act=tanh", "tanh", "sigmoid"),
        ("preset=article&act=relu&out=linear", "relu", "linear"),
        ("preset=article&act=leaky_relu&out=sigmoid&seed=3", "leaky_relu", "sigmoid"),
        ("data=blobs3&layers=2-4-3&act=tanh&out=softmax&loss=ce", "tanh", "softmax"),
    ],
)
def test_node_fills_show_each_activation_on_its_own_range(
    page: Any, server: ServerProcess, query: str, act: str, out: str
) -> None:
    sid = open_demo(page, server, query)
    page.get_by_test_id("sample-input").fill("3")
    page.get_by_test_id("sample-input").dispatch_event("change")
    page.wait_for_function("() => window.backpropStudio.state.view.sample === 2")
    page.get_by_test_id("step-button").click()
    expect(page.get_by_test_id("step-count")).to_have_text("1")
    frame = rest(server, sid)
    data = rest(server, sid, "/data")
    acts = forward(frame, data["x"][2], act, out)
    L = len(acts) - 1
    page.wait_for_function(
        "(v) => Math.abs(Number(document.querySelector("
        '\'.node[data-node-l="1"][data-node-k="0"]\').dataset.value) - v) < 1e-5',
        arg=acts[1][0],
    )
    nodes = page.evaluate(NODES)
    assert len(nodes) == sum(len(a) for a in acts)
    for n in nodes:
        l, k = n["l"], n["k"]
        # The value is this sample's activation (frames carry float32 weights: 1e-5).
        assert n["value"] == pytest.approx(acts[l][k], abs=1e-5), (l, k)
        if l == 0:
            scale = input_scale([row[k] for row in data["x"]])
        else:
            scale = expected_scale(out if l == L else act, acts[l])
        kind, lo, hi = n["scale"].split()
        assert kind == scale[0], (l, k, n["scale"], scale)
        assert float(lo) == pytest.approx(scale[1], abs=1e-5)
        assert float(hi) == pytest.approx(scale[2], abs=1e-5)
        want = expected_rgb(acts[l][k], scale)
        got = rgb_of(n["fill"])
        # Within one of the 48 steps (a float32 value may sit on the other side of a boundary).
        assert all(abs(a - b) <= 5 for a, b in zip(got, want, strict=True)), (l, k, got, want)
    # A sigmoid output is never painted in the edges' "negative" orange: it is in (0, 1).
    if out == "sigmoid":
        o = next(n for n in nodes if n["l"] == L)
        r, _, b = rgb_of(o["fill"])
        assert b >= r, o  # the purple scale, never orange (red > blue)
    # The legend has the edges' sign colours and, apart, one entry per node scale.
    expect(page.get_by_test_id("edge-legend")).to_contain_text("positive")
    expect(page.get_by_test_id("edge-legend")).to_contain_text("negative")
    legend = page.get_by_test_id("node-legend")
    expect(legend).to_contain_text("(sample 3)")
    expect(legend).to_contain_text("each input’s largest")
    symbol = {"sigmoid": "σ", "tanh": "tanh", "relu": "ReLU", "leaky_relu": "LReLU"}[act]
    expect(legend).to_contain_text(f"= {symbol}(Z)")
    ramps = page.evaluate(
        "() => [...document.querySelectorAll('[data-testid=node-scale]')]"
        ".map((e) => e.dataset.scale)"
    )
    kinds = {expected_scale(act, acts[1])[0], expected_scale(out, acts[L])[0]}
    assert kinds <= set(ramps), (kinds, ramps)


def test_the_edge_label_shows_the_modes_value(page: Any, server: ServerProcess) -> None:
    sid = open_demo(page, server, "preset=article&opt=momentum&lr=0.5&sel=w.1.0.0")
    for n in (1, 2):
        page.get_by_test_id("step-button").click()
        expect(page.get_by_test_id("step-count")).to_have_text(str(n))
    frame = rest(server, sid)
    trace = rest(server, sid, "/trace")
    assert trace["step"] == 2
    w_ho = next(u for u in trace["update"] if u["layer"] == 2)
    label = page.get_by_test_id("edge-label")
    expected = {
        "weights": ("W_ho[0,0] = ", frame["weights"][1][0][0]),
        "gradients": ("∂E/∂W_ho[0,0] = ", frame["gradients"]["weights"][1][0][0]),
        # Momentum's real step, not -alpha * gradient (they differ once the velocity builds).
        "update": ("ΔW_ho[0,0] = ", w_ho["W_new"][0][0] - w_ho["W_old"][0][0]),
    }
    sgd_step = -0.5 * frame["gradients"]["weights"][1][0][0]
    assert abs(expected["update"][1] - sgd_step) > 1e-4 * abs(sgd_step)
    for mode, (head, value) in expected.items():
        page.get_by_test_id(f"mode-{mode}").check(force=True)
        expect(label).to_have_attribute("data-mode", mode)
        expect(label).to_have_text(re.compile("^" + re.escape(head)))
        page.wait_for_function(
            "(v) => Math.abs(Number(document.querySelector('[data-testid=edge-label]')"
            ".dataset.value) - v) <= 1e-6 * Math.max(1, Math.abs(v))",
            arg=value,
        )
        shown = float(label.text_content().split("= ")[1].replace("−", "-"))
        assert shown == pytest.approx(value, rel=5e-3), (mode, shown, value)


# ---------------------------------------------------------------- item 5: phases


def phase_is(page: Any, name: str) -> None:
    """Wait until the stepper shows the phase `name`."""
    expect(page.get_by_test_id("phase-label")).to_have_text(name)


def test_previous_phase_dots_after_the_update_and_left_arrow_stay_in_the_phase_view(
    page: Any, server: ServerProcess
) -> None:
    sid = open_demo(page, server, "preset=article")
    step1 = httpx.post(
        f"{server.url}/api/sessions",
        json={"preset": "article"},
        timeout=10,
    ).json()
    ref = httpx.post(
        f"{server.url}/api/sessions/{step1['id']}/step", json={"count": 2}, timeout=10
    ).json()
    page.get_by_test_id("phase-button").click()
    phase_is(page, "Forward: layer 1")
    expect(page.get_by_test_id("phase-prev")).to_be_disabled()  # step 0's first phase
    for name in ["Forward: layer 2", "Error", "Backward: layer 2"]:
        page.get_by_test_id("phase-next").click()
        phase_is(page, name)
    # "," and ← go one phase back, inside the phase view; → one on.
    page.keyboard.press(",")
    phase_is(page, "Error")
    page.keyboard.press("ArrowLeft")
    phase_is(page, "Forward: layer 2")
    expect(page.get_by_test_id("phase-panel")).to_be_visible()
    page.keyboard.press("ArrowRight")
    phase_is(page, "Error")
    expect(page.get_by_test_id("step-count")).to_have_text("0")
    # The dots by keyboard: Enter on one goes there, and the focus stays on it.
    dots = page.locator("[data-testid=phase-progress] .phase-dot")
    expect(dots).to_have_count(6)
    dots.nth(1).focus()
    page.keyboard.press("Enter")
    phase_is(page, "Forward: layer 2")
    assert (
        page.evaluate(
            "() => [...document.querySelectorAll('.phase-dot')].indexOf(document.activeElement)"
        )
        == 1
    )
    # The last dot is the Update: the step is applied.
    dots.nth(5).click()
    phase_is(page, "Update")
    expect(page.get_by_test_id("step-count")).to_have_text("1")
    # After the Update every dot still works: an earlier phase goes back to the step's start.
    for k in range(5):
        expect(dots.nth(k)).to_be_enabled()
    dots.nth(1).click()
    phase_is(page, "Forward: layer 2")
    expect(page.get_by_test_id("step-count")).to_have_text("0")
    assert rest(server, sid)["step"] == 0
    expect(page.get_by_test_id("phase-panel")).to_be_visible()
    # On to the Update again: the same step, bit for bit (the run's own seek and step).
    dots.nth(5).click()
    phase_is(page, "Update")
    expect(page.get_by_test_id("step-count")).to_have_text("1")
    # Then the next step's first phase; ← from there is step 1's Update, re-applied exactly.
    page.get_by_test_id("phase-next").click()
    phase_is(page, "Forward: layer 1")
    page.wait_for_function("() => window.backpropStudio.phaser.trace.step === 1")
    expect(page.get_by_test_id("phase-prev")).to_be_enabled()
    page.keyboard.press("ArrowLeft")
    phase_is(page, "Update")
    expect(page.get_by_test_id("step-count")).to_have_text("1")
    assert page.evaluate("() => window.backpropStudio.phaser.trace.step") == 0
    page.get_by_test_id("phase-next").click()
    phase_is(page, "Forward: layer 1")
    page.keyboard.press(".")
    phase_is(page, "Forward: layer 2")
    page.get_by_test_id("phase-next").click()
    page.get_by_test_id("phase-next").click()
    page.get_by_test_id("phase-next").click()
    page.get_by_test_id("phase-next").click()
    phase_is(page, "Update")
    expect(page.get_by_test_id("step-count")).to_have_text("2")
    now = rest(server, sid)
    assert now["step"] == 2
    assert now["weights"] == ref["weights"] and now["biases"] == ref["biases"]


def test_mini_batch_sample_numbering_agrees_between_the_worked_neuron_table_and_diagram(
    page: Any, server: ServerProcess
) -> None:
    sid = open_demo(page, server, "data=spiral&layers=2-3-1&batch=8&seed=4")
    trace = rest(server, sid, "/trace")  # taking a trace changes nothing
    batch = trace["batch"]
    assert len(batch) == 8
    data = rest(server, sid, "/data")
    frame = rest(server, sid)
    pick = batch[7]  # the 8th of this batch
    page.get_by_test_id("sample-input").fill(str(pick + 1))
    page.get_by_test_id("sample-input").dispatch_event("change")
    page.wait_for_function(f"() => window.backpropStudio.state.view.sample === {pick}")
    page.get_by_test_id("phase-button").click()
    phase_is(page, "Forward: layer 1")
    worked = page.get_by_test_id("worked-sample")
    expect(worked).to_have_text(
        f"Neuron 0, sample {pick + 1}, the 8th of this batch", ignore_case=True
    )
    # Its numbers are that sample's: Z1[0] = sum_i W[i,0] x_i + b[0], computed here.
    x = np.array(data["x"][pick])
    z = float(np.array(frame["weights"][0])[:, 0] @ x + frame["biases"][0][0])
    shown = page.locator("[data-testid=phase-body] .phase-eq").filter(has_text="Z1[0]").first
    alt = shown.locator("math").last.get_attribute("alttext") or ""
    value = float(alt.split("=")[-1].strip().replace("−", "-"))
    assert value == pytest.approx(z, rel=6e-4, abs=1e-4)
    # The diagram's inputs are that sample's, and the data table marks the same row.
    inputs = page.evaluate(
        "() => [...document.querySelectorAll('.node[data-node-l=\"0\"]')]"
        ".map((g) => Number(g.dataset.value))"
    )
    assert inputs == pytest.approx(data["x"][pick], abs=1e-6)
    expect(page.get_by_test_id("sample-input")).to_have_value(str(pick + 1))
    # A sample outside this batch: the worked neuron says so and works the batch's first.
    outside = next(k for k in range(len(data["x"])) if k not in batch)
    page.get_by_test_id("sample-input").fill(str(outside + 1))
    page.get_by_test_id("sample-input").dispatch_event("change")
    expect(worked).to_have_text(
        f"Neuron 0, sample {batch[0] + 1}, the 1st of this batch", ignore_case=True
    )
    expect(page.get_by_test_id("phase-body")).to_contain_text(
        f"Sample {outside + 1}, the one the diagram shows, is not in this step's mini-batch of 8"
    )
    # The next step's batch: entering its phases shows one of its samples everywhere.
    for _ in range(5):
        page.get_by_test_id("phase-next").click()
    phase_is(page, "Update")
    page.get_by_test_id("phase-next").click()
    phase_is(page, "Forward: layer 1")
    nxt = page.evaluate("() => window.backpropStudio.phaser.trace.batch")
    shown_sample = int(page.get_by_test_id("sample-input").input_value())
    assert shown_sample - 1 in nxt
    col = nxt.index(shown_sample - 1) + 1
    expect(worked).to_have_attribute("data-sample", str(shown_sample))
    expect(worked).to_have_attribute("data-column", str(col))


PHASES_3 = [
    "Forward: layer 1",
    "Forward: layer 2",
    "Forward: layer 3",
    "Error",
    "Backward: layer 3",
    "Backward: layer 2",
    "Backward: layer 1",
    "Update",
]

# What passes a panel's right edge (the first few), in words; [] when nothing does.
OVERFLOW = """(sel) => {
  const panel = document.querySelector(sel).getBoundingClientRect();
  return [...document.querySelectorAll(`${sel} *`)].map((e) => [e, e.getBoundingClientRect()])
    .filter(([, r]) => r.width > 0 && r.right > panel.right + 0.5)
    .slice(0, 8).map(([e, r]) => `${e.tagName}.${e.getAttribute('class') || ''}`
      + ` +${(r.right - panel.right).toFixed(1)}px: ${(e.textContent || '').slice(0, 40)}`);
}"""


def test_the_phase_dots_and_buttons_work_on_a_phone(browser: Any, server: ServerProcess) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(T)
    pg = context.new_page()
    watched = Watched(pg)
    try:
        open_demo(pg, server, "preset=article")
        pg.get_by_test_id("phase-button").click()
        phase_is(pg, "Forward: layer 1")
        dots = pg.locator("[data-testid=phase-progress] .phase-dot")
        expect(dots).to_have_count(6)
        for k in range(6):
            expect(dots.nth(k)).to_be_visible()
            box = dots.nth(k).bounding_box()
            assert box["width"] >= 24 and box["height"] >= 24, box  # a finger's target
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        dots.nth(2).tap()
        phase_is(pg, "Error")
        expect(pg.get_by_test_id("phase-prev")).to_be_visible()
        pg.get_by_test_id("phase-prev").tap()
        phase_is(pg, "Forward: layer 2")
        assert pg.evaluate("() => document.documentElement.scrollWidth - innerWidth") <= 0
        pg.get_by_test_id("phase-panel").scroll_into_view_if_needed()
        pg.screenshot(path="/tmp/issue20-phases-390x844.png")
        # A wide network's matrices: every phase fits the phone's panel (four columns shown).
        open_demo(pg, server, "data=spiral&layers=2-16-16-1&act=tanh&batch=8")
        pg.get_by_test_id("phase-button").click()
        for name in PHASES_3:
            phase_is(pg, name)
            bad = pg.evaluate(OVERFLOW, "#panel-phase")
            assert not bad, (name, bad)
            if name != "Update":
                pg.get_by_test_id("phase-next").tap()
        assert not watched.errors, watched.errors
    finally:
        context.close()


# ---------------------------------------------------------------- item 7: maths


@pytest.mark.parametrize(("act", "otherwise"), [("relu", "0"), ("leaky_relu", "0.01")])
def test_piecewise_factors_are_cases_and_nothing_passes_the_panels_edge(
    browser: Any, server: ServerProcess, act: str, otherwise: str
) -> None:
    for width, height in [(1440, 900), (768, 1024), (390, 844)]:
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(T)
        pg = context.new_page()
        watched = Watched(pg)
        try:
            open_demo(pg, server, f"data=spiral&layers=2-4-1&act={act}&sel=w.0.0.0")
            expect(pg.get_by_test_id("chain-name")).to_have_text("W_ih[0,0]")
            pg.get_by_test_id("step-button").click()
            expect(pg.get_by_test_id("step-count")).to_have_text("1")
            pg.locator("#panel-chain").scroll_into_view_if_needed()
            cases = pg.locator("#chain-panel mtable.cases")
            expect(cases).to_have_count(1)
            expect(cases.locator("mtr")).to_have_count(2)
            # The whole factor reads as cases for a screen reader too.
            alt = pg.locator("#chain-panel math", has=pg.locator("mtable.cases"))
            alt = alt.get_attribute("alttext")
            assert alt == f"{{1 if Z_1[0] > 0; {otherwise} otherwise}} ·", alt
            # No run-together "1ifZ": "if" is its own word in its own cell.
            texts = cases.locator("mtd").all_text_contents()
            assert [t.replace("\u2062", "").strip() for t in texts][:2] == ["1", "ifZ1[0]>0"]
            pg.wait_for_function("() => document.fonts.status === 'loaded'")
            bad = pg.evaluate(OVERFLOW, "#panel-chain")
            assert not bad, (width, bad)
            bad = pg.evaluate(OVERFLOW, "#panel-network")
            assert not bad, (width, bad)
            if width in (1440, 390):
                pg.screenshot(path=f"/tmp/issue20-chain-{act}-{width}.png")
            assert not watched.errors, watched.errors
        finally:
            context.close()
