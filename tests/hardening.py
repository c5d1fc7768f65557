"""Shared helpers of the hardening tests: strict JSON, hostile values, a healthy-server check."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import strategies as st

FIELDS = [
    "preset", "layers", "activation", "output_activation", "loss", "optimizer", "name",
    "learning_rate", "momentum", "beta1", "beta2", "eps", "batch_size", "full_batch", "l2",
    "init", "bias", "seed", "dataset", "samples", "noise", "test_fraction", "standardize", "x",
    "y", "csv", "targets", "feature_names", "target_names", "count", "type", "steps_per_frame",
    "fps", "token", "selection", "config", "scale_targets",
]  # fmt: skip
WORDS = [
    "article", "xor", "spiral", "houses", "sigmoid", "relu", "adam", "sgd", "momentum", "bce",
    "step", "play", "pause", "reset", "set", "hello", "select", "a,b\n1,2", "",
]  # fmt: skip


def strict_json(text: str | bytes) -> Any:
    """Parse JSON refusing NaN and Infinity, which Python's parser would otherwise accept."""

    def refuse(token: str) -> None:
        raise AssertionError(f"{token} on the wire")

    return json.loads(text, parse_constant=refuse)


def hostile_scalars() -> st.SearchStrategy[Any]:
    """Numbers at and past every edge, strings with lone surrogates and control characters."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.sampled_from([0, -1, 1, 2**31, 2**63, 10**30, 10**300]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([1e308, -1e308, 5e-324, float("nan"), float("inf")]),
        st.text(max_size=20),
        st.sampled_from(WORDS),
        st.sampled_from(["\ud800", "\udfff x", "\x00", "<script>alert(1)</script>"]),
    )


def hostile_json(max_leaves: int = 25) -> st.SearchStrategy[Any]:
    """Random JSON values whose keys are mostly real field names: they reach the validators."""
    keys = st.one_of(st.sampled_from(FIELDS), st.text(max_size=8))
    return st.recursive(
        hostile_scalars(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=5), st.dictionaries(keys, inner, max_size=6)
        ),
        max_leaves=max_leaves,
    )


def dumps(value: Any) -> str:
    """JSON text as a hostile client may write it: NaN, Infinity and lone surrogates kept."""
    return json.dumps(value, allow_nan=True, ensure_ascii=True)


def deep(depth: int) -> str:
    """A deeply nested JSON array."""
    return "[" * depth + "]" * depth


def assert_healthy(client: TestClient) -> None:
    """The server answers, and a normal user can still create a session and step it."""
    assert client.get("/healthz").json() == {"status": "ok", "peer": None}
    r = client.post("/api/sessions", json={"preset": "article"})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    r = client.post(f"/api/sessions/{sid}/step", json={"count": 3})
    assert r.status_code == 200, r.text
    assert r.json()["step"] == 3
    assert client.delete(f"/api/sessions/{sid}").status_code == 204


def assert_clean_error(status: int, body: bytes) -> None:
    """A 4xx answer: JSON with a `detail`, strictly parseable."""
    assert 400 <= status < 500, (status, body[:300])
    payload = strict_json(body)
    assert payload.get("detail"), payload
