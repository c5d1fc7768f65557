"""Static files: gzip when accepted, a year of cache under a versioned URL, old URLs still work."""

from __future__ import annotations

import gzip
import html
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.engine.losses import FORMULAS
from app.main import STATIC_DIR, create_app
from app.settings import Settings
from app.web.slim import slim_js
from app.web.static import STATIC, StaticAssets, accepts_gzip

pytestmark = pytest.mark.skipif(
    not (STATIC_DIR / "js" / "main.js").is_file(), reason="no static files in this checkout"
)
YEAR = "public, max-age=31536000, immutable"


def page_prefix(client: TestClient) -> str:
    """The static prefix the visualiser page uses, read from its HTML."""
    html = client.get("/").text
    match = re.search(r'src="(/static/v[0-9a-f]{12})/js/main\.js', html)
    assert match, html[:1000]
    return match.group(1)


def test_the_page_loads_versioned_files(client: TestClient) -> None:
    prefix = page_prefix(client)
    assert prefix == STATIC.prefix
    html = client.get("/").text
    assert f'href="{prefix}/css/app.css' in html
    assert re.search(r'data-plotly="/vendor/[0-9a-f]{12}/plotly\.min\.js"', html)
    assert 'src="/vendor/' not in html  # loaded after the first paint (plotly-loader.js)


def test_versioned_file_is_gzipped_and_cached_for_a_year(client: TestClient) -> None:
    prefix = page_prefix(client)
    # JavaScript is sent without its comment-only lines (app.web.slim, tested in test_slim.py).
    source = slim_js((STATIC_DIR / "js" / "main.js").read_text()).encode()
    r = client.get(f"{prefix}/js/main.js", headers={"accept-encoding": "gzip, deflate"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["cache-control"] == YEAR
    assert r.headers["vary"] == "Accept-Encoding"
    assert r.headers["content-type"].startswith("text/javascript")
    assert int(r.headers["content-length"]) < len(source) / 2  # what went over the wire
    assert r.content == source  # httpx decoded it
    asset = STATIC.get("js/main.js")
    assert asset is not None and asset.zipped is not None
    assert gzip.decompress(asset.zipped) == source


def test_plain_bytes_when_gzip_is_not_accepted(client: TestClient) -> None:
    prefix = page_prefix(client)
    source = (STATIC_DIR / "css" / "app.css").read_bytes()
    for header in ("identity", "gzip;q=0, identity", "br"):
        r = client.get(f"{prefix}/css/app.css", headers={"accept-encoding": header})
        assert r.status_code == 200
        assert "content-encoding" not in r.headers, header
        assert r.headers["vary"] == "Accept-Encoding"  # caches keep the two apart
        assert r.content == source
        assert r.headers["content-type"].startswith("text/css")


def test_es_module_imports_resolve_inside_the_versioned_folder(client: TestClient) -> None:
    prefix = page_prefix(client)
    main = (STATIC_DIR / "js" / "main.js").read_text()
    imported = re.findall(r"from '\./([\w-]+\.js)'", main)
    assert imported
    for name in imported:
        r = client.get(f"{prefix}/js/{name}")
        assert r.status_code == 200 and r.headers["cache-control"] == YEAR, name


def test_unversioned_and_old_urls_still_work_but_are_revalidated(client: TestClient) -> None:
    source = slim_js((STATIC_DIR / "js" / "api.js").read_text()).encode()
    for url in ("/static/js/api.js", "/static/v000000000000/js/api.js"):
        r = client.get(url)
        assert r.status_code == 200, url
        assert r.content == source
        assert r.headers["cache-control"] == "no-cache", url  # never pinned under an old name
        again = client.get(url, headers={"if-none-match": r.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""


def test_head_and_not_found(client: TestClient) -> None:
    prefix = page_prefix(client)
    head = client.head(f"{prefix}/js/main.js")
    assert head.status_code == 200 and head.content == b""
    for url in (
        "/static/no-such-file.js",
        f"{prefix}/no-such-file.js",
        "/static/../app/main.py",
        "/static/%2e%2e/app/main.py",
        f"{prefix}/%2e%2e/%2e%2e/app/main.py",
        "/static/js/.hidden",
        "/static/",
        "/static/js",
    ):
        r = client.get(url)
        assert r.status_code == 404, url
        assert "from app" not in r.text


def test_the_version_follows_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "a.js").write_text("export const a = 1;\n" * 50)
    monkeypatch.setattr("app.web.static.CHECK_SECONDS", 0.0)  # look at the folder every time
    assets = StaticAssets(tmp_path)
    first = assets.version
    assert re.fullmatch(r"v[0-9a-f]{12}", first)
    assert assets.version == first  # stable while nothing changes
    (tmp_path / "js" / "a.js").write_text("export const a = 2;\n" * 50)
    assert assets.version != first
    asset = assets.get("js/a.js")
    assert asset is not None and asset.raw.startswith(b"export const a = 2;")
    (tmp_path / "js" / "b.js").write_text("export const b = 1;\n")
    assert assets.get("js/b.js") is not None
    assert assets.get("../js/a.js") is None


def test_accept_encoding_parsing() -> None:
    assert accepts_gzip("gzip")
    assert accepts_gzip("deflate, gzip;q=0.5, br")
    assert accepts_gzip("*")
    assert not accepts_gzip("")
    assert not accepts_gzip("identity")
    assert not accepts_gzip("gzip;q=0")
    assert not accepts_gzip("gzip;q=0.0, br")


def test_pages_carry_the_servers_limits_and_formulas() -> None:
    """The page reads its limits from the server: change the server, the page follows."""
    with TestClient(create_app(Settings(max_neurons=20, max_layers=5))) as c:
        for path in ("/", "/join"):
            page = c.get(path).text
            found = re.search(r"data-facts='([^']*)'", page)
            assert found, path
            facts = json.loads(html.unescape(found.group(1)))
            assert facts["max_neurons"] == 20 and facts["max_hidden_layers"] == 3, path
            assert facts["loss_formulas"] == FORMULAS
