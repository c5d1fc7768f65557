"""Hostile HTTP input: every bad body or query is a clear 4xx naming the field, never a 500."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hardening import (
    assert_clean_error,
    assert_healthy,
    deep,
    dumps,
    hostile_json,
    hostile_scalars,
    strict_json,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain.session import TrainingSession
from app.main import create_app
from app.settings import Settings
from app.web.deps import services_of
from app.web.middleware import content_security_policy

SETTINGS = Settings(max_sessions=40, max_rooms=5, max_body_bytes=512 * 1024)
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """One app for the module (the fuzzers share it: the server must survive them all)."""
    with TestClient(create_app(SETTINGS), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def sid(client: TestClient) -> str:
    """A session the fuzzers step, patch and query."""
    r = client.post("/api/sessions", json={"preset": "xor"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@pytest.fixture(scope="module")
def room(client: TestClient) -> str:
    """A room code for the room routes."""
    r = client.post("/api/rooms", json={"config": {"preset": "article"}})
    assert r.status_code == 201, r.text
    return str(r.json()["code"])


def check_answer(status: int, body: bytes, content_type: str) -> None:
    """Never a server error; every JSON answer parses strictly (no NaN, no Infinity)."""
    assert status < 500, (status, body[:500])
    if "json" in content_type:
        strict_json(body)
    if status >= 400:
        assert_clean_error(status, body)


def tidy(client: TestClient) -> None:
    """Delete what a fuzz example created, so the session cap is never the only answer."""
    store = services_of(client.app).store
    keep = set(store.ids()[:1])
    for session_id in store.ids():
        if session_id not in keep:
            client.delete(f"/api/sessions/{session_id}")


# ---- property-based: random bodies at every route that takes one ----------------------------


@FUZZ
@given(body=hostile_json(), route=st.sampled_from(["create", "step", "patch", "room", "reset"]))
def test_random_json_bodies_never_500(client: TestClient, sid: str, body: Any, route: str) -> None:
    method, path = {
        "create": ("POST", "/api/sessions"),
        "step": ("POST", f"/api/sessions/{sid}/step"),
        "patch": ("PATCH", f"/api/sessions/{sid}"),
        "room": ("POST", "/api/rooms"),
        "reset": ("POST", f"/api/sessions/{sid}/reset"),
    }[route]
    r = client.request(method, path, content=dumps(body), headers=JSON)
    check_answer(r.status_code, r.content, r.headers.get("content-type", ""))
    if route == "room" and r.status_code == 201:
        rooms = services_of(client.app).rooms
        client.portal.call(rooms.remove, r.json()["code"])  # type: ignore[union-attr]
    tidy(client)


@settings(max_examples=30, deadline=None)
@given(raw=st.binary(max_size=200), route=st.sampled_from(["/api/sessions", "/api/rooms"]))
def test_random_bytes_bodies_never_500(client: TestClient, raw: bytes, route: str) -> None:
    r = client.post(route, content=raw, headers=JSON)
    check_answer(r.status_code, r.content, r.headers.get("content-type", ""))


@settings(max_examples=25, deadline=None)
@given(
    params=st.dictionaries(
        st.sampled_from(["layer", "i", "j", "kind", "x"]),
        st.one_of(hostile_scalars(), st.integers(-5, 70)).map(str),
        max_size=5,
    )
)
def test_random_chain_queries_never_500(
    client: TestClient, sid: str, room: str, params: dict[str, str]
) -> None:
    for path in (f"/api/sessions/{sid}/chain", f"/api/rooms/{room}/chain"):
        safe = {k: v.encode("utf-8", "replace").decode() for k, v in params.items()}
        r = client.get(path, params=safe)
        check_answer(r.status_code, r.content, r.headers.get("content-type", ""))


@settings(max_examples=15, deadline=None)
@given(ident=st.text(min_size=1, max_size=40).filter(lambda s: "/" not in s and s not in ".."))
def test_random_ids_are_404(client: TestClient, ident: str) -> None:
    ident = quote(ident.encode("utf-8", "replace"), safe="")
    for method, suffix in (("GET", ""), ("GET", "/export"), ("POST", "/reset"), ("DELETE", "")):
        r = client.request(method, "/api/sessions/" + ident + suffix)
        check_answer(r.status_code, r.content, r.headers.get("content-type", ""))
    r = client.get("/api/rooms/" + ident)
    check_answer(r.status_code, r.content, r.headers.get("content-type", ""))


def test_server_healthy_after_the_fuzzers(client: TestClient) -> None:
    assert_healthy(client)


# ---- the cases the fuzzers found, pinned ----------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"l2": NaN}', "l2"),
        ('{"l2": Infinity}', "l2"),
        ('{"optimizer": {"learning_rate": -Infinity}}', "learning_rate"),
        ('{"layers": [4, 1e999, 1]}', "layers"),
        ('{"seed": 1e400}', "seed"),
        ('{"preset": "\\ud800"}', "preset"),
        ('{"dataset": {"csv": "a,b\\n1,2", "targets": ["\\udfff"]}}', "targets"),
        ('{"dataset": {"x": [[1, NaN]], "y": [1]}}', "x"),
        ('{"\\ud800": 1}', "body"),
        ('{"layers": [4, 999, 1]}', "layers[1]"),
        ('{"layers": [4, 5, 5, 5, 5, 5, 5, 5, 5, 1]}', "layers"),
        ('{"dataset": {"name": "spiral", "samples": 5000}}', "samples"),
        ('{"optimizer": {"learning_rate": 1e300}}', "learning_rate"),
        ('{"batch_size": 0}', "batch_size"),
        ('{"seed": -1}', "seed"),
    ],
)
def test_bad_configs_are_422_naming_the_field(client: TestClient, body: str, field: str) -> None:
    r = client.post("/api/sessions", content=body.encode(), headers=JSON)
    assert r.status_code == 422, r.text
    assert field in r.text, r.text


def test_validation_errors_never_echo_the_input(client: TestClient) -> None:
    secret = "x" * 5000
    r = client.post("/api/sessions", json={"preset": secret, "bogus": secret})
    assert r.status_code == 422
    assert secret not in r.text and len(r.content) < 2000, r.text
    for error in r.json()["detail"]:
        assert set(error) == {"type", "loc", "msg"}


def test_too_many_errors_are_cut_short(client: TestClient) -> None:
    r = client.post("/api/sessions", json={f"bogus{k}": k for k in range(500)})
    assert r.status_code == 422
    assert len(r.json()["detail"]) <= 10


@pytest.mark.parametrize(
    "body",
    [
        "",
        "null",
        '"x"',
        "[]",
        "{",
        deep(50_000),
        '{"layers": [' + "1," * 20_000 + "1]}",
        '{"seed": 1' + "0" * 5000 + "}",
        "\xff\xfe",
    ],
)
def test_malformed_bodies_are_4xx(client: TestClient, body: str) -> None:
    r = client.post("/api/sessions", content=body.encode("latin-1"), headers=JSON)
    assert_clean_error(r.status_code, r.content)


def test_csv_shapes_and_sizes(client: TestClient) -> None:
    cases = {
        "a,b\n" + "1" * 200_000 + ",2": "csv",
        "a,a\n1,2": "repeated",
        "a,b\n1e400,2": "not finite",
        "a,b\n1,2,3": "values",
        "a\n1": "two columns",
        "a,b\n" + "1,2\n" * 2000: "samples",
    }
    for text, expected in cases.items():
        r = client.post("/api/sessions", json={"dataset": {"csv": text}})
        assert r.status_code == 422, (expected, r.text[:300])
        assert expected in r.json()["detail"], (expected, r.text[:300])


def test_user_text_comes_back_as_data_not_markup(client: TestClient) -> None:
    name = "<img src=x onerror=alert(1)>"
    r = client.post("/api/sessions", json={"dataset": {"csv": f'"{name}",y\n1,0\n2,1'}})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    data = client.get(f"/api/sessions/{sid}/data")
    assert data.headers["content-type"] == "application/json"
    assert data.headers["x-content-type-options"] == "nosniff"
    assert data.json()["feature_names"] == [name]
    client.delete(f"/api/sessions/{sid}")


def test_unknown_preset_message_is_safe(client: TestClient) -> None:
    r = client.post("/api/sessions", json={"preset": "nope<script>"})
    assert r.status_code == 422 and "unknown preset" in r.json()["detail"]
    assert r.headers["content-type"] == "application/json"


# ---- work limits: cheap requests for big networks -------------------------------------------

BIG = {"layers": [2, 64, 64, 64, 64, 1], "dataset": {"name": "spiral", "samples": 1000}}


def test_step_work_is_bounded_by_network_size(client: TestClient) -> None:
    r = client.post("/api/sessions", json=BIG)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    r = client.post(f"/api/sessions/{sid}/step", json={"count": 10_000})
    assert r.status_code == 422 and "count" in r.json()["detail"], r.text
    assert "at most" in r.json()["detail"]
    r = client.get(f"/api/sessions/{sid}/gradcheck")
    assert r.status_code == 422 and "gradcheck" in r.json()["detail"], r.text
    client.delete(f"/api/sessions/{sid}")


def test_step_count_over_the_limit(client: TestClient, sid: str) -> None:
    r = client.post(f"/api/sessions/{sid}/step", json={"count": 10**9})
    assert r.status_code == 422 and "count" in r.json()["detail"]


# ---- body size ------------------------------------------------------------------------------


def test_body_over_the_limit_is_413(client: TestClient) -> None:
    big = json.dumps({"dataset": {"csv": "a,b\n" + "1,2\n" * 200_000}})
    assert len(big) > SETTINGS.max_body_bytes
    r = client.post("/api/sessions", content=big, headers=JSON)
    assert r.status_code == 413
    assert "too large" in r.json()["detail"]
    assert r.headers["x-content-type-options"] == "nosniff"


def test_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"dataset": {"csv": "a,b\\n'
        for _ in range(20_000):
            yield b"1,2\\n" * 10
        yield b'"}}'

    r = client.post("/api/sessions", content=chunks(), headers=JSON)
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert r.status_code == 413, r.text


def test_chunked_body_under_the_limit_works(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"preset": '
        yield b'"article"}'

    r = client.post("/api/sessions", content=chunks(), headers=JSON)
    assert r.status_code == 201, r.text
    client.delete(f"/api/sessions/{r.json()['id']}")


def test_bad_content_length_is_413(client: TestClient) -> None:
    r = client.post("/api/sessions", content=b"{}", headers={**JSON, "content-length": "-5"})
    assert r.status_code in (400, 413)


# ---- security headers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/healthz",
        "/api/presets",
        "/api/sessions/nope",
        "/nope",
        "/static/css/app.css",
        "/vendor/plotly.min.js",
        "/openapi.json",
        "/join",
    ],
)
def test_security_headers_everywhere(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code < 500
    csp = r.headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ):
        assert directive in csp, (path, csp)
    assert "'unsafe-eval'" not in csp
    script_src = csp.split("script-src", 1)[1].split(";", 1)[0]
    assert "unsafe-inline" not in script_src
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] in ("no-referrer", "same-origin")


def test_docs_get_their_own_policy(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "unsafe-inline" in csp.split("script-src", 1)[1].split(";", 1)[0]
    assert "https:" not in csp and "cdn" not in csp  # served from our own files
    assert r.headers["x-frame-options"] == "DENY"


def test_csp_connect_src_names_this_host_only_when_sane() -> None:
    assert "ws://example.org:8000 wss://example.org:8000" in content_security_policy(
        "example.org:8000"
    )
    assert "ws://[::1]:80" in content_security_policy("[::1]:80")
    hostile = content_security_policy("evil.org; script-src *")
    assert "evil" not in hostile and "connect-src 'self';" in hostile


def test_pages_have_no_inline_script_or_style(client: TestClient) -> None:
    for path in ("/", "/join"):
        html = client.get(path).text
        assert "<script>" not in html and " style=" not in html and "<style" not in html
        assert " onclick=" not in html.lower() and "javascript:" not in html.lower()


def test_every_reserved_diagram_height_has_its_css_rule() -> None:
    """The page reserves the diagram's height with a data attribute (no inline style); each
    height the server can name must have its rule in topbar.css, or nothing is reserved."""
    from app.domain.presets import PRESETS
    from app.paths import STATIC_DIR
    from app.web.pages import network_height

    css = (STATIC_DIR / "css" / "topbar.css").read_text()
    queries = [{"layers": "-".join(["2", str(w), "1"])} for w in range(1, 40)]
    queries += [{"preset": name} for name in PRESETS] + [{}]
    for q in queries:
        h = network_height(q)
        assert f'.network-plot[data-network-h="{h}"] {{ --network-h: {h}px; }}' in css, (q, h)


# ---- faults: the engine raising inside a step -----------------------------------------------


def test_a_step_that_raises_is_a_4xx_and_the_session_goes_on(
    client: TestClient, sid: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = TrainingSession.advance
    calls = {"n": 0}

    def flaky(self: TrainingSession, n: int) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ZeroDivisionError("boom")
        return real(self, n)

    monkeypatch.setattr(TrainingSession, "advance", flaky)
    before = client.get(f"/api/sessions/{sid}").json()["step"]
    with caplog.at_level(logging.ERROR):
        r = client.post(f"/api/sessions/{sid}/step", json={"count": 2})
    assert r.status_code == 422, r.text
    assert "ZeroDivisionError" in r.json()["detail"] and "boom" not in r.json()["detail"]
    assert any("training step failed" in rec.getMessage() for rec in caplog.records)
    assert sid not in caplog.text  # the session id is a capability: never logged
    r = client.post(f"/api/sessions/{sid}/step", json={"count": 2})
    assert r.status_code == 200 and r.json()["step"] == before + 2
