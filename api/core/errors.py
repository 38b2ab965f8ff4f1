"""The domain error tree. Services raise these; one handler turns them into the JSON envelope."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A business rule refused the operation. Carries its HTTP status and a stable dotted code."""

    status: int = 400
    code: str = "request.invalid"
    message: str = "The request could not be processed."

    def __init__(
        self, code: str | None = None, message: str | None = None, *, details: Any = None
    ) -> None:
        self.code = code or self.code
        self.message = message or self.message
        self.details = details
        super().__init__(f"{self.code}: {self.message}")

    def headers(self) -> dict[str, str]:
        """HTTP headers the answer carries besides the body."""
        return {}

    def to_body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


class BadRequest(DomainError):
    status = 400


class Unauthorized(DomainError):
    status = 401
    code = "auth.unauthorized"
    message = "A valid token is required."


class Forbidden(DomainError):
    status = 403
    code = "auth.forbidden"
    message = "You are not allowed to do this."


class NotFound(DomainError):
    status = 404
    code = "not_found"
    message = "Not found."


class Conflict(DomainError):
    status = 409
    code = "conflict"
    message = "The request conflicts with the current state."


class Gone(DomainError):
    status = 410
    code = "gone"
    message = "This no longer exists."


class InvalidInput(DomainError):
    status = 422
    code = "request.invalid"
    message = "The request is not valid."


class TooLarge(DomainError):
    status = 413
    code = "request.too_large"
    message = "The request body is too large."


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"
    message = "Too many requests; try again later."

    def __init__(
        self,
        code: str | None = None,
        message: str | None = None,
        *,
        retry_after_s: int = 60,
        details: Any = None,
    ) -> None:
        super().__init__(code, message, details=details)
        self.retry_after_s = max(1, retry_after_s)

    def headers(self) -> dict[str, str]:
        return {"retry-after": str(self.retry_after_s)}


class UpstreamError(DomainError):
    status = 502
    code = "upstream.error"
    message = "A platform we depend on did not answer as expected."
