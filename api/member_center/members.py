"""Reading members: the one behind a token (following merges), and finding one by id."""

from __future__ import annotations

import secrets

from api.core.auth import Principal
from api.core.errors import NotFound, Unauthorized

from .error_codes import MemberErrorCode, SignInErrorCode
from .models import Member, MemberStatus

MAX_MERGE_HOPS = 8


async def member_for_token(*, brand_id: int, member_id: int) -> Member:
    """The member a token speaks for; a merged member's token speaks for the survivor."""
    member = await Member.get_or_none(id=member_id, brand_id=brand_id)
    hops = 0
    while member is not None and member.status == MemberStatus.MERGED and hops < MAX_MERGE_HOPS:
        member = await Member.get_or_none(id=member.merged_into_id, brand_id=brand_id)
        hops += 1
    if member is None or member.status in (MemberStatus.MERGED, MemberStatus.ERASED):
        raise Unauthorized(
            SignInErrorCode.MEMBER_GONE, "This member no longer exists; sign in again."
        )
    return member


async def resolve_member(principal: Principal) -> Member:
    """The token resolver for member tokens (registered by `api.wiring`)."""
    return await member_for_token(brand_id=principal.brand_id, member_id=principal.subject_id)


async def find_member(*, brand_id: int, member_id: int) -> Member:
    """A member of the brand in any state (merged and erased ones too); 404 for foreign ones."""
    member = await Member.get_or_none(id=member_id, brand_id=brand_id)
    if member is None:
        raise NotFound(MemberErrorCode.NOT_FOUND, "No such member.")
    return member


async def get_member(*, brand_id: int, member_id: int) -> Member:
    """A live member of the brand; 404 `member.not_found` for merged, erased or foreign ones."""
    member = await find_member(brand_id=brand_id, member_id=member_id)
    if member.status in (MemberStatus.MERGED, MemberStatus.ERASED):
        raise NotFound(MemberErrorCode.NOT_FOUND, "No such member.")
    return member


def new_member_no() -> str:
    """A member number printed on cards and receipts: 'M' + 12 random digits."""
    return "M" + "".join(secrets.choice("0123456789") for _ in range(12))


def mask_phone(phone: str) -> str:
    """138****5678: what anyone but the owner sees of a phone number."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"
