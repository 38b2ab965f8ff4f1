"""Tags: head office's tag groups and tags, tagging by head office and by guides face to face."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from api.core import audit
from api.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from api.org.scope import StoreScope

from .error_codes import TagErrorCode, TagGroupErrorCode
from .members import get_member
from .models import Member, MemberTag, Tag, TagGroup, TagKind

# `auto` tags are computed by the marketing workers; people never set them by hand.
SETTABLE_KINDS = (TagKind.MANUAL, TagKind.GUIDE)


# ---------------------------------------------------------------- groups


async def list_tag_groups(*, brand_id: int) -> list[TagGroup]:
    """The brand's tag groups, by name."""
    return await TagGroup.filter(brand_id=brand_id).order_by("name", "id")


async def create_tag_group(*, brand_id: int, name: str, actor: str = "system") -> TagGroup:
    """Add a tag group; names are unique within the brand."""
    try:
        async with in_transaction() as db:
            group = await TagGroup.create(brand_id=brand_id, name=name, using_db=db)
            await audit.record(
                brand_id=brand_id,
                actor=actor,
                action="tag_group.create",
                target=f"tag_group:{group.id}",
                connection=db,
            )
            return group
    except IntegrityError as exc:
        raise Conflict(TagGroupErrorCode.NAME_TAKEN, f"Tag group {name!r} already exists.") from exc


# ---------------------------------------------------------------- tags


async def list_tags(
    *,
    brand_id: int,
    kind: TagKind | None = None,
    group_id: int | None = None,
    active: bool | None = None,
) -> list[Tag]:
    """The brand's tags, by name, optionally of one kind, group or activity."""
    tags = Tag.filter(brand_id=brand_id)
    if kind is not None:
        tags = tags.filter(kind=kind)
    if group_id is not None:
        tags = tags.filter(group_id=group_id)
    if active is not None:
        tags = tags.filter(active=active)
    return await tags.order_by("name", "id")


async def _check_group(brand_id: int, group_id: int | None) -> None:
    if group_id is not None and not await TagGroup.exists(id=group_id, brand_id=brand_id):
        raise InvalidInput(TagErrorCode.UNKNOWN_GROUP, "No such tag group.")


async def create_tag(
    *, brand_id: int, name: str, kind: TagKind, group_id: int | None = None, actor: str = "system"
) -> Tag:
    """Add a manual or guide tag; `auto` is reserved for the marketing workers."""
    if kind not in SETTABLE_KINDS:
        raise InvalidInput(
            TagErrorCode.KIND_RESERVED, "Automatic tags are created by the system only."
        )
    await _check_group(brand_id, group_id)
    try:
        async with in_transaction() as db:
            tag = await Tag.create(
                brand_id=brand_id, name=name, kind=kind, group_id=group_id, using_db=db
            )
            await audit.record(
                brand_id=brand_id,
                actor=actor,
                action="tag.create",
                target=f"tag:{tag.id}",
                details={"kind": kind.value},
                connection=db,
            )
            return tag
    except IntegrityError as exc:
        raise Conflict(TagErrorCode.NAME_TAKEN, f"Tag {name!r} already exists.") from exc


async def get_tag(*, brand_id: int, tag_id: int) -> Tag:
    """One tag of the brand; 404 `tag.not_found` otherwise."""
    tag = await Tag.get_or_none(id=tag_id, brand_id=brand_id)
    if tag is None:
        raise NotFound(TagErrorCode.NOT_FOUND, "No such tag.")
    return tag


async def update_tag(
    *,
    brand_id: int,
    tag_id: int,
    name: str | None = None,
    active: bool | None = None,
    group_id: int | None = None,
    actor: str = "system",
) -> Tag:
    """Rename, regroup, deactivate or reactivate a tag."""
    tag = await get_tag(brand_id=brand_id, tag_id=tag_id)
    if name is not None:
        tag.name = name
    if active is not None:
        tag.active = active
    if group_id is not None:
        await _check_group(brand_id, group_id)
        tag.group_id = group_id
    try:
        async with in_transaction() as db:
            await tag.save(using_db=db)
            await audit.record(
                brand_id=brand_id,
                actor=actor,
                action="tag.update",
                target=f"tag:{tag.id}",
                details={
                    "fields": sorted(
                        k
                        for k, v in {"name": name, "active": active, "group_id": group_id}.items()
                        if v is not None
                    )
                },
                connection=db,
            )
    except IntegrityError as exc:
        raise Conflict(TagErrorCode.NAME_TAKEN, f"Tag {name!r} already exists.") from exc
    return tag


# ---------------------------------------------------------------- tagging


async def member_tags(*, brand_id: int, member_id: int) -> list[Tag]:
    """The tags a member carries, by name."""
    carried = MemberTag.filter(brand_id=brand_id, member_id=member_id).values("tag_id")
    return await Tag.filter(brand_id=brand_id, id__in=Subquery(carried)).order_by("name", "id")


async def tag_names_by_member(*, brand_id: int, member_ids: Iterable[int]) -> dict[int, list[str]]:
    """Tag names per member, for lists; members without tags are absent."""
    ids = list(member_ids)
    names: dict[int, list[str]] = defaultdict(list)
    if not ids:
        return names
    rows = (
        await MemberTag.filter(brand_id=brand_id, member_id__in=ids)
        .order_by("tag__name")
        .values_list("member_id", "tag__name")
    )
    for member_id, name in rows:
        names[member_id].append(name)
    return names


async def _settable_tags(
    brand_id: int, tag_ids: list[int], kinds: tuple[TagKind, ...]
) -> list[Tag]:
    wanted = set(tag_ids)
    tags = await Tag.filter(brand_id=brand_id, id__in=wanted, active=True)
    if len(tags) != len(wanted):
        missing = sorted(wanted - {tag.id for tag in tags})
        raise InvalidInput(
            TagErrorCode.UNKNOWN,
            "Some tags do not exist or are inactive.",
            details={"tag_ids": missing},
        )
    wrong = sorted(tag.id for tag in tags if tag.kind not in kinds)
    if wrong:
        raise InvalidInput(
            TagErrorCode.KIND_NOT_ALLOWED,
            f"Only tags of kind {', '.join(k.value for k in kinds)} may be set here.",
            details={"tag_ids": wrong},
        )
    return tags


async def _attach(*, brand_id: int, member: Member, tags: list[Tag], tagged_by: str) -> None:
    """Attach tags a member does not carry yet; tagging twice (or twice at once) keeps one row."""
    have = set(
        await MemberTag.filter(member_id=member.id, tag_id__in=[t.id for t in tags]).values_list(
            "tag_id", flat=True
        )
    )
    for tag in tags:
        if tag.id in have:
            continue
        try:
            async with in_transaction() as db:
                await MemberTag.create(
                    using_db=db,
                    brand_id=brand_id,
                    member_id=member.id,
                    tag_id=tag.id,
                    tagged_by=tagged_by,
                )
        except IntegrityError:
            pass  # a concurrent call attached it first: the unique (member, tag) index held


async def tag_member(*, brand_id: int, member_id: int, tag_ids: list[int], actor: str) -> Member:
    """Head office tags a member with manual or guide tags; idempotent."""
    member = await get_member(brand_id=brand_id, member_id=member_id)
    tags = await _settable_tags(brand_id, tag_ids, SETTABLE_KINDS)
    await _attach(brand_id=brand_id, member=member, tags=tags, tagged_by=actor)
    await audit.record(
        brand_id=brand_id,
        actor=actor,
        action="member.tag",
        target=f"member:{member.id}",
        details={"tag_ids": sorted(tag.id for tag in tags)},
    )
    return member


async def untag_member(
    *, brand_id: int, member_id: int, tag_id: int, actor: str = "system"
) -> Member:
    """Head office takes a tag off a member; taking off an absent tag does nothing."""
    member = await get_member(brand_id=brand_id, member_id=member_id)
    await get_tag(brand_id=brand_id, tag_id=tag_id)
    async with in_transaction() as db:
        await (
            MemberTag.filter(brand_id=brand_id, member_id=member.id, tag_id=tag_id)
            .using_db(db)
            .delete()
        )
        await audit.record(
            brand_id=brand_id,
            actor=actor,
            action="member.untag",
            target=f"member:{member.id}",
            details={"tag_ids": [tag_id]},
            connection=db,
        )
    return member


async def guide_tag_member(
    *, brand_id: int, scope: StoreScope, actor: str, member_id: int, tag_ids: list[int]
) -> Member:
    """A guide tags a member of a store in `scope`, face to face, with guide tags; idempotent."""
    member = await get_member(brand_id=brand_id, member_id=member_id)
    if member.home_store_id is None or not scope.allows(member.home_store_id):
        raise Forbidden("member.not_in_your_store", "This member belongs to another store.")
    tags = await _settable_tags(brand_id, tag_ids, (TagKind.GUIDE,))
    await _attach(brand_id=brand_id, member=member, tags=tags, tagged_by=actor)
    return member
