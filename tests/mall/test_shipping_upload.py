"""A WeChat Pay order's shipping (or its pickup) is uploaded to WeChat once, through the outbox;
an order paid otherwise uploads nothing."""

from __future__ import annotations

from typing import Any

import pytest

from api.core import outbox, wechat
from api.core.clock import FrozenClock
from api.core.errors import UpstreamError
from api.core.models import OutboxMessage, OutboxStatus
from api.mall import catalogue
from api.mall.models import MallOrder
from api.mall.shipping_upload import UPLOAD_TOPIC, upload_shipping
from api.member_center import wallet
from api.member_center.identity import IdentityKey, attach_identities
from api.member_center.models import IdentityKind, Member
from api.org.models import StaffRole, Store
from api.payments.models import Payment
from sandbox.keys import wechat_app_secret
from sandbox.state import new_alipay_user_id, new_openid
from tests.factories import make_staff, member_token, staff_token
from tests.payments.chain import Chain, make_chain
from tests.support.api import Api
from tests.support.player import Player

from .orders_support import ADDRESS
from .support import Shelf, make_shelf

pytestmark = pytest.mark.usefixtures("live_url")

SHIP = {"to": "shipped", "carrier": "SF", "tracking_no": "SF1234567890"}


@pytest.fixture(autouse=True)
def _handler() -> None:
    outbox.register_handler(UPLOAD_TOPIC, upload_shipping)


async def _member(chain: Chain, shelf: Shelf, *, alipay: bool = False) -> Member:
    key = (
        IdentityKey(IdentityKind.ALIPAY_USER, new_alipay_user_id())
        if alipay
        else IdentityKey(IdentityKind.WECHAT_OPENID, new_openid(), chain.appid)
    )
    member = await attach_identities(brand_id=chain.brand.id, keys=[key])
    await Member.filter(id=member.id).update(level_id=shelf.gold.id)
    return member


async def _paid_order(
    api: Api,
    player: Player,
    chain: Chain,
    shelf: Shelf,
    *,
    provider: str = "wechat",
    store_id: int | None = None,
) -> tuple[int, Payment]:
    """An order paid through `provider` (a delivery, or a pickup at store_id)."""
    member = await _member(chain, shelf, alipay=provider == "alipay")
    if provider == "wallet":
        await wallet.recharge_wallet(
            brand_id=chain.brand.id, member_id=member.id, principal_fen=50_000, key="seed"
        )
    token = member_token(member)
    body: dict[str, Any] = {"items": [{"sku_id": shelf.shirt.id, "quantity": 2}]}
    if store_id is None:
        body.update(fulfilment="delivery", address=ADDRESS)
    else:
        body.update(fulfilment="pickup", store_id=store_id)
    created = await api.post("/mall/orders", body, token=token, headers={"Idempotency-Key": "k"})
    assert created.status == 201, created
    started = await api.post(
        f"/mall/orders/{created.json['id']}/pay", {"provider": provider}, token=token
    )
    assert started.status == 200, started
    if provider != "wallet":
        await player.pay(started.json["out_trade_no"])
    return created.json["id"], await Payment.get(id=started.json["payment_id"])


async def _uploads(player: Player, appid: str) -> list[dict[str, Any]]:
    answer = await player.http.get("/wechat/shipping-uploads", params={"appid": appid})
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def _messages() -> list[OutboxMessage]:
    return await OutboxMessage.filter(topic=UPLOAD_TOPIC).order_by("id")


async def test_a_shipped_wechat_order_is_uploaded_once_even_when_handed_over_twice(
    api: Api, player: Player
) -> None:
    chain = await make_chain(settings={"points_frozen_days": 0})
    shelf = await make_shelf(chain.brand)
    order_id, payment = await _paid_order(api, player, chain, shelf)
    hq = staff_token(await make_staff(brand=chain.brand, role=StaffRole.HQ_ADMIN))
    path = f"/admin/mall-orders/{order_id}/advance"

    shipped = await api.post(path, SHIP, token=hq)
    again = await api.post(path, SHIP, token=hq)
    report = await outbox.deliver_due()
    [message] = await _messages()
    await upload_shipping(message.payload)  # the same message handed over a second time

    assert shipped.status == again.status == 200, shipped
    assert report.sent == 1 and message.status is OutboxStatus.SENT
    assert message.payload == {"brand_id": chain.brand.id, "order_id": order_id, "kind": "shipped"}
    [upload] = await _uploads(player, chain.appid)
    await payment.refresh_from_db()
    assert payment.transaction_id and payment.payer_id
    body = upload["payload"]
    assert body["order_key"] == {"order_number_type": 2, "transaction_id": payment.transaction_id}
    assert (body["logistics_type"], body["delivery_mode"]) == (1, 1)
    assert body["shipping_list"] == [
        {
            "item_desc": "Oxford shirt*2",
            "tracking_no": "SF1234567890",
            "express_company": "SF",
            "contact": {"receiver_contact": "138****0000"},
        }
    ]
    assert body["payer"] == {"openid": payment.payer_id}
    assert body["upload_time"].endswith("+08:00")
    order = await MallOrder.get(id=order_id)
    assert order.shipping_uploaded_at is not None


async def test_a_picked_up_wechat_order_is_uploaded_as_a_self_pickup(
    api: Api, player: Player
) -> None:
    chain = await make_chain(settings={"points_frozen_days": 0})
    shelf = await make_shelf(chain.brand)
    store_id = chain.direct_store_id
    await catalogue.update_sku(
        brand_id=chain.brand.id,
        actor="staff:test",
        sku_id=shelf.shirt.id,
        changes={"store_stock": {"store_id": store_id, "delta": 2}},
    )
    order_id, payment = await _paid_order(api, player, chain, shelf, store_id=store_id)
    order = await MallOrder.get(id=order_id)
    cashier = await make_staff(
        brand=chain.brand, role=StaffRole.CASHIER, store=await Store.get(id=store_id)
    )

    verified = await api.post(
        "/pos/pickups/verify",
        {"store_id": store_id, "pickup_code": order.pickup_code},
        token=staff_token(cashier),
    )
    before = await _uploads(player, chain.appid)
    report = await outbox.deliver_due()

    assert verified.status == 200, verified
    assert before == [] and report.sent == 1
    [upload] = await _uploads(player, chain.appid)
    await payment.refresh_from_db()
    body = upload["payload"]
    assert body["order_key"]["transaction_id"] == payment.transaction_id
    assert body["logistics_type"] == 4
    assert body["shipping_list"] == [{"item_desc": "Oxford shirt*2"}]
    assert [m.dedupe_key for m in await _messages()] == [f"{UPLOAD_TOPIC}:{order_id}:picked_up"]


@pytest.mark.parametrize("provider", ["alipay", "wallet"])
async def test_an_order_paid_otherwise_uploads_nothing(
    api: Api, player: Player, provider: str
) -> None:
    chain = await make_chain(settings={"points_frozen_days": 0})
    shelf = await make_shelf(chain.brand)
    order_id, payment = await _paid_order(api, player, chain, shelf, provider=provider)
    hq = staff_token(await make_staff(brand=chain.brand, role=StaffRole.HQ_ADMIN))

    shipped = await api.post(f"/admin/mall-orders/{order_id}/advance", SHIP, token=hq)
    await outbox.deliver_due()

    assert shipped.status == 200 and shipped.json["state"] == "shipped", shipped
    assert shipped.json["shipping_uploaded_at"] is None
    assert payment.method.value == ("alipay" if provider == "alipay" else "wallet")
    assert await _messages() == []
    assert await _uploads(player, chain.appid) == []


async def test_a_wechat_outage_leaves_the_upload_pending_until_a_later_attempt(
    api: Api, player: Player, clock: FrozenClock
) -> None:
    chain = await make_chain(settings={"points_frozen_days": 0})
    shelf = await make_shelf(chain.brand)
    order_id, _ = await _paid_order(api, player, chain, shelf)
    hq = staff_token(await make_staff(brand=chain.brand, role=StaffRole.HQ_ADMIN))
    await api.post(f"/admin/mall-orders/{order_id}/advance", SHIP, token=hq)
    outage = await player.http.post(
        "/wechat/shipping-outage", json={"appid": chain.appid, "failures": 1}
    )
    assert outage.status_code == 200, outage.text

    await outbox.deliver_due()
    await outbox.deliver_due()  # too soon: the message waits for its backoff
    [pending] = await _messages()
    uploaded_during_outage = await _uploads(player, chain.appid)
    recorded_during_outage = (await MallOrder.get(id=order_id)).shipping_uploaded_at
    clock.advance(minutes=5)
    await outbox.deliver_due()

    assert (pending.status, pending.attempts) == (OutboxStatus.PENDING, 1)
    assert "errcode -1" in pending.last_error
    assert (uploaded_during_outage, recorded_during_outage) == ([], None)
    [sent] = await _messages()
    assert (sent.status, sent.attempts) == (OutboxStatus.SENT, 2)
    assert len(await _uploads(player, chain.appid)) == 1
    assert (await MallOrder.get(id=order_id)).shipping_uploaded_at is not None


async def test_wechat_refuses_an_upload_for_a_payment_it_does_not_know(player: Player) -> None:
    chain = await make_chain()
    creds = wechat.WechatCredentials(appid=chain.appid, secret=wechat_app_secret(chain.appid))
    info = {
        "order_key": {"order_number_type": 2, "transaction_id": "4200000000000000000000000001"},
        "logistics_type": 1,
        "delivery_mode": 1,
        "shipping_list": [{"tracking_no": "T1", "express_company": "SF", "item_desc": "x*1"}],
        "upload_time": "2026-12-02T10:00:00.000+08:00",
        "payer": {"openid": new_openid()},
    }

    with pytest.raises(UpstreamError) as refused:
        await wechat.upload_shipping_info(creds, info)

    assert "10060001" in refused.value.message
    assert await _uploads(player, chain.appid) == []
