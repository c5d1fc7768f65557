"""Packed WebSocket frames (app/domain/codec.py): small on the wire, precise enough, never NaN."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from app.domain.codec import (
    FLOAT32_MAX,
    pack_array,
    pack_frame,
    round_sig,
    unpack_array,
    unpack_frame,
)
from app.main import create_app
from app.settings import Settings

SPIRAL_16 = {"preset": "spiral", "layers": [2, 16, 16, 16, 1]}


@pytest.fixture
def client() -> Iterator[TestClient]:
    """A client on a fresh app."""
    with TestClient(create_app(Settings())) as c:
        yield c


def session(client: TestClient, config: dict[str, Any]) -> str:
    """A new session's id."""
    r = client.post("/api/sessions", json=config)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def streamed(client: TestClient, sid: str, query: str = "?frames=packed") -> tuple[str, str]:
    """The text of the first frame and of the frame after one step, as the socket sent them."""
    with client.websocket_connect(f"/ws/sessions/{sid}{query}") as ws:
        first = ws.receive_text()
        ws.send_json({"type": "step", "count": 1})
        return first, ws.receive_text()


def strict(text: str) -> Any:
    """JSON that refuses NaN and Infinity, as a browser's JSON.parse does."""

    def refuse(token: str) -> Any:
        raise AssertionError(f"{token} on the wire")

    return json.loads(text, parse_constant=refuse)


def flat(arrays: list[Any]) -> np.ndarray:
    """Every number of a list of nested lists, in order."""
    return np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays])


# The article's frame: 900 bytes, plus issue 22's epoch, accuracy, test_accuracy and stopped
# (about 60 bytes as `"epoch":50,"accuracy":null,...`).
@pytest.mark.parametrize(("config", "limit"), [({"preset": "article"}, 960), (SPIRAL_16, 8192)])
def test_a_streamed_frame_fits_its_byte_bound(
    client: TestClient, config: dict[str, Any], limit: int
) -> None:
    sid = session(client, config)
    client.post(f"/api/sessions/{sid}/step", json={"count": 50})
    _, packed = streamed(client, sid)
    _, plain = streamed(client, sid, "")
    assert len(packed.encode()) <= limit, len(packed.encode())
    assert len(plain.encode()) > 1.5 * len(packed.encode())  # the bound is the encoding's doing
    frame = strict(packed)
    assert frame["type"] == "frame" and frame["packed"] is True
    assert all("f32" in w for w in frame["weights"] + frame["gradients"]["weights"])


def test_packed_frames_match_rest_which_keeps_full_precision(client: TestClient) -> None:
    sid = session(client, SPIRAL_16)
    _, text = streamed(client, sid)
    ws_frame = unpack_frame(strict(text))
    rest = client.get(f"/api/sessions/{sid}").json()
    assert ws_frame["step"] == rest["step"] == 1
    for key in ("weights", "biases"):
        exact = flat(rest[key])
        np.testing.assert_allclose(flat(ws_frame[key]), exact, rtol=2e-7, atol=1e-30)
        np.testing.assert_allclose(
            flat(ws_frame["gradients"][key]), flat(rest["gradients"][key]), rtol=2e-7
        )
        # REST carries the float64 values, not float32's: they differ past the 8th digit.
        assert np.any(exact != exact.astype(np.float32).astype(float))
    assert ws_frame["losses"][-1] == pytest.approx(rest["loss"], rel=1e-6)


def test_an_unpacked_socket_is_unchanged(client: TestClient) -> None:
    sid = session(client, {"preset": "article"})
    _, text = streamed(client, sid, "")
    frame = strict(text)
    rest = client.get(f"/api/sessions/{sid}").json()
    assert "packed" not in frame
    assert frame["weights"] == rest["weights"]
    assert frame["gradients"] == rest["gradients"]


def test_a_diverged_run_streams_no_nan_or_infinity(client: TestClient) -> None:
    # Linear units and a huge rate: the weights pass float32's range, then overflow.
    config = {
        "layers": [4, 5, 1],
        "activation": "linear",
        "output_activation": "linear",
        "loss": "mse",
        "optimizer": {"name": "sgd", "learning_rate": 1e6},
    }
    sid = session(client, config)
    lists = 0  # frames whose weights were too large for float32, sent as JSON lists
    with client.websocket_connect(f"/ws/sessions/{sid}?frames=packed") as ws:
        strict(ws.receive_text())
        for _ in range(200):
            ws.send_json({"type": "step", "count": 1})
            frame = strict(ws.receive_text())
            lists += any(isinstance(w, list) for w in frame["weights"])
            if frame["diverged"]:
                break
    assert frame["diverged"], "the run should diverge at this learning rate"
    assert lists >= 1
    unpacked = unpack_frame(frame)
    for value in flat(unpacked["weights"]):
        assert math.isnan(value) or math.isfinite(value)  # null (NaN here) or a finite number


def test_arrays_float32_cannot_hold_stay_lists() -> None:
    huge = [[1.0, 1e300], [2.0, -3.0]]
    assert pack_array(huge) is huge
    with_null = [[1.0, None]]
    assert pack_array(with_null) is with_null
    assert pack_array([[1.0, float("inf")]]) == [[1.0, float("inf")]]  # orjson writes null
    edge = [[FLOAT32_MAX, -FLOAT32_MAX]]
    assert unpack_array(pack_array(edge)) == edge


def test_round_sig_is_finite_or_null() -> None:
    assert round_sig(0.123456789012) == 0.1234568
    for big in (1.7976931348623157e308, -1.7976931348623157e308, 1.79769313e308):
        assert math.isfinite(round_sig(big) or math.nan)
        assert round_sig(big) == pytest.approx(big, rel=1e-6)
    assert round_sig(float("nan")) is None and round_sig(float("inf")) is None
    assert round_sig(None) is None
    assert round_sig(5e-324) == 5e-324


@given(
    st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=1, max_size=24),
    st.integers(1, 4),
)
def test_pack_then_unpack_keeps_seven_digits_and_never_invents_infinity(
    values: list[float], cols: int
) -> None:
    values = values[: len(values) // cols * cols] or values[:1]
    cols = cols if len(values) % cols == 0 else 1
    nested = [values[r : r + cols] for r in range(0, len(values), cols)]
    frame = {"type": "frame", "weights": [nested], "losses": values}
    back = unpack_frame(pack_frame(frame))
    got = back["weights"][0]
    if got is nested:  # not packable: sent as it is (orjson turns non-finite into null)
        assert any(not math.isfinite(v) or abs(v) > FLOAT32_MAX for v in values)
    else:
        a, b = flat([got]), np.asarray(values)
        assert np.all(np.isfinite(a))
        tiny = np.abs(b) < 1.2e-38  # float32 subnormals and below lose relative precision
        np.testing.assert_allclose(a[~tiny], b[~tiny], rtol=1e-7)
        np.testing.assert_allclose(a[tiny], b[tiny], atol=1.5e-45)
    for got_loss, want in zip(back["losses"], values, strict=True):
        if math.isfinite(want):
            assert got_loss is not None and math.isfinite(got_loss)
            assert got_loss == pytest.approx(want, rel=1e-6)
        else:
            assert got_loss is None


def test_plotly_is_the_pinned_partial_bundle(client: TestClient) -> None:
    from app.web.vendor import PLOTLY_SHA256, PLOTLY_VERSION, plotly_url

    r = client.get(plotly_url(), headers={"accept-encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert hashlib.sha256(r.content).hexdigest() == PLOTLY_SHA256
    assert f"(basic - minified) v{PLOTLY_VERSION}" in r.content[:200].decode()
    assert int(r.headers["content-length"]) < 450_000  # gzipped: under a third of the full build


def test_a_room_streams_packed_frames_to_who_asks_and_plain_ones_to_the_rest(
    client: TestClient,
) -> None:
    made = client.post("/api/rooms", json={"config": SPIRAL_16})
    assert made.status_code == 201, made.text
    code, token = made.json()["code"], made.json()["presenter_token"]
    with (
        client.websocket_connect(f"/ws/rooms/{code}") as presenter,
        client.websocket_connect(f"/ws/rooms/{code}?frames=packed") as packed,
    ):
        presenter.send_json({"type": "hello", "token": token})
        presenter.send_json({"type": "step", "count": 1})

        def stepped(ws: Any) -> str:
            for _ in range(50):
                text = str(ws.receive_text())
                msg = strict(text)
                if msg["type"] == "frame" and msg["step"] == 1:
                    return text
            raise AssertionError("no frame at step 1")

        plain_text, packed_text = stepped(presenter), stepped(packed)
    assert len(packed_text.encode()) <= 8192 < len(plain_text.encode())
    plain, unpacked = strict(plain_text), unpack_frame(strict(packed_text))
    np.testing.assert_allclose(flat(unpacked["weights"]), flat(plain["weights"]), rtol=2e-7)
