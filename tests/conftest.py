"""Suite-wide rules: no blocking read on a test WebSocket waits for ever."""

from __future__ import annotations

from typing import Any

import anyio
from starlette.testclient import WebSocketTestSession
from support import DEADLINE


def _receive_with_deadline(self: WebSocketTestSession) -> Any:
    """Starlette's receive, failing after DEADLINE s instead of hanging the suite."""

    async def receive() -> Any:
        with anyio.fail_after(DEADLINE):
            return await self._send_rx.receive()

    return self.portal.call(receive)


# Every receive_json / receive_text of every test goes through receive(): one place to bound.
WebSocketTestSession.receive = _receive_with_deadline  # type: ignore[method-assign]
