"""The audit log."""

from __future__ import annotations

import pytest
from tortoise.transactions import in_transaction

from api.core import audit
from api.core.models import AuditLog
from api.core.ports import Ports


async def test_record_writes_an_audit_row(ports: Ports) -> None:
    row = await audit.record(
        brand_id=1,
        actor=audit.actor_of("staff", 12),
        action="member.merge",
        target="member:7",
        details={"into": 3},
    )

    stored = await AuditLog.get(id=row.id)
    assert (stored.brand_id, stored.actor, stored.action, stored.target, stored.details) == (
        1,
        "staff:12",
        "member.merge",
        "member:7",
        {"into": 3},
    )
    assert stored.created_at is not None


async def test_record_rolls_back_with_its_transaction(ports: Ports) -> None:
    with pytest.raises(RuntimeError):
        async with in_transaction() as connection:
            await audit.record(
                brand_id=1,
                actor="system",
                action="points.expire",
                target="member:1",
                connection=connection,
            )
            raise RuntimeError

    assert await AuditLog.all().count() == 0
