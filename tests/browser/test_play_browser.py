"""Issue 22's controls in the browser: L1, epoch and accuracy, feature inputs, classes, stop rules.

A real server (tests/support.py ServerProcess) and Chromium through Playwright; every wait is
on a condition with a deadline. What the page prints is compared with the server's exact values,
formatted here independently.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import DEADLINE, ServerProcess, strict_context, wait_for

T = DEADLINE * 1000  # Playwright counts in ms


@pytest.fixture
def ctx(browser: Any) -> Iterator[Any]:
    """A desktop-sized context; fails on any page error."""
    yield from strict_context(browser, viewport={"width": 1440, "height": 900})


def open_page(ctx: Any, server: ServerProcess, query: str) -> tuple[Any, str]:
    """The page from a link, once its first frame is drawn; (page, the session's REST base)."""
    page = ctx.new_page()
    page.goto(f"{server.url}/?{query}", wait_until="domcontentloaded")
    wait_for(
        lambda: page.evaluate("() => !!window.backpropStudio?.state?.frame"), "the first frame"
    )
    sid = page.evaluate("() => window.backpropStudio.state.id")
    return page, f"{server.url}/api/sessions/{sid}"


def text(page: Any, testid: str) -> str:
    return str(page.get_by_test_id(testid).text_content()).strip()


def number(s: str) -> float:
    """A number as the page writes it (a true minus sign)."""
    return float(s.replace("−", "-"))


def printed_exactly(s: str, exact: float) -> bool:
    """Whether `s` is `exact` rounded to the significant digits `s` shows."""
    digits = re.sub(r"e.*$", "", s.replace("−", "").replace("-", "")).replace(".", "").lstrip("0")
    unit = 10 ** (math.floor(math.log10(abs(exact))) - len(digits) + 1)
    return bool(abs(number(s) - exact) <= 0.5 * unit * (1 + 1e-9))


def config(base: str) -> dict[str, Any]:
    """The session's resolved config (as a link or export carries it)."""
    got: dict[str, Any] = httpx.get(f"{base}/export").json()["config"]
    return got


def test_the_l1_field_sets_l1_and_the_chain_panel_shows_its_term(ctx: Any, server: Any) -> None:
    """Typing L1 patches the run; the chain panel's "+ L1 term" row is l1 * sign(w), exactly."""
    page, base = open_page(ctx, server, "preset=xor&data=circle")
    page.get_by_test_id("l1-input").fill("0.02")
    page.get_by_test_id("l1-input").dispatch_event("change")
    wait_for(lambda: config(base)["l1"] == 0.02, "the run's l1 at 0.02")
    page.get_by_test_id("step-button").click()
    wait_for(lambda: page.get_by_test_id("chain-l1").count() == 1, "the L1 row")
    sel = page.evaluate("() => window.backpropStudio.state.view.sel")
    params = {"kind": "weight", "layer": sel["layer"], "i": sel["i"], "j": sel["j"]}
    chain = httpx.get(f"{base}/chain", params=params).json()
    assert abs(chain["l1_term"]) == 0.02
    wait_for(
        lambda: printed_exactly(text(page, "chain-l1"), chain["l1_term"]),
        f"the L1 row printing {chain['l1_term']}",
    )
    assert "l1=0.02" in page.url or "l1=0.02" in page.evaluate("() => location.search")


def test_epoch_and_accuracy_beside_step(ctx: Any, server: Any) -> None:
    """Batches of 32 of 160 samples: epoch and both accuracies are the frame's, as percentages."""
    page, base = open_page(ctx, server, "preset=xor&data=circle&batch=32&test=0.2")
    for _ in range(12):
        page.get_by_test_id("step-button").click()
    wait_for(lambda: text(page, "step-count") == "12", "step 12")
    f = httpx.get(base).json()
    assert f["step"] == 12 and f["epoch"] == 12 * 32 // 160 == 2

    def shown() -> tuple[str, str, str]:
        ids = ("epoch-value", "accuracy-value", "test-accuracy-value")
        return (text(page, ids[0]), text(page, ids[1]), text(page, ids[2]))

    def percent_of(s: str, share: float) -> bool:
        """`s` is 100 * share to one decimal (a tie may round either way) with a % sign."""
        return (
            bool(re.fullmatch(r"\d{1,3}\.\d%", s))
            and abs(float(s[:-1]) - 100 * share) <= 0.05 + 1e-9
        )

    def right() -> bool:
        e, a, t = shown()
        return (
            e == str(f["epoch"])
            and percent_of(a, f["accuracy"])
            and percent_of(t, f["test_accuracy"])
        )

    wait_for(right, f"the readouts of {f['epoch'], f['accuracy'], f['test_accuracy']}")
    # The boxes have fixed widths: a longer value moves nothing after them.
    box = page.get_by_test_id("accuracy-value").bounding_box()
    assert box is not None and box["width"] > 0


def test_the_article_shows_epochs_but_no_accuracy(ctx: Any, server: Any) -> None:
    """Regression: no accuracy readout; the epoch counts full-batch steps."""
    page, _ = open_page(ctx, server, "preset=article")
    page.get_by_test_id("step-button").click()
    wait_for(lambda: text(page, "epoch-value") == "1", "epoch 1")
    assert page.locator(".acc-readout").is_hidden()


FEATURES = ["x1", "x2", "x1_squared", "x2_squared", "x1_x2", "sin_x1", "sin_x2"]


def features_of(x1: float, x2: float, names: list[str]) -> list[float]:
    """Playground's seven features of one point, written out here."""
    table = {
        "x1": x1, "x2": x2, "x1_squared": x1 * x1, "x2_squared": x2 * x2, "x1_x2": x1 * x2,
        "sin_x1": math.sin(x1), "sin_x2": math.sin(x2),
    }  # fmt: skip
    return [table[n] for n in names]


def net_output(frame: dict[str, Any], x: list[float], hidden: str) -> float:
    """One sample through the frame's weights (tanh hidden layers, sigmoid output)."""
    a = x
    L = len(frame["weights"])
    for k, (W, b) in enumerate(zip(frame["weights"], frame["biases"], strict=True)):
        z = [sum(W[i][j] * a[i] for i in range(len(a))) + b[j] for j in range(len(b))]
        a = [1 / (1 + math.exp(-v)) if k == L - 1 else math.tanh(v) for v in z]
    return a[0]


def test_feature_toggles_start_a_run_with_those_inputs(ctx: Any, server: Any) -> None:
    """Ticking x₁² and sin x₂ makes a run on [x1, x2, x1², sin x2]; the diagram names them; the
    plane's grid is the net over (x1, x2) mapped through the same features."""
    page, _ = open_page(ctx, server, "preset=xor&data=circle&layers=2-3-1")
    for name in FEATURES:
        assert page.get_by_test_id(f"feature-{name}").is_checked() == (name in ("x1", "x2"))
    page.get_by_test_id("feature-x1_squared").check()
    wait_for(lambda: "feat=" in page.evaluate("() => location.search"), "a run with x1²")
    page.get_by_test_id("feature-sin_x2").check()
    names = ["x1", "x2", "x1_squared", "sin_x2"]
    search = "() => location.search"
    wait_for(lambda: "feat=x1.x2.x1_squared.sin_x2" in page.evaluate(search), "x1² and sin x2")
    inputs = "() => window.backpropStudio.state.frame?.weights[0].length"
    wait_for(lambda: page.evaluate(inputs) == 4, "4 inputs")
    sid = page.evaluate("() => window.backpropStudio.state.id")
    data = httpx.get(f"{server.url}/api/sessions/{sid}/data").json()
    assert data["features"] == names and data["feature_names"] == ["x₁", "x₂", "x₁²", "sin x₂"]

    def labels() -> list[str]:
        """The diagram's input labels (each text's own, not its tooltip's)."""
        got: list[str] = page.evaluate(
            "() => [...document.querySelectorAll('.io-label')].map((t) => t.firstChild.data)"
        )
        return got

    wait_for(lambda: labels()[:4] == data["feature_names"], "the inputs named x₁, x₂, x₁², sin x₂")
    for k, p in enumerate(data["points"][:5]):
        assert data["x"][k] == features_of(p[0], p[1], names)
    # The plane's grid, computed by the page's own code, against this file's forward pass.
    frame = httpx.get(f"{server.url}/api/sessions/{sid}").json()
    grid = page.evaluate(
        """async ([f, names]) => { const m = await import('/static/js/grid-fast.js');
        return m.outputGridFast(f.weights, f.biases, [-1, 1], [-0.5, 1.5], 5, 'tanh',
          'sigmoid', 0, names); }""",
        [frame, names],
    )
    for r, y in enumerate(grid["ys"]):
        for c, x in enumerate(grid["xs"]):
            want = net_output(frame, features_of(x, y, names), "tanh")
            assert abs(grid["z"][r][c] - want) <= 1e-12
    page.get_by_test_id("feature-x1").uncheck()
    wait_for(
        lambda: "feat=x2.x1_squared.sin_x2" in page.evaluate("() => location.search"), "x1 off"
    )


def test_a_three_class_set_trains_softmax_and_the_chain_says_why(ctx: Any, server: Any) -> None:
    """Choosing blobs3 gives softmax + cross-entropy over 3 outputs; an output weight's chain
    shows the one factor (O - Y)/n and the server's reason under it."""
    page, _ = open_page(ctx, server, "preset=xor&data=circle")
    page.get_by_test_id("dataset-select").select_option("blobs3")
    outs = """() => { const w = window.backpropStudio.state.frame?.weights;
        return w?.[w.length - 1][0].length; }"""
    wait_for(lambda: page.evaluate(outs) == 3, "three outputs")
    sid = page.evaluate("() => window.backpropStudio.state.id")
    base = f"{server.url}/api/sessions/{sid}"
    c = config(base)
    assert (c["output_activation"], c["loss"], c["dataset"]["name"]) == ("softmax", "ce", "blobs3")
    assert page.get_by_test_id("output-activation-select").input_value() == "softmax"
    assert page.get_by_test_id("loss-select").input_value() == "ce"
    layers = c["layers"]
    for picker, value in (("layer", len(layers) - 2), ("i", 0), ("j", 2)):
        page.get_by_test_id(f"pick-{picker}").select_option(str(value))
    chain = httpx.get(
        f"{base}/chain", params={"kind": "weight", "layer": len(layers) - 2, "i": 0, "j": 2}
    ).json()
    assert chain["why"] and chain["factors"][0]["formula"] == "(O[2] - Y[2])/n"
    wait_for(lambda: page.get_by_test_id("chain-why").count() == 1, "the reason under the chain")
    assert text(page, "chain-why") == chain["why"]
    page.get_by_test_id("step-button").click()
    wait_for(lambda: text(page, "step-count") == "1", "step 1")
    f = httpx.get(base).json()
    assert f["accuracy"] is not None and 0 <= f["accuracy"] <= 1


def test_stop_rules_beside_play_stop_the_run_and_say_which(ctx: Any, server: Any) -> None:
    """A link's stop rule fills the fields; Play stops at step 40 and the note says so; a rule
    typed in the field reaches the server and stops the next Play."""
    page, base = open_page(ctx, server, "preset=xor&data=circle&stop=at_step:40")
    page.get_by_test_id("stop-rules").locator("summary").click()
    assert page.get_by_test_id("stop-at-step").input_value() == "40"
    assert config(base)["stop"] == {"at_step": 40, "loss_below": None, "test_rising": None}
    page.get_by_test_id("play-button").click()
    wait_for(lambda: page.get_by_test_id("stopped-note").is_visible(), "the stop note")
    f = httpx.get(base).json()
    assert (f["step"], f["stopped"], f["playing"]) == (40, "at_step", False)
    assert text(page, "stopped-note") == "Stopped at step 40, as asked"
    wait_for(lambda: text(page, "step-count") == "40", "step 40 shown")
    wait_for(
        lambda: page.get_by_test_id("play-button").get_attribute("aria-pressed") == "false",
        "the Play button back to Play",
    )
    # A loss rule typed in: E after step 40, less a little, is crossed at some later step.
    target = f["loss"] * 0.98
    page.get_by_test_id("stop-loss-below").fill(repr(target))
    page.get_by_test_id("stop-loss-below").dispatch_event("change")
    wait_for(lambda: config(base)["stop"]["loss_below"] == target, "the loss rule on the server")
    page.get_by_test_id("play-button").click()
    wait_for(lambda: httpx.get(base).json()["stopped"] == "loss_below", "stopped by the loss rule")
    f = httpx.get(base).json()
    assert f["loss"] < target and f["playing"] is False
    wait_for(
        lambda: text(page, "stopped-note") == f"Stopped at step {f['step']}: E fell below {target}",
        "the note naming the loss rule",
    )


def test_softmax_and_ce_are_chosen_together(ctx: Any, server: Any) -> None:
    """Choosing the loss "ce" brings softmax with it; leaving softmax leaves ce (for bce)."""
    page, _ = open_page(ctx, server, "preset=xor&data=spiral3&layers=2-6-3")
    page.get_by_test_id("loss-select").select_option("ce")

    def run_config() -> dict[str, Any]:
        sid = page.evaluate("() => window.backpropStudio.state.id")
        return config(f"{server.url}/api/sessions/{sid}")

    wait_for(lambda: run_config()["loss"] == "ce", "a run with ce")
    assert run_config()["output_activation"] == "softmax"
    page.get_by_test_id("output-activation-select").select_option("sigmoid")
    wait_for(lambda: run_config()["output_activation"] == "sigmoid", "a run with sigmoid")
    assert run_config()["loss"] == "bce"
