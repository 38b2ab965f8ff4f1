"""Mall orders: priced by the server, created once per key, never oversold, given back once."""

from __future__ import annotations

import asyncio

import pytest

from api.core.clock import FrozenClock
from api.core.errors import Conflict
from api.coupons.models import Coupon, CouponState, OrderCoupon
from api.mall import orders
from api.mall.models import CartItem, MallOrder, MallOrderLine, OrderState, Sku
from api.member_center.models import Member, PointsEntry
from tests.factories import make_member, member_token
from tests.support.api import Api

from .orders_support import ADDRESS, coupon_for, delivery, rich_member
from .support import make_shelf

SETTINGS = {"points_frozen_days": 0}


def _body(shelf, **fields):  # type: ignore[no-untyped-def]
    values = {
        "items": [
            {"sku_id": shelf.shirt.id, "quantity": 1},
            {"sku_id": shelf.socks.id, "quantity": 3},
        ],
        "fulfilment": "delivery",
        "address": ADDRESS,
    }
    values.update(fields)
    return values


async def test_the_preview_is_the_order_created(api: Api) -> None:
    shelf = await make_shelf(**SETTINGS)
    member = await rich_member(shelf)
    coupon = await coupon_for(shelf, member)
    token = member_token(member)
    wanted = _body(shelf, coupon_ids=[coupon.id], points_to_use=5_000)

    preview = await api.post("/mall/orders/preview", wanted, token=token)
    created = await api.post("/mall/orders", wanted, token=token, headers={"Idempotency-Key": "k1"})

    assert preview.status == 200 and created.status == 201, created
    assert created.json["amounts"] == preview.json["amounts"]
    assert [{k: v for k, v in line.items() if k != "spec"} for line in created.json["lines"]] == [
        {k: v for k, v in line.items() if k != "spec"} for line in preview.json["lines"]
    ]
    # gold: shirt at its own 8 000, socks 6 000 at 90 %, 10 off, 5 000 points, free delivery
    assert created.json["amounts"] == {
        "list_fen": 16_000,
        "member_price_discount_fen": 2_000,
        "level_discount_fen": 600,
        "coupon_discount_fen": 1_000,
        "points_used": 5_000,
        "points_discount_fen": 5_000,
        "delivery_fee_fen": 0,
        "payable_fen": 7_400,
    }
    assert created.json["state"] == "pending_payment"
    assert (await Coupon.get(id=coupon.id)).state is CouponState.LOCKED
    assert (await Member.get(id=member.id)).points_balance == 5_000
    assert [
        s.stock for s in await Sku.filter(id__in=[shelf.shirt.id, shelf.socks.id]).order_by("id")
    ] == [49, 47]


async def test_amounts_a_client_sends_are_not_read(api: Api) -> None:
    shelf = await make_shelf(**SETTINGS)
    member = await rich_member(shelf, points=0)
    wanted = _body(
        shelf,
        items=[{"sku_id": shelf.socks.id, "quantity": 1, "price_fen": 1}],
        payable_fen=1,
        delivery_fee_fen=0,
        discount_pct=1,
    )

    created = await api.post(
        "/mall/orders", wanted, token=member_token(member), headers={"Idempotency-Key": "k"}
    )

    assert created.status == 201, created
    # 2 000 at gold's 90 % = 1 800, below the free-delivery threshold: the brand's 1 000 fee
    assert created.json["amounts"]["payable_fen"] == 2_800
    assert created.json["amounts"]["delivery_fee_fen"] == 1_000


async def test_the_same_key_answers_the_first_order_and_another_body_is_refused(api: Api) -> None:
    shelf = await make_shelf(**SETTINGS)
    member = await rich_member(shelf)
    token = member_token(member)
    headers = {"Idempotency-Key": "same"}

    first = await api.post("/mall/orders", _body(shelf), token=token, headers=headers)
    again = await api.post("/mall/orders", _body(shelf), token=token, headers=headers)
    other = await api.post(
        "/mall/orders", _body(shelf, points_to_use=100), token=token, headers=headers
    )
    no_key = await api.post("/mall/orders", _body(shelf), token=token)

    assert first.status == 201 and again.status == 201
    assert again.json["id"] == first.json["id"]
    assert (other.status, other.error_code) == (409, "mall_order.key_reused")
    assert (no_key.status, no_key.error_code) == (422, "request.idempotency_key_required")
    assert await MallOrder.all().count() == 1
    assert (await Sku.get(id=shelf.shirt.id)).stock == 49


async def test_twenty_concurrent_creates_with_one_key_make_one_order() -> None:
    shelf = await make_shelf(**SETTINGS)
    member = await rich_member(shelf)
    coupon = await coupon_for(shelf, member)
    request = delivery(shelf, coupon_ids=(coupon.id,), points_to_use=1_000)

    made = await asyncio.gather(
        *(
            orders.create_order(
                brand_id=shelf.brand.id, member_id=member.id, request_key="k", request=request
            )
            for _ in range(20)
        ),
        return_exceptions=True,
    )

    assert {o.id for o in made if isinstance(o, MallOrder)} == {(await MallOrder.get()).id}
    assert not [e for e in made if not isinstance(e, MallOrder)], made
    assert await PointsEntry.filter(member_id=member.id, kind="spend").count() == 1
    assert (await Member.get(id=member.id)).points_balance == 9_000
    assert [s.stock for s in await Sku.all().order_by("id")] == [49, 47]


async def test_a_hundred_buyers_for_ten_units_make_exactly_ten_orders() -> None:
    shelf = await make_shelf(stock=10, **SETTINGS)
    buyers = [await make_member(brand=shelf.brand) for _ in range(100)]
    request = delivery(shelf, items=[(shelf.shirt.id, 1)])

    results = await asyncio.gather(
        *(
            orders.create_order(
                brand_id=shelf.brand.id, member_id=b.id, request_key="buy", request=request
            )
            for b in buyers
        ),
        return_exceptions=True,
    )

    made = [r for r in results if isinstance(r, MallOrder)]
    refused = [r for r in results if not isinstance(r, MallOrder)]
    assert len(made) == 10
    assert {getattr(r, "code", repr(r)) for r in refused} == {"mall_order.out_of_stock"}
    assert (await Sku.get(id=shelf.shirt.id)).stock == 0
    assert await MallOrder.all().count() == 10
    assert await MallOrderLine.all().count() == 10


async def test_an_order_short_of_stock_holds_nothing(api: Api) -> None:
    shelf = await make_shelf(stock=2, **SETTINGS)
    member = await rich_member(shelf)
    coupon = await coupon_for(shelf, member)

    with pytest.raises(Conflict) as refused:
        await orders.create_order(
            brand_id=shelf.brand.id,
            member_id=member.id,
            request_key="k",
            request=delivery(shelf, coupon_ids=(coupon.id,), points_to_use=1_000),
        )

    assert refused.value.code == "mall_order.out_of_stock"
    assert await MallOrder.all().count() == 0
    assert (await Coupon.get(id=coupon.id)).state is CouponState.AVAILABLE
    assert await OrderCoupon.all().count() == 0
    assert (await Member.get(id=member.id)).points_balance == 10_000
    assert [s.stock for s in await Sku.all().order_by("id")] == [2, 2]


async def test_an_unpaid_order_closes_after_the_timeout_and_gives_everything_back_once(
    clock: FrozenClock,
) -> None:
    shelf = await make_shelf(mall_order_timeout_min=15, **SETTINGS)
    member = await rich_member(shelf)
    coupon = await coupon_for(shelf, member)
    order = await orders.create_order(
        brand_id=shelf.brand.id,
        member_id=member.id,
        request_key="k",
        request=delivery(shelf, coupon_ids=(coupon.id,), points_to_use=2_000),
    )

    early = await orders.close_expired_orders()
    clock.advance(minutes=15)
    closed = await asyncio.gather(*(orders.close_expired_orders() for _ in range(5)))
    later = await orders.close_expired_orders()

    assert (early, sum(closed), later) == (0, 1, 0)
    assert (await MallOrder.get(id=order.id)).state is OrderState.CLOSED
    assert [s.stock for s in await Sku.all().order_by("id")] == [50, 50]
    assert (await Coupon.get(id=coupon.id)).state is CouponState.AVAILABLE
    assert (await Member.get(id=member.id)).points_balance == 10_000
    assert (
        await PointsEntry.filter(member_id=member.id, key=f"mall_order:return:{order.id}").count()
        == 1
    )


async def test_the_member_cancels_an_unpaid_order_once(api: Api) -> None:
    shelf = await make_shelf(**SETTINGS)
    member = await rich_member(shelf)
    token = member_token(member)
    created = await api.post(
        "/mall/orders",
        _body(shelf, points_to_use=300),
        token=token,
        headers={"Idempotency-Key": "c"},
    )
    path = f"/mall/orders/{created.json['id']}/cancel"

    first, second = await asyncio.gather(api.post(path, token=token), api.post(path, token=token))
    stranger = await api.post(path, token=member_token(await make_member(brand=shelf.brand)))
    listed = await api.get("/mall/orders", token=token, params={"state": "cancelled"})

    assert (first.status, second.status) == (200, 200)
    assert first.json["state"] == second.json["state"] == "cancelled"
    assert (stranger.status, stranger.error_code) == (404, "mall_order.not_found")
    assert [o["id"] for o in listed.json["items"]] == [created.json["id"]]
    assert (await Member.get(id=member.id)).points_balance == 10_000
    assert [s.stock for s in await Sku.all().order_by("id")] == [50, 50]


async def test_an_order_from_the_cart_takes_the_selected_lines_out_of_it(api: Api) -> None:
    shelf = await make_shelf(**SETTINGS)
    member = await rich_member(shelf)
    token = member_token(member)
    await api.post("/mall/cart", {"sku_id": shelf.shirt.id, "quantity": 2}, token=token)
    kept = await api.post("/mall/cart", {"sku_id": shelf.socks.id, "quantity": 1}, token=token)
    await api.patch(
        f"/mall/cart/items/{kept.json['items'][1]['id']}", {"selected": False}, token=token
    )

    created = await api.post(
        "/mall/orders",
        {"from_cart": True, "fulfilment": "delivery", "address": ADDRESS},
        token=token,
        headers={"Idempotency-Key": "cart"},
    )

    assert [(ln["sku_id"], ln["quantity"]) for ln in created.json["lines"]] == [(shelf.shirt.id, 2)]
    assert [i.sku_id for i in await CartItem.filter(member_id=member.id)] == [shelf.socks.id]


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"items": None}, 422, "mall_order.items_invalid"),
        ({"from_cart": True}, 422, "mall_order.items_invalid"),
        ({"items": []}, 422, "request.invalid"),
        ({"items": [{"sku_id": 1, "quantity": 0}]}, 422, "request.invalid"),
        ({"items": [{"sku_id": 1, "quantity": 1000}]}, 422, "request.invalid"),
        ({"fulfilment": "drone"}, 422, "request.invalid"),
        ({"address": None}, 422, "mall_order.address_required"),
        ({"fulfilment": "pickup"}, 422, "mall_order.store_required"),
        ({"fulfilment": "pickup", "store_id": 999_999}, 404, "mall_order.store_not_found"),
        ({"points_to_use": -1}, 422, "request.invalid"),
        ({"coupon_ids": [1, 1]}, 422, "coupon.listed_twice"),
        ({"coupon_ids": [999_999]}, 404, "coupon.not_found"),
        ({"items": [{"sku_id": 999_999, "quantity": 1}]}, 404, "sku.not_found"),
        ({"address": {"name": "x", "phone": "123", "detail": "y"}}, 422, "request.invalid"),
    ],
)
async def test_a_bad_order_is_refused_and_holds_nothing(
    api: Api, change: dict[str, object], status: int, code: str
) -> None:
    shelf = await make_shelf(**SETTINGS)
    member = await rich_member(shelf)

    answer = await api.post(
        "/mall/orders",
        _body(shelf, **change),
        token=member_token(member),
        headers={"Idempotency-Key": "bad"},
    )

    assert (answer.status, answer.error_code) == (status, code), answer
    assert await MallOrder.all().count() == 0
    assert [s.stock for s in await Sku.all().order_by("id")] == [50, 50]
