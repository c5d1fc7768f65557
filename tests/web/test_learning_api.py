"""REST: the frame's `trouble`, the data sets' settings, CSV scaling and offline /docs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support import strict_loads

from app.main import create_app
from app.settings import Settings

XOR_WITH_ARTICLE_SETTINGS = {"preset": "article", "layers": [2, 5, 1], "dataset": {"name": "xor"}}
HOUSES_CSV = "sqft,bedrooms,price\n" + "".join(
    f"{1000 + 97 * k},{1 + k % 5},{120_000 + 150 * (1000 + 97 * k) + 9000 * (k % 5)}\n"
    for k in range(30)
)


@pytest.fixture
def client() -> Iterator[TestClient]:
    """A client on a fresh app with default limits."""
    with TestClient(create_app(Settings())) as c:
        yield c


def create(client: TestClient, config: dict[str, Any]) -> dict[str, Any]:
    """POST /api/sessions, asserting 201; parsed refusing NaN and Infinity."""
    r = client.post("/api/sessions", json=config)
    assert r.status_code == 201, r.text
    return strict_loads(r.text)  # type: ignore[no-any-return]


def test_a_healthy_run_reports_no_trouble(client: TestClient) -> None:
    """The article: `trouble` is in every frame, and null."""
    s = create(client, {"preset": "article"})
    assert "trouble" in s["frame"] and s["frame"]["trouble"] is None
    r = client.post(f"/api/sessions/{s['id']}/step", json={"count": 50})
    assert r.json()["trouble"] is None
    assert client.get(f"/api/sessions/{s['id']}").json()["trouble"] is None


def test_the_article_settings_on_xor_are_reported(client: TestClient) -> None:
    """Step 0: the step is too large; step 1: the output is saturated. Small, JSON-safe."""
    s = create(client, XOR_WITH_ARTICLE_SETTINGS)
    first = s["frame"]["trouble"]
    assert [t["kind"] for t in first] == ["exploding_gradients"]
    r = client.post(f"/api/sessions/{s['id']}/step", json={"count": 1})
    frame = strict_loads(r.text)
    found = {t["kind"]: t for t in frame["trouble"]}
    sat = found["output_saturated"]
    assert sat["fraction"] > 0.5 and sat["sample"]["derivative"] < 1e-3
    assert len(json.dumps(frame["trouble"])) < 2000  # frames stay small
    assert all("fix" not in t for t in frame["trouble"])  # offered only once tried: /fixes
    # The proven fix's lower rate, sent as a PATCH, clears the exploding warning at step 0.
    s2 = create(client, XOR_WITH_ARTICLE_SETTINGS)
    proven = client.get(f"/api/sessions/{s2['id']}/fixes").json()
    assert proven["step"] == 0
    t = proven["trouble"][0]
    assert t["kind"] == "exploding_gradients" and t["tried"]["worked"] is True
    fix = t["fix"]
    assert set(fix) == {"optimizer"}
    r = client.patch(f"/api/sessions/{s2['id']}", json=fix)
    assert r.status_code == 200 and r.json()["trouble"] is None


def test_every_data_set_carries_its_settings(client: TestClient) -> None:
    """GET /api/datasets: each built-in set names the config that trains it; sessions accept it."""
    sets = client.get("/api/datasets").json()
    assert {d["name"] for d in sets} >= {"houses", "xor", "circle", "spiral"}
    for d in sets:
        settings = d["settings"]
        assert settings["layers"][0] == d["inputs"] and settings["layers"][-1] == d["outputs"]
        s = create(client, {"preset": "article", **settings, "dataset": {"name": d["name"]}})
        assert s["frame"]["trouble"] is None, d["name"]


def test_csv_is_scaled_by_default_and_the_scale_is_given(client: TestClient) -> None:
    """Raw square feet and dollars: standardised inputs, targets in 0.1..0.9, the map back."""
    s = create(client, {"preset": "article", "layers": [2, 5, 1], "dataset": {"csv": HOUSES_CSV}})
    assert s["frame"]["trouble"] is None
    data = client.get(f"/api/sessions/{s['id']}/data").json()
    assert data["targets_scaled"] is True
    ys = [y[0] for y in data["y"]]
    assert min(ys) == pytest.approx(0.1) and max(ys) == pytest.approx(0.9)
    t = data["target_scale"]
    prices = [int(line.split(",")[2]) for line in HOUSES_CSV.splitlines()[1:]]
    back = [t["min"] + y * (t["max"] - t["min"]) for y in ys]
    assert back == pytest.approx(prices)
    assert data["input_scale"]["mean"][0] == pytest.approx(1000 + 97 * 14.5)
    r = client.post(f"/api/sessions/{s['id']}/step", json={"count": 1000})
    assert r.json()["loss"] < s["frame"]["loss"] / 4
    # Off: the numbers as they are, and the frame says why nothing will learn.
    raw = {"csv": HOUSES_CSV, "standardize": False, "scale_targets": False}
    s = create(client, {"preset": "article", "layers": [2, 5, 1], "dataset": raw})
    data = client.get(f"/api/sessions/{s['id']}/data").json()
    assert data["targets_scaled"] is False and data["input_scale"] is None
    assert data["y"][0][0] == prices[0]
    assert "targets_out_of_range" in [t["kind"] for t in s["frame"]["trouble"]]


def test_docs_and_redoc_are_served_from_installed_files(client: TestClient) -> None:
    """No CDN: the pages name our own /docs-assets, which answer; /openapi.json stays."""
    for path, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        r = client.get(path)
        assert r.status_code == 200
        assert f"/docs-assets/{asset}" in r.text
        assert "cdn." not in r.text and "fonts.googleapis" not in r.text
        a = client.get(f"/docs-assets/{asset}")
        assert a.status_code == 200 and a.headers["content-type"].startswith("text/javascript")
        assert len(a.content) > 100_000
    assert client.get("/docs-assets/swagger-ui.css").status_code == 200
    assert client.get("/docs-assets/..%2Fcore.py").status_code == 404
    assert client.get("/docs-assets/other.js").status_code == 404
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "Backprop Studio"
    assert "/docs-assets/{name}" not in spec["paths"]
