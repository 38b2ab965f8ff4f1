"""Merging two members who turn out to be one person.

A merge happens in ONE transaction: the loser's identities, points lots, wallet, growth, tags and
relations move to the survivor, the three ledgers keep summing to their balances, the loser is marked
`merged` (its tokens then speak for the survivor) and an audit row records it. Later domains
(coupons, orders) add their own step with `register_merge_step`, called from `api.wiring.wire()`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from api.core import audit
from api.core.ports import clock

from . import levels, points, wallet
from .ledger import lock_members
from .models import Level, Member, MemberIdentity, MemberRelation, MemberStatus, MemberTag


class MergeStep(Protocol):
    def __call__(
        self, *, brand_id: int, loser_id: int, survivor_id: int, connection: BaseDBAsyncClient
    ) -> Awaitable[None]: ...


_STEPS: list[Callable[..., Awaitable[None]]] = []


def register_merge_step(step: MergeStep) -> None:
    """Let another domain move its rows (coupons, orders) inside every merge transaction."""
    if step not in _STEPS:
        _STEPS.append(step)


def merge_steps() -> list[Callable[..., Awaitable[None]]]:
    """The steps registered so far, in the order they run."""
    return list(_STEPS)


def choose_survivor(members: list[Member]) -> Member:
    """Registered members win over visitors; among equals the oldest (lowest id) survives."""
    return min(members, key=lambda m: (m.status != MemberStatus.MEMBER, m.id))


async def merge_members(
    *,
    brand_id: int,
    survivor_id: int,
    loser_id: int,
    reason: str,
    actor: str = "system",
    connection: BaseDBAsyncClient | None = None,
) -> Member:
    """Fold `loser` into `survivor`; a loser already merged makes this a no-op."""
    if connection is None:
        async with in_transaction() as db:
            return await _merge(db, brand_id, survivor_id, loser_id, reason, actor)
    return await _merge(connection, brand_id, survivor_id, loser_id, reason, actor)


async def _merge(
    db: BaseDBAsyncClient, brand_id: int, survivor_id: int, loser_id: int, reason: str, actor: str
) -> Member:
    if survivor_id == loser_id:
        return await Member.filter(id=survivor_id).using_db(db).get()
    # Both rows locked (PostgreSQL), so a concurrent merge of the same pair waits.
    await lock_members(db, brand_id=brand_id, member_ids=(survivor_id, loser_id))
    loser = await Member.filter(id=loser_id, brand_id=brand_id).using_db(db).get()
    survivor = await Member.filter(id=survivor_id, brand_id=brand_id).using_db(db).get()
    live = (MemberStatus.VISITOR, MemberStatus.MEMBER)
    if loser.status not in live or survivor.status not in live:
        return survivor
    claimed = (
        await Member.filter(id=loser_id, brand_id=brand_id, status__in=live)
        .using_db(db)
        .update(status=MemberStatus.MERGED, merged_into_id=survivor_id)
    )
    if not claimed:
        return survivor
    key_prefix = f"merge:{loser_id}:{survivor_id}"

    await MemberIdentity.filter(member_id=loser_id).using_db(db).update(member_id=survivor_id)
    moved_points = await points.move_points_for_merge(
        brand_id=brand_id,
        loser_id=loser_id,
        survivor_id=survivor_id,
        key_prefix=key_prefix,
        connection=db,
    )
    moved_wallet = await wallet.move_wallet_for_merge(
        brand_id=brand_id,
        loser_id=loser_id,
        survivor_id=survivor_id,
        key_prefix=key_prefix,
        connection=db,
    )
    await _move_tags(db, loser_id, survivor_id)
    await _move_relations(db, loser, survivor)
    for step in _STEPS:
        await step(brand_id=brand_id, loser_id=loser_id, survivor_id=survivor_id, connection=db)

    await _fold_profile(db, loser, survivor)
    moved_growth = await levels.move_growth_for_merge(
        brand_id=brand_id,
        loser_id=loser_id,
        survivor_id=survivor_id,
        key_prefix=key_prefix,
        connection=db,
    )
    await audit.record(
        brand_id=brand_id,
        actor=actor,
        action="member.merge",
        target=f"member:{survivor_id}",
        details={
            "loser_id": loser_id,
            "survivor_id": survivor_id,
            "reason": reason,
            "points_moved": moved_points,
            "wallet_moved_fen": moved_wallet.principal_fen + moved_wallet.bonus_fen,
            "growth_moved": moved_growth,
        },
        connection=db,
    )
    return await Member.filter(id=survivor_id).using_db(db).get()


async def _move_tags(db: BaseDBAsyncClient, loser_id: int, survivor_id: int) -> None:
    kept = set(
        await MemberTag.filter(member_id=survivor_id).using_db(db).values_list("tag_id", flat=True)
    )
    await MemberTag.filter(member_id=loser_id, tag_id__in=kept).using_db(db).delete()
    await MemberTag.filter(member_id=loser_id).using_db(db).update(member_id=survivor_id)


async def _move_relations(db: BaseDBAsyncClient, loser: Member, survivor: Member) -> None:
    survivor_bound = (
        await MemberRelation.filter(member_id=survivor.id, ended_at=None).using_db(db).exists()
    )
    if survivor_bound:
        await (
            MemberRelation.filter(member_id=loser.id, ended_at=None)
            .using_db(db)
            .update(ended_at=clock().now())
        )
    await MemberRelation.filter(member_id=loser.id).using_db(db).update(member_id=survivor.id)
    if not survivor_bound and (loser.home_store_id or loser.guide_id):
        await (
            Member.filter(id=survivor.id)
            .using_db(db)
            .update(home_store_id=loser.home_store_id, guide_id=loser.guide_id)
        )


async def _fold_profile(db: BaseDBAsyncClient, loser: Member, survivor: Member) -> None:
    """The survivor keeps its own data and fills the gaps from the loser's."""
    changes: dict[str, object] = {}
    for name in ("nickname", "avatar_url", "phone_enc", "phone_masked", "birthday"):
        if not getattr(survivor, name) and getattr(loser, name):
            changes[name] = getattr(loser, name)
    if survivor.gender == "unknown" and loser.gender != "unknown":
        changes["gender"] = loser.gender
    if loser.status == MemberStatus.MEMBER and survivor.status != MemberStatus.MEMBER:
        changes["status"] = MemberStatus.MEMBER
        changes["registered_at"] = loser.registered_at or clock().now()
    elif loser.registered_at and (
        survivor.registered_at is None or loser.registered_at < survivor.registered_at
    ):
        changes["registered_at"] = loser.registered_at
    levels = {
        level.id: level.rank
        for level in await Level.filter(
            id__in=[loser.level_id or 0, survivor.level_id or 0]
        ).using_db(db)
    }
    if loser.level_id and levels.get(loser.level_id, -1) > levels.get(survivor.level_id or 0, -1):
        changes["level_id"] = loser.level_id
    if changes:
        await Member.filter(id=survivor.id).using_db(db).update(**changes)
