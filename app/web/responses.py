"""JSON answers encoded once with orjson (NaN and Infinity become null)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from app.domain.codec import encode


def json_response(
    payload: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Skip FastAPI's re-validation of large frames: they are built by the session already."""
    return Response(
        encode(payload), status_code=status_code, media_type="application/json", headers=headers
    )
