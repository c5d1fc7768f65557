"""A big network's edges on a canvas: hover and click select an edge; each frame repaints it."""

from __future__ import annotations

from typing import Any

import pytest
from support import ServerProcess, wait_for

playwright_sync = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.browser

BIG = "/?preset=spiral&layers=2-16-16-16-1"
STEP = "() => window.backpropStudio.state.frame.step"
# The point 30% of the way along the edge h3[5] -> O: the diagram's nodes are SVG, so their
# centres on the screen say where the canvas drew the line between them.
ALONG = """([a, b, t]) => {
  const at = (l, k) => {
    const r = document.querySelector(`.node[data-node-l="${l}"][data-node-k="${k}"] .node-body`)
      .getBoundingClientRect();
    return [r.left + r.width / 2, r.top + r.height / 2];
  };
  const p = at(...a), q = at(...b);
  return [p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t];
}"""


def canvas_shot(page: Any) -> bytes:
    """The canvas's pixels alone (the SVG's nodes and labels transparent for the picture; still
    under the pointer, so a hover stays)."""
    box = page.get_by_test_id("network-canvas").bounding_box()
    page.evaluate("document.querySelector('.network-svg').style.opacity = '0'")
    try:
        return bytes(page.screenshot(clip=box))
    finally:
        page.evaluate("document.querySelector('.network-svg').style.opacity = ''")


def test_big_network_edges_on_a_canvas_hover_click_and_repaint(
    server: ServerProcess, browser: Any
) -> None:
    """[2,16,16,16,1]: 560 edges painted on a canvas, picked by pointer, repainted by frames."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(server.url + BIG, wait_until="domcontentloaded")
        wait_for(lambda: page.locator("[data-testid=network-canvas]").count() == 1, "the canvas")
        wait_for(lambda: page.locator(".network-svg .node").count() == 2 + 16 * 3 + 1, "nodes")
        # No SVG line per edge; the canvas is decoration, the SVG (role=img) describes it.
        assert page.locator(".network-svg line.edge, .network-svg .edge-hit").count() == 0
        assert page.get_by_test_id("network-canvas").get_attribute("aria-hidden") == "true"
        assert page.locator(".network-svg").get_attribute("role") == "img"
        assert page.locator(".network-svg").get_attribute("aria-label")
        # Something is painted: the canvas differs from the same box with the canvas hidden.
        painted = wait_for(lambda: canvas_shot(page), "a picture")
        page.evaluate("document.querySelector('.network-canvas').style.visibility = 'hidden'")
        blank = canvas_shot(page)
        page.evaluate("document.querySelector('.network-canvas').style.visibility = ''")
        assert painted != blank

        # Hover 30% along h3[5] -> O: the tooltip names it; a click selects it in the chain panel.
        x, y = page.evaluate(ALONG, [[3, 5], [4, 0], 0.3])
        page.mouse.move(x, y)
        expect = playwright_sync.expect
        expect(page.get_by_test_id("tooltip")).to_contain_text("W_h3o[5,0]")
        assert canvas_shot(page) != painted  # the hovered edge is drawn in ink
        page.mouse.click(x, y)
        expect(page.get_by_test_id("chain-name")).to_have_text("W_h3o[5,0]")
        wait_for(lambda: "sel=w.3.5.0" in page.url, "the selection in the address")
        # Frames repaint the canvas: play until the picture changes.
        page.mouse.move(5, 5)
        before = canvas_shot(page)
        step = page.evaluate(STEP)
        page.get_by_test_id("play-button").click()
        wait_for(lambda: page.evaluate(STEP) >= step + 30, "thirty steps")
        page.get_by_test_id("play-button").click()
        wait_for(lambda: canvas_shot(page) != before, "a repainted canvas")
        assert errors == []
    finally:
        ctx.close()


def test_a_small_network_keeps_its_svg_edges(server: ServerProcess, browser: Any) -> None:
    """The article's 25 edges stay SVG lines (styles and classes that other tests read)."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    page = ctx.new_page()
    try:
        page.goto(server.url + "/?preset=article", wait_until="domcontentloaded")
        wait_for(lambda: page.locator(".network-svg line.edge").count() == 25, "25 SVG edges")
        assert page.locator(".edge-hit").count() == 25
        assert page.locator("[data-testid=network-canvas]").count() == 0
    finally:
        ctx.close()
