"""The audit log: one row per sensitive operation (admin changes, merges, manual adjustments …)."""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from . import context
from .models import AuditLog


def actor_of(kind: str, subject_id: int | None = None) -> str:
    """The actor string for a caller: `actor_of("staff", 12)` → "staff:12", `actor_of("system")`."""
    return kind if subject_id is None else f"{kind}:{subject_id}"


async def record(
    *,
    brand_id: int | None,
    actor: str,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
    connection: BaseDBAsyncClient | None = None,
) -> AuditLog:
    """Append an audit row; call it inside the operation's transaction so both commit together.

    The row carries the id of the request being served (empty in workers and commands), so that
    it can be found again from an access-log line or a client's error report.
    """
    return await AuditLog.create(
        brand_id=brand_id,
        actor=actor,
        action=action,
        target=target,
        details=details or {},
        request_id=context.request_id.get(),
        using_db=connection,
    )
