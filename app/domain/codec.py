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
from app.domain.frames import Views, nested


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


def _packable(a: np.ndarray) -> bool:
    """Whether float32 holds every value of `a`: finite and within its range (NaN fails `<=`)."""
    return not a.size or float(np.abs(a).max()) <= FLOAT32_MAX


def _float32_bytes(flat: np.ndarray, done: dict[int, bytes | None]) -> bytes | None:
    """`flat` as little-endian float32 bytes, or None if float32 cannot hold it; once per frame."""
    key = id(flat)
    if key not in done:
        done[key] = flat.astype("<f4").tobytes() if _packable(flat) else None
    return done[key]


def pack_arrays(
    arrays: tuple[np.ndarray, ...], done: dict[int, bytes | None] | None = None
) -> list[Any]:
    """Float64 arrays packed as pack_array packs their nested lists, bit for bit, without lists.

    Views of one flat vector (frames.frame(arrays=True)) share one check and one float32
    conversion of that vector (`done` keeps it for the other Views of the same frame); each
    array is then a slice of its bytes.
    """
    raw = (
        _float32_bytes(arrays.flat, {} if done is None else done)
        if isinstance(arrays, Views)
        else None
    )
    if isinstance(arrays, Views) and raw is not None:
        b64 = base64.b64encode
        return [
            {"f32": b64(raw[4 * at : 4 * (at + a.size)]).decode("ascii"), "shape": list(a.shape)}
            for a, at in zip(arrays, arrays.offsets, strict=True)
        ]
    return [_pack_one(np.asarray(a, dtype=np.float64)) for a in arrays]


def _pack_one(a: np.ndarray) -> Any:
    """One float64 array packed, or as nested lists (null where not finite) when it cannot be."""
    if not _packable(a):
        return nested(a)
    raw = a.astype("<f4").tobytes()
    return {"f32": base64.b64encode(raw).decode("ascii"), "shape": list(a.shape)}


def pack_frame(frame: dict[str, Any]) -> dict[str, Any]:
    """A copy of a frame with its arrays packed and its losses rounded (the frame is unchanged).

    Arrays come as nested lists (a frame for JSON) or as tuples of float64 arrays (a streamed
    frame, frames.frame(arrays=True)): both pack to the same bytes.
    """
    out = dict(frame)
    done: dict[int, bytes | None] = {}  # theta's and the gradients' float32 bytes
    for key in PACKED_KEYS:
        if isinstance(frame.get(key), tuple):
            out[key] = pack_arrays(frame[key], done)
        elif isinstance(frame.get(key), list):
            out[key] = [pack_array(a) for a in frame[key]]
    # The optimizer's real next step would add as much again as the gradients: a packed frame
    # leaves it out, and a page whose "next update" view is on asks GET .../trace for it.
    if out.get("update") is not None:
        out["update"] = None
    grads = frame.get("gradients")
    if isinstance(grads, dict):
        out["gradients"] = {k: _pack_field(k, v, done) for k, v in grads.items()}
    for key in ("losses", "test_losses"):
        if isinstance(frame.get(key), list):
            out[key] = [round_sig(v) for v in frame[key]]
    out["packed"] = True
    return out


def _pack_field(key: str, value: Any, done: dict[int, bytes | None]) -> Any:
    """A gradients field packed when it is one of PACKED_KEYS' arrays."""
    if key in PACKED_KEYS and isinstance(value, tuple):
        return pack_arrays(value, done)
    if key in PACKED_KEYS and isinstance(value, list):
        return [pack_array(a) for a in value]
    return value


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
