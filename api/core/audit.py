"""The audit log: one row per sensitive operation (admin changes, merges, manual adjustments …)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from . import context
from .models import AuditLog
from .pagination import paginate


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


async def list_records(
    *,
    brand_id: int,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> tuple[list[AuditLog], str | None]:
    """The brand's audit rows, newest first; `since` is inclusive, `until` exclusive."""
    rows = AuditLog.filter(brand_id=brand_id)
    if action is not None:
        rows = rows.filter(action=action)
    if actor is not None:
        rows = rows.filter(actor=actor)
    if target is not None:
        rows = rows.filter(target=target)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    if until is not None:
        rows = rows.filter(created_at__lt=until)
    return await paginate(rows, cursor=cursor, limit=limit)
