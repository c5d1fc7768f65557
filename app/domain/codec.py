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
import binascii
import math
from collections.abc import Sequence
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


Packed32 = tuple[memoryview, int] | None  # float32 bytes and the flat index they start at


def _float32_bytes(views: Views, done: dict[tuple[int, int], Packed32]) -> Packed32:
    """The float32 bytes `views` are slices of, or None if float32 cannot hold its span.

    A streamed frame's Views share one flat vector (theta, then the gradients): one check and
    one conversion of the whole vector serve all of them; only when that fails is each half
    checked on its own, so a bad gradient leaves the weights packed, as array by array would.
    """
    flat = views.flat
    whole = (id(flat), -1)
    if whole not in done:
        done[whole] = (_f32(flat), 0) if _packable(flat) else None
    if done[whole] is not None:
        return done[whole]
    lo, hi = views.span
    key = (id(flat), lo)
    if key not in done:
        part = flat[lo:hi]
        done[key] = (_f32(part), lo) if _packable(part) else None
    return done[key]


def _f32(a: np.ndarray) -> memoryview:
    """Little-endian float32 bytes of `a`, as a view to slice without copying."""
    return memoryview(a.astype("<f4").data).cast("B")


def pack_arrays(
    arrays: Sequence[np.ndarray], done: dict[tuple[int, int], Packed32] | None = None
) -> list[Any]:
    """Float64 arrays packed as pack_array packs their nested lists, bit for bit, without lists.

    Views of one flat vector (frames.frame(arrays=True)) share one check and one float32
    conversion of that vector (`done` keeps it for the other Views of the same frame); each
    array is then the base64 of a slice of its bytes, made without making the array itself.
    """
    if isinstance(arrays, Views):
        raw = _float32_bytes(arrays, {} if done is None else done)
        if raw is not None:
            mv, base = raw
            b64 = binascii.b2a_base64
            return [
                {
                    "f32": b64(mv[4 * (at - base) : 4 * (at - base + n)], newline=False).decode(
                        "ascii"
                    ),
                    "shape": list(shape),
                }
                for at, n, shape in arrays.layout
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

    Arrays come as nested lists (a frame for JSON) or as Views of float64 arrays (a streamed
    frame, frames.frame(arrays=True)): both pack to the same bytes.
    """
    streamed = _pack_streamed(frame)
    if streamed is not None:
        return streamed
    out = dict(frame)
    done: dict[tuple[int, int], Packed32] = {}  # the frame's float32 bytes, converted once
    for key in PACKED_KEYS:
        if isinstance(frame.get(key), tuple | Views):
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
    _round_losses(frame, out)
    out["packed"] = True
    return out


def _pack_streamed(frame: dict[str, Any]) -> dict[str, Any] | None:
    """pack_frame's result for a streamed frame whose every value float32 holds, in one pass:
    one check and one conversion of its one flat vector, each array a base64 of a slice of it
    (the path a playing stream takes every frame). None: any other frame (the general path)."""
    W, b, grads = frame.get("weights"), frame.get("biases"), frame.get("gradients")
    if not (isinstance(W, Views) and isinstance(b, Views) and isinstance(grads, dict)):
        return None
    gW, gb = grads.get("weights"), grads.get("biases")
    flat = W.flat
    if not (
        isinstance(gW, Views) and isinstance(gb, Views) and len(grads) == 2
        and b.flat is flat and gW.flat is flat and gb.flat is flat and _packable(flat)
    ):  # fmt: skip
        return None
    mv = _f32(flat)
    b64 = binascii.b2a_base64
    packed = [
        [
            {
                "f32": b64(mv[4 * at : 4 * (at + n)], newline=False).decode("ascii"),
                "shape": [*shape],
            }
            for at, n, shape in views.layout
        ]
        for views in (W, b, gW, gb)
    ]
    out = dict(frame)
    out["weights"], out["biases"] = packed[0], packed[1]
    out["gradients"] = {"weights": packed[2], "biases": packed[3]}
    if out.get("update") is not None:
        out["update"] = None  # as pack_frame: a packed frame never carries the next update
    _round_losses(frame, out)
    out["packed"] = True
    return out


def _round_losses(frame: dict[str, Any], out: dict[str, Any]) -> None:
    """The losses of `frame` rounded to LOSS_DIGITS into `out` (null where not finite)."""
    for key in ("losses", "test_losses"):
        values = frame.get(key)
        if isinstance(values, list):
            out[key] = [round_sig(v) for v in values]


def _pack_field(key: str, value: Any, done: dict[tuple[int, int], Packed32]) -> Any:
    """A gradients field packed when it is one of PACKED_KEYS' arrays."""
    if key in PACKED_KEYS and isinstance(value, tuple | Views):
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
