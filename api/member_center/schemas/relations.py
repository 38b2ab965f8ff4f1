"""What crosses the wire for store and guide relations: reassignment, history, performance."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from api.core.fields import Day, Id
from api.member_center.models import MemberRelation, RelationSource
from api.member_center.relations import Performance


class ReassignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    to_guide_id: Id | None = None  # null: the members go to the guide's store


class ReassignOut(BaseModel):
    moved: int


class RelationOut(BaseModel):
    id: int
    store_id: int | None
    guide_id: int | None
    source: RelationSource
    scene: str
    started_at: datetime
    ended_at: datetime | None

    @classmethod
    def of(cls, relation: MemberRelation) -> RelationOut:
        return cls(
            id=relation.id,
            store_id=relation.store_id,
            guide_id=relation.guide_id,
            source=relation.source,
            scene=relation.scene,
            started_at=relation.started_at,
            ended_at=relation.ended_at,
        )


class PerformanceQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: Day | None = None


class PerformanceOut(BaseModel):
    members: int
    new_members_today: int
    new_members_this_month: int
    new_members_since: int | None = None
    since: date | None = None
    attributed_sales_fen: int
    attributed_orders: int

    @classmethod
    def of(cls, figures: Performance, *, since: date | None) -> PerformanceOut:
        return cls(
            members=figures.members,
            new_members_today=figures.new_members_today,
            new_members_this_month=figures.new_members_this_month,
            new_members_since=figures.new_members_since,
            since=since,
            attributed_sales_fen=figures.attributed_sales_fen,
            attributed_orders=figures.attributed_orders,
        )
