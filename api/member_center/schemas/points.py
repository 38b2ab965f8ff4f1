"""What crosses the wire for points: ledger entries, the summary, head office's adjustments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.core.fields import Len, Line
from api.core.pagination import Page
from api.member_center.models import PointsEntry
from api.member_center.points import PointsSummary

Reason = Annotated[str, Line, Len(1, 255)]


class PointsEntryOut(BaseModel):
    id: int
    kind: str
    delta: int
    balance_after: int
    reason: str
    created_at: datetime

    @classmethod
    def of(cls, entry: PointsEntry) -> PointsEntryOut:
        return cls(
            id=entry.id,
            kind=entry.kind.value,
            delta=entry.delta,
            balance_after=entry.balance_after,
            reason=entry.reason,
            created_at=entry.created_at,
        )


class AdminPointsEntryOut(PointsEntryOut):
    member_id: int
    key: str
    actor: str

    @classmethod
    def of(cls, entry: PointsEntry) -> AdminPointsEntryOut:
        return cls(
            **PointsEntryOut.of(entry).model_dump(),
            member_id=entry.member_id,
            key=entry.key,
            actor=entry.actor,
        )


class PointsEntryPage(Page[PointsEntryOut]):
    pass


class PointsSummaryOut(BaseModel):
    balance: int
    available: int
    frozen: int
    expiring_soon: int
    next_expiry_at: datetime | None
    next_expiry_points: int

    @classmethod
    def of(cls, summary: PointsSummary) -> PointsSummaryOut:
        return cls(
            balance=summary.balance,
            available=summary.available,
            frozen=summary.frozen,
            expiring_soon=summary.expiring_soon,
            next_expiry_at=summary.next_expiry_at,
            next_expiry_points=summary.next_expiry_points,
        )


class PointsAdjustmentIn(BaseModel):
    """Head office adds (delta > 0) or takes back (delta < 0) points, always with a reason."""

    model_config = ConfigDict(extra="forbid", strict=True)

    delta: int = Field(ge=-10_000_000, le=10_000_000)
    reason: Reason

    @field_validator("delta")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("delta must not be zero")
        return value
