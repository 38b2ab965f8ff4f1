"""The member's own profile: read, edit, export everything held, erase on request."""

from __future__ import annotations

from datetime import date
from typing import Any

from tortoise.transactions import in_transaction

from api.core import audit
from api.core.clock import to_shanghai
from api.core.crypto import decrypt
from api.core.errors import Conflict, InvalidInput
from api.core.ports import clock

from .error_codes import MemberErrorCode, RequestErrorCode
from .members import get_member
from .models import (
    Gender,
    GrowthEntry,
    Member,
    MemberIdentity,
    MemberRelation,
    MemberStatus,
    MemberTag,
    PointsEntry,
    WalletEntry,
)
from .schemas.profile import ExportOut, MemberOut, ProfileUpdate


async def load_profile(*, brand_id: int, member_id: int) -> MemberOut:
    """The member with their level, home store and guide, in one query."""
    member = (
        await Member.filter(id=member_id, brand_id=brand_id)
        .select_related("level", "home_store", "guide")
        .first()
    )
    if member is None:
        member = await get_member(brand_id=brand_id, member_id=member_id)
    return MemberOut.of(member)


async def member_profile(member: Member) -> MemberOut:
    """The profile of a member already loaded (the caller): relations fetched only when set."""
    related = [
        name
        for name, key in (
            ("level", member.level_id),
            ("home_store", member.home_store_id),
            ("guide", member.guide_id),
        )
        if key is not None
    ]
    if related:
        await member.fetch_related(*related)
    return MemberOut.of(member)


async def update_profile(*, brand_id: int, member_id: int, data: ProfileUpdate) -> MemberOut:
    """Change nickname, avatar, gender; the birthday can be set once (birthday benefits)."""
    member = await get_member(brand_id=brand_id, member_id=member_id)
    changes = data.model_dump(exclude_unset=True, mode="json")
    if "birthday" in changes:
        birthday = data.birthday
        if birthday is None:
            raise InvalidInput(MemberErrorCode.BIRTHDAY_REQUIRED, "A birthday cannot be removed.")
        today = to_shanghai(clock().now()).date()
        if birthday > today or birthday < date(1900, 1, 1):
            raise InvalidInput(MemberErrorCode.BIRTHDAY_INVALID, "That birthday is not possible.")
        if member.birthday is not None and member.birthday != birthday:
            raise Conflict(MemberErrorCode.BIRTHDAY_LOCKED, "The birthday can only be set once.")
        changes["birthday"] = birthday
    for name in ("nickname", "gender", "avatar_url"):
        if name in changes and changes[name] is None:
            raise InvalidInput(RequestErrorCode.INVALID, f"{name} cannot be null.")
    if changes:
        await Member.filter(id=member.id).update(**changes)
    return await load_profile(brand_id=brand_id, member_id=member.id)


def _rows(rows: list[Any], *fields: str) -> list[dict[str, Any]]:
    return [{name: getattr(row, name) for name in fields} for row in rows]


async def export_member(*, brand_id: int, member_id: int) -> ExportOut:
    """Everything held about the member, for the member themself (phone in clear)."""
    member = await get_member(brand_id=brand_id, member_id=member_id)
    phone = decrypt(member.phone_enc) if member.phone_enc else None
    mine = {"brand_id": brand_id, "member_id": member.id}
    identities = await MemberIdentity.filter(**mine).order_by("id")
    tags = await MemberTag.filter(**mine).select_related("tag")
    return ExportOut(
        member={
            "member_no": member.member_no,
            "status": member.status.value,
            "nickname": member.nickname,
            "avatar_url": member.avatar_url,
            "gender": member.gender.value,
            "birthday": member.birthday,
            "phone": phone,
            "level_id": member.level_id,
            "growth": member.growth,
            "points_balance": member.points_balance,
            "wallet_principal_fen": member.wallet_principal_fen,
            "wallet_bonus_fen": member.wallet_bonus_fen,
            "home_store_id": member.home_store_id,
            "guide_id": member.guide_id,
            "registered_at": member.registered_at,
            "created_at": member.created_at,
        },
        identities=[
            {
                "kind": row.kind.value,
                "app_id": row.app_id,
                # A phone identity is a keyed hash; the number is in `member.phone`.
                "value": "(phone)" if row.kind == "phone" else row.value,
                "created_at": row.created_at,
            }
            for row in identities
        ],
        points_entries=_rows(
            await PointsEntry.filter(**mine).order_by("id"),
            "key",
            "kind",
            "delta",
            "balance_after",
            "reason",
            "created_at",
        ),
        wallet_entries=_rows(
            await WalletEntry.filter(**mine).order_by("id"),
            "key",
            "kind",
            "principal_delta_fen",
            "bonus_delta_fen",
            "reason",
            "created_at",
        ),
        growth_entries=_rows(
            await GrowthEntry.filter(**mine).order_by("id"),
            "key",
            "kind",
            "delta",
            "growth_after",
            "created_at",
        ),
        relations=_rows(
            await MemberRelation.filter(**mine).order_by("id"),
            "store_id",
            "guide_id",
            "source",
            "scene",
            "started_at",
            "ended_at",
        ),
        tags=[row.tag.name for row in tags],
        exported_at=clock().now(),
    )


async def erase_member(*, brand_id: int, member_id: int) -> None:
    """Anonymise personal data on request; ledgers stay for accounting, identities are freed."""
    member = await get_member(brand_id=brand_id, member_id=member_id)
    async with in_transaction() as db:
        erased = (
            await Member.filter(
                id=member.id, status__in=(MemberStatus.VISITOR, MemberStatus.MEMBER)
            )
            .using_db(db)
            .update(
                status=MemberStatus.ERASED,
                nickname="",
                avatar_url="",
                gender=Gender.UNKNOWN,
                birthday=None,
                phone_enc=None,
                phone_masked="",
            )
        )
        if not erased:
            return
        await MemberIdentity.filter(member_id=member.id).using_db(db).delete()
        await MemberTag.filter(member_id=member.id).using_db(db).delete()
        await (
            MemberRelation.filter(member_id=member.id, ended_at=None)
            .using_db(db)
            .update(ended_at=clock().now())
        )
        await audit.record(
            brand_id=brand_id,
            actor=f"member:{member.id}",
            action="member.erase",
            target=f"member:{member.id}",
            connection=db,
        )
