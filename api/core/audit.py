"""The audit log: one row per sensitive operation (merges, manual adjustments, refunds …)."""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

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
    """Append an audit row; call it inside the operation's transaction so both commit together."""
    return await AuditLog.create(
        brand_id=brand_id,
        actor=actor,
        action=action,
        target=target,
        details=details or {},
        using_db=connection,
    )
