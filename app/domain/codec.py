"""The JSON codec of every frame and message: one encoding, never NaN or Infinity."""

from __future__ import annotations

from typing import Any

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
