"""A member merge moves the loser's cart and orders to the survivor (a merge step, see
`api/wiring.py`): the same SKU in both carts becomes one line, quantities summed."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

from .cart import move_cart_for_merge
from .models import MallOrder


async def move_mall_for_merge(
    *, brand_id: int, loser_id: int, survivor_id: int, connection: BaseDBAsyncClient
) -> None:
    """Give the loser's cart and orders to the survivor."""
    await move_cart_for_merge(
        brand_id=brand_id, loser_id=loser_id, survivor_id=survivor_id, connection=connection
    )
    await (
        MallOrder.filter(brand_id=brand_id, member_id=loser_id)
        .using_db(connection)
        .update(member_id=survivor_id)
    )
