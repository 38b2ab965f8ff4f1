"""Notifications, from the sandbox over real HTTP to the app on a loopback port: applied exactly
once, on the right account, and refused when anything about them is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from api.core import outbox
from api.core.models import OutboxMessage
from api.member_center.models import (
    GrowthEntry,
    Level,
    Member,
    MemberIdentity,
    MemberRelation,
    MemberStatus,
    PointsEntry,
)
from api.member_center.welcome import WELCOME_TOPIC, send_welcome
from api.org import accounts
from api.org.accounts import notify_url
from api.org.models import PaymentProvider
from api.payments import effects
from api.payments.models import DeliveryOutcome, Payment, PaymentDelivery, PaymentState
from sandbox.state import new_openid
from tests.factories import make_store, make_wechatpay_account, route_store
from tests.support.player import Player

from .chain import alipay_payment, make_chain, wechat_payment

pytestmark = pytest.mark.usefixtures("live_url")


async def _unchanged(payment: Payment) -> None:
    fresh = await Payment.get(id=payment.id)
    assert fresh.state == PaymentState.CREATED
    assert fresh.member_id is None and fresh.transaction_id is None
    assert await PointsEntry.all().count() == 0
    assert await Member.all().count() == 0


async def test_one_notification_delivered_20_times_at_once_is_applied_once(
    player: Player,
) -> None:
    chain = await make_chain()
    payment = await wechat_payment(chain, amount_fen=12_345, store_id=chain.direct_store_id)

    paid = await player.pay(payment.out_trade_no, deliveries=20)

    assert [d["status"] for d in paid["deliveries"]] == [204] * 20
    assert all(d["body"] == "" for d in paid["deliveries"])
    fresh = await Payment.get(id=payment.id)
    assert fresh.state == PaymentState.PAID
    assert fresh.transaction_id == paid["transaction_id"]
    assert await PointsEntry.filter(key=effects.payment_key(payment)).count() == 1
    assert await GrowthEntry.filter(key=effects.payment_key(payment)).count() == 1
    assert await OutboxMessage.filter(topic="member.welcome").count() == 1
    outbox.register_handler(WELCOME_TOPIC, send_welcome)
    await outbox.deliver_due()
    welcomes = [m for m in await player.sent(chain.appid) if m["kind"] == "subscribe"]
    assert len(welcomes) == 1
    outcomes = await PaymentDelivery.filter(payment_id=payment.id).values_list("outcome", flat=True)
    assert sorted(outcomes) == [DeliveryOutcome.APPLIED] + [DeliveryOutcome.DUPLICATE] * 19


async def test_an_unknown_payer_becomes_a_member_with_the_points_of_their_level(
    player: Player,
) -> None:
    chain = await make_chain(settings={"points_per_yuan": 2, "points_frozen_days": 0})
    await Level.create(brand_id=chain.brand.id, name="普通", rank=0, points_rate_pct=150)
    openid = new_openid()
    payment = await wechat_payment(
        chain, amount_fen=10_050, store_id=chain.direct_store_id, openid=openid
    )

    await player.pay(payment.out_trade_no)

    member = await Member.get(id=(await Payment.get(id=payment.id)).member_id)
    assert member.status == MemberStatus.MEMBER
    assert member.registered_at is not None
    # 100.50 yuan × 2 points per yuan × 150 % = 301 (rounded down)
    assert member.points_balance == 301
    assert member.growth == 100
    assert member.home_store_id == chain.direct_store_id
    assert await MemberRelation.filter(member_id=member.id, source="payment").count() == 1
    identity = await MemberIdentity.get(member_id=member.id)
    assert (identity.kind, identity.app_id, identity.value) == (
        "wechat_openid",
        chain.appid,
        openid,
    )


async def test_a_known_payer_is_credited_and_keeps_their_home_store(player: Player) -> None:
    chain = await make_chain()
    openid = new_openid()
    first = await wechat_payment(chain, store_id=chain.direct_store_id, openid=openid)
    await player.pay(first.out_trade_no)
    second = await wechat_payment(
        chain, amount_fen=500, store_id=chain.franchise_store_id, openid=openid
    )

    await player.pay(second.out_trade_no)

    assert await Member.all().count() == 1
    member = await Member.get()
    assert member.home_store_id == chain.direct_store_id
    assert member.points_balance == 123 + 5
    assert await OutboxMessage.filter(topic="member.welcome").count() == 1


async def test_a_franchise_payment_is_made_and_verified_on_the_franchisees_accounts(
    player: Player,
) -> None:
    chain = await make_chain()

    wechat = await wechat_payment(chain, store_id=chain.franchise_store_id)
    alipay = await alipay_payment(chain, store_id=chain.franchise_store_id)
    wechat_paid = await player.pay(wechat.out_trade_no)
    alipay_paid = await player.pay(alipay.out_trade_no)

    assert wechat.account_id == chain.franchise_wechat.id
    assert alipay.account_id == chain.franchise_alipay.id
    wechat_trade = await player.trade(wechat.out_trade_no)
    assert wechat_trade["notify_url"] == notify_url(chain.franchise_wechat)
    assert wechat_trade["sub_mchid"] == chain.franchise_wechat.sub_mchid
    alipay_trade = await player.trade(alipay.out_trade_no)
    assert alipay_trade["notify_url"] == notify_url(chain.franchise_alipay)
    assert alipay_trade["seller_id"] == chain.franchise_alipay.mch_id
    assert wechat_paid["deliveries"][0]["status"] == 204
    assert alipay_paid["deliveries"][0]["body"] == "success"
    for payment in (wechat, alipay):
        assert (await Payment.get(id=payment.id)).state == PaymentState.PAID


async def test_an_online_payment_goes_to_head_office(player: Player) -> None:
    chain = await make_chain()

    payment = await alipay_payment(chain, store_id=None)
    paid = await player.pay(payment.out_trade_no, deliveries=3)

    assert payment.account_id == chain.hq_alipay.id
    assert [d["body"] for d in paid["deliveries"]] == ["success"] * 3
    assert await PointsEntry.filter(key=effects.payment_key(payment)).count() == 1


WECHAT_FORGERIES = [
    "bad_signature",
    "signtest",
    "stale",
    "unknown_serial",
    "other_account",
    "tampered_amount",
    "foreign_appid",
]
ALIPAY_FORGERIES = [
    "bad_signature",
    "other_account",
    "tampered_amount",
    "foreign_seller",
    "foreign_app_id",
    "not_paid",
]


@pytest.mark.parametrize("kind", WECHAT_FORGERIES)
async def test_a_forged_wechatpay_notification_is_refused_and_changes_nothing(
    player: Player, kind: str
) -> None:
    chain = await make_chain()
    payment = await wechat_payment(chain, store_id=chain.franchise_store_id)
    await player.pay(payment.out_trade_no, deliveries=0)  # paid; its notification is lost

    answer = await player.forge(payment.out_trade_no, kind)

    assert 400 <= answer["status"] < 500, answer
    assert '"code":"FAIL"' in answer["body"].replace(" ", "")
    await _unchanged(payment)
    delivery = await PaymentDelivery.get(account_key=chain.franchise_wechat.key)
    assert delivery.outcome == DeliveryOutcome.REFUSED
    assert delivery.reason


@pytest.mark.parametrize("kind", ALIPAY_FORGERIES)
async def test_a_forged_alipay_notification_is_refused_and_changes_nothing(
    player: Player, kind: str
) -> None:
    chain = await make_chain()
    payment = await alipay_payment(chain, store_id=chain.franchise_store_id)
    await player.pay(payment.out_trade_no, deliveries=0)  # paid; its notification is lost

    answer = await player.forge(payment.out_trade_no, kind)

    assert answer["body"] != "success", answer
    await _unchanged(payment)
    delivery = await PaymentDelivery.get(account_key=chain.franchise_alipay.key)
    assert delivery.outcome == DeliveryOutcome.REFUSED


async def test_a_notification_posted_to_another_accounts_url_is_refused(player: Player) -> None:
    chain = await make_chain()
    payment = await wechat_payment(chain, store_id=chain.franchise_store_id)

    answer = await player.forge(payment.out_trade_no, "genuine", url=notify_url(chain.hq_wechat))

    assert answer["status"] == 400, answer
    await _unchanged(payment)
    # The franchisee's resource does not decrypt with head office's APIv3 key.
    refused = await PaymentDelivery.get(account_key=chain.hq_wechat.key)
    assert (refused.outcome, refused.verified) == (DeliveryOutcome.REFUSED, False)


async def test_a_replayed_notification_is_refused_once_stale(player: Player) -> None:
    chain = await make_chain()
    payment = await wechat_payment(chain)
    await player.pay(payment.out_trade_no)

    answer = await player.forge(payment.out_trade_no, "replay")

    assert answer["status"] == 400
    assert await PointsEntry.filter(key=effects.payment_key(payment)).count() == 1


async def test_a_failure_while_applying_is_answered_for_a_retry_and_applied_later(
    player: Player, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = await make_chain()
    payment = await wechat_payment(chain)
    real_on_paid = effects.on_paid
    failures = {"left": 1}

    async def database_gone_once(db: Any, paid: Payment) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("the database went away")
        await real_on_paid(db, paid)

    monkeypatch.setattr(effects, "on_paid", database_gone_once)

    first = await player.pay(payment.out_trade_no, retry_scale=0.01)

    assert first["deliveries"][0]["status"] == 500
    assert (await Payment.get(id=payment.id)).state == PaymentState.CREATED
    await _eventually_paid(payment)
    assert await PointsEntry.filter(key=effects.payment_key(payment)).count() == 1


async def _eventually_paid(payment: Payment, *, within_s: float = 10) -> None:
    import asyncio

    for _ in range(int(within_s / 0.05)):
        if (await Payment.get(id=payment.id)).state == PaymentState.PAID:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the sandbox's retry did not get the payment applied")


@pytest.mark.parametrize("sign_type", ["MD5", "HMAC-SHA256"])
async def test_a_v2_accounts_xml_notification_is_applied_once_and_answered_in_xml(
    player: Player, sign_type: str
) -> None:
    chain = await make_chain()
    store = await make_store(brand=chain.brand)
    v2 = await make_wechatpay_account(
        brand=chain.brand, app_id=chain.appid, provider=PaymentProvider.WECHATPAY_V2
    )
    if sign_type != "MD5":
        await accounts.update_account(
            brand_id=chain.brand.id,
            actor="system",
            account_id=v2.id,
            secrets={"sign_type": sign_type},
        )
    await route_store(store=store, account=v2)
    payment = await wechat_payment(chain, store_id=store.id)

    paid = await player.pay(payment.out_trade_no, deliveries=3)

    assert payment.account_id == v2.id
    assert [d["status"] for d in paid["deliveries"]] == [200] * 3
    assert all("<return_code><![CDATA[SUCCESS]]>" in d["body"] for d in paid["deliveries"])
    assert (await Payment.get(id=payment.id)).state == PaymentState.PAID
    assert await PointsEntry.filter(key=effects.payment_key(payment)).count() == 1
    forged = await player.forge(payment.out_trade_no, "bad_signature")
    assert forged["status"] == 400 and "FAIL" in forged["body"]
