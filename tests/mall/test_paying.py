"""Paying a mall order: WeChat Pay through the sandbox's notification, or the stored value; a
pickup order is then handed over at its store, once."""

from __future__ import annotations

import asyncio

import pytest

from api.core.clock import FrozenClock
from api.core.models import OutboxMessage
from api.coupons.models import Coupon, CouponState
from api.mall import orders
from api.mall.models import Fulfilment, MallOrder, OrderState, Sku
from api.mall.orders import OrderRequest
from api.member_center import wallet
from api.member_center.identity import IdentityKey, attach_identities
from api.member_center.models import IdentityKind, Member
from api.org.models import StaffRole, Store
from api.payments.models import Payment, PaymentPurpose, PaymentState
from api.wechat_callbacks.messages import MESSAGE_TOPIC
from sandbox.state import new_openid
from tests.factories import make_staff, member_token, staff_token
from tests.payments.chain import make_chain
from tests.support.api import Api
from tests.support.player import Player

from .orders_support import ADDRESS, coupon_for
from .support import make_shelf


async def _wechat_member(brand_id: int, appid: str, level_id: int) -> Member:
    member = await attach_identities(
        brand_id=brand_id, keys=[IdentityKey(IdentityKind.WECHAT_OPENID, new_openid(), appid)]
    )
    await Member.filter(id=member.id).update(level_id=level_id)
    return await Member.get(id=member.id)


@pytest.mark.usefixtures("live_url")
async def test_a_wechat_payment_notified_by_the_platform_marks_the_order_paid(
    api: Api, player: Player
) -> None:
    chain = await make_chain(settings={"points_frozen_days": 0})
    shelf = await make_shelf(chain.brand)
    member = await _wechat_member(chain.brand.id, chain.appid, shelf.gold.id)
    coupon = await coupon_for(shelf, member)
    token = member_token(member)
    created = await api.post(
        "/mall/orders",
        {
            "items": [{"sku_id": shelf.shirt.id, "quantity": 2}],
            "fulfilment": "delivery",
            "address": ADDRESS,
            "coupon_ids": [coupon.id],
        },
        token=token,
        headers={"Idempotency-Key": "w"},
    )

    started = await api.post(
        f"/mall/orders/{created.json['id']}/pay", {"provider": "wechat"}, token=token
    )
    paid = await player.pay(started.json["out_trade_no"], deliveries=3)
    shown = await api.get(f"/mall/orders/{created.json['id']}", token=token)

    assert started.status == 200, started
    assert started.json["amount_fen"] == created.json["amounts"]["payable_fen"] == 15_000
    assert started.json["pay_params"]["package"].startswith("prepay_id=")
    assert [d["status"] for d in paid["deliveries"]] == [204] * 3
    assert shown.json["state"] == "paid" and shown.json["paid_at"]
    payment = await Payment.get(id=started.json["payment_id"])
    assert (payment.state, payment.purpose, payment.account_id) == (
        PaymentState.PAID,
        PaymentPurpose.MALL,
        chain.hq_wechat.id,
    )
    used = await Coupon.get(id=coupon.id)
    assert (used.state, used.used_channel, used.discount_fen) == (CouponState.USED, "mall", 1_000)
    assert payment.points_earned == 150  # 150 yuan at 1 point a yuan


async def _unpaid_wechat_order(api: Api) -> tuple[str, int]:
    chain = await make_chain(settings={"points_frozen_days": 0})
    shelf = await make_shelf(chain.brand)
    member = await _wechat_member(chain.brand.id, chain.appid, shelf.gold.id)
    token = member_token(member)
    created = await api.post(
        "/mall/orders",
        {
            "items": [{"sku_id": shelf.socks.id, "quantity": 1}],
            "fulfilment": "delivery",
            "address": ADDRESS,
        },
        token=token,
        headers={"Idempotency-Key": "again"},
    )
    assert created.status == 201, created
    return token, created.json["id"]


@pytest.mark.usefixtures("live_url")
async def test_paying_again_closes_the_payment_started_before(api: Api, player: Player) -> None:
    # given an order whose WeChat Pay sheet the member dismissed
    token, order_id = await _unpaid_wechat_order(api)
    first = await api.post(f"/mall/orders/{order_id}/pay", {"provider": "wechat"}, token=token)

    # when they pay again, twice at once
    second, third = await asyncio.gather(
        *(
            api.post(f"/mall/orders/{order_id}/pay", {"provider": "wechat"}, token=token)
            for _ in range(2)
        )
    )

    # then only the newest payment is open: the others are closed here and at WeChat Pay
    assert {first.status, second.status, third.status} == {200}
    payments = await Payment.filter(purpose=PaymentPurpose.MALL).order_by("id")
    assert [p.state for p in payments] == [PaymentState.CLOSED] * 2 + [PaymentState.CREATED]
    for closed in payments[:2]:
        assert (await player.trade(closed.out_trade_no))["state"] == "CLOSED"
    newest = payments[-1]
    assert (await MallOrder.get(id=order_id)).payment_id == newest.id
    await player.pay(newest.out_trade_no)
    assert (await MallOrder.get(id=order_id)).state is OrderState.PAID


@pytest.mark.usefixtures("live_url")
async def test_a_payment_whose_notification_was_lost_is_found_before_paying_again(
    api: Api, player: Player
) -> None:
    # given an order paid at WeChat Pay whose notification never arrived
    token, order_id = await _unpaid_wechat_order(api)
    first = await api.post(f"/mall/orders/{order_id}/pay", {"provider": "wechat"}, token=token)
    await player.pay(first.json["out_trade_no"], deliveries=0)
    assert (await MallOrder.get(id=order_id)).state is OrderState.PENDING_PAYMENT

    # when the member tries to pay again
    again = await api.post(f"/mall/orders/{order_id}/pay", {"provider": "alipay"}, token=token)

    # then the platform is asked first: the order is paid, and no second payment is started
    assert (again.status, again.error_code) == (409, "mall_order.not_payable")
    assert (await MallOrder.get(id=order_id)).state is OrderState.PAID
    assert await Payment.filter(purpose=PaymentPurpose.MALL).count() == 1


async def test_wallet_pay_marks_the_order_paid_at_once_and_only_once(api: Api) -> None:
    shelf = await make_shelf(points_frozen_days=0)
    member = await _wechat_member(shelf.brand.id, "wx0000000000000001", shelf.gold.id)
    await wallet.recharge_wallet(
        brand_id=shelf.brand.id, member_id=member.id, principal_fen=10_000, key="seed"
    )
    token = member_token(member)
    created = await api.post(
        "/mall/orders",
        {
            "items": [{"sku_id": shelf.socks.id, "quantity": 5}],
            "fulfilment": "delivery",
            "address": ADDRESS,
        },
        token=token,
        headers={"Idempotency-Key": "w"},
    )
    path = f"/mall/orders/{created.json['id']}/pay"

    paid = await api.post(path, {"provider": "wallet"}, token=token)
    again = await api.post(path, {"provider": "wallet"}, token=token)
    bad = await api.post(path, {"provider": "cash"}, token=token)

    assert paid.status == 200, paid
    assert (paid.json["state"], paid.json["amount_fen"], paid.json["pay_params"]) == (
        "paid",
        10_000,  # 5 × 2 000 at 90 % = 9 000, below the free-delivery 9 900: 1 000 fee
        {},
    )
    assert (again.status, again.error_code) == (409, "mall_order.not_payable")
    assert (bad.status, bad.error_code) == (422, "request.invalid")
    balance = await wallet.wallet_balance(brand_id=shelf.brand.id, member_id=member.id)
    assert balance.total_fen == 0
    assert await Payment.filter(purpose=PaymentPurpose.MALL).count() == 1


async def _ready_pickup(shelf_brand_settings: dict[str, object]) -> tuple[MallOrder, Store, Store]:
    shelf = await make_shelf(**shelf_brand_settings)
    here = await Store.create(brand_id=shelf.brand.id, code="P1", name="Here", city="上海")
    there = await Store.create(brand_id=shelf.brand.id, code="P2", name="There", city="上海")
    from api.mall import catalogue

    await catalogue.update_sku(
        brand_id=shelf.brand.id,
        actor="staff:test",
        sku_id=shelf.shirt.id,
        changes={"store_stock": {"store_id": here.id, "delta": 1}},
    )
    member = await _wechat_member(shelf.brand.id, "wx0000000000000001", shelf.gold.id)
    await wallet.recharge_wallet(
        brand_id=shelf.brand.id, member_id=member.id, principal_fen=10_000, key="seed"
    )
    order = await orders.create_order(
        brand_id=shelf.brand.id,
        member_id=member.id,
        request_key="p",
        request=OrderRequest(
            fulfilment=Fulfilment.PICKUP, items=[(shelf.shirt.id, 1)], store_id=here.id
        ),
    )
    from api.mall import paying

    await paying.pay_order(
        brand_id=shelf.brand.id,
        member_id=member.id,
        order_id=order.id,
        provider="wallet",
        client_ip="127.0.0.1",
    )
    return await MallOrder.get(id=order.id), here, there


async def test_a_pickup_order_is_handed_over_at_its_store_only_and_only_once(api: Api) -> None:
    order, here, there = await _ready_pickup({"points_frozen_days": 0})
    brand = await here.brand
    at_here = staff_token(await make_staff(brand=brand, role=StaffRole.CASHIER, store=here))
    at_there = staff_token(await make_staff(brand=brand, role=StaffRole.CASHIER, store=there))
    code = order.pickup_code
    assert order.state is OrderState.READY_FOR_PICKUP and code and len(code) == 6
    # and the member is told the store and the code (a pickup_ready message, through the outbox)
    [told] = await OutboxMessage.filter(
        topic=MESSAGE_TOPIC, dedupe_key__contains="pickup_ready"
    ).values_list("payload", flat=True)
    assert (told["member_id"], told["fields"]["pickup_code"]) == (order.member_id, code)
    assert told["fields"]["store"] == here.name

    wrong_store = await api.post(
        "/pos/pickups/verify", {"store_id": there.id, "pickup_code": code}, token=at_there
    )
    not_theirs = await api.post(
        "/pos/pickups/verify", {"store_id": here.id, "pickup_code": code}, token=at_there
    )
    first, second = await asyncio.gather(
        *(
            api.post(
                "/pos/pickups/verify", {"store_id": here.id, "pickup_code": code}, token=at_here
            )
            for _ in range(2)
        )
    )
    unknown = await api.post(
        "/pos/pickups/verify",
        {"store_id": here.id, "pickup_code": "000000" if code != "000000" else "000001"},
        token=at_here,
    )

    assert (wrong_store.status, wrong_store.error_code) == (409, "pickup.wrong_store")
    assert wrong_store.json["error"]["details"] == {"store_id": here.id}
    assert (not_theirs.status, not_theirs.error_code) == (404, "store.not_found")
    assert sorted((first.status, second.status)) == [200, 409]
    done = first if first.status == 200 else second
    refused = second if done is first else first
    assert done.json["state"] == "picked_up" and done.json["order_id"] == order.id
    assert refused.error_code == "pickup.already_picked_up"
    assert (unknown.status, unknown.error_code) == (404, "pickup.not_found")
    assert (await MallOrder.get(id=order.id)).state is OrderState.PICKED_UP


async def test_a_pickup_takes_the_stores_stock_not_the_central_one() -> None:
    order, here, _ = await _ready_pickup({"points_frozen_days": 0})
    from api.mall.models import Sku, StoreStock

    line_sku = (await orders.order_lines([order.id]))[order.id][0].sku_id
    assert (await StoreStock.get(sku_id=line_sku, store_id=here.id)).stock == 0
    assert (await Sku.get(id=line_sku)).stock == 50


@pytest.mark.usefixtures("live_url")
async def test_the_close_job_asks_the_platform_before_closing_an_order_being_paid(
    api: Api, player: Player, clock: FrozenClock
) -> None:
    chain = await make_chain(settings={"points_frozen_days": 0})
    shelf = await make_shelf(chain.brand)
    member = await _wechat_member(chain.brand.id, chain.appid, shelf.gold.id)
    token = member_token(member)
    ids = []
    for key in ("paid-quietly", "never-paid"):
        created = await api.post(
            "/mall/orders",
            {
                "items": [{"sku_id": shelf.socks.id, "quantity": 1}],
                "fulfilment": "delivery",
                "address": ADDRESS,
            },
            token=token,
            headers={"Idempotency-Key": key},
        )
        started = await api.post(
            f"/mall/orders/{created.json['id']}/pay", {"provider": "wechat"}, token=token
        )
        ids.append((created.json["id"], started.json["out_trade_no"]))
    # The first is paid but its notification is lost; the second is never paid.
    await player.pay(ids[0][1], deliveries=0)

    clock.advance(minutes=29)
    early = await orders.close_expired_orders()
    clock.advance(minutes=2)
    closed = await orders.close_expired_orders()

    assert (early, closed) == (0, 1)
    assert (await MallOrder.get(id=ids[0][0])).state is OrderState.PAID
    assert (await MallOrder.get(id=ids[1][0])).state is OrderState.CLOSED
    assert [p.state for p in await Payment.all().order_by("id")] == [
        PaymentState.PAID,
        PaymentState.CLOSED,
    ]
    assert (await Sku.get(id=shelf.socks.id)).stock == 49
