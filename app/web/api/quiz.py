"""GET /api/rooms/{code}/questions.csv: the presenter's export of the room's questions."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Header
from starlette.responses import Response

from app.domain.errors import ForbiddenError
from app.domain.questions import CSV_COLUMNS, csv_row
from app.web.api.rooms import ROOM_ERRORS, RoomDep
from app.web.schemas import ErrorOut

router = APIRouter(prefix="/api/rooms", tags=["rooms"])

TOKEN_HEADER = "X-Presenter-Token"
NOT_YOURS = f"only the presenter may export the answers: send the presenter token in {TOKEN_HEADER}"

CSV_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ROOM_ERRORS,
    200: {"content": {"text/csv": {}}},
    403: {"model": ErrorOut, "description": "no presenter token, or a wrong one"},
}


@router.get("/{code}/questions.csv", responses=CSV_RESPONSES)
async def questions_csv(
    room: RoomDep,
    token: Annotated[str | None, Header(alias=TOKEN_HEADER, max_length=256)] = None,
) -> Response:
    """The room's questions, oldest first, one row each (docs/api.md)."""
    if token is None or not room.check_token(token):
        raise ForbiddenError(NOT_YOURS)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for q in room.quiz.questions.values():
        writer.writerow(csv_row(q))
    headers = {
        "Content-Disposition": f'attachment; filename="questions-{room.code}.csv"',
        "Cache-Control": "no-store",
    }
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
