"""Head office's member search: filters, cursor pages, and one member with their history.

Store managers see only the members whose home store is their own; merged and erased members
are never listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from api.core.clock import shanghai_midnight
from api.core.errors import NotFound
from api.core.pagination import paginate
from api.org.scope import StoreScope

from .error_codes import MemberErrorCode
from .models import Member, MemberRelation, MemberStatus, MemberTag
from .relations import list_relations
from .tags import tag_names_by_member

LISTED_STATUSES = (MemberStatus.VISITOR, MemberStatus.MEMBER)


@dataclass(frozen=True)
class MemberFilter:
    """What head office searches members by; every field is optional."""

    tag_ids: list[int] = field(default_factory=list)  # all must match
    level_id: int | None = None
    store_id: int | None = None  # home store
    guide_id: int | None = None
    status: MemberStatus | None = None
    registered_from: date | None = None  # Asia/Shanghai days, inclusive
    registered_to: date | None = None
    q: str | None = None  # member_no exactly, or part of the nickname


@dataclass(frozen=True)
class MemberRow:
    """A member as a list shows them: the row and their tag names."""

    member: Member
    tags: list[str]


@dataclass(frozen=True)
class MemberDetail:
    """One member with their tags and relation history."""

    member: Member
    tags: list[str]
    relations: list[MemberRelation]


def visible_members(*, brand_id: int, scope: StoreScope) -> QuerySet[Member]:
    """Live members of the brand whose home store is in scope (head office: all of them)."""
    members = Member.filter(brand_id=brand_id, status__in=LISTED_STATUSES)
    return scope.limit(members, "home_store_id")


def _filtered(members: QuerySet[Member], brand_id: int, f: MemberFilter) -> QuerySet[Member]:
    for tag_id in dict.fromkeys(f.tag_ids):
        carriers = MemberTag.filter(brand_id=brand_id, tag_id=tag_id).values("member_id")
        members = members.filter(id__in=Subquery(carriers))
    if f.level_id is not None:
        members = members.filter(level_id=f.level_id)
    if f.store_id is not None:
        members = members.filter(home_store_id=f.store_id)
    if f.guide_id is not None:
        members = members.filter(guide_id=f.guide_id)
    if f.status is not None:
        members = members.filter(status=f.status)
    if f.registered_from is not None:
        members = members.filter(registered_at__gte=shanghai_midnight(f.registered_from))
    if f.registered_to is not None:
        members = members.filter(
            registered_at__lt=shanghai_midnight(f.registered_to + timedelta(days=1))
        )
    if f.q:
        members = members.filter(Q(member_no=f.q) | Q(nickname__icontains=f.q))
    return members


async def search_members(
    *, brand_id: int, scope: StoreScope, filters: MemberFilter, cursor: str | None, limit: int
) -> tuple[list[MemberRow], str | None]:
    """One page of the members in scope that match every filter, newest first."""
    members = _filtered(visible_members(brand_id=brand_id, scope=scope), brand_id, filters)
    page, next_cursor = await paginate(members, cursor=cursor, limit=limit)
    names = await tag_names_by_member(brand_id=brand_id, member_ids=[m.id for m in page])
    return [MemberRow(member=m, tags=names.get(m.id, [])) for m in page], next_cursor


async def member_detail(*, brand_id: int, scope: StoreScope, member_id: int) -> MemberDetail:
    """One member in scope, with tags and relation history; 404 otherwise."""
    member = await visible_members(brand_id=brand_id, scope=scope).get_or_none(id=member_id)
    if member is None:
        raise NotFound(MemberErrorCode.NOT_FOUND, "No such member.")
    names = await tag_names_by_member(brand_id=brand_id, member_ids=[member.id])
    relations = await list_relations(brand_id=brand_id, member_id=member.id)
    return MemberDetail(member=member, tags=names.get(member.id, []), relations=relations)
