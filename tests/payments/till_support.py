"""A chain brand at the till: cashiers at its stores, members with stored value and a level,
and the calls a till makes."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from api.member_center import levels, wallet
from api.member_center.models import Level, Member
from api.org.models import StaffRole, Store
from tests.factories import make_member, make_staff, member_token, staff_token
from tests.support.api import Answer, Api

from .chain import Chain, make_chain

_keys = itertools.count(1)


@dataclass
class Till:
    chain: Chain
    franchise_cashier: str  # staff tokens
    direct_cashier: str
    hq_admin: str

    @property
    def brand_id(self) -> int:
        return self.chain.brand.id


async def make_till(**brand_fields: Any) -> Till:
    chain = await make_chain(**brand_fields)
    franchise = await Store.get(id=chain.franchise_store_id)
    direct = await Store.get(id=chain.direct_store_id)
    return Till(
        chain,
        staff_token(await make_staff(brand=chain.brand, role=StaffRole.CASHIER, store=franchise)),
        staff_token(await make_staff(brand=chain.brand, role=StaffRole.CASHIER, store=direct)),
        staff_token(await make_staff(brand=chain.brand, role=StaffRole.HQ_ADMIN)),
    )


async def funded_member(till: Till, *, wallet_fen: int = 0, discount_pct: int = 100) -> Member:
    """A member with `wallet_fen` of stored value, at a level with `discount_pct` if not 100."""
    level_id = None
    if discount_pct != 100:
        rank = await Level.filter(brand_id=till.brand_id).count()
        level = await levels.create_level(
            brand_id=till.brand_id,
            name=f"L{rank}",
            rank=rank,
            growth_threshold=rank * 1000,
            discount_pct=discount_pct,
        )
        level_id = level.id
    member = await make_member(brand=till.chain.brand, level_id=level_id)
    if wallet_fen:
        await wallet.recharge_wallet(
            brand_id=till.brand_id,
            member_id=member.id,
            principal_fen=wallet_fen,
            key=f"seed:{member.id}",
        )
    return member


async def member_code(api: Api, member: Member) -> str:
    """A fresh code, as the member's phone shows it (GET /me/code)."""
    answer = await api.get("/me/code", token=member_token(member))
    assert answer.status == 200, answer
    return str(answer.json["code"])


async def ring_up(api: Api, token: str, store_id: int, amount_fen: int, **fields: Any) -> int:
    answer = await api.post(
        "/pos/orders", {"store_id": store_id, "amount_fen": amount_fen, **fields}, token=token
    )
    assert answer.status == 201, answer
    return int(answer.json["id"])


async def pay(
    api: Api, token: str, order_id: int, method: str, auth_code: str, *, key: str | None = None
) -> Answer:
    return await api.post(
        f"/pos/orders/{order_id}/pay",
        {"method": method, "auth_code": auth_code},
        token=token,
        headers={"Idempotency-Key": key or f"till-{next(_keys)}"},
    )
