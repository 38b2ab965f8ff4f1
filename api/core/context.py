"""What the current request or job is, for code below the HTTP layer (audit rows, log lines)."""

from __future__ import annotations

from contextvars import ContextVar

# Set by the HTTP middleware for each request; empty in workers and commands.
request_id: ContextVar[str] = ContextVar("request_id", default="")
