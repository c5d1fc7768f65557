"""A slow link (issue 21, item 6): compressed answers, every module preloaded, the catalogue
inside the page, nothing that looks live before it works. Times are benchmarks/slowlink.py's."""

from __future__ import annotations

import gzip
import json
import re
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from support import ServerProcess, wait_for

from app.main import STATIC_DIR
from app.web.modules import static_imports

pytestmark = pytest.mark.skipif(
    not (STATIC_DIR / "js" / "main.js").is_file(), reason="no static files in this checkout"
)
GZIP = {"accept-encoding": "gzip, deflate"}
PRELOAD = re.compile(r'<link rel="modulepreload" href="([^"]+)"[^>]*>')
ENTRY = re.compile(r'<script type="module" src="([^"?]+)')


@pytest.mark.parametrize("path", ["/", "/join", "/api/datasets", "/api/presets"])
def test_pages_and_json_are_gzipped_when_accepted(client: TestClient, path: str) -> None:
    r = client.get(path, headers=GZIP)
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in r.headers["vary"]
    # The bytes on the wire are a gzip stream of the body, and smaller than it.
    assert int(r.headers["content-length"]) < len(r.content)
    plain = client.get(path, headers={"accept-encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == r.content  # the same answer, decoded by the client


def test_a_session_json_route_and_a_module_over_real_http(server: ServerProcess) -> None:
    made = httpx.post(f"{server.url}/api/sessions", json={"preset": "article"}, timeout=30)
    assert made.status_code == 201, made.text
    sid = made.json()["id"]
    html = httpx.get(server.url + "/", timeout=30).text
    entry = ENTRY.search(html)
    assert entry
    for path in (f"/api/sessions/{sid}/data", entry.group(1), "/"):
        with httpx.Client(timeout=30) as c:
            r = c.send(c.build_request("GET", server.url + path, headers=GZIP), stream=True)
            wire = b"".join(r.iter_raw())
            r.close()
        assert r.headers["content-encoding"] == "gzip", path
        body = gzip.decompress(wire)
        assert len(wire) < len(body)
        if path.startswith("/api/"):
            assert json.loads(body)["x"]  # JSON, whole
    # A 304 for a module keeps its ETag and cache header (static.py), compressed or not.
    r = httpx.get(server.url + entry.group(1), headers=GZIP, timeout=30)
    again = httpx.get(
        server.url + entry.group(1),
        headers={**GZIP, "if-none-match": r.headers["etag"]},
        timeout=30,
    )
    assert again.status_code == 304 and again.headers["etag"] == r.headers["etag"]


def test_static_imports_are_read_in_every_form() -> None:
    source = """// import { no } from './commented.js';
import { a } from './a.js';
import {
  b,
  c as d,
} from "./b.js";
import './side.js';
import * as all from './star.js';
export { e } from './e.js';
export * from './f.js';
/* import { no } from './blocked.js'; */
const later = await import('./dynamic.js');
const text = 'import x from "./string.js"';
"""
    got = static_imports(source)
    assert got[:6] == ["./a.js", "./b.js", "./side.js", "./star.js", "./e.js", "./f.js"]
    assert "./commented.js" not in got and "./blocked.js" not in got
    assert "./dynamic.js" not in got


def test_every_page_preloads_its_whole_module_graph(client: TestClient) -> None:
    """Every module an entry imports, at any depth (from the files themselves), is preloaded."""
    for path in ("/", "/join"):
        html = client.get(path).text
        entry = ENTRY.search(html)
        assert entry, path
        prefix = entry.group(1).rsplit("/js/", 1)[0]
        preloads = PRELOAD.findall(html)
        assert len(preloads) == len(set(preloads)), "each module once"
        want: set[str] = set()
        todo = [entry.group(1).rsplit("/js/", 1)[1]]
        while todo:
            name = todo.pop()
            text = (STATIC_DIR / "js" / name).read_text()
            for spec in static_imports(text):
                dep = spec.removeprefix("./")
                if dep not in want:
                    want.add(dep)
                    todo.append(dep)
        assert {p.removeprefix(prefix + "/js/") for p in preloads} == want, path
        for p in preloads:  # each one is served (the versioned URL the imports resolve to)
            assert client.get(p).status_code == 200


def test_the_catalogue_in_the_page_is_the_apis(client: TestClient) -> None:
    html = client.get("/").text
    found = re.search(r'<script type="application/json" id="catalog">(.*?)</script>', html, re.S)
    assert found
    served = json.loads(found.group(1))
    assert served["presets"] == client.get("/api/presets").json()
    assert served["datasets"] == client.get("/api/datasets").json()


playwright_sync = pytest.importorskip("playwright.sync_api")


@pytest.mark.browser
def test_the_modules_the_browser_loads_are_the_preloaded_ones(
    server: ServerProcess, browser: Any
) -> None:
    """The URLs Chromium fetches as scripts at load are the preloads (and the entries)."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    page = ctx.new_page()
    scripts: list[str] = []
    api: list[str] = []
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    def seen(r: Any) -> None:
        if r.resource_type == "script" and "/static/" in r.url:
            scripts.append(r.url.removeprefix(server.url).split("?")[0])
        if "/api/presets" in r.url or "/api/datasets" in r.url:
            api.append(r.url)

    page.on("request", seen)
    try:
        # Before the page's modules run, its transport and menus are not live.
        page.route("**/js/main.js*", lambda route: None)  # held: main.js never arrives
        page.goto(f"{server.url}/?preset=article", wait_until="commit")
        page.get_by_test_id("preset-select").wait_for(state="attached")
        for tid in ("step-button", "play-button", "reset-button", "phase-button", "preset-select"):
            assert page.get_by_test_id(tid).is_disabled(), tid
        page.unroute("**/js/main.js*")
        scripts.clear()
        page.goto(f"{server.url}/?preset=article", wait_until="domcontentloaded")
        wait_for(lambda: page.locator("#network-plot svg circle").count(), "the diagram")
        wait_for(lambda: page.get_by_test_id("step-button").is_enabled(), "Step")
        wait_for(lambda: page.get_by_test_id("preset-select").is_enabled(), "the presets")
        html = httpx.get(server.url + "/?preset=article", timeout=30).text
        preloads = set(PRELOAD.findall(html))
        entries = {m for m in re.findall(r'<script type="module" src="([^"?]+)', html)}
        loaded = set(scripts)
        assert loaded - entries == preloads, sorted(loaded - entries ^ preloads)
        assert not api, api  # the menus came with the page
        assert not errors, errors
    finally:
        ctx.close()
