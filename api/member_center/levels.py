"""Member levels: the brand's ladder, growth that moves members up, and the yearly requalification.

Growth is its own ledger (GrowthEntry), never the points balance. A member qualifies for a level
by the growth of the current qualification year (`year_growth`): crossing a threshold lifts them
at once; the yearly requalification keeps the highest level that year's growth reaches (lowering
those who fell short) and starts the next year at zero. Using `year_growth` for both keeps a
downgraded member from being lifted straight back by their lifetime total on the next purchase.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any, cast

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from api.core import audit
from api.core.clock import to_shanghai
from api.core.errors import Conflict, InvalidInput, NotFound
from api.core.ports import clock

from .error_codes import GrowthErrorCode, LevelErrorCode, MemberErrorCode
from .ledger import check_amount, check_key, lock_member, lock_members, once_per_key
from .members import find_member
from .models import GrowthEntry, GrowthEntryKind, Level, Member, MemberStatus

REQUALIFY_ATTEMPTS = 3


@dataclass(frozen=True)
class LevelProgress:
    """Where a member stands on the ladder."""

    level: Level | None
    next_level: Level | None
    growth: int
    year_growth: int
    growth_to_next: int | None


class _Stale(Exception):
    """year_growth changed between read and guarded update; read again."""


# ---------------------------------------------------------------- the ladder


async def list_levels(*, brand_id: int, active_only: bool = False) -> list[Level]:
    """The brand's levels, lowest rank first."""
    query = Level.filter(brand_id=brand_id)
    if active_only:
        query = query.filter(active=True)
    return await query.order_by("rank")


async def get_level(*, brand_id: int, level_id: int) -> Level:
    """One level of the brand, or 404 `level.not_found`."""
    level = await Level.get_or_none(id=level_id, brand_id=brand_id)
    if level is None:
        raise NotFound(LevelErrorCode.NOT_FOUND, "No such level.")
    return level


def _check_ladder(levels: list[Level]) -> None:
    """Rank 0 is the entry level at threshold 0; thresholds rise strictly with rank."""
    ordered = sorted(levels, key=lambda level: level.rank)
    if ordered and ordered[0].rank != 0:
        raise Conflict(LevelErrorCode.ENTRY_LEVEL_MISSING, "Create the entry level (rank 0) first.")
    for level in ordered:
        if level.rank == 0 and level.growth_threshold != 0:
            raise InvalidInput(
                LevelErrorCode.INVALID_THRESHOLD, "The entry level's threshold is 0."
            )
        if level.rank == 0 and not level.active:
            raise Conflict(
                LevelErrorCode.ENTRY_LEVEL_REQUIRED, "The entry level cannot be disabled."
            )
    for lower, higher in pairwise(ordered):
        if higher.growth_threshold <= lower.growth_threshold:
            raise Conflict(
                LevelErrorCode.THRESHOLD_ORDER,
                "Each level's growth threshold must be above the one of the rank below it.",
            )


_INVALID = {
    "rank": LevelErrorCode.INVALID_RANK,
    "growth_threshold": LevelErrorCode.INVALID_GROWTH_THRESHOLD,
    "points_rate_pct": LevelErrorCode.INVALID_POINTS_RATE_PCT,
    "discount_pct": LevelErrorCode.INVALID_DISCOUNT_PCT,
}


def _check_fields(fields: dict[str, Any]) -> None:
    name = fields.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > 32):
        raise InvalidInput(LevelErrorCode.INVALID_NAME, "A level needs a name (≤ 32 characters).")
    for field in ("rank", "growth_threshold"):
        value = fields.get(field)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise InvalidInput(_INVALID[field], f"{field} must be a whole number ≥ 0.")
    for field in ("points_rate_pct", "discount_pct"):
        value = fields.get(field)
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not 1 <= value <= (1000 if field == "points_rate_pct" else 100)
        ):
            raise InvalidInput(_INVALID[field], f"{field} is out of range.")
    benefits = fields.get("benefits")
    if benefits is not None and (
        not isinstance(benefits, list) or not all(isinstance(line, str) for line in benefits)
    ):
        raise InvalidInput(LevelErrorCode.INVALID_BENEFITS, "Benefits are a list of display lines.")


async def create_level(
    *,
    brand_id: int,
    name: str,
    rank: int,
    growth_threshold: int,
    points_rate_pct: int = 100,
    discount_pct: int = 100,
    free_delivery: bool = False,
    birthday_coupon: bool = False,
    benefits: list[str] | None = None,
    active: bool = True,
    actor: str = "system",
) -> Level:
    """Add a rung to the brand's ladder; 409 when its rank is taken or thresholds would not rise."""
    fields: dict[str, Any] = {
        "name": name,
        "rank": rank,
        "growth_threshold": growth_threshold,
        "points_rate_pct": points_rate_pct,
        "discount_pct": discount_pct,
        "free_delivery": free_delivery,
        "birthday_coupon": birthday_coupon,
        "benefits": list(benefits or []),
        "active": active,
    }
    _check_fields(fields)
    fields["name"] = name.strip()
    existing = await list_levels(brand_id=brand_id)
    if any(level.rank == rank for level in existing):
        raise Conflict(LevelErrorCode.RANK_TAKEN, "A level with this rank exists already.")
    _check_ladder([*existing, Level(brand_id=brand_id, **fields)])
    try:
        async with in_transaction() as db:
            level = await Level.create(brand_id=brand_id, **fields, using_db=db)
            await audit.record(
                brand_id=brand_id,
                actor=actor,
                action="level.create",
                target=f"level:{level.id}",
                details={"rank": rank, "growth_threshold": growth_threshold},
                connection=db,
            )
            return level
    except IntegrityError as exc:  # a concurrent create took the rank
        raise Conflict(LevelErrorCode.RANK_TAKEN, "A level with this rank exists already.") from exc


async def update_level(
    *,
    brand_id: int,
    level_id: int,
    name: str | None = None,
    growth_threshold: int | None = None,
    points_rate_pct: int | None = None,
    discount_pct: int | None = None,
    free_delivery: bool | None = None,
    birthday_coupon: bool | None = None,
    benefits: list[str] | None = None,
    active: bool | None = None,
    actor: str = "system",
) -> Level:
    """Change a level's name, threshold, benefits or availability; the ladder must stay ordered."""
    changes: dict[str, Any] = {
        field: value
        for field, value in {
            "name": name,
            "growth_threshold": growth_threshold,
            "points_rate_pct": points_rate_pct,
            "discount_pct": discount_pct,
            "free_delivery": free_delivery,
            "birthday_coupon": birthday_coupon,
            "benefits": benefits,
            "active": active,
        }.items()
        if value is not None
    }
    _check_fields(changes)
    if name is not None:
        changes["name"] = name.strip()
    level = await get_level(brand_id=brand_id, level_id=level_id)
    if not changes:
        return level
    ladder = await list_levels(brand_id=brand_id)
    for other in ladder:
        if other.id == level.id:
            for field, value in changes.items():
                setattr(other, field, value)
    _check_ladder(ladder)
    async with in_transaction() as db:
        await Level.filter(id=level.id, brand_id=brand_id).using_db(db).update(**changes)
        await audit.record(
            brand_id=brand_id,
            actor=actor,
            action="level.update",
            target=f"level:{level.id}",
            details={"fields": sorted(changes)},
            connection=db,
        )
    await level.refresh_from_db()
    return level


def _reached(ladder: list[Level], year_growth: int) -> Level | None:
    """The highest active level whose threshold `year_growth` reaches."""
    reached = [level for level in ladder if level.active and level.growth_threshold <= year_growth]
    return max(reached, key=lambda level: level.rank, default=None)


async def _rank_of(db: BaseDBAsyncClient, level_id: int | None) -> int:
    if level_id is None:
        return -1
    ranks = cast(
        list[int], await Level.filter(id=level_id).using_db(db).values_list("rank", flat=True)
    )
    return ranks[0] if ranks else -1


# ---------------------------------------------------------------- growth


async def add_growth(
    *,
    brand_id: int,
    member_id: int,
    amount: int,
    key: str,
    reason: str = "",
    connection: BaseDBAsyncClient | None = None,
) -> GrowthEntry:
    """Credit growth (idempotent by key); lifts the member at once when a threshold is crossed."""
    check_amount(amount, code=GrowthErrorCode.INVALID_AMOUNT)
    check_key(key, code=GrowthErrorCode.INVALID_KEY)
    now = clock().now()

    async def operation(db: BaseDBAsyncClient) -> GrowthEntry:
        await lock_member(db, brand_id=brand_id, member_id=member_id)
        await (
            Member.filter(id=member_id)
            .using_db(db)
            .update(growth=F("growth") + amount, year_growth=F("year_growth") + amount)
        )
        growth, year_growth, level_id = (
            await Member.filter(id=member_id)
            .using_db(db)
            .values_list("growth", "year_growth", "level_id")
        )[0]
        ladder = await Level.filter(brand_id=brand_id, active=True).using_db(db)
        reached = _reached(ladder, year_growth)
        if reached is not None and reached.rank > await _rank_of(db, level_id):
            # Up only: a level is lowered by the yearly requalification, never by growth.
            await Member.filter(id=member_id).using_db(db).update(level_id=reached.id)
            level_id = reached.id
        return await GrowthEntry.create(
            using_db=db,
            brand_id=brand_id,
            member_id=member_id,
            key=key,
            kind=GrowthEntryKind.EARN,
            delta=amount,
            growth_after=growth,
            year_growth_after=year_growth,
            level_id=level_id,
            created_at=now,
        )

    return await once_per_key(
        GrowthEntry,
        brand_id=brand_id,
        member_id=member_id,
        key=key,
        reused_code=GrowthErrorCode.KEY_REUSED,
        replays=lambda entry: entry.kind == GrowthEntryKind.EARN and entry.delta == amount,
        operation=operation,
        connection=connection,
    )


async def take_back_growth(
    *,
    brand_id: int,
    member_id: int,
    amount: int,
    key: str,
    connection: BaseDBAsyncClient | None = None,
) -> GrowthEntry | None:
    """Take back up to `amount` growth (a refund), lifetime and this year's, neither below zero.

    The level is kept: levels are lowered by the yearly requalification only. One REVERSE
    entry under `key` (None when there was no growth to take); a replay returns the first.
    """
    check_amount(amount, code=GrowthErrorCode.INVALID_AMOUNT)
    check_key(key, code=GrowthErrorCode.INVALID_KEY)
    now = clock().now()

    async def operation(db: BaseDBAsyncClient) -> GrowthEntry:
        member = await lock_member(db, brand_id=brand_id, member_id=member_id)
        taken = min(amount, member.growth)
        from_year = min(amount, member.year_growth)
        if taken <= 0:
            raise _NoGrowth
        moved = await (
            Member.filter(id=member_id, growth__gte=taken, year_growth__gte=from_year)
            .using_db(db)
            .update(growth=F("growth") - taken, year_growth=F("year_growth") - from_year)
        )
        if not moved:
            raise Conflict(MemberErrorCode.BUSY, "The member's growth changed; try again.")
        return await GrowthEntry.create(
            using_db=db,
            brand_id=brand_id,
            member_id=member_id,
            key=key,
            kind=GrowthEntryKind.REVERSE,
            delta=-taken,
            growth_after=member.growth - taken,
            year_growth_after=member.year_growth - from_year,
            level_id=member.level_id,
            created_at=now,
        )

    try:
        return await once_per_key(
            GrowthEntry,
            brand_id=brand_id,
            member_id=member_id,
            key=key,
            reused_code=GrowthErrorCode.KEY_REUSED,
            replays=lambda entry: entry.kind == GrowthEntryKind.REVERSE,
            operation=operation,
            connection=connection,
        )
    except _NoGrowth:
        # A concurrent call under the same key may have taken it all: that entry is this one's.
        return (
            await GrowthEntry.filter(brand_id=brand_id, key=key, kind=GrowthEntryKind.REVERSE)
            .using_db(connection)
            .first()
        )


class _NoGrowth(Exception):
    pass


async def move_growth_for_merge(
    *,
    brand_id: int,
    loser_id: int,
    survivor_id: int,
    key_prefix: str,
    connection: BaseDBAsyncClient,
) -> int:
    """Inside the caller's transaction, move the loser's growth to the survivor; returns it.

    Lifetime and this year's growth move together, each side with its ledger entry, so both
    members' growth still equals the sum of their entries. Levels are the merge's business.
    """
    db = connection
    out_key = check_key(f"{key_prefix}:growth:out", code=GrowthErrorCode.INVALID_KEY)
    in_key = check_key(f"{key_prefix}:growth:in", code=GrowthErrorCode.INVALID_KEY)
    done = await GrowthEntry.filter(brand_id=brand_id, key=out_key).using_db(db).first()
    if done is not None:
        return -done.delta
    members = await lock_members(db, brand_id=brand_id, member_ids=(loser_id, survivor_id))
    loser, survivor = members[loser_id], members[survivor_id]
    if loser.growth == 0 and loser.year_growth == 0:
        return 0
    now = clock().now()
    await Member.filter(id=loser_id).using_db(db).update(growth=0, year_growth=0)
    await GrowthEntry.create(
        using_db=db,
        brand_id=brand_id,
        member_id=loser_id,
        key=out_key,
        kind=GrowthEntryKind.MERGE_OUT,
        delta=-loser.growth,
        growth_after=0,
        year_growth_after=0,
        level_id=loser.level_id,
        created_at=now,
    )
    await (
        Member.filter(id=survivor_id)
        .using_db(db)
        .update(growth=F("growth") + loser.growth, year_growth=F("year_growth") + loser.year_growth)
    )
    await GrowthEntry.create(
        using_db=db,
        brand_id=brand_id,
        member_id=survivor_id,
        key=in_key,
        kind=GrowthEntryKind.MERGE_IN,
        delta=loser.growth,
        growth_after=survivor.growth + loser.growth,
        year_growth_after=survivor.year_growth + loser.year_growth,
        level_id=survivor.level_id,
        created_at=now,
    )
    return loser.growth


async def requalify_levels(*, brand_id: int, now: datetime | None = None) -> dict[str, int]:
    """The yearly check: keep the highest level this year's growth reaches, reset year_growth.

    Keyed per member by the Shanghai year of `now` (`requalify:{year}:member:{id}`), so a second
    run in the same year, or one resumed after a crash, changes nothing already done.
    """
    now = now or clock().now()
    year = to_shanghai(now).year
    counts = {"kept": 0, "upgraded": 0, "downgraded": 0, "skipped": 0}
    ladder = await list_levels(brand_id=brand_id, active_only=True)
    if not ladder:
        return counts
    member_ids = cast(
        list[int],
        await Member.filter(brand_id=brand_id)
        .exclude(status=MemberStatus.MERGED)
        .order_by("id")
        .values_list("id", flat=True),
    )
    for member_id in member_ids:
        key = f"requalify:{year}:member:{member_id}"
        for _ in range(REQUALIFY_ATTEMPTS):
            try:
                outcome = await _requalify_member(
                    brand_id=brand_id, member_id=member_id, key=key, ladder=ladder, now=now
                )
                break
            except _Stale:
                continue
        else:
            outcome = "skipped"
        counts[outcome] += 1
    return counts


async def _requalify_member(
    *, brand_id: int, member_id: int, key: str, ladder: list[Level], now: datetime
) -> str:
    if await GrowthEntry.exists(brand_id=brand_id, key=key):
        return "skipped"
    try:
        async with in_transaction() as db:
            member = await lock_member(db, brand_id=brand_id, member_id=member_id)
            reached = _reached(ladder, member.year_growth)
            before = await _rank_of(db, member.level_id)
            after_id = reached.id if reached is not None else member.level_id
            after = reached.rank if reached is not None else before
            # Guarded on the year_growth just read, so growth credited meanwhile is not wiped.
            if (
                not await Member.filter(id=member_id, year_growth=member.year_growth)
                .using_db(db)
                .update(level_id=after_id, year_growth=0)
            ):
                raise _Stale
            await GrowthEntry.create(
                using_db=db,
                brand_id=brand_id,
                member_id=member_id,
                key=key,
                kind=GrowthEntryKind.REQUALIFY,
                delta=0,
                growth_after=member.growth,
                year_growth_after=0,
                level_id=after_id,
                created_at=now,
            )
    except IntegrityError:
        return "skipped"  # a concurrent run did this member
    if after < before:
        return "downgraded"
    if after > before and before >= 0:
        return "upgraded"
    return "kept"


# ---------------------------------------------------------------- reads


async def level_of(*, brand_id: int, member_id: int) -> Level | None:
    """The member's level; the entry level if they have none yet; None if the brand has no ladder."""
    return await _level_of(await find_member(brand_id=brand_id, member_id=member_id))


async def _level_of(member: Member) -> Level | None:
    if member.level_id is not None:
        return await Level.get_or_none(id=member.level_id, brand_id=member.brand_id)
    return await Level.filter(brand_id=member.brand_id, rank=0).first()


async def level_progress(*, brand_id: int, member_id: int) -> LevelProgress:
    """The member's level, the next one up, and the growth still needed to reach it."""
    member = await find_member(brand_id=brand_id, member_id=member_id)
    level = await _level_of(member)
    above = Level.filter(brand_id=brand_id, active=True)
    if level is not None:
        above = above.filter(rank__gt=level.rank)
    next_level = await above.order_by("rank").first()
    return LevelProgress(
        level=level,
        next_level=next_level,
        growth=member.growth,
        year_growth=member.year_growth,
        growth_to_next=(
            max(0, next_level.growth_threshold - member.year_growth) if next_level else None
        ),
    )
