"""What a client did wrong, or cannot have now: raised on purpose, answered by one handler.

Anything else that escapes a request is a bug: logged with its traceback, answered 500.
"""

from __future__ import annotations


class ClientError(Exception):
    """A request the server refuses on purpose; `status` is the HTTP answer, the text its detail."""

    status = 400

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        """`message` is shown to the client: say what is wrong and what to do."""
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def __str__(self) -> str:
        """The message alone."""
        return self.message


class InvalidError(ClientError, ValueError):
    """The input cannot be used (a bad field, a limit exceeded): 422."""

    status = 422


class ForbiddenError(ClientError):
    """This client may not do that (a participant driving a room, a wrong token): 403."""

    status = 403


class NotFoundError(ClientError):
    """No such session or room (it may have expired): 404."""

    status = 404


class FullError(ClientError):
    """The server holds as many as it allows right now: 429."""

    status = 429


class UnavailableError(ClientError):
    """The run is between two peers (its owner died, another takes it over): 503, retry soon."""

    status = 503
