"""What crosses the wire for levels: head office's ladder."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from api.core.fields import Change, Len, Line, Omittable
from api.member_center.models import Level

Name = Annotated[str, Line, Len(1, 32)]
Benefit = Annotated[str, Line, Len(1, 64)]
# Growth is counted in yuan paid; a billion is far above any member's, and fits the column.
GrowthThreshold = Annotated[int, Field(ge=0, le=1_000_000_000)]
PointsRatePct = Annotated[int, Field(ge=1, le=1000)]
DiscountPct = Annotated[int, Field(ge=1, le=100)]


class LadderStepOut(BaseModel):
    """A level as members see it: what it takes and what it gives."""

    id: int
    name: str
    rank: int
    growth_threshold: int
    points_rate_pct: int
    discount_pct: int
    free_delivery: bool
    benefits: list[str]

    @classmethod
    def of(cls, level: Level) -> LadderStepOut:
        return cls(
            id=level.id,
            name=level.name,
            rank=level.rank,
            growth_threshold=level.growth_threshold,
            points_rate_pct=level.points_rate_pct,
            discount_pct=level.discount_pct,
            free_delivery=level.free_delivery,
            benefits=list(level.benefits or []),
        )


class LadderOut(BaseModel):
    items: list[LadderStepOut]


class LevelOut(LadderStepOut):
    """A level as head office sees it: the member's view, and its settings."""

    birthday_coupon: bool
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, level: Level) -> LevelOut:
        return cls(
            **LadderStepOut.of(level).model_dump(),
            birthday_coupon=level.birthday_coupon,
            active=level.active,
            created_at=level.created_at,
        )


class LevelList(BaseModel):
    items: list[LevelOut]


class LevelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Name
    rank: int = Field(ge=0, le=100)
    growth_threshold: GrowthThreshold
    points_rate_pct: PointsRatePct = 100
    discount_pct: DiscountPct = 100
    free_delivery: bool = False
    birthday_coupon: bool = False
    benefits: list[Benefit] = Field(default_factory=list, max_length=20)
    active: bool = True


class LevelPatch(Change):
    model_config = ConfigDict(strict=True)

    name: Omittable[Name] = None
    growth_threshold: Omittable[GrowthThreshold] = None
    points_rate_pct: Omittable[PointsRatePct] = None
    discount_pct: Omittable[DiscountPct] = None
    free_delivery: Omittable[bool] = None
    birthday_coupon: Omittable[bool] = None
    benefits: Omittable[Annotated[list[Benefit], Len(0, 20)]] = None
    active: Omittable[bool] = None
