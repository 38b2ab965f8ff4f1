"""Store and guide relations: which store and which shopping guide a member belongs to.

A member has at most one current relation (`ended_at` null); `Member.home_store_id` and
`Member.guide_id` mirror it. Store and guide QR codes carry a scene (`s=<store_code>`,
`g=<guide_code>`) that login, phone binding and official-account follow events hand to
`apply_scene`; payments call `bind_member`; head office moves a leaving guide's members with
`reassign_guide_members`. Who keeps a member when a second store or guide touches them is the
brand's attribution policy.

Every change runs in one transaction that locks the member row first and re-reads the current
relation, and the current relation is ended by a guarded update (`… WHERE ended_at IS NULL`), so
that two scans arriving at once never leave two open relations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from api.core import audit
from api.core.clock import shanghai_midnight, to_shanghai
from api.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from api.core.ports import clock
from api.mall.attribution import attributed_mall_sales
from api.org.actor import staff_ref
from api.org.models import AttributionPolicy, Brand, Staff, StaffRole, Status, Store
from api.org.scope import StoreScope

from .error_codes import GuideErrorCode, PerformanceErrorCode, RelationErrorCode
from .ledger import lock_member, transaction
from .models import Member, MemberRelation, MemberStatus, RelationSource

log = logging.getLogger(__name__)

OA_SCENE_PREFIX = "qrscene_"  # an official-account subscribe event's EventKey carries this
SCENE_MAX_LENGTH = 64
STORE_KEY = "s"
GUIDE_KEY = "g"


# ---------------------------------------------------------------- scenes


@dataclass(frozen=True)
class Scene:
    """What a QR scene names: a store code or a guide code."""

    kind: str  # STORE_KEY or GUIDE_KEY
    code: str


def store_scene(store: Store) -> str:
    """The scene a store's QR code carries: `s=<store_code>`."""
    return f"{STORE_KEY}={store.code}"


def guide_scene(staff: Staff) -> str:
    """The scene a guide's QR code carries: `g=<guide_code>`."""
    if not staff.guide_code:
        raise InvalidInput(RelationErrorCode.NO_GUIDE_CODE, "This staff member has no guide code.")
    return f"{GUIDE_KEY}={staff.guide_code}"


def parse_scene(scene: object) -> Scene | None:
    """The store or guide a scene names, or None for anything else (never raises)."""
    if not isinstance(scene, str):
        return None
    text = scene.strip()
    if text.startswith(OA_SCENE_PREFIX):
        text = text[len(OA_SCENE_PREFIX) :]
    if "%" in text:
        # the mini-program hands `scene` over URL-encoded; a client may pass it on as is
        text = unquote(text)
    if not text or len(text) > SCENE_MAX_LENGTH:
        return None
    key, sep, code = text.partition("=")
    code = code.strip()
    if not sep or key.strip() not in (STORE_KEY, GUIDE_KEY) or not code or "=" in code:
        return None
    # No longer than the column it is looked up in: Store.code, Staff.guide_code.
    if len(code) > (16 if key.strip() == GUIDE_KEY else 32):
        return None
    if not code.isprintable() or "&" in code:
        return None
    return Scene(kind=key.strip(), code=code)


# ---------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """Where a member would be bound: a store, and perhaps one of its guides."""

    store_id: int
    guide_id: int | None


async def _active_store(brand_id: int, **lookup: Any) -> Store | None:
    return await Store.get_or_none(brand_id=brand_id, status=Status.ACTIVE, **lookup)


async def _active_guide(brand_id: int, **lookup: Any) -> Staff | None:
    return await Staff.get_or_none(
        brand_id=brand_id, role=StaffRole.GUIDE, status=Status.ACTIVE, **lookup
    )


async def _guide_target(brand_id: int, guide: Staff | None) -> Target | None:
    if guide is None or guide.store_id is None:
        return None
    if await _active_store(brand_id, id=guide.store_id) is None:
        return None
    return Target(store_id=guide.store_id, guide_id=guide.id)


async def _scene_target(brand_id: int, scene: Scene) -> Target | None:
    if scene.kind == STORE_KEY:
        store = await _active_store(brand_id, code=scene.code)
        return Target(store_id=store.id, guide_id=None) if store else None
    return await _guide_target(brand_id, await _active_guide(brand_id, guide_code=scene.code))


# ---------------------------------------------------------------- binding


async def _lock_bindable(db: BaseDBAsyncClient, *, brand_id: int, member_id: int) -> Member | None:
    """The member row locked, or None when there is no one to bind: unknown, merged or erased."""
    try:
        member = await lock_member(db, brand_id=brand_id, member_id=member_id)
    except (NotFound, Conflict):
        return None
    return None if member.status is MemberStatus.ERASED else member


async def current_relation(
    *, brand_id: int, member_id: int, db: BaseDBAsyncClient | None = None
) -> MemberRelation | None:
    """The member's open relation, if any."""
    return (
        await MemberRelation.filter(brand_id=brand_id, member_id=member_id, ended_at__isnull=True)
        .using_db(db)
        .order_by("-id")
        .first()
    )


def _takes_over(
    brand: Brand, current: MemberRelation | None, target: Target, now: datetime
) -> bool:
    """Whether a touch from `target` replaces the member's current relation."""
    if current is None:
        return True
    if current.store_id == target.store_id and (
        target.guide_id is None or target.guide_id == current.guide_id
    ):
        return False  # already there; a store scan does not strip the member's guide
    if current.store_id == target.store_id and current.guide_id is None:
        return True  # a guide of the member's own store fills the empty guide slot
    policy = str(brand.setting("attribution_policy"))
    if policy == AttributionPolicy.LAST_TOUCH:
        return True
    if policy == AttributionPolicy.WINDOW:
        days = int(brand.setting("attribution_window_days"))  # type: ignore[call-overload]
        return now >= current.started_at + timedelta(days=days)
    return False  # first touch, and any policy we do not know, keep the member where they are


async def _switch(
    db: BaseDBAsyncClient,
    *,
    brand_id: int,
    member_id: int,
    current: MemberRelation | None,
    target: Target,
    source: RelationSource,
    scene: str,
    now: datetime,
) -> MemberRelation | None:
    """End the current relation (guarded) and open the new one; None if another writer won."""
    if current is not None:
        ended = (
            await MemberRelation.filter(id=current.id, ended_at__isnull=True)
            .using_db(db)
            .update(ended_at=now)
        )
        if not ended:
            return None
    relation = await MemberRelation.create(
        using_db=db,
        brand_id=brand_id,
        member_id=member_id,
        store_id=target.store_id,
        guide_id=target.guide_id,
        source=source,
        scene=scene[:64],
        started_at=now,
    )
    await (
        Member.filter(id=member_id, brand_id=brand_id)
        .using_db(db)
        .update(home_store_id=target.store_id, guide_id=target.guide_id)
    )
    return relation


async def _bind(
    *,
    brand_id: int,
    member_id: int,
    target: Target,
    source: RelationSource,
    scene: str,
    connection: BaseDBAsyncClient | None = None,
) -> MemberRelation | None:
    brand = await Brand.get_or_none(id=brand_id, using_db=connection)
    if brand is None:
        return None
    async with transaction(connection) as db:
        # The member row lock serialises binders of one member; the re-read below then sees
        # whatever a concurrent scan committed before us.
        member = await _lock_bindable(db, brand_id=brand_id, member_id=member_id)
        if member is None:
            return None
        now = clock().now()
        current = await current_relation(brand_id=brand_id, member_id=member_id, db=db)
        if source != RelationSource.ADMIN and not _takes_over(brand, current, target, now):
            return None
        return await _switch(
            db,
            brand_id=brand_id,
            member_id=member_id,
            current=current,
            target=target,
            source=source,
            scene=scene,
            now=now,
        )


async def apply_scene(*, brand_id: int, member_id: int, scene: str | None) -> Target | None:
    """Bind the member to the store or guide a QR scene names, under the brand's attribution policy.

    Returns the store (and guide) the scene names, whether or not the policy moved the member
    there; None when it names no active store or guide.
    """
    parsed = parse_scene(scene)
    if parsed is None:
        return None
    target = await _scene_target(brand_id, parsed)
    if target is None:
        log.info("scene %r names no active store or guide of brand %s", scene, brand_id)
        return None
    source = RelationSource.GUIDE_QR if parsed.kind == GUIDE_KEY else RelationSource.STORE_QR
    text = scene.strip() if isinstance(scene, str) else ""
    await _bind(
        brand_id=brand_id,
        member_id=member_id,
        target=target,
        source=source,
        scene=text.removeprefix(OA_SCENE_PREFIX),
    )
    return target


async def bind_member(
    *,
    brand_id: int,
    member_id: int,
    store_id: int | None,
    guide_id: int | None,
    source: RelationSource | str,
    scene: str = "",
    connection: BaseDBAsyncClient | None = None,
) -> MemberRelation | None:
    """Bind a member to a store (and guide) under the attribution policy; the new relation or None.

    A guide brings their own store; a guide of another store than `store_id` is dropped. Unknown
    or disabled stores and guides, and staff who are not guides, are ignored, so a payment is
    never refused over attribution. Source `admin` overrides the policy.
    """
    try:
        kind = RelationSource(source)
    except ValueError:
        return None
    target: Target | None = None
    if guide_id is not None:
        guide_target = await _guide_target(brand_id, await _active_guide(brand_id, id=guide_id))
        if guide_target is not None and store_id in (None, guide_target.store_id):
            target = guide_target
    if (
        target is None
        and store_id is not None
        and await _active_store(brand_id, id=store_id) is not None
    ):
        target = Target(store_id=store_id, guide_id=None)
    if target is None:
        return None
    return await _bind(
        brand_id=brand_id,
        member_id=member_id,
        target=target,
        source=kind,
        scene=scene,
        connection=connection,
    )


async def list_relations(*, brand_id: int, member_id: int) -> list[MemberRelation]:
    """A member's relation history, newest first."""
    return await MemberRelation.filter(brand_id=brand_id, member_id=member_id).order_by(
        "-started_at", "-id"
    )


# ---------------------------------------------------------------- head office


async def reassign_guide_members(
    *, brand_id: int, scope: StoreScope, actor: str, guide_id: int, to_guide_id: int | None
) -> int:
    """Move a leaving guide's members to another active guide, or to the guide's store; the count.

    Both guides must work in stores of `scope` (a store manager moves members within their own
    stores only): 403 `guide.not_in_your_store` otherwise, and nothing moves.
    """
    guide = await Staff.get_or_none(id=guide_id, brand_id=brand_id)
    if guide is None or guide.role != StaffRole.GUIDE:
        raise NotFound(GuideErrorCode.NOT_FOUND, "No such guide.")
    if not scope.allows(guide.store_id):
        raise Forbidden("guide.not_in_your_store", "This guide works in another store.")
    if to_guide_id is None:
        if guide.store_id is None:
            raise InvalidInput(
                GuideErrorCode.NO_STORE, "This guide has no store to hand members to."
            )
        target = Target(store_id=guide.store_id, guide_id=None)
    else:
        target = await _reassign_target(brand_id, guide, to_guide_id)
        if not scope.allows(target.store_id):
            raise Forbidden("guide.not_in_your_store", "The new guide works in another store.")

    async with in_transaction() as db:
        open_rows = await (
            MemberRelation.filter(brand_id=brand_id, guide_id=guide.id, ended_at__isnull=True)
            .using_db(db)
            .values("member_id")
        )
        moved = 0
        now = clock().now()
        for member_id in sorted({int(row["member_id"]) for row in open_rows}):
            if await _lock_bindable(db, brand_id=brand_id, member_id=member_id) is None:
                continue
            current = await current_relation(brand_id=brand_id, member_id=member_id, db=db)
            if current is None or current.guide_id != guide.id:
                continue  # rebound by a scan since we listed them
            relation = await _switch(
                db,
                brand_id=brand_id,
                member_id=member_id,
                current=current,
                target=target,
                source=RelationSource.ADMIN,
                scene="",
                now=now,
            )
            moved += relation is not None
        await audit.record(
            brand_id=brand_id,
            actor=actor,
            action="guide.reassign_members",
            target=staff_ref(guide.id),
            details={"to_guide_id": to_guide_id, "to_store_id": target.store_id, "moved": moved},
            connection=db,
        )
    return moved


async def _reassign_target(brand_id: int, guide: Staff, to_guide_id: int) -> Target:
    if to_guide_id == guide.id:
        raise InvalidInput(GuideErrorCode.SAME_GUIDE, "Members cannot be moved to the same guide.")
    to_guide = await Staff.get_or_none(id=to_guide_id, brand_id=brand_id)
    if to_guide is None:
        raise NotFound(GuideErrorCode.NOT_FOUND, "No such guide.")
    if to_guide.role != StaffRole.GUIDE:
        raise InvalidInput(GuideErrorCode.NOT_A_GUIDE, "Members can only be moved to a guide.")
    if to_guide.status != Status.ACTIVE:
        raise InvalidInput(GuideErrorCode.INACTIVE, "Members can only be moved to an active guide.")
    target = await _guide_target(brand_id, to_guide)
    if target is None:
        raise InvalidInput(GuideErrorCode.NO_STORE, "The new guide has no active store.")
    return target


# ---------------------------------------------------------------- performance


@dataclass(frozen=True)
class Performance:
    """A guide's (or a store's) members and attributed sales, counted live."""

    members: int
    new_members_today: int
    new_members_this_month: int
    new_members_since: int | None
    attributed_sales_fen: int
    attributed_orders: int


async def attributed_sales(
    *, brand_id: int, guide_id: int | None, store_id: int | None, since: datetime | None
) -> tuple[int, int]:
    """Paid amount in fen (less refunds) and order count attributed to a guide or store: the
    mall's orders (till sales carry no guide)."""
    return await attributed_mall_sales(
        brand_id=brand_id, guide_id=guide_id, store_id=store_id, since=since
    )


async def guide_performance(
    *,
    brand_id: int,
    guide_id: int | None = None,
    store_id: int | None = None,
    since: date | None = None,
) -> Performance:
    """A guide's figures (`guide_id`), or a whole store's (`store_id`)."""
    if guide_id is not None:
        scope: dict[str, object] = {"guide_id": guide_id}
        store_id = None
    elif store_id is not None:
        scope = {"store_id": store_id}
    else:
        raise InvalidInput(PerformanceErrorCode.NO_SUBJECT, "Figures are per guide or per store.")
    current = MemberRelation.filter(brand_id=brand_id, ended_at__isnull=True, **scope)
    # A head-office reassignment hands members over; it does not win new ones.
    won = current.exclude(source=RelationSource.ADMIN)
    today = to_shanghai(clock().now()).date()
    since_at = shanghai_midnight(since) if since is not None else None
    sales_fen, orders = await attributed_sales(
        brand_id=brand_id, guide_id=guide_id, store_id=store_id, since=since_at
    )
    return Performance(
        members=await current.count(),
        new_members_today=await won.filter(started_at__gte=shanghai_midnight(today)).count(),
        new_members_this_month=await won.filter(
            started_at__gte=shanghai_midnight(today.replace(day=1))
        ).count(),
        new_members_since=(
            await won.filter(started_at__gte=since_at).count() if since_at is not None else None
        ),
        attributed_sales_fen=sales_fen,
        attributed_orders=orders,
    )
