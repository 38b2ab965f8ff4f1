"""What crosses the wire for head office's member search and member page."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from api.core.fields import Day, Id, Len, Line
from api.core.pagination import Page, PageQuery
from api.member_center.models import Member, MemberStatus
from api.member_center.schemas.relations import RelationOut
from api.member_center.search import MemberDetail, MemberFilter, MemberRow


def _id_list(value: object) -> object:
    """`"3,5,8"` → [3, 5, 8]; pydantic then refuses anything that is not a positive integer."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


IdList = Annotated[list[Id], BeforeValidator(_id_list)]


class AdminMemberQuery(PageQuery):
    model_config = ConfigDict(extra="forbid")

    tag_ids: IdList = Field(default_factory=list, max_length=20)
    level_id: Id | None = None
    store_id: Id | None = None
    guide_id: Id | None = None
    status: Literal["visitor", "member"] | None = None
    registered_from: Day | None = None
    registered_to: Day | None = None
    # A member number matches whole (a member_no column holds 20), a nickname in part.
    q: Annotated[str, Line, Len(0, 20)] | None = None

    def filters(self) -> MemberFilter:
        return MemberFilter(
            tag_ids=self.tag_ids,
            level_id=self.level_id,
            store_id=self.store_id,
            guide_id=self.guide_id,
            status=MemberStatus(self.status) if self.status else None,
            registered_from=self.registered_from,
            registered_to=self.registered_to,
            q=self.q or None,
        )


class AdminMemberOut(BaseModel):
    id: int
    member_no: str
    nickname: str
    status: MemberStatus
    phone_masked: str
    level_id: int | None
    home_store_id: int | None
    guide_id: int | None
    points_balance: int
    registered_at: datetime | None
    tags: list[str]

    @classmethod
    def of(cls, member: Member, tags: list[str]) -> AdminMemberOut:
        return cls(
            id=member.id,
            member_no=member.member_no,
            nickname=member.nickname,
            status=member.status,
            phone_masked=member.phone_masked,
            level_id=member.level_id,
            home_store_id=member.home_store_id,
            guide_id=member.guide_id,
            points_balance=member.points_balance,
            registered_at=member.registered_at,
            tags=tags,
        )

    @classmethod
    def of_row(cls, row: MemberRow) -> AdminMemberOut:
        return cls.of(row.member, row.tags)


class AdminMemberPage(Page[AdminMemberOut]):
    pass


class AdminMemberDetailOut(AdminMemberOut):
    relations: list[RelationOut]

    @classmethod
    def of_detail(cls, detail: MemberDetail) -> AdminMemberDetailOut:
        base = AdminMemberOut.of(detail.member, detail.tags)
        return cls(**base.model_dump(), relations=[RelationOut.of(r) for r in detail.relations])
