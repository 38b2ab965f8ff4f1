"""Fixtures for the benchmark, created through the same services the API uses."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from api.core import ports
from api.member_center import identity, member_code
from api.member_center.members import mask_phone, new_member_no
from api.member_center.models import Member, MemberStatus
from api.org.demo import bootstrap_demo
from api.org.models import StaffRole

from .notifications import seed_payments

BENCH_MEMBER_NICKNAME = "bench member"
# Codes must outlive every scenario of the run, not the brand's 60 s.
BENCH_CODE_TTL_S = 6 * 3600


async def _bench_member(brand_id: int) -> Member:
    member = await Member.filter(brand_id=brand_id, nickname=BENCH_MEMBER_NICKNAME).first()
    if member is None:
        member = await Member.create(
            brand_id=brand_id,
            member_no=new_member_no(),
            status=MemberStatus.MEMBER,
            nickname=BENCH_MEMBER_NICKNAME,
            phone_masked=mask_phone("13800000000"),
        )
    return member


async def issue_codes(
    *, brand_id: int, member_id: int, count: int, ttl_s: int, batch: int = 500
) -> list[str]:
    """Store `count` fresh codes for one member, `batch` at a time, for wrk to resolve."""
    now = ports.clock().now().timestamp()
    codes: list[str] = []
    for start in range(0, count, batch):
        codes += await asyncio.gather(
            *(
                member_code.store_member_code(
                    brand_id=brand_id, member_id=member_id, ttl_s=ttl_s, now=now
                )
                for _ in range(min(batch, count - start))
            )
        )
    return codes


def _cashier_token(demo: dict[str, Any]) -> str | None:
    for store in demo["stores"]:
        for person in store["staff"]:
            if person["role"] == StaffRole.CASHIER.value:
                return person["token"]
    return None


async def seed(
    *, codes: int, codes_file: Path, notifications: int = 0, platforms: list[str] | None = None
) -> dict[str, Any]:
    """The demo brand, its tokens and (when asked) a file of fresh member codes, and
    `notifications` unpaid payments on each of `platforms` (see `notifications`)."""
    demo = await bootstrap_demo(once=True)
    brand_id = demo["brand"]["id"]
    member = await _bench_member(brand_id)
    issued = await issue_codes(
        brand_id=brand_id, member_id=member.id, count=codes, ttl_s=BENCH_CODE_TTL_S
    )
    codes_file.write_text("".join(code + "\n" for code in issued))
    payments = (
        await seed_payments(
            demo=demo, count=notifications, work=codes_file.parent, platforms=platforms or []
        )
        if notifications
        else {}
    )
    return {
        "notifications": payments,
        "tokens": {
            "hq_admin": demo["hq_admin"]["token"],
            "member": identity.member_token(member),
            "cashier": _cashier_token(demo),
        },
        "ids": {"brand_id": brand_id, "member_id": member.id},
    }
