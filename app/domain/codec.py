"""The codec of every frame and message: JSON that never carries NaN or Infinity, and the
packed frame encoding a page asks for.

The packed frame encoding a page asks for (`?frames=packed`): small frames on the wire.

A [2,16,16,16,1] network's frame holds 1,218 weights, biases and gradients. As JSON numbers
with 17 significant digits it is 26 KB; even rounded to 3 digits, decimals stay near 10 KB.
Packed, every finite array travels as the base64 of its little-endian float32 values
(`{"f32": "...", "shape": [rows, cols]}`): 5.3 characters a number, 7 significant digits,
more than the page shows (4) or draws. Losses stay JSON numbers, rounded to 7 significant
digits (the curve's readout shows 6). REST and unpacked sockets keep full precision.

float32 cannot hold what a diverging run may reach (over 3.4e38) nor NaN: such an array stays
a JSON list, with null for what is not finite, so nothing is ever rounded into Infinity.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np
import orjson

from app.domain.errors import InvalidError


def encode(payload: Any) -> str:
    """JSON text of a payload; orjson writes NaN and Infinity as null, so none reach the wire."""
    try:
        return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    except orjson.JSONEncodeError as exc:
        # Client-supplied values (a room's selection) may hold what JSON cannot carry, such as
        # an integer over 64 bits: answered as a bad message, not a crash.
        raise InvalidError(f"cannot be sent as JSON: {exc}") from exc


FLOAT32_MAX = float(np.finfo(np.float32).max)
LOSS_DIGITS = 7
PACKED_KEYS = ("weights", "biases")  # and the same two under "gradients"


def round_sig(x: float | None, digits: int = LOSS_DIGITS) -> float | None:
    """x to `digits` significant digits; None (JSON null) when not finite, never Infinity."""
    if x is None or not math.isfinite(x):
        return None
    rounded = float(f"{x:.{digits}g}")
    # Rounding up near the largest double would overflow; keep the value as it is then.
    return rounded if math.isfinite(rounded) else x


def pack_array(values: Any) -> Any:
    """A nested list of numbers as {"f32", "shape"}, or unchanged when float32 cannot hold it."""
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return values  # holds null (a non-finite value): stays a list
    if a.size and not (np.isfinite(a).all() and float(np.abs(a).max()) <= FLOAT32_MAX):
        return values
    raw = a.astype("<f4").tobytes()
    return {"f32": base64.b64encode(raw).decode("ascii"), "shape": list(a.shape)}


def pack_frame(frame: dict[str, Any]) -> dict[str, Any]:
    """A copy of a frame with its arrays packed and its losses rounded (the frame is unchanged)."""
    out = dict(frame)
    for key in PACKED_KEYS:
        if isinstance(frame.get(key), list):
            out[key] = [pack_array(a) for a in frame[key]]
    # The optimizer's real next step would add as much again as the gradients: a packed frame
    # leaves it out, and a page whose "next update" view is on asks GET .../trace for it.
    if out.get("update") is not None:
        out["update"] = None
    grads = frame.get("gradients")
    if isinstance(grads, dict):
        out["gradients"] = {
            k: [pack_array(a) for a in v] if k in PACKED_KEYS and isinstance(v, list) else v
            for k, v in grads.items()
        }
    for key in ("losses", "test_losses"):
        if isinstance(frame.get(key), list):
            out[key] = [round_sig(v) for v in frame[key]]
    out["packed"] = True
    return out


def unpack_array(value: Any) -> Any:
    """The inverse of pack_array (for tests and Python clients): nested lists of floats."""
    if not isinstance(value, dict) or "f32" not in value:
        return value
    flat = np.frombuffer(base64.b64decode(value["f32"]), dtype="<f4").astype(np.float64)
    return flat.reshape(value["shape"]).tolist()


def unpack_frame(frame: dict[str, Any]) -> dict[str, Any]:
    """A packed frame with its arrays as nested lists again."""
    out = dict(frame)
    for key in PACKED_KEYS:
        if isinstance(frame.get(key), list):
            out[key] = [unpack_array(a) for a in frame[key]]
    grads = frame.get("gradients")
    if isinstance(grads, dict):
        out["gradients"] = {
            k: [unpack_array(a) for a in v] if isinstance(v, list) else v for k, v in grads.items()
        }
    out.pop("packed", None)
    return out
