"""REST API: sessions, catalogue, limits and errors, through FastAPI's TestClient."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support import wait_for

from app.domain.codec import encode
from app.domain.limits import check_config_limits, dataset_rows
from app.domain.protocol import CsvDataset, Frame, SessionConfig
from app.main import STATIC_DIR, create_app
from app.settings import Settings
from app.web.vendor import plotly_url

DIVERGING = {
    "layers": [4, 5, 1],
    "activation": "linear",
    "output_activation": "linear",
    "loss": "mse",
    "optimizer": {"name": "sgd", "learning_rate": 1e6},
}


def create(client: TestClient, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST /api/sessions, asserting 201."""
    r = client.post("/api/sessions", json=config if config is not None else {"preset": "article"})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def strict_json(text: str) -> Any:
    """Parse JSON refusing NaN and Infinity, which Python's parser would otherwise accept."""

    def refuse(token: str) -> None:
        raise AssertionError(f"{token} on the wire")

    return json.loads(text, parse_constant=refuse)


def test_healthz_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "peer": None}
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/api/sessions/{session_id}/step" in spec["paths"]
    assert spec["paths"]["/api/sessions"]["post"]["requestBody"]["content"]["application/json"][
        "examples"
    ]


def test_presets_and_datasets(client: TestClient) -> None:
    presets = client.get("/api/presets").json()
    article = next(p for p in presets if p["name"] == "article")
    assert article["config"]["layers"] == [4, 5, 1]
    assert article["title"]
    datasets = client.get("/api/datasets").json()
    names = {d["name"] for d in datasets}
    assert {"houses", "spiral"} <= names
    for d in datasets:
        assert set(d) >= {"name", "kind", "inputs", "outputs", "parameters"}


def test_create_answers_id_config_and_the_first_frame(client: TestClient) -> None:
    body = create(client)
    assert len(body["id"]) >= 20
    assert body["config"]["layers"] == [4, 5, 1]
    frame = body["frame"]
    Frame.model_validate(frame)
    assert frame["step"] == 0 and frame["first_step"] == 0
    assert frame["losses"] == [frame["loss"]]
    assert [len(w) for w in frame["weights"]] == [4, 5]
    assert [len(w[0]) for w in frame["weights"]] == [5, 1]
    assert [len(g) for g in frame["gradients"]["weights"]] == [4, 5]
    assert frame["playing"] is False and frame["diverged"] is False


def test_ids_are_unguessable_and_distinct(client: TestClient) -> None:
    ids = {create(client)["id"] for _ in range(5)}
    assert len(ids) == 5


def test_step_reset_get(client: TestClient) -> None:
    sid = create(client)["id"]
    first = client.get(f"/api/sessions/{sid}").json()
    r = client.post(f"/api/sessions/{sid}/step", json={"count": 25})
    assert r.status_code == 200
    frame = r.json()
    Frame.model_validate(frame)
    assert frame["step"] == 25
    assert frame["first_step"] == 1 and len(frame["losses"]) == 25
    assert frame["losses"][-1] == frame["loss"]
    assert frame["loss"] < first["loss"]  # the article's network learns
    assert client.get(f"/api/sessions/{sid}").json()["step"] == 25
    reset = client.post(f"/api/sessions/{sid}/reset").json()
    assert reset["step"] == 0
    assert reset["weights"] == first["weights"]  # same seed: bit for bit
    assert reset["loss"] == first["loss"]


def test_same_config_same_run(client: TestClient) -> None:
    a, b = create(client)["id"], create(client)["id"]
    fa = client.post(f"/api/sessions/{a}/step", json={"count": 7}).json()
    fb = client.post(f"/api/sessions/{b}/step", json={"count": 7}).json()
    assert fa["weights"] == fb["weights"] and fa["losses"] == fb["losses"]


def test_patch_keeps_weights_and_step(client: TestClient) -> None:
    sid = create(client)["id"]
    before = client.post(f"/api/sessions/{sid}/step", json={"count": 3}).json()
    r = client.patch(
        f"/api/sessions/{sid}", json={"optimizer": {"name": "sgd", "learning_rate": 0.05}}
    )
    assert r.status_code == 200, r.text
    frame = r.json()
    assert frame["step"] == 3 and frame["weights"] == before["weights"]
    assert frame["learning_rate"] == 0.05
    bad = client.patch(f"/api/sessions/{sid}", json={"l2": -1})
    assert bad.status_code == 422


def test_delete_then_404(client: TestClient) -> None:
    sid = create(client)["id"]
    assert client.delete(f"/api/sessions/{sid}").status_code == 204
    assert client.get(f"/api/sessions/{sid}").status_code == 404
    assert client.delete(f"/api/sessions/{sid}").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "", None),
        ("POST", "/step", {"count": 1}),
        ("POST", "/reset", None),
        ("PATCH", "", {"l2": 0.1}),
        ("DELETE", "", None),
        ("GET", "/chain?layer=0&i=0&j=0", None),
        ("GET", "/gradcheck", None),
        ("GET", "/export", None),
        ("GET", "/data", None),
        ("GET", "/matrix", None),
    ],
)
def test_unknown_ids_are_404(
    client: TestClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    r = client.request(method, f"/api/sessions/no-such-id{path}", json=body)
    assert r.status_code == 404
    assert "session" in r.json()["detail"]


def test_chain_matrix_data_gradcheck_export(client: TestClient) -> None:
    sid = create(client)["id"]
    frame = client.post(f"/api/sessions/{sid}/step", json={"count": 2}).json()
    chain = client.get(f"/api/sessions/{sid}/chain", params={"layer": 1, "i": 2, "j": 0}).json()
    assert chain["name"] == "W_ho[2,0]"
    assert chain["gradient"] == pytest.approx(frame["gradients"]["weights"][1][2][0])
    bias = client.get(f"/api/sessions/{sid}/chain", params={"kind": "bias", "layer": 0, "j": 3})
    assert bias.status_code == 200, bias.text
    assert bias.json()["gradient"] == pytest.approx(frame["gradients"]["biases"][0][3])
    matrix = client.get(f"/api/sessions/{sid}/matrix").json()
    assert [m["name"] for m in matrix] == ["W_ih", "W_ho"]
    data = client.get(f"/api/sessions/{sid}/data").json()
    assert len(data["x"]) == 5 and len(data["x"][0]) == 4
    check = client.get(f"/api/sessions/{sid}/gradcheck")
    assert check.status_code == 200 and check.json()
    export = client.get(f"/api/sessions/{sid}/export")
    assert export.status_code == 200
    assert export.headers["content-disposition"].startswith("attachment;")
    assert ".json" in export.headers["content-disposition"]
    dump = export.json()
    assert dump["config"]["layers"] == [4, 5, 1]
    assert dump["weights"] == frame["weights"]
    assert len(dump["history"]["loss"]) == 3  # steps 0, 1, 2


@pytest.mark.parametrize(
    "params",
    [
        {"layer": 5, "i": 0, "j": 0},  # no such layer
        {"layer": 0, "i": 9, "j": 0},  # no such neuron
        {"layer": 0, "j": 0},  # a weight needs i
        {"layer": 0, "i": 0, "j": 0, "kind": "edge"},
        {"layer": "x", "i": 0, "j": 0},
    ],
)
def test_bad_chain_queries_are_422(client: TestClient, params: dict[str, Any]) -> None:
    sid = create(client)["id"]
    r = client.get(f"/api/sessions/{sid}/chain", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({"layers": [4, 5, 5, 5, 5, 5, 5, 5, 1]}, "layers"),  # 9 layers > 8
        ({"layers": [4, 65, 1]}, "layers[1]"),
        ({"preset": "spiral", "dataset": {"name": "spiral", "samples": 5000}}, "dataset"),
        ({"layers": [1, 3, 1], "dataset": {"x": [[0.0]] * 1001, "y": [0.0] * 1001}}, "dataset"),
        ({"preset": "spiral", "batch_size": 5000}, "batch_size"),
        ({"preset": "nope"}, "preset"),
        ({"activation": "softmax"}, "activation"),
        ({"optimizer": {"name": "sgd", "learning_rate": -1}}, "learning_rate"),
        ({"layers": [2, 3, 1], "dataset": {"x": [[0, 1], [1]], "y": [0, 1]}}, "row"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_bad_configs_are_422_with_a_message(
    client: TestClient, config: dict[str, Any], needle: str
) -> None:
    r = client.post("/api/sessions", json=config)
    assert r.status_code == 422, r.text
    assert needle in json.dumps(r.json()["detail"])


def test_malformed_body_is_422(client: TestClient) -> None:
    r = client.post(
        "/api/sessions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422


def test_step_count_limits(client: TestClient) -> None:
    sid = create(client)["id"]
    over = client.post(f"/api/sessions/{sid}/step", json={"count": 10_001})
    assert over.status_code == 422
    assert "10000" in over.json()["detail"] and "count" in over.json()["detail"]
    assert client.post(f"/api/sessions/{sid}/step", json={"count": 0}).status_code == 422
    assert client.get(f"/api/sessions/{sid}").json()["step"] == 0  # nothing ran


def test_settings_limits_apply() -> None:
    settings = Settings(max_layers=3, max_neurons=6, max_samples=100, max_steps_per_request=10)
    with TestClient(create_app(settings)) as c:
        r = c.post("/api/sessions", json={"layers": [4, 5, 5, 1]})
        assert r.status_code == 422 and "limit of 3" in r.json()["detail"]
        r = c.post("/api/sessions", json={"layers": [4, 7, 1]})
        assert r.status_code == 422 and "limit of 6" in r.json()["detail"]
        r = c.post("/api/sessions", json={"preset": "xor"})  # 200 samples > 100
        assert r.status_code == 422 and "100" in r.json()["detail"]
        sid = create(c)["id"]
        assert c.post(f"/api/sessions/{sid}/step", json={"count": 11}).status_code == 422
        assert c.post(f"/api/sessions/{sid}/step", json={"count": 10}).status_code == 200


def test_session_cap_is_429() -> None:
    with TestClient(create_app(Settings(max_sessions=2))) as c:
        first = create(c)["id"]
        create(c)
        r = c.post("/api/sessions", json={"preset": "article"})
        assert r.status_code == 429
        assert "at most 2" in r.json()["detail"]
        c.delete(f"/api/sessions/{first}")
        create(c)  # room again


def test_diverged_run_never_sends_nan(client: TestClient) -> None:
    sid = create(client, DIVERGING)["id"]
    r = client.post(f"/api/sessions/{sid}/step", json={"count": 200})
    assert r.status_code == 200
    frame = strict_json(r.text)
    assert frame["diverged"] is True
    assert frame["step"] < 200  # the run stopped
    assert None in frame["losses"] or frame["loss"] is None
    again = client.post(f"/api/sessions/{sid}/step", json={"count": 5})
    assert strict_json(again.text)["step"] == frame["step"]  # a diverged run does not move
    strict_json(client.get(f"/api/sessions/{sid}/export").text)
    strict_json(client.get(f"/api/sessions/{sid}").text)


def test_encode_guard_turns_non_finite_into_null() -> None:
    text = encode({"a": float("nan"), "b": [float("inf"), -float("inf"), 1.5]})
    assert strict_json(text) == {"a": None, "b": [None, None, 1.5]}


def test_idle_sessions_expire() -> None:
    with TestClient(create_app(Settings(session_idle_seconds=0.2))) as c:
        sid = create(c)["id"]
        # Poll more slowly than the idle time: each GET would otherwise keep the session alive.
        wait_for(
            lambda: c.get(f"/api/sessions/{sid}").status_code == 404,
            "the idle session to be dropped",
            poll=0.3,
        )


def test_plotly_is_served_gzipped_and_cached(client: TestClient) -> None:
    # The versioned URL the pages use is cached for a year; the bare one is revalidated.
    url = plotly_url()
    r = client.get(url, headers={"accept-encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert "max-age=31536000" in r.headers["cache-control"]
    bare = client.get("/vendor/plotly.min.js", headers={"accept-encoding": "gzip"})
    assert bare.headers["cache-control"] == "no-cache" and bare.content == r.content
    assert "javascript" in r.headers["content-type"]
    assert b"plotly" in r.content[:2000].lower()  # httpx decoded the gzip
    raw = client.get(url, headers={"accept-encoding": "identity"})
    assert "content-encoding" not in raw.headers
    assert raw.content == r.content
    assert len(gzip.compress(raw.content)) < len(raw.content) / 2
    again = client.get(url, headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKPROP_ALLOWED_ORIGINS", "https://a.example/, https://b.example")
    monkeypatch.setenv("BACKPROP_MAX_SESSIONS", "7")
    s = Settings()
    assert s.allowed_origins == ["https://a.example", "https://b.example"]
    assert s.max_sessions == 7
    monkeypatch.setenv("BACKPROP_ALLOWED_ORIGINS", '["https://c.example"]')
    assert Settings().allowed_origins == ["https://c.example"]


def test_check_config_limits_counts_csv_rows() -> None:
    csv = "a,b,y\n" + "".join(f"{i},{i},{i % 2}\n" for i in range(12)) + "\n"
    assert dataset_rows(CsvDataset(csv=csv)) == 12
    config = SessionConfig(layers=[2, 3, 1], dataset=CsvDataset(csv=csv))
    check_config_limits(config, Settings(max_samples=12))
    with pytest.raises(ValueError, match="dataset: 12 samples"):
        check_config_limits(config, Settings(max_samples=11))


def test_static_files_are_mounted(client: TestClient) -> None:
    files = sorted(p for p in STATIC_DIR.rglob("*") if p.is_file())
    if not files:
        pytest.skip("no static files in this checkout")
    path = files[0].relative_to(STATIC_DIR).as_posix()
    r = client.get(f"/static/{path}")
    assert r.status_code == 200 and r.content == files[0].read_bytes()
    assert client.get("/static/no-such-file.js").status_code == 404


def test_a_bug_inside_the_engine_is_a_500_not_a_client_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only errors raised on purpose are 4xx: a NumPy failure is the server's, with no internals."""
    from app.engine import chain

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("shapes (5,5) and (4,1) not aligned")

    monkeypatch.setattr(chain, "breakdown", broken)
    with TestClient(create_app(Settings()), raise_server_exceptions=False) as c:
        sid = create(c)["id"]
        ok = c.get(f"/api/sessions/{sid}/chain", params={"layer": 0, "i": 9, "j": 0})
        assert ok.status_code == 422 and "i must be between 0 and 3" in ok.json()["detail"]
        r = c.get(f"/api/sessions/{sid}/chain", params={"layer": 0, "i": 0, "j": 0})
        assert r.status_code == 500
        assert r.json() == {"detail": "internal server error"}  # nothing of NumPy's message


def test_client_errors_carry_their_own_status() -> None:
    from app.domain.errors import (
        ClientError,
        ForbiddenError,
        FullError,
        InvalidError,
        NotFoundError,
    )

    statuses = {InvalidError: 422, ForbiddenError: 403, NotFoundError: 404, FullError: 429}
    for kind, status in statuses.items():
        err = kind("why, and what to do")
        assert isinstance(err, ClientError) and err.status == status
        assert str(err) == "why, and what to do"
