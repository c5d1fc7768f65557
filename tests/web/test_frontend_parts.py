"""The front end's views are small named parts (issue 21, item 10), read from static/js."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.web.modules import static_imports

JS = Path(__file__).resolve().parents[2] / "static" / "js"

# The views split into parts, and the most lines an exported create* function may span.
SPLIT = ("live", "network-view", "loss-view", "controls", "phase-stepper")
MAX_CREATE_LINES = 150
PARTS = {
    "live": (
        "live-state",
        "live-render",
        "live-panels",
        "live-selection",
        "live-fetch",
        "live-source",
    ),
    "network-view": (
        "network-layout",
        "network-svg",
        "network-legend",
        "network-canvas",
        "network-build",
        "network-paint",
        "network-hit",
    ),
    "loss-view": ("loss-history",),
    "controls": ("controls-arch", "controls-inputs", "controls-fill"),
    "phase-stepper": ("phase-walk", "phase-view", "phase-slowmo"),
}
PAGES = {"main", "present", "room", "transport"}
CREATE = re.compile(r"^export (?:async )?function (create\w+)\(", re.MULTILINE)


def all_modules() -> list[str]:
    return [f.stem for f in JS.glob("*.js")]


def create_spans(source: str) -> dict[str, int]:
    """Each exported top-level create* function and the lines it spans (to its `}` in column 0)."""
    lines = source.split("\n")
    spans = {}
    for m in CREATE.finditer(source):
        start = source.count("\n", 0, m.start())
        end = next(k for k in range(start + 1, len(lines)) if lines[k] == "}")
        spans[m.group(1)] = end - start + 1
    return spans


def graph() -> dict[str, list[str]]:
    """Module name -> the modules it imports statically (same folder)."""
    out = {}
    for name in all_modules():
        deps = static_imports((JS / f"{name}.js").read_text(encoding="utf-8"))
        out[name] = [d.removeprefix("./").removesuffix(".js") for d in deps]
    return out


@pytest.mark.parametrize("name", [n for view in SPLIT for n in (view, *PARTS[view])])
def test_every_create_function_of_a_split_view_is_short(name: str) -> None:
    spans = create_spans((JS / f"{name}.js").read_text(encoding="utf-8"))
    long = {fn: n for fn, n in spans.items() if n > MAX_CREATE_LINES}
    assert not long, f"{name}.js: {long} over {MAX_CREATE_LINES} lines"


def test_the_span_counter_sees_a_long_function() -> None:
    body = "\n".join(["export function createBig(a) {", *(["  a();"] * 200), "}", ""])
    assert create_spans(body) == {"createBig": 202}


@pytest.mark.parametrize("name", [p for parts in PARTS.values() for p in parts])
def test_each_part_says_its_one_job_first(name: str) -> None:
    first = (JS / f"{name}.js").read_text(encoding="utf-8").split("\n", 1)[0]
    assert first.startswith("// ") and len(first) > 30, name


def test_the_import_graph_has_no_cycle() -> None:
    g = graph()
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(n: str, path: list[str]) -> None:
        state[n] = 1
        for d in g.get(n, []):
            assert state.get(d) != 1, " -> ".join([*path, n, d])
            if d not in state:
                visit(d, [*path, n])
        state[n] = 2

    for n in g:
        if n not in state:
            visit(n, [])


def test_parts_stay_in_their_layer() -> None:
    """Views' parts never import the live layer or a page; live's parts never import a page."""
    g = graph()
    live = {"live", *PARTS["live"]}
    for view in SPLIT[1:]:
        for part in (view, *PARTS[view]):
            assert not set(g[part]) & (live | PAGES), (part, g[part])
    for part in live:
        assert not set(g[part]) & PAGES, (part, g[part])
    for part in PARTS["live"]:
        assert "live" not in g[part], part  # only live.js composes them


def test_every_part_is_imported_by_its_view_or_a_sibling() -> None:
    g = graph()
    for view, parts in PARTS.items():
        family = {view, *parts}
        for part in parts:
            users = {n for n, deps in g.items() if part in deps}
            assert users & family, (part, users)
