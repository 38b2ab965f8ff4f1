"""The mall-order benchmark: the members it seeds and the requests it prepares create real
orders, each with its member's coupon and points, and its stock check finds an oversold SKU."""

from __future__ import annotations

from pathlib import Path

import pytest
from tortoise.expressions import F

from api.mall.models import MallOrder, Sku
from bench.mall_orders import POINTS_PER_ORDER, oversold, seed_mall, write_orders
from tests.support.api import Api

from .test_notifications import read_requests


async def test_each_prepared_order_is_created_with_its_members_coupon_and_points(
    api: Api, tmp_path: Path
) -> None:
    seeded = await seed_mall(members=3, scarce_members=1)
    plenty = seeded["skus"]["plenty"]
    path = tmp_path / "orders.txt"

    written = write_orders(plenty, seeded["members"], path)
    answers = [
        await api.client.post(target, headers=headers, content=body)
        for target, headers, body in read_requests(path)
    ]

    assert written == 3
    assert [a.status_code for a in answers] == [201] * 3, answers[0].text
    orders = await MallOrder.filter(brand_id=seeded["brand_id"]).order_by("id")
    assert len({o.member_id for o in orders}) == 3
    assert {(o.coupon_discount_fen, o.points_used) for o in orders} == {(1_000, POINTS_PER_ORDER)}
    assert await oversold(seeded["brand_id"], seeded["stock"]) == []


@pytest.mark.usefixtures("ports")
async def test_the_stock_check_finds_units_taken_that_no_order_holds() -> None:
    seeded = await seed_mall(members=1, scarce_members=0)
    scarce = seeded["skus"]["scarce"]

    await Sku.filter(id=scarce).update(stock=F("stock") - 1)
    problems = await oversold(seeded["brand_id"], seeded["stock"])

    assert problems == [f"sku {scarce}: 50 - 49 left, 0 in orders"]
