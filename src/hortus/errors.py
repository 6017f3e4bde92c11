"""Domain errors raised by services; each API family renders them in its own error format."""

from __future__ import annotations


class HortusError(Exception):
    """Base of every error a service raises on purpose. ``status`` is the HTTP status it maps to."""

    status: int = 400
    error: str = "bad request"

    def __init__(
        self, message: str, *, error: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if error is not None:
            self.error = error
        if status is not None:
            self.status = status


class InvalidInput(HortusError):
    status = 400
    error = "invalid input"


class NotAuthenticated(HortusError):
    status = 401
    error = "not authenticated"


class Forbidden(HortusError):
    status = 403
    error = "forbidden"


class NotFound(HortusError):
    status = 404
    error = "not found"


class PayloadTooLarge(HortusError):
    status = 413
    error = "payload too large"


class UnsupportedMedia(HortusError):
    status = 415
    error = "unsupported media type"


class Unprocessable(HortusError):
    status = 422
    error = "unprocessable"


class VersionMismatch(Unprocessable):
    error = "version mismatch"


class QuotaExceeded(HortusError):
    status = 429
    error = "too many requests"

    def __init__(self, message: str, *, api: str, limit: int, reset_seconds: int) -> None:
        super().__init__(message)
        self.api = api
        self.limit = limit
        self.reset_seconds = reset_seconds
