"""The benchmark's fixtures: codes issued in bulk are real codes the till resolves."""

from __future__ import annotations

import pytest

from api.core.clock import FrozenClock
from api.member_center import member_code
from api.org.models import StaffRole
from bench.seed import issue_codes
from tests.factories import make_brand, make_member, make_staff


@pytest.mark.usefixtures("ports")
async def test_bulk_issued_codes_resolve(clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    staff = await make_staff(brand=brand, role=StaffRole.CASHIER, password_hash="!")

    codes = await issue_codes(brand_id=brand.id, member_id=member.id, count=50, ttl_s=600, batch=20)

    assert len(set(codes)) == 50
    resolved = await member_code.resolve_member_code(
        brand_id=brand.id, staff_id=staff.id, code=codes[-1]
    )
    assert resolved.member_id == member.id
