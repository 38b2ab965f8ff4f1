"""Refunds, from head office's request over HTTP to the sandbox's platforms and back through
their refund notifications: full and partial, once per refund number, never above what was
paid, with the points and growth of the refunded amount clawed back."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from api.core.clock import FrozenClock
from api.member_center import points, wallet
from api.member_center.identity import IdentityKey, attach_identities
from api.member_center.models import (
    GrowthEntry,
    IdentityKind,
    Member,
    PointsEntry,
    PointsEntryKind,
    PointsLot,
    WalletEntry,
    WalletEntryKind,
)
from api.org.models import PaymentProvider, StaffRole, Store
from api.payments import payments, recovery
from api.payments.models import (
    DeliveryOutcome,
    Payment,
    PaymentDelivery,
    PaymentMethod,
    PaymentPurpose,
    PaymentRefund,
    PaymentState,
    RefundState,
)
from api.payments.providers import provider_for
from api.payments.providers.base import ProviderRefused, Refund, RefundOrder
from sandbox.payments import SandboxTrade
from sandbox.state import new_openid
from sandbox.wechatpay import WECHATPAY_V3
from tests.factories import (
    make_brand,
    make_member,
    make_staff,
    make_store,
    make_wechatpay_account,
    member_token,
    route_store,
    staff_token,
)
from tests.support.api import Answer, Api
from tests.support.player import Player

from .chain import Chain, alipay_payment, make_chain, wechat_payment
from .refund_support import (
    deliver_refund_notification,
    lose_refund_answers,
    notify_refund,
    platform_refunds,
)

pytestmark = pytest.mark.usefixtures("live_url")

SETTINGS = {"points_per_yuan": 1, "points_frozen_days": 0}


async def _admin(chain: Chain) -> str:
    return staff_token(await make_staff(brand=chain.brand, role=StaffRole.HQ_ADMIN))


async def _refund(api: Api, token: str, payment: Payment, **fields: object) -> Answer:
    payload = {"reason": "顾客退货", **fields}
    return await api.post(f"/admin/payments/{payment.id}/refunds", payload, token=token)


async def _paid(player: Player, payment: Payment) -> Payment:
    await player.pay(payment.out_trade_no)
    return await Payment.get(id=payment.id)


async def _member_of(payment: Payment) -> Member:
    return await Member.get(id=(await Payment.get(id=payment.id)).member_id)


async def _v2_store(chain: Chain) -> int:
    store = await make_store(brand=chain.brand)
    v2 = await make_wechatpay_account(
        brand=chain.brand, app_id=chain.appid, provider=PaymentProvider.WECHATPAY_V2
    )
    await route_store(store=store, account=v2)
    return store.id


# Full and partial, on every platform ---------------------------------------------------------


async def test_a_full_wechat_refund_is_processing_until_its_notification_then_claws_back(
    api: Api, player: Player
) -> None:
    chain = await make_chain(settings=SETTINGS)
    token = await _admin(chain)
    payment = await _paid(player, await wechat_payment(chain, store_id=chain.direct_store_id))
    member = await _member_of(payment)
    assert (member.points_balance, member.growth, payment.points_earned) == (123, 123, 123)

    asked = await _refund(api, token, payment, out_refund_no="R-full-1")
    reserved = await Payment.get(id=payment.id)
    notified = await notify_refund(player, payment.out_trade_no, "R-full-1")

    assert asked.status == 201, asked
    assert asked.json["state"] == "processing" and asked.json["amount_fen"] == 12_345
    assert asked.json["refund_id"]
    assert (reserved.state, reserved.refunded_fen) == (PaymentState.PAID, 12_345)
    assert [d["status"] for d in notified["deliveries"]] == [204]
    refund = await PaymentRefund.get(out_refund_no="R-full-1")
    assert refund.state == RefundState.SUCCEEDED and refund.succeeded_at is not None
    assert (refund.points_clawed_back, refund.points_unrecovered) == (123, 0)
    assert refund.growth_clawed_back == 123
    fresh = await Payment.get(id=payment.id)
    assert (fresh.state, fresh.refunded_fen) == (PaymentState.REFUNDED, 12_345)
    member = await Member.get(id=member.id)
    assert (member.points_balance, member.growth, member.year_growth) == (0, 0, 0)
    reversed_ = await PointsEntry.get(member_id=member.id, kind=PointsEntryKind.REVERSE)
    assert (reversed_.key, reversed_.delta) == (f"refund:{refund.id}", -123)
    assert len(await platform_refunds(player, payment.out_trade_no)) == 1


@pytest.mark.parametrize("store", ["direct", "franchise", "v2"])
async def test_partial_wechat_refunds_claw_back_in_proportion_and_the_last_takes_the_rest(
    api: Api, player: Player, store: str
) -> None:
    chain = await make_chain(settings=SETTINGS)
    token = await _admin(chain)
    store_id = {
        "direct": chain.direct_store_id,
        "franchise": chain.franchise_store_id,
        "v2": await _v2_store(chain),
    }[store]
    payment = await _paid(player, await wechat_payment(chain, amount_fen=9_999, store_id=store_id))
    assert payment.points_earned == 99

    states, clawed = [], []
    for number, amount in (("P1", 3_333), ("P2", 3_333), ("P3", None)):
        fields = {"out_refund_no": number} | ({"amount_fen": amount} if amount else {})
        asked = await _refund(api, token, payment, **fields)
        assert asked.status == 201, asked
        await notify_refund(player, payment.out_trade_no, number)
        refund = await PaymentRefund.get(payment_id=payment.id, out_refund_no=number)
        states.append((await Payment.get(id=payment.id)).state)
        clawed.append((refund.amount_fen, refund.points_clawed_back, refund.growth_clawed_back))

    # 99 points × 3333/9999 = 33, × 6666/9999 = 66 (33 more), the rest: 33.
    assert clawed == [(3_333, 33, 33), (3_333, 33, 33), (3_333, 33, 33)]
    assert states == [
        PaymentState.PARTIALLY_REFUNDED,
        PaymentState.PARTIALLY_REFUNDED,
        PaymentState.REFUNDED,
    ]
    member = await _member_of(payment)
    assert (member.points_balance, member.growth) == (0, 0)
    trade = await player.trade(payment.out_trade_no)
    assert trade["refunded_fen"] == 9_999 and len(trade["refunds"]) == 3


async def test_uneven_partial_refunds_take_back_whole_points_adding_up_to_what_was_earned(
    api: Api, player: Player
) -> None:
    chain = await make_chain(settings={**SETTINGS, "points_per_yuan": 3})
    token = await _admin(chain)
    payment = await _paid(player, await wechat_payment(chain, amount_fen=1_000))
    assert payment.points_earned == 30

    taken = []
    for number, amount in (("U1", 1), ("U2", 333), ("U3", 1), ("U4", None)):
        fields = {"out_refund_no": number} | ({"amount_fen": amount} if amount else {})
        assert (await _refund(api, token, payment, **fields)).status == 201
        await notify_refund(player, payment.out_trade_no, number)
        taken.append((await PaymentRefund.get(out_refund_no=number)).points_clawed_back)

    # Cumulative floor(30 × refunded / 1000): 0, 10, 10, 30.
    assert taken == [0, 10, 0, 20]
    assert (await _member_of(payment)).points_balance == 0


@pytest.mark.parametrize("store", ["direct", "franchise"])
async def test_alipay_refunds_at_once_and_its_notification_is_a_duplicate(
    api: Api, player: Player, store: str
) -> None:
    chain = await make_chain(settings=SETTINGS)
    token = await _admin(chain)
    store_id = chain.direct_store_id if store == "direct" else chain.franchise_store_id
    payment = await _paid(player, await alipay_payment(chain, amount_fen=10_000, store_id=store_id))

    first = await _refund(api, token, payment, out_refund_no="A1", amount_fen=4_000)
    second = await _refund(api, token, payment, out_refund_no="A2", amount_fen=1_000)
    # Alipay's notification of A2 carries refund_fee 50.00: the trade's refunded total.
    notified = await notify_refund(player, payment.out_trade_no, "A2")

    assert first.status == second.status == 201
    assert first.json["state"] == second.json["state"] == "succeeded"
    assert first.json["points_clawed_back"] == 40 and second.json["points_clawed_back"] == 10
    assert second.json["payment_state"] == "partially_refunded"
    assert [d["body"] for d in notified["deliveries"]] == ["success"]
    outcomes = await PaymentDelivery.filter(payment_id=payment.id, kind="refund").values_list(
        "outcome", flat=True
    )
    assert outcomes == [DeliveryOutcome.DUPLICATE]
    assert (await _member_of(payment)).points_balance == 50
    trade = await player.trade(payment.out_trade_no)
    assert trade["refunded_fen"] == 5_000 and len(trade["refunds"]) == 2


async def test_an_alipay_refund_whose_answer_was_lost_is_applied_by_its_notification(
    api: Api, player: Player, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = await make_chain(settings=SETTINGS)
    token = await _admin(chain)
    payment = await _paid(player, await alipay_payment(chain, amount_fen=10_000))
    assert (await _refund(api, token, payment, out_refund_no="B1", amount_fen=3_000)).status == 201
    await lose_refund_answers(monkeypatch, payment, reach_platform=True)

    lost = await _refund(api, token, payment, out_refund_no="B2", amount_fen=2_000)
    processing = await PaymentRefund.get(out_refund_no="B2")
    statuses = await deliver_refund_notification(player, payment.out_trade_no, "B2", times=20)

    assert (lost.status, lost.error_code) == (502, "payment.upstream")
    assert processing.state == RefundState.PROCESSING
    assert statuses == [200] * 20
    done = await PaymentRefund.get(out_refund_no="B2")
    assert done.state == RefundState.SUCCEEDED and done.points_clawed_back == 20
    outcomes = await PaymentDelivery.filter(payment_id=payment.id, kind="refund").values_list(
        "outcome", flat=True
    )
    assert sorted(outcomes) == [DeliveryOutcome.APPLIED] + [DeliveryOutcome.DUPLICATE] * 19
    assert (await _member_of(payment)).points_balance == 50
    assert len(await platform_refunds(player, payment.out_trade_no)) == 2


# Once per refund number ----------------------------------------------------------------------


async def test_the_same_refund_number_is_the_same_refund_and_another_amount_is_refused(
    api: Api, player: Player
) -> None:
    chain = await make_chain(settings=SETTINGS)
    token = await _admin(chain)
    payment = await _paid(player, await wechat_payment(chain))

    first = await _refund(api, token, payment, out_refund_no="S1", amount_fen=1_000)
    again = await _refund(api, token, payment, out_refund_no="S1", amount_fen=1_000)
    without_amount = await _refund(api, token, payment, out_refund_no="S1")
    other_amount = await _refund(api, token, payment, out_refund_no="S1", amount_fen=2_000)
    concurrent = await asyncio.gather(
        *(_refund(api, token, payment, out_refund_no="S2", amount_fen=500) for _ in range(20))
    )

    assert first.status == 201
    assert again.status == without_amount.status == 200
    assert again.json["id"] == without_amount.json["id"] == first.json["id"]
    assert (other_amount.status, other_amount.error_code) == (409, "refund.number_reused")
    assert sorted(a.status for a in concurrent) == [200] * 19 + [201]
    assert len({a.json["id"] for a in concurrent}) == 1
    assert await PaymentRefund.filter(payment_id=payment.id).count() == 2
    assert (await Payment.get(id=payment.id)).refunded_fen == 1_500
    refunds = await platform_refunds(player, payment.out_trade_no)
    assert sorted((r["out_refund_no"], r["amount_fen"]) for r in refunds) == [
        ("S1", 1_000),
        ("S2", 500),
    ]


async def test_a_refund_whose_platform_call_failed_is_retried_with_the_same_number(
    api: Api, player: Player, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = await make_chain(settings=SETTINGS)
    token = await _admin(chain)
    payment = await _paid(player, await wechat_payment(chain))
    with monkeypatch.context() as patch:
        await lose_refund_answers(patch, payment, reach_platform=False)
        failed = await _refund(api, token, payment, out_refund_no="X1", amount_fen=2_000)
    held = await Payment.get(id=payment.id)
    never_reached = await platform_refunds(player, payment.out_trade_no)

    retried = await _refund(api, token, payment, out_refund_no="X1", amount_fen=2_000)
    with monkeypatch.context() as patch:
        await lose_refund_answers(patch, payment, reach_platform=True)
        lost_again = await _refund(api, token, payment, out_refund_no="X1", amount_fen=2_000)
    await notify_refund(player, payment.out_trade_no, "X1")

    assert (failed.status, failed.error_code) == (502, "payment.upstream")
    assert held.refunded_fen == 2_000 and never_reached == []
    assert retried.status == 200 and retried.json["state"] == "processing"
    assert lost_again.status == 502
    assert len(await platform_refunds(player, payment.out_trade_no)) == 1
    refund = await PaymentRefund.get(out_refund_no="X1")
    # 123 points × 2000/12345, rounded down
    assert refund.state == RefundState.SUCCEEDED and refund.points_clawed_back == 19


async def test_a_refund_the_platform_refuses_fails_releases_its_amount_and_keeps_its_number(
    api: Api, player: Player, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = await make_chain(settings=SETTINGS)
    token = await _admin(chain)
    payment = await _paid(player, await wechat_payment(chain, amount_fen=5_000))
    provider = provider_for(chain.hq_wechat)

    async def refused(order: RefundOrder) -> Refund:
        raise ProviderRefused("payment.refund_exceeds", "The trade's balance is short.")

    with monkeypatch.context() as patch:
        patch.setattr(provider, "refund", refused)
        answer = await _refund(api, token, payment, out_refund_no="F1", amount_fen=5_000)
    again = await _refund(api, token, payment, out_refund_no="F1", amount_fen=5_000)
    other = await _refund(api, token, payment, out_refund_no="F2", amount_fen=5_000)

    assert (answer.status, answer.error_code) == (409, "payment.refund_exceeds")
    assert (again.status, again.error_code) == (409, "refund.failed")
    failed = await PaymentRefund.get(out_refund_no="F1")
    assert (failed.state, failed.failure) == (RefundState.FAILED, "payment.refund_exceeds")
    assert other.status == 201
    assert (await Payment.get(id=payment.id)).refunded_fen == 5_000


# Notifications applied once ------------------------------------------------------------------


@pytest.mark.parametrize("store", ["direct", "franchise", "v2"])
async def test_a_refund_notification_delivered_20_times_at_once_is_applied_once(
    api: Api, player: Player, store: str
) -> None:
    chain = await make_chain(settings=SETTINGS)
    token = await _admin(chain)
    store_id = {
        "direct": chain.direct_store_id,
        "franchise": chain.franchise_store_id,
        "v2": await _v2_store(chain),
    }[store]
    payment = await _paid(player, await wechat_payment(chain, amount_fen=8_000, store_id=store_id))
    assert (await _refund(api, token, payment, out_refund_no="N1", amount_fen=2_000)).status == 201

    statuses = await deliver_refund_notification(player, payment.out_trade_no, "N1", times=20)
    later = await notify_refund(player, payment.out_trade_no, "N1")

    assert set(statuses) == ({200} if store == "v2" else {204})
    assert later["deliveries"][0]["acknowledged"]
    outcomes = await PaymentDelivery.filter(payment_id=payment.id, kind="refund").values_list(
        "outcome", flat=True
    )
    assert sorted(outcomes) == [DeliveryOutcome.APPLIED] + [DeliveryOutcome.DUPLICATE] * 20
    member = await _member_of(payment)
    assert member.points_balance == 60 and member.growth == 60
    assert await PointsEntry.filter(member_id=member.id, kind=PointsEntryKind.REVERSE).count() == 1
    assert await GrowthEntry.filter(member_id=member.id, kind="reverse").count() == 1
    fresh = await Payment.get(id=payment.id)
    assert (fresh.state, fresh.refunded_fen) == (PaymentState.PARTIALLY_REFUNDED, 2_000)


async def test_a_refund_notification_for_another_amount_or_number_is_refused(
    api: Api, player: Player
) -> None:
    chain = await make_chain(settings=SETTINGS)
    token = await _admin(chain)
    payment = await _paid(player, await wechat_payment(chain, amount_fen=8_000))
    assert (await _refund(api, token, payment, out_refund_no="M1", amount_fen=2_000)).status == 201
    trade = await player.trade(payment.out_trade_no)
    sandbox_trade = SandboxTrade.from_dict(trade)
    refund = {**sandbox_trade.refunds[0], "state": "SUCCESS", "success_at": trade["created_at"]}
    async with httpx.AsyncClient() as http:
        answers = []
        for forged in ({**refund, "amount_fen": 3_000}, {**refund, "out_refund_no": "M9"}):
            headers, body = WECHATPAY_V3.refund_notification(sandbox_trade, forged)
            answers.append(await http.post(sandbox_trade.notify_url, headers=headers, content=body))

    assert [a.status_code for a in answers] == [400, 400]
    reasons = await PaymentDelivery.filter(payment_id=payment.id, kind="refund").values_list(
        "reason", flat=True
    )
    assert sorted(reasons) == ["refund_amount", "unknown_out_refund_no"]
    assert (await PaymentRefund.get(out_refund_no="M1")).state == RefundState.PROCESSING
    assert (await _member_of(payment)).points_balance == 80


# Points already spent ------------------------------------------------------------------------


async def test_points_already_spent_are_not_taken_below_zero_and_are_recorded_unrecovered(
    api: Api, player: Player
) -> None:
    chain = await make_chain(settings=SETTINGS)
    token = await _admin(chain)
    payment = await _paid(player, await wechat_payment(chain, amount_fen=12_345))
    member = await _member_of(payment)
    await points.spend_points(
        brand_id=chain.brand.id,
        member_id=member.id,
        amount=100,
        key="exchange:1",
        reason="积分兑换",
        actor=f"member:{member.id}",
    )

    assert (await _refund(api, token, payment, out_refund_no="SP1", amount_fen=6_000)).status == 201
    await notify_refund(player, payment.out_trade_no, "SP1")
    assert (await _refund(api, token, payment, out_refund_no="SP2")).status == 201
    await notify_refund(player, payment.out_trade_no, "SP2")

    first = await PaymentRefund.get(out_refund_no="SP1")
    second = await PaymentRefund.get(out_refund_no="SP2")
    # 123 × 6000/12345 = 59 due of the 23 left: 23 taken, 36 unrecovered; then the other 64
    # due of nothing: all unrecovered.
    assert (first.points_clawed_back, first.points_unrecovered) == (23, 36)
    assert (second.points_clawed_back, second.points_unrecovered) == (0, 64)
    member = await Member.get(id=member.id)
    assert member.points_balance == 0 and member.growth == 0
    assert (await Payment.get(id=payment.id)).state == PaymentState.REFUNDED
    assert await PointsEntry.filter(member_id=member.id, kind=PointsEntryKind.REVERSE).count() == 1
    detail = await api.get(f"/admin/payments/{payment.id}", token=token)
    assert [
        (r["out_refund_no"], r["points_clawed_back"], r["points_unrecovered"])
        for r in detail.json["refunds"]
    ] == [("SP1", 23, 36), ("SP2", 0, 64)]


async def test_the_points_of_the_refunded_payment_are_taken_back_before_older_ones(
    api: Api, player: Player
) -> None:
    chain = await make_chain(settings=SETTINGS)
    token = await _admin(chain)
    openid = new_openid()
    older = await _paid(player, await wechat_payment(chain, amount_fen=5_000, openid=openid))
    payment = await _paid(player, await wechat_payment(chain, amount_fen=3_000, openid=openid))

    assert (await _refund(api, token, payment, out_refund_no="FR1", amount_fen=2_000)).status == 201
    await notify_refund(player, payment.out_trade_no, "FR1")

    member = await _member_of(payment)
    assert member.points_balance == 60
    lots = {
        key: remaining
        for key, remaining in await PointsLot.filter(member_id=member.id).values_list(
            "entry__key", "remaining"
        )
    }
    assert lots == {f"payment:{older.id}": 50, f"payment:{payment.id}": 10}


# Never more than paid ------------------------------------------------------------------------


async def test_a_refund_above_what_is_left_or_of_an_unpaid_payment_is_refused(
    api: Api, player: Player
) -> None:
    chain = await make_chain(settings=SETTINGS)
    token = await _admin(chain)
    payment = await _paid(player, await wechat_payment(chain, amount_fen=10_000))
    unpaid = await wechat_payment(chain)

    too_much = await _refund(api, token, payment, amount_fen=10_001)
    part = await _refund(api, token, payment, amount_fen=9_000)
    over_the_rest = await _refund(api, token, payment, amount_fen=1_001)
    rest = await _refund(api, token, payment)
    nothing_left = await _refund(api, token, payment)
    not_paid = await _refund(api, token, unpaid)

    assert (too_much.status, too_much.error_code) == (409, "refund.exceeds")
    assert part.status == 201 and rest.status == 201 and rest.json["amount_fen"] == 1_000
    assert (over_the_rest.status, over_the_rest.error_code) == (409, "refund.exceeds")
    assert (nothing_left.status, nothing_left.error_code) == (409, "refund.exceeds")
    assert (not_paid.status, not_paid.error_code) == (409, "refund.not_paid")
    assert await PaymentRefund.filter(payment_id=unpaid.id).count() == 0
    assert (await Payment.get(id=payment.id)).refunded_fen == 10_000
    assert (await player.trade(payment.out_trade_no))["refunded_fen"] == 10_000


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
async def test_20_concurrent_partial_refunds_never_exceed_the_payment(
    api: Api, player: Player, channel: str
) -> None:
    chain = await make_chain(settings=SETTINGS)
    token = await _admin(chain)
    make = wechat_payment if channel == "wechat" else alipay_payment
    payment = await _paid(player, await make(chain, amount_fen=1_000))

    answers = await asyncio.gather(
        *(_refund(api, token, payment, out_refund_no=f"C{i}", amount_fen=100) for i in range(20))
    )

    assert sorted(a.status for a in answers) == [201] * 10 + [409] * 10
    assert {a.error_code for a in answers if a.status == 409} == {"refund.exceeds"}
    assert (await Payment.get(id=payment.id)).refunded_fen == 1_000
    assert await PaymentRefund.filter(payment_id=payment.id).count() == 10
    trade = await player.trade(payment.out_trade_no)
    assert trade["refunded_fen"] == 1_000 and len(trade["refunds"]) == 10
    if channel == "alipay":
        fresh = await Payment.get(id=payment.id)
        assert fresh.state == PaymentState.REFUNDED
        assert (await _member_of(payment)).points_balance == 0


# Stored value --------------------------------------------------------------------------------


async def test_a_wallet_payment_is_refunded_to_principal_and_bonus_as_they_were_spent(
    api: Api,
) -> None:
    brand = await make_brand(settings=SETTINGS)
    token = staff_token(await make_staff(brand=brand, role=StaffRole.HQ_ADMIN))
    member = await make_member(brand=brand)
    await wallet.recharge_wallet(
        brand_id=brand.id, member_id=member.id, principal_fen=8_000, bonus_fen=2_000, key="seed"
    )
    payment = await payments.create_payment(
        brand_id=brand.id,
        account=None,
        method=PaymentMethod.WALLET,
        purpose=PaymentPurpose.POS,
        amount_fen=5_000,
        description="储值支付",
        member_id=member.id,
    )
    await payments.pay_with_wallet(payment)

    part = await _refund(api, token, payment, out_refund_no="W1", amount_fen=2_000)
    again = await _refund(api, token, payment, out_refund_no="W1", amount_fen=2_000)
    rest = await _refund(api, token, payment, out_refund_no="W2")

    assert part.status == 201 and part.json["state"] == "succeeded"
    assert (part.json["wallet_principal_fen"], part.json["wallet_bonus_fen"]) == (1_600, 400)
    assert part.json["points_clawed_back"] == 20
    assert again.status == 200 and again.json["id"] == part.json["id"]
    assert (rest.json["wallet_principal_fen"], rest.json["wallet_bonus_fen"]) == (2_400, 600)
    assert rest.json["payment_state"] == "refunded"
    balance = await wallet.wallet_balance(brand_id=brand.id, member_id=member.id)
    assert (balance.principal_fen, balance.bonus_fen) == (8_000, 2_000)
    assert await WalletEntry.filter(member_id=member.id, kind=WalletEntryKind.REFUND).count() == 2
    assert (await Member.get(id=member.id)).points_balance == 0


async def _recharged(api: Api, player: Player, chain: Chain) -> tuple[Member, Payment]:
    member = await attach_identities(
        brand_id=chain.brand.id,
        keys=[IdentityKey(IdentityKind.WECHAT_OPENID, new_openid(), chain.appid)],
    )
    package = await wallet.create_package(
        brand_id=chain.brand.id, name="充 500 送 50", pay_fen=50_000, bonus_fen=5_000
    )
    started = await api.post(
        "/wallet/recharge",
        {"package_id": package.id, "provider": "wechat"},
        token=member_token(member),
    )
    await player.pay(started.json["out_trade_no"])
    return member, await Payment.get(id=started.json["payment_id"])


async def test_a_recharge_refund_takes_its_principal_and_bonus_back_out_of_the_wallet(
    api: Api, player: Player
) -> None:
    chain = await make_chain(settings=SETTINGS)
    token = await _admin(chain)
    member, payment = await _recharged(api, player, chain)

    part = await _refund(api, token, payment, out_refund_no="RC1", amount_fen=20_000)
    held = await wallet.wallet_balance(brand_id=chain.brand.id, member_id=member.id)
    await notify_refund(player, payment.out_trade_no, "RC1")
    rest = await _refund(api, token, payment, out_refund_no="RC2")
    await notify_refund(player, payment.out_trade_no, "RC2")

    assert part.status == 201, part
    assert (part.json["wallet_principal_fen"], part.json["wallet_bonus_fen"]) == (20_000, 2_000)
    assert (held.principal_fen, held.bonus_fen) == (30_000, 3_000)
    assert (rest.json["wallet_principal_fen"], rest.json["wallet_bonus_fen"]) == (30_000, 3_000)
    balance = await wallet.wallet_balance(brand_id=chain.brand.id, member_id=member.id)
    assert (balance.principal_fen, balance.bonus_fen) == (0, 0)
    assert (await Payment.get(id=payment.id)).state == PaymentState.REFUNDED
    kinds = await WalletEntry.filter(member_id=member.id).values_list("kind", flat=True)
    assert sorted(kinds) == ["adjust", "adjust", "recharge", "withdraw", "withdraw"]


async def test_a_recharge_already_spent_is_not_refunded(api: Api, player: Player) -> None:
    chain = await make_chain(settings=SETTINGS)
    token = await _admin(chain)
    member, payment = await _recharged(api, player, chain)
    await wallet.spend_wallet(
        brand_id=chain.brand.id,
        member_id=member.id,
        amount_fen=11_000,
        key="order:1",
        reason="买面包",
        actor="system",
    )

    full = await _refund(api, token, payment)
    within = await _refund(api, token, payment, amount_fen=40_000)

    assert (full.status, full.error_code) == (409, "refund.wallet_spent")
    assert within.status == 201, within
    assert await PaymentRefund.filter(payment_id=payment.id).count() == 1
    assert (await Payment.get(id=payment.id)).refunded_fen == 40_000
    assert len(await platform_refunds(player, payment.out_trade_no)) == 1


async def test_a_failed_recharge_refund_puts_the_stored_value_back(
    api: Api, player: Player, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = await make_chain(settings=SETTINGS)
    token = await _admin(chain)
    member, payment = await _recharged(api, player, chain)

    async def refused(order: RefundOrder) -> Refund:
        raise ProviderRefused("payment.not_paid", "The trade cannot be refunded.")

    monkeypatch.setattr(provider_for(chain.hq_wechat), "refund", refused)
    answer = await _refund(api, token, payment, out_refund_no="RF1")

    assert (answer.status, answer.error_code) == (409, "payment.not_paid")
    balance = await wallet.wallet_balance(brand_id=chain.brand.id, member_id=member.id)
    assert (balance.principal_fen, balance.bonus_fen) == (50_000, 5_000)
    assert (await Payment.get(id=payment.id)).refunded_fen == 0


# Recovery ------------------------------------------------------------------------------------


async def test_refunds_left_processing_are_settled_by_the_recovery_job(
    api: Api, player: Player, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = await make_chain(settings=SETTINGS)
    token = await _admin(chain)
    payment = await _paid(player, await wechat_payment(chain, amount_fen=10_000))
    alipay = await _paid(player, await alipay_payment(chain, amount_fen=10_000))
    assert (await _refund(api, token, payment, out_refund_no="Q1", amount_fen=1_000)).status == 201
    with monkeypatch.context() as patch:
        await lose_refund_answers(patch, payment, reach_platform=False)
        await lose_refund_answers(patch, alipay, reach_platform=False)
        assert (
            await _refund(api, token, payment, out_refund_no="Q2", amount_fen=2_000)
        ).status == 502
        assert (
            await _refund(api, token, alipay, out_refund_no="Q3", amount_fen=3_000)
        ).status == 502

    too_soon = await recovery.recover_refunds()
    clock.advance(minutes=11)
    first = await recovery.recover_refunds()
    clock.advance(minutes=11)
    second = await recovery.recover_refunds()

    assert too_soon["checked"] == 0
    # Q1 answered by query; Q2 never reached WeChat Pay: asked again (processing there);
    # Q3 never reached Alipay: asked again, done at once.
    assert first == {"checked": 3, "succeeded": 2, "failed": 0, "resent": 1, "errors": 0}
    assert second == {"checked": 1, "succeeded": 1, "failed": 0, "resent": 0, "errors": 0}
    states = await PaymentRefund.all().order_by("out_refund_no").values_list("state", flat=True)
    assert states == [RefundState.SUCCEEDED] * 3
    assert (await _member_of(payment)).points_balance == 70
    assert (await _member_of(alipay)).points_balance == 70
    assert len(await platform_refunds(player, payment.out_trade_no)) == 2


# Who may refund, and bad input ---------------------------------------------------------------


async def test_a_store_manager_refunds_their_stores_payments_only(api: Api, player: Player) -> None:
    chain = await make_chain(settings=SETTINGS)
    store = await Store.get(id=chain.direct_store_id)
    manager = staff_token(
        await make_staff(brand=chain.brand, role=StaffRole.STORE_MANAGER, store=store)
    )
    guide = staff_token(await make_staff(brand=chain.brand, role=StaffRole.GUIDE, store=store))
    mine = await _paid(player, await wechat_payment(chain, store_id=chain.direct_store_id))
    theirs = await _paid(player, await wechat_payment(chain, store_id=chain.franchise_store_id))
    online = await _paid(player, await wechat_payment(chain))

    own = await _refund(api, manager, mine, amount_fen=100)
    other_store = await _refund(api, manager, theirs, amount_fen=100)
    head_office = await _refund(api, manager, online, amount_fen=100)
    as_guide = await _refund(api, guide, mine, amount_fen=100)

    assert own.status == 201
    assert (other_store.status, other_store.error_code) == (404, "payment.not_found")
    assert head_office.status == 404
    assert as_guide.status == 403
    assert await PaymentRefund.all().count() == 1


async def test_bad_refund_requests_are_refused_and_change_nothing(api: Api, player: Player) -> None:
    chain = await make_chain(settings=SETTINGS)
    other = await make_chain()
    token = await _admin(chain)
    payment = await _paid(player, await wechat_payment(chain))
    foreign = await _paid(player, await wechat_payment(other))
    path = f"/admin/payments/{payment.id}/refunds"

    answers = [
        await api.post(path, {"amount_fen": 100}, token=token),
        await api.post(path, {"reason": ""}, token=token),
        await api.post(path, {"reason": "x" * 81}, token=token),
        await api.post(path, {"reason": "退货", "amount_fen": 0}, token=token),
        await api.post(path, {"reason": "退货", "amount_fen": -5}, token=token),
        await api.post(path, {"reason": "退货", "amount_fen": 1.5}, token=token),
        await api.post(path, {"reason": "退货", "out_refund_no": "退款一"}, token=token),
        await api.post(path, {"reason": "退货", "out_refund_no": "x" * 65}, token=token),
        await api.post(path, {"reason": "退货", "out_refund_no": ""}, token=token),
        await api.post(path, {"reason": "退货", "store_id": 1}, token=token),
        await api.post(path, ["退货"], token=token),
    ]
    missing = await api.post("/admin/payments/999999/refunds", {"reason": "退货"}, token=token)
    foreign_brand = await _refund(api, token, foreign, amount_fen=100)
    anonymous = await api.post(path, {"reason": "退货"})

    assert [(a.status, a.error_code) for a in answers] == [(422, "request.invalid")] * len(answers)
    assert (missing.status, missing.error_code) == (404, "payment.not_found")
    assert (foreign_brand.status, foreign_brand.error_code) == (404, "payment.not_found")
    assert anonymous.status == 401
    assert await PaymentRefund.all().count() == 0
    assert (await Payment.get(id=payment.id)).refunded_fen == 0
    assert await platform_refunds(player, payment.out_trade_no) == []


async def test_the_service_refuses_bad_input_from_any_caller() -> None:
    from api.core.errors import InvalidInput
    from api.org.scope import StoreScope
    from api.payments import refunds

    brand = await make_brand()
    calls = [
        {"reason": "退货", "amount_fen": True},
        {"reason": "退货", "amount_fen": 0},
        {"reason": "  "},
        {"reason": "退货", "out_refund_no": "a b"},
    ]
    codes = []
    for call in calls:
        with pytest.raises(InvalidInput) as refused:
            await refunds.refund_payment(
                brand_id=brand.id, scope=StoreScope.brand(), actor="system", payment_id=1, **call
            )
        codes.append(refused.value.code)

    assert codes == [
        "refund.invalid_amount",
        "refund.invalid_amount",
        "refund.invalid_reason",
        "refund.invalid_number",
    ]


async def test_notifications_of_several_refunds_at_once_settle_the_payment_exactly(
    api: Api, player: Player
) -> None:
    chain = await make_chain(settings={**SETTINGS, "points_per_yuan": 3})
    token = await _admin(chain)
    payment = await _paid(player, await wechat_payment(chain, amount_fen=1_000))
    numbers = [f"K{i}" for i in range(5)]
    for number in numbers:
        asked = await _refund(api, token, payment, out_refund_no=number, amount_fen=200)
        assert asked.status == 201

    await asyncio.gather(
        *(
            deliver_refund_notification(player, payment.out_trade_no, number, times=4)
            for number in numbers
        )
    )

    fresh = await Payment.get(id=payment.id)
    assert (fresh.state, fresh.refunded_fen) == (PaymentState.REFUNDED, 1_000)
    clawed = await PaymentRefund.filter(payment_id=payment.id).values_list(
        "points_clawed_back", flat=True
    )
    assert sorted(clawed) == [6] * 5
    member = await _member_of(payment)
    assert (member.points_balance, member.growth) == (0, 0)


async def test_a_points_claw_back_is_taken_once_per_key_and_never_below_zero() -> None:
    brand = await make_brand(settings=SETTINGS)
    member = await make_member(brand=brand)
    await points.earn_points(brand_id=brand.id, member_id=member.id, amount=30, key="payment:1")

    takes = await asyncio.gather(
        *(
            points.take_back_points(
                brand_id=brand.id,
                member_id=member.id,
                amount=50,
                key="refund:1",
                earned_key="payment:1",
                reason="refund",
            )
            for _ in range(20)
        )
    )
    nothing = await points.take_back_points(
        brand_id=brand.id, member_id=member.id, amount=5, key="refund:2", reason="refund"
    )

    assert {(t.taken, t.short) for t in takes} == {(30, 20)}
    assert len({t.entry.id for t in takes if t.entry is not None}) == 1
    assert (nothing.entry, nothing.taken, nothing.short) == (None, 0, 5)
    assert (await Member.get(id=member.id)).points_balance == 0
