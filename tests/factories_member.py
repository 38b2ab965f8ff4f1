"""Factories for members and what hangs off them."""

from __future__ import annotations

import itertools
from typing import Any

from api.member_center.models import Member, MemberStatus

_numbers = itertools.count(1)


async def make_member(*, brand: Any, status: MemberStatus = MemberStatus.MEMBER, **fields: Any) -> Member:
    """A member of `brand` with no ledgers; balances are set through the services, not here."""
    number = next(_numbers)
    return await Member.create(
        brand_id=brand.id,
        member_no=fields.pop("member_no", f"T{number:010d}"),
        status=status,
        nickname=fields.pop("nickname", f"member {number}"),
        **fields,
    )
