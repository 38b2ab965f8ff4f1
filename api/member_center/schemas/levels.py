"""What crosses the wire for levels: head office's ladder."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.member_center.models import Level

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
Benefit = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class LevelOut(BaseModel):
    id: int
    name: str
    rank: int
    growth_threshold: int
    points_rate_pct: int
    discount_pct: int
    free_delivery: bool
    birthday_coupon: bool
    benefits: list[str]
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, level: Level) -> LevelOut:
        return cls(
            id=level.id,
            name=level.name,
            rank=level.rank,
            growth_threshold=level.growth_threshold,
            points_rate_pct=level.points_rate_pct,
            discount_pct=level.discount_pct,
            free_delivery=level.free_delivery,
            birthday_coupon=level.birthday_coupon,
            benefits=list(level.benefits or []),
            active=level.active,
            created_at=level.created_at,
        )


class LevelList(BaseModel):
    items: list[LevelOut]


class LevelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Name
    rank: int = Field(ge=0, le=100)
    growth_threshold: int = Field(ge=0)
    points_rate_pct: int = Field(default=100, ge=1, le=1000)
    discount_pct: int = Field(default=100, ge=1, le=100)
    free_delivery: bool = False
    birthday_coupon: bool = False
    benefits: list[Benefit] = Field(default_factory=list, max_length=20)
    active: bool = True


class LevelPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Name | None = None
    growth_threshold: int | None = Field(default=None, ge=0)
    points_rate_pct: int | None = Field(default=None, ge=1, le=1000)
    discount_pct: int | None = Field(default=None, ge=1, le=100)
    free_delivery: bool | None = None
    birthday_coupon: bool | None = None
    benefits: list[Benefit] | None = Field(default=None, max_length=20)
    active: bool | None = None
