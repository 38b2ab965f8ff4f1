"""What crosses the wire for tags: groups, tags, and the tags a member carries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from api.core.fields import Change, Id, Len, Line, Omittable
from api.member_center.models import Tag, TagGroup, TagKind

Name = Annotated[str, Line, Len(1, 32)]
TagId = Id


class TagGroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Name


class TagGroupOut(BaseModel):
    id: int
    name: str
    created_at: datetime

    @classmethod
    def of(cls, group: TagGroup) -> TagGroupOut:
        return cls(id=group.id, name=group.name, created_at=group.created_at)


class TagGroupList(BaseModel):
    items: list[TagGroupOut]


class TagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    group_id: Id | None = None
    kind: TagKind = TagKind.MANUAL


class TagPatch(Change):
    model_config = ConfigDict(strict=True)

    name: Omittable[Name] = None
    group_id: Omittable[Id] = None
    active: Omittable[bool] = None


class TagFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: TagKind | None = None
    group_id: Id | None = None
    active: bool | None = None


class TagOut(BaseModel):
    id: int
    name: str
    group_id: int | None
    kind: TagKind
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, tag: Tag) -> TagOut:
        return cls(
            id=tag.id,
            name=tag.name,
            group_id=tag.group_id,
            kind=tag.kind,
            active=tag.active,
            created_at=tag.created_at,
        )


class TagList(BaseModel):
    items: list[TagOut]


class MemberTagsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    tag_ids: list[TagId] = Field(min_length=1, max_length=50)


class MemberTagsOut(BaseModel):
    member_id: int
    tags: list[TagOut]

    @classmethod
    def of(cls, member_id: int, tags: list[Tag]) -> MemberTagsOut:
        return cls(member_id=member_id, tags=[TagOut.of(tag) for tag in tags])
