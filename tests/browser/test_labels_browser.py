"""No label covers another (issue 21): the diagram, the heat maps, the slope view and the axes of
every chart, on every preset, after 0, 20 and 1000 steps, at 1440, 768 and 390 px wide."""

from __future__ import annotations

from functools import partial
from typing import Any

import httpx
import pytest
from support import ServerProcess, wait_for

from app.domain.presets import PRESETS

playwright_sync = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.browser

WIDTHS = {1440: 900, 768: 1024, 390: 844}
STEPS = (0, 20, 1000)

# Every text box the page drew, per place, and the pairs that intersect (a shared edge is not
# an overlap: 0.5 px of slack). SVG texts by their bounding boxes; texts painted on canvases
# (heat maps, canvas charts) by the boxes their painters record as they paint them.
OVERLAPS = """() => {
  const bad = [];
  const rect = (e) => {
    const r = e.getBoundingClientRect();
    return { x: r.left, y: r.top, w: r.width, h: r.height };
  };
  const hit = (a, b) => a.x < b.x + b.w - 0.5 && b.x < a.x + a.w - 0.5
    && a.y < b.y + b.h - 0.5 && b.y < a.y + a.h - 0.5;
  const pairs = (where, boxes) => {
    for (let i = 0; i < boxes.length; i++)
      for (let j = i + 1; j < boxes.length; j++)
        if (hit(boxes[i], boxes[j]))
          bad.push(`${where}: "${boxes[i].text}" over "${boxes[j].text}"`);
  };
  const shown = (t) => t.textContent.trim() && t.getClientRects().length
    && getComputedStyle(t).display !== 'none' && getComputedStyle(t).visibility !== 'hidden';
  const boxesOf = (list) => list.filter(shown).map((t) => ({ ...rect(t), text: t.textContent }));
  const svg = document.querySelector('[data-testid=network-plot] svg');
  const texts = boxesOf([...svg.querySelectorAll('text')]);
  pairs('diagram', texts);
  let values = 0;
  for (const g of svg.querySelectorAll('.node')) {
    const t = g.querySelector('.node-value');
    if (!t || !shown(t)) continue;
    values += 1;
    const c = rect(g.querySelector('.node-body'));
    const b = rect(t);
    if (b.x < c.x - 0.5 || b.x + b.w > c.x + c.w + 0.5)
      bad.push(`node value "${t.textContent}" (${b.w} px) wider than its circle (${c.w} px)`);
  }
  const label = svg.querySelector('[data-testid=edge-label]');
  if (label && shown(label)) {
    const b = rect(label);
    for (const c of svg.querySelectorAll('.node-body'))
      if (hit(b, rect(c))) bad.push(`edge label "${label.textContent}" over a node`);
  }
  let heat = 0;
  for (const c of document.querySelectorAll('canvas.heatmap')) {
    const boxes = c.labels || [];
    heat += boxes.length;
    pairs(`heat map ${c.dataset.testid}`, boxes);
    const w = parseFloat(c.style.width), h = parseFloat(c.style.height);
    for (const b of boxes)
      if (b.x < 0 || b.y < 0 || b.x + b.w > w || b.y + b.h > h)
        bad.push(`heat map ${c.dataset.testid}: "${b.text}" outside`);
  }
  const charts = {};
  for (const id of ['loss-plot', 'slope-plot', 'data-pva']) {
    const d = document.querySelector(`[data-testid=${id}]`);
    if (!d || !d.chart || !d.getClientRects().length) continue;
    charts[id] = d.chart.labels.length;
    pairs(id, d.chart.labels);
  }
  const plane = document.querySelector('[data-testid=data-plane] .main-svg');
  if (plane) {
    const sel = '.xtick text, .ytick text, .g-xtitle text, .g-ytitle text, .legendtext, '
      + '.cbtitle text, .cbaxis text';
    pairs('data plane', boxesOf([...plane.parentElement.querySelectorAll(`:is(${sel})`)]));
  }
  return { bad, texts: texts.length, values, heat, charts, plane: !!plane };
}"""

STEP = "() => +document.querySelector('[data-testid=step-count]').textContent"


def caught_up(page: Any, n: int) -> bool:
    """Every panel checked shows step n: the readout, the diagram, heat maps, slope, curve."""
    return bool(
        page.evaluate(
            """(n) => {
              const q = (s) => document.querySelector(s);
              const slope = q('#slope-view');
              const sl = q('[data-testid=slope-plot]');
              const loss = q('[data-testid=loss-plot]')?.chart;
              return +q('[data-testid=step-count]').textContent === n
                && q('[data-testid=edge-label]')?.dataset.step === String(n)
                && q('[data-testid=matrix-panel]')?.dataset.step === String(n)
                && (!slope || slope.hidden || sl.chart?.slice?.step === n)
                && loss?.points > 0 && loss.view.x[1] >= n
                && (!q('[data-testid=data-plane]') || !!q('[data-testid=data-plane] .main-svg'));
            }""",
            n,
        )
    )


def at_step(page: Any, n: int) -> bool:
    """Bring the panels that draw only on screen into view; whether all show step n."""
    for sel in ("#matrix-panel", "[data-testid=data-plot]", "#chain-panel"):
        # The page's own scroll: Playwright's waits for the box to hold still, and panels
        # drawn meanwhile move it (a 30 s timeout at 390 px on a busy machine).
        page.evaluate("(s) => document.querySelector(s)?.scrollIntoView({block: 'center'})", sel)
    return caught_up(page, n)


def check(page: Any, where: str) -> dict[str, Any]:
    """Scroll each panel into view (panels off screen may wait), then the overlaps: none."""
    for sel in ("#matrix-panel", "[data-testid=data-plot]", "#chain-panel", "#loss-plot"):
        page.evaluate("(s) => document.querySelector(s)?.scrollIntoView({block: 'center'})", sel)
    got = page.evaluate(OVERLAPS)
    assert got["bad"] == [], (where, got["bad"])
    assert got["texts"] > 5 and got["heat"] >= 0 and "loss-plot" in got["charts"], (where, got)
    assert got["charts"]["loss-plot"] >= 4, (where, got)  # ticks and titles were drawn
    return dict(got)


@pytest.mark.parametrize("width", list(WIDTHS))
def test_no_label_covers_another(server: ServerProcess, browser: Any, width: int) -> None:
    """Every preset at one width: after 0, 20 and 1000 steps (REST), no two text boxes meet,
    node values fit their circles and the selected edge's name covers no node."""
    ctx = browser.new_context(viewport={"width": width, "height": WIDTHS[width]})
    errors: list[str] = []
    planes = 0  # checks that saw the data plane (Plotly's axes): every 2-input preset's
    try:
        for preset in PRESETS:
            page = ctx.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server.url}/?preset={preset}", wait_until="domcontentloaded")
            wait_for(partial(page.evaluate, "!!window.backpropStudio?.state?.base"), "a run")
            base = server.url + page.evaluate("window.backpropStudio.state.base")
            for n in STEPS:
                now = page.evaluate(STEP)
                if n > now:
                    r = httpx.post(f"{base}/step", json={"count": n - now}, timeout=60)
                    r.raise_for_status()
                    assert r.json()["step"] == n
                # The page follows the run's frames: wait until every panel shows step n.
                wait_for(partial(at_step, page, n), f"{preset} at step {n}", poll=0.2)
                got = check(page, f"{preset} at step {n}, {width} px")
                planes += got["plane"]
            page.close()
        assert planes == 3 * (len(PRESETS) - 1)  # all but the article's houses are planes
        assert not errors, errors
    finally:
        ctx.close()


# The select's chosen text against its width (the font the select uses, its arrow and padding),
# and the Play button's icon against its word.
CONTROLS = """() => {
  const sel = document.querySelector('[data-testid=preset-select]');
  const cs = getComputedStyle(sel);
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
  const text = sel.selectedOptions[0].textContent;
  const pad = parseFloat(cs.paddingLeft) + parseFloat(cs.paddingRight);
  const need = ctx.measureText(text).width + pad + 20;
  const iconEl = document.querySelector('#play-button .play-icon');
  const ics = getComputedStyle(iconEl);
  ctx.font = `${ics.fontWeight} ${ics.fontSize} ${ics.fontFamily}`;
  const glyph = ctx.measureText(iconEl.textContent).width;
  const icon = iconEl.getBoundingClientRect();
  const word = document.querySelector('#play-button .play-label').getBoundingClientRect();
  const desc = document.querySelector('#preset-description');
  return { text, need, width: sel.clientWidth,
           gap: word.left - (icon.left + Math.max(icon.width, glyph)),
           label: word.width > 0 && icon.width > 0,
           math: desc.querySelectorAll('math').length, ascii: /1\\/2 sum/.test(desc.textContent) };
}"""


@pytest.mark.parametrize("width", list(WIDTHS))
def test_controls_show_their_words_whole(server: ServerProcess, browser: Any, width: int) -> None:
    """The preset select is not cut, "❚❚ Play" keeps its gap, the preset's formula is typeset."""
    ctx = browser.new_context(viewport={"width": width, "height": WIDTHS[width]})
    page = ctx.new_page()
    try:
        for preset in PRESETS:
            page.goto(f"{server.url}/?preset={preset}", wait_until="domcontentloaded")
            wait_for(partial(page.evaluate, "!!window.backpropStudio?.state?.frame"), "a run")
            got = page.evaluate(CONTROLS)
            assert got["text"] and got["need"] <= got["width"], (preset, got)
            assert not got["ascii"], got
            assert got["math"] == (1 if preset == "article" else 0), (preset, got)
        page.get_by_test_id("play-button").click()
        wait_for(
            lambda: (
                page.evaluate("document.querySelector('#play-button .play-icon').textContent")
                == "❚❚"
            ),
            "the pause icon",
        )
        got = page.evaluate(CONTROLS)
        assert got["label"] and got["gap"] >= 2, got
        page.get_by_test_id("play-button").click()
    finally:
        ctx.close()
