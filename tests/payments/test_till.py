"""The till: orders priced for the member, charged by a payment code on the store's account or
by the member's code from stored value; one charge per order however the till retries."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from api.core.clock import FrozenClock
from api.member_center import wallet
from api.member_center.models import Member, MemberStatus, PointsEntry, WalletEntry
from api.org.models import StaffRole, Store
from api.payments import member_code_pay, payments, till
from api.payments.models import (
    Payment,
    PaymentMethod,
    PaymentPurpose,
    PaymentState,
    PosOrder,
    PosOrderState,
)
from api.payments.providers import provider_for
from api.payments.providers.base import CodeOrder
from config.settings import Settings
from tests.factories import make_brand, make_staff, make_store, member_token, staff_token
from tests.support.api import Api
from tests.support.player import Player

from .till_support import funded_member, make_till, member_code, pay, ring_up

pytestmark = pytest.mark.usefixtures("live_url")


@pytest.fixture
def quick_codes(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The till waits 1 s for a confirming payer, asking every 0.1 s."""
    monkeypatch.setattr(settings, "till_code_wait_s", 1.0)
    monkeypatch.setattr(settings, "till_code_poll_s", 0.1)
    return settings


async def _wallet_fen(member: Member) -> int:
    balance = await wallet.wallet_balance(brand_id=member.brand_id, member_id=member.id)
    return balance.total_fen


# --- pricing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "pct", "payable"),
    [(1999, 95, 1899), (10, 95, 10), (1, 50, 1), (3, 50, 2), (10_000, 88, 8800), (777, 100, 777)],
)
def test_the_level_price_is_rounded_half_up_to_a_whole_fen(
    amount: int, pct: int, payable: int
) -> None:
    assert till.level_price(amount, pct) == payable


async def test_an_order_with_a_member_code_is_priced_at_the_level_discount(api: Api) -> None:
    t = await make_till()
    member = await funded_member(t, discount_pct=95)
    code = await member_code(api, member)

    answer = await api.post(
        "/pos/orders",
        {
            "store_id": t.chain.direct_store_id,
            "amount_fen": 1999,
            "items": [{"sku": "B1", "name": "面包", "quantity": 1, "price_fen": 1999}],
            "member_code": code,
        },
        token=t.direct_cashier,
    )
    again = await api.post(
        "/pos/orders",
        {"store_id": t.chain.direct_store_id, "amount_fen": 1999, "member_code": code},
        token=t.direct_cashier,
    )

    assert answer.status == 201, answer
    body = answer.json
    assert (body["amount_fen"], body["discount_pct"], body["payable_fen"]) == (1999, 95, 1899)
    assert (body["discount_fen"], body["member_id"], body["state"]) == (100, member.id, "open")
    assert (again.status, again.error_code) == (409, "member_code.used")
    assert await PosOrder.all().count() == 1


# --- payment codes ----------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["wechat", "alipay"])
async def test_a_payment_code_at_a_franchise_store_pays_the_franchisee_and_makes_a_member(
    api: Api, player: Player, provider: str
) -> None:
    # given an order at the franchise store and a payer nobody knows
    t = await make_till()
    order_id = await ring_up(api, t.franchise_cashier, t.chain.franchise_store_id, 12_800)
    code = await player.payment_code(provider)

    # when the cashier scans their payment code
    answer = await pay(api, t.franchise_cashier, order_id, f"{provider}_code", code)

    # then the money is on the franchisee's account and the payer is a member with points
    assert answer.status == 200, answer
    assert answer.json["state"] == "paid" and answer.json["payment_state"] == "paid"
    payment = await Payment.get(id=answer.json["payment_id"])
    account = t.chain.franchise_wechat if provider == "wechat" else t.chain.franchise_alipay
    assert payment.account_id == account.id == answer.json["account_id"]
    assert (payment.purpose, payment.amount_fen) == (PaymentPurpose.POS, 12_800)
    trade = await player.trade(payment.out_trade_no)
    if provider == "wechat":
        assert trade["sub_mchid"] == account.sub_mchid and trade["state"] == "SUCCESS"
    else:
        assert trade["seller_id"] == account.mch_id
    member = await Member.get(id=payment.member_id)
    assert member.status == MemberStatus.MEMBER
    assert member.points_balance == payment.points_earned == 128
    assert answer.json["points_earned"] == 128
    order = await PosOrder.get(id=order_id)
    assert (order.member_id, order.state) == (member.id, PosOrderState.PAID)
    assert member.home_store_id == t.chain.franchise_store_id


async def test_a_direct_store_is_paid_into_head_office(api: Api, player: Player) -> None:
    t = await make_till()
    order_id = await ring_up(api, t.hq_admin, t.chain.direct_store_id, 500)

    answer = await pay(
        api, t.hq_admin, order_id, "alipay_code", await player.payment_code("alipay")
    )

    assert answer.status == 200, answer
    assert answer.json["account_id"] == t.chain.hq_alipay.id


async def test_an_order_priced_for_a_member_credits_that_member(api: Api, player: Player) -> None:
    t = await make_till()
    member = await funded_member(t, discount_pct=90)
    order_id = await ring_up(
        api,
        t.direct_cashier,
        t.chain.direct_store_id,
        10_000,
        member_code=await member_code(api, member),
    )

    answer = await pay(
        api, t.direct_cashier, order_id, "wechat_code", await player.payment_code("wechat")
    )

    assert answer.status == 200, answer
    payment = await Payment.get(id=answer.json["payment_id"])
    assert (payment.amount_fen, payment.member_id) == (9_000, member.id)
    assert (await Member.get(id=member.id)).points_balance == 90
    assert await Member.filter(brand_id=t.brand_id).count() == 1


async def test_a_userpaying_payer_who_confirms_in_time_pays(
    api: Api, player: Player, quick_codes: Settings
) -> None:
    t = await make_till()
    order_id = await ring_up(api, t.franchise_cashier, t.chain.franchise_store_id, 3_000)
    code = await player.payment_code("wechat", behaviour="userpaying", confirm_after_s=0.3)

    answer = await pay(api, t.franchise_cashier, order_id, "wechat_code", code)

    assert answer.status == 200, answer
    assert answer.json["state"] == "paid"
    assert await Payment.filter(state=PaymentState.PAID).count() == 1


@pytest.mark.parametrize("provider", ["wechat", "alipay"])
async def test_a_payer_who_never_confirms_is_reversed_and_the_order_stays_open(
    api: Api, player: Player, quick_codes: Settings, provider: str
) -> None:
    t = await make_till()
    order_id = await ring_up(api, t.franchise_cashier, t.chain.franchise_store_id, 3_000)
    code = await player.payment_code(provider, behaviour="userpaying", confirm_after_s=None)

    answer = await pay(api, t.franchise_cashier, order_id, f"{provider}_code", code)

    assert (answer.status, answer.error_code) == (409, "pos_order.payer_timeout"), answer
    order = await PosOrder.get(id=order_id)
    assert (order.state, order.last_error) == (PosOrderState.OPEN, "pos_order.payer_timeout")
    payment = await Payment.get(id=order.payment_id)
    assert payment.state == PaymentState.CLOSED
    trade = await player.trade(payment.out_trade_no)
    assert trade["state"] in ("REVOKED", "TRADE_CLOSED"), trade["state"]
    # and a fresh code pays the same order
    again = await pay(
        api, t.franchise_cashier, order_id, f"{provider}_code", await player.payment_code(provider)
    )
    assert again.status == 200, again
    assert await Payment.filter(state=PaymentState.PAID).count() == 1
    assert await Payment.all().count() == 2


@pytest.mark.parametrize("provider", ["wechat", "alipay"])
async def test_a_declined_code_leaves_the_order_open_and_charges_nothing(
    api: Api, player: Player, provider: str
) -> None:
    t = await make_till()
    order_id = await ring_up(api, t.direct_cashier, t.chain.direct_store_id, 3_000)

    answer = await pay(
        api,
        t.direct_cashier,
        order_id,
        f"{provider}_code",
        await player.payment_code(provider, behaviour="fail"),
    )

    assert (answer.status, answer.error_code) == (409, "pos_order.payment_failed"), answer
    order = await PosOrder.get(id=order_id)
    assert order.state == PosOrderState.OPEN
    assert (await Payment.get(id=order.payment_id)).state == PaymentState.CLOSED
    assert await Member.all().count() == 0


async def test_a_paid_order_is_not_paid_again_and_its_key_replays(api: Api, player: Player) -> None:
    t = await make_till()
    order_id = await ring_up(api, t.direct_cashier, t.chain.direct_store_id, 3_000)
    first = await pay(
        api,
        t.direct_cashier,
        order_id,
        "wechat_code",
        await player.payment_code("wechat"),
        key="k1",
    )

    replay = await pay(
        api,
        t.direct_cashier,
        order_id,
        "wechat_code",
        await player.payment_code("wechat"),
        key="k1",
    )
    other = await pay(
        api,
        t.direct_cashier,
        order_id,
        "wechat_code",
        await player.payment_code("wechat"),
        key="k2",
    )

    assert first.status == 200, first
    assert replay.status == 200 and replay.json["payment_id"] == first.json["payment_id"]
    assert (other.status, other.error_code) == (409, "pos_order.already_paid")
    assert await Payment.all().count() == 1
    assert await PointsEntry.all().count() == 1


async def test_twenty_concurrent_pays_of_one_order_charge_once(api: Api, player: Player) -> None:
    t = await make_till()
    order_id = await ring_up(api, t.franchise_cashier, t.chain.franchise_store_id, 3_000)
    codes = [await player.payment_code("wechat") for _ in range(20)]

    answers = await asyncio.gather(
        *(pay(api, t.franchise_cashier, order_id, "wechat_code", code) for code in codes)
    )

    assert sorted(a.status for a in answers) == [200] + [409] * 19, answers
    assert {a.error_code for a in answers if a.status == 409} <= {
        "pos_order.paying",
        "pos_order.already_paid",
    }
    assert await Payment.all().count() == 1
    assert await Payment.filter(state=PaymentState.PAID).count() == 1
    assert await PointsEntry.all().count() == 1


async def test_a_pay_retried_after_a_crash_never_charges_twice(
    api: Api, player: Player, clock: FrozenClock
) -> None:
    # given an attempt that charged the code at the platform, then its process died
    t = await make_till()
    order_id = await ring_up(api, t.franchise_cashier, t.chain.franchise_store_id, 3_000)
    account = t.chain.franchise_wechat
    payment = await payments.create_payment(
        brand_id=t.brand_id,
        account=account,
        purpose=PaymentPurpose.POS,
        amount_fen=3_000,
        description="门店消费",
        store_id=t.chain.franchise_store_id,
    )
    await provider_for(account).pay_with_code(
        CodeOrder(
            payment.out_trade_no,
            3_000,
            "门店消费",
            await player.payment_code("wechat"),
            "127.0.0.1",
        )
    )
    await PosOrder.filter(id=order_id).update(
        state=PosOrderState.PAYING,
        attempt=1,
        attempt_key="lost",
        attempt_started_at=clock.now(),
        method="wechat_code",
        payment_id=payment.id,
    )

    # when the till retries at once, and again once the attempt is clearly abandoned
    at_once = await pay(
        api,
        t.franchise_cashier,
        order_id,
        "wechat_code",
        await player.payment_code("wechat"),
        key="lost",
    )
    clock.advance(minutes=5)
    later = await pay(
        api,
        t.franchise_cashier,
        order_id,
        "wechat_code",
        await player.payment_code("wechat"),
        key="lost",
    )

    # then the first charge is found and applied; nothing is charged again
    assert (at_once.status, at_once.error_code) == (409, "pos_order.paying")
    assert later.status == 200, later
    assert later.json["payment_id"] == payment.id and later.json["state"] == "paid"
    assert await Payment.all().count() == 1
    assert (await Payment.get(id=payment.id)).state == PaymentState.PAID


async def test_an_abandoned_unpaid_attempt_is_reversed_before_a_new_charge(
    api: Api, player: Player, clock: FrozenClock
) -> None:
    t = await make_till()
    order_id = await ring_up(api, t.direct_cashier, t.chain.direct_store_id, 3_000)
    account = t.chain.hq_wechat
    payment = await payments.create_payment(
        brand_id=t.brand_id,
        account=account,
        purpose=PaymentPurpose.POS,
        amount_fen=3_000,
        description="门店消费",
        store_id=t.chain.direct_store_id,
    )
    stuck = await player.payment_code("wechat", behaviour="userpaying", confirm_after_s=None)
    await provider_for(account).pay_with_code(
        CodeOrder(payment.out_trade_no, 3_000, "门店消费", stuck, "127.0.0.1")
    )
    await PosOrder.filter(id=order_id).update(
        state=PosOrderState.PAYING,
        attempt=1,
        attempt_key="lost",
        attempt_started_at=clock.now() - timedelta(minutes=5),
        payment_id=payment.id,
    )

    answer = await pay(
        api, t.direct_cashier, order_id, "wechat_code", await player.payment_code("wechat")
    )

    assert answer.status == 200, answer
    assert answer.json["attempt"] == 2 and answer.json["payment_id"] != payment.id
    assert (await Payment.get(id=payment.id)).state == PaymentState.CLOSED
    assert (await player.trade(payment.out_trade_no))["state"] == "REVOKED"
    assert await Payment.filter(state=PaymentState.PAID).count() == 1


# --- member codes ---------------------------------------------------------------------------


async def test_a_member_code_pays_from_stored_value_once(api: Api) -> None:
    t = await make_till(settings={"points_frozen_days": 0})
    member = await funded_member(t, wallet_fen=10_000)
    code = await member_code(api, member)
    first_order = await ring_up(api, t.direct_cashier, t.chain.direct_store_id, 3_000)
    second_order = await ring_up(api, t.direct_cashier, t.chain.direct_store_id, 3_000)

    paid = await pay(api, t.direct_cashier, first_order, "member_code", code)
    reused = await pay(api, t.direct_cashier, second_order, "member_code", code)

    assert paid.status == 200, paid
    assert (paid.json["state"], paid.json["member_id"], paid.json["account_id"]) == (
        "paid",
        member.id,
        None,
    )
    payment = await Payment.get(id=paid.json["payment_id"])
    assert (payment.method, payment.state) == (PaymentMethod.WALLET, PaymentState.PAID)
    assert (reused.status, reused.error_code) == (409, "member_code.used")
    assert (await PosOrder.get(id=second_order)).state == PosOrderState.OPEN
    assert await _wallet_fen(member) == 7_000
    assert (await Member.get(id=member.id)).points_balance == 30


async def test_an_expired_member_code_is_refused(api: Api, clock: FrozenClock) -> None:
    t = await make_till()
    member = await funded_member(t, wallet_fen=10_000)
    code = await member_code(api, member)
    order_id = await ring_up(api, t.direct_cashier, t.chain.direct_store_id, 3_000)
    clock.advance(seconds=61)

    answer = await pay(api, t.direct_cashier, order_id, "member_code", code)

    assert (answer.status, answer.error_code) == (410, "member_code.expired")
    assert (await PosOrder.get(id=order_id)).state == PosOrderState.OPEN
    assert await Payment.all().count() == 0
    assert await _wallet_fen(member) == 10_000


async def test_five_tills_scanning_one_member_code_charge_once(api: Api) -> None:
    t = await make_till()
    member = await funded_member(t, wallet_fen=100_000)
    code = await member_code(api, member)
    orders = [
        await ring_up(api, t.direct_cashier, t.chain.direct_store_id, 3_000) for _ in range(5)
    ]

    answers = await asyncio.gather(
        *(pay(api, t.direct_cashier, order_id, "member_code", code) for order_id in orders)
    )

    assert sorted(a.status for a in answers) == [200, 409, 409, 409, 409], answers
    assert {a.error_code for a in answers if a.status == 409} == {"member_code.used"}
    assert await _wallet_fen(member) == 97_000
    assert await WalletEntry.filter(member_id=member.id, kind="spend").count() == 1
    assert await PosOrder.filter(state=PosOrderState.PAID).count() == 1


async def test_a_short_wallet_is_refused_and_nothing_changes(api: Api) -> None:
    t = await make_till()
    member = await funded_member(t, wallet_fen=2_999)
    order_id = await ring_up(api, t.direct_cashier, t.chain.direct_store_id, 3_000)

    answer = await pay(
        api, t.direct_cashier, order_id, "member_code", await member_code(api, member)
    )

    assert (answer.status, answer.error_code) == (409, "wallet.insufficient")
    assert (await PosOrder.get(id=order_id)).state == PosOrderState.OPEN
    assert await Payment.all().count() == 0
    assert await _wallet_fen(member) == 2_999
    assert await PointsEntry.all().count() == 0


async def test_above_the_limit_the_member_confirms_before_the_till_sees_it_paid(
    api: Api,
) -> None:
    # given a brand that asks members to confirm above 100 yuan
    t = await make_till(settings={"member_code_pay_confirm_above_fen": 10_000})
    member = await funded_member(t, wallet_fen=50_000)
    stranger = await funded_member(t, wallet_fen=50_000)
    order_id = await ring_up(api, t.direct_cashier, t.chain.direct_store_id, 10_001)

    # when the member's code is scanned
    waiting = await pay(
        api, t.direct_cashier, order_id, "member_code", await member_code(api, member)
    )

    # then the till waits, the member sees the payment and no one else can confirm it
    assert waiting.status == 202, waiting
    assert waiting.json["state"] == "pending_confirmation"
    payment_id = waiting.json["payment_id"]
    polled = await api.get(f"/pos/orders/{order_id}", token=t.direct_cashier)
    assert polled.json["state"] == "pending_confirmation"
    listed = await api.get("/me/payments/pending", token=member_token(member))
    assert [p["id"] for p in listed.json["items"]] == [payment_id]
    assert (await api.get("/me/payments/pending", token=member_token(stranger))).json["items"] == []
    foreign = await api.post(f"/me/payments/{payment_id}/confirm", token=member_token(stranger))
    assert (foreign.status, foreign.error_code) == (404, "payment.not_found")
    assert await _wallet_fen(member) == 50_000

    # when the member confirms (twice)
    confirmed = await api.post(f"/me/payments/{payment_id}/confirm", token=member_token(member))
    again = await api.post(f"/me/payments/{payment_id}/confirm", token=member_token(member))

    # then it is paid once and the till sees the order paid
    assert confirmed.status == 200, confirmed
    assert confirmed.json["state"] == "paid" and again.json["state"] == "paid"
    polled = await api.get(f"/pos/orders/{order_id}", token=t.direct_cashier)
    assert polled.json["state"] == "paid"
    assert await _wallet_fen(member) == 39_999
    assert await _wallet_fen(stranger) == 50_000


async def test_twenty_concurrent_confirmations_spend_once(api: Api) -> None:
    t = await make_till(settings={"member_code_pay_confirm_above_fen": 0})
    member = await funded_member(t, wallet_fen=50_000)
    order_id = await ring_up(api, t.direct_cashier, t.chain.direct_store_id, 5_000)
    waiting = await pay(
        api, t.direct_cashier, order_id, "member_code", await member_code(api, member)
    )
    path = f"/me/payments/{waiting.json['payment_id']}/confirm"

    answers = await asyncio.gather(*(api.post(path, token=member_token(member)) for _ in range(20)))

    assert all(a.status == 200 for a in answers), [a for a in answers if a.status != 200]
    assert await _wallet_fen(member) == 45_000
    assert (await PosOrder.get(id=order_id)).state == PosOrderState.PAID


async def test_an_unconfirmed_payment_expires_and_the_order_opens_again(
    api: Api, clock: FrozenClock
) -> None:
    t = await make_till(settings={"member_code_pay_confirm_above_fen": 0})
    member = await funded_member(t, wallet_fen=50_000)
    first = await ring_up(api, t.direct_cashier, t.chain.direct_store_id, 5_000)
    second = await ring_up(api, t.direct_cashier, t.chain.direct_store_id, 5_000)
    one = await pay(api, t.direct_cashier, first, "member_code", await member_code(api, member))
    two = await pay(api, t.direct_cashier, second, "member_code", await member_code(api, member))
    token = member_token(member)  # signed now: tokens are checked against the real time
    clock.advance(minutes=31)  # the brand's payment timeout is 30 minutes

    closed = await member_code_pay.close_unconfirmed()
    late = await api.post(f"/me/payments/{one.json['payment_id']}/confirm", token=token)
    polled = await api.get(f"/pos/orders/{second}", token=t.direct_cashier)

    assert closed == 2
    assert (late.status, late.error_code) == (409, "payment.closed")
    assert polled.json["state"] == "open"
    assert polled.json["last_error"] == "payment.confirmation_expired"
    assert two.json["state"] == "pending_confirmation"
    assert await _wallet_fen(member) == 50_000
    assert await member_code_pay.close_unconfirmed() == 0


async def test_a_confirmation_after_the_timeout_is_gone(api: Api, clock: FrozenClock) -> None:
    t = await make_till(settings={"member_code_pay_confirm_above_fen": 0})
    member = await funded_member(t, wallet_fen=50_000)
    order_id = await ring_up(api, t.direct_cashier, t.chain.direct_store_id, 5_000)
    waiting = await pay(
        api, t.direct_cashier, order_id, "member_code", await member_code(api, member)
    )
    token = member_token(member)
    clock.advance(minutes=31)

    late = await api.post(f"/me/payments/{waiting.json['payment_id']}/confirm", token=token)

    assert (late.status, late.error_code) == (410, "payment.confirmation_expired")
    assert (await PosOrder.get(id=order_id)).state == PosOrderState.OPEN
    assert await _wallet_fen(member) == 50_000


# --- orders and bad input -------------------------------------------------------------------


async def test_an_open_order_can_be_cancelled_and_then_not_paid(api: Api, player: Player) -> None:
    t = await make_till()
    order_id = await ring_up(api, t.direct_cashier, t.chain.direct_store_id, 3_000)

    cancelled = await api.post(f"/pos/orders/{order_id}/cancel", token=t.direct_cashier)
    paid = await pay(
        api, t.direct_cashier, order_id, "wechat_code", await player.payment_code("wechat")
    )

    assert cancelled.status == 200 and cancelled.json["state"] == "cancelled"
    assert (paid.status, paid.error_code) == (409, "pos_order.cancelled")
    assert await Payment.all().count() == 0


async def test_a_cashier_sees_only_their_stores_orders(api: Api) -> None:
    t = await make_till()
    order_id = await ring_up(api, t.franchise_cashier, t.chain.franchise_store_id, 3_000)

    other = await api.get(f"/pos/orders/{order_id}", token=t.direct_cashier)
    own = await api.get(f"/pos/orders/{order_id}", token=t.franchise_cashier)
    hq = await api.get(f"/pos/orders/{order_id}", token=t.hq_admin)

    assert (other.status, other.error_code) == (404, "pos_order.not_found")
    assert own.status == 200 and hq.status == 200


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"store_id": 999_999, "amount_fen": 100}, 404, "store.not_found"),
        ({"store_id": "franchise", "amount_fen": 100}, 404, "store.not_found"),  # not the cashier's
        ({"store_id": "foreign", "amount_fen": 100}, 404, "store.not_found"),  # another brand's
        ({"store_id": "direct", "amount_fen": 0}, 422, "request.invalid"),
        ({"store_id": "direct", "amount_fen": -5}, 422, "request.invalid"),
        ({"store_id": "direct", "amount_fen": 100_000_001}, 422, "request.invalid"),
        ({"store_id": "direct", "amount_fen": 1.5}, 422, "request.invalid"),
        ({"store_id": "direct", "amount_fen": 100, "member_code": "12345"}, 422, "request.invalid"),
        (
            {"store_id": "direct", "amount_fen": 100, "member_code": "134567890123456789"},
            422,
            "pos_order.invalid_code",
        ),
        (
            {"store_id": "direct", "amount_fen": 100, "member_code": "681234567890123456"},
            404,
            "member_code.not_found",
        ),
        (
            {
                "store_id": "direct",
                "amount_fen": 100,
                "items": [{"name": "面包", "quantity": 2, "price_fen": 40}],
            },
            422,
            "pos_order.items_mismatch",
        ),
        ({"store_id": "direct", "amount_fen": 100, "extra": 1}, 422, "request.invalid"),
        (
            {
                "store_id": "direct",
                "amount_fen": 100,
                "items": [{"name": "a\x00b", "quantity": 1, "price_fen": 100}],
            },
            422,
            "request.invalid",
        ),
    ],
)
async def test_a_bad_order_is_refused_and_creates_nothing(
    api: Api, payload: dict[str, object], status: int, code: str
) -> None:
    t = await make_till()
    foreign = await make_store(brand=await make_brand())
    stores = {
        "direct": t.chain.direct_store_id,
        "franchise": t.chain.franchise_store_id,
        "foreign": foreign.id,
    }
    if isinstance(payload["store_id"], str):
        payload = {**payload, "store_id": stores[payload["store_id"]]}

    answer = await api.post("/pos/orders", payload, token=t.direct_cashier)

    assert (answer.status, answer.error_code) == (status, code), answer
    assert await PosOrder.all().count() == 0


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        ({"method": "cash", "auth_code": "134567890123456789"}, None, 422, "request.invalid"),
        ({"method": "wechat_code"}, None, 422, "request.invalid"),
        ({"method": "wechat_code", "auth_code": ""}, None, 422, "request.invalid"),
        ({"method": "wechat_code", "auth_code": "abc"}, None, 422, "pos_order.invalid_code"),
        ({"method": "wechat_code", "auth_code": "281234567890123456789012345678"[:28]}, None, 422, "pos_order.invalid_code"),
        ({"method": "alipay_code", "auth_code": "134567890123456789"}, None, 422, "pos_order.invalid_code"),
        ({"method": "member_code", "auth_code": "134567890123456789"}, None, 422, "pos_order.invalid_code"),
        ({"method": "member_code", "auth_code": "68123456789012345"}, None, 422, "pos_order.invalid_code"),
        ({"method": "wechat_code", "auth_code": "134567890123456789"}, {}, 422, "request.idempotency_key_required"),
    ],
)  # fmt: skip
async def test_a_bad_pay_is_refused_and_changes_nothing(
    api: Api, body: dict[str, object], headers: dict[str, str] | None, status: int, code: str
) -> None:
    t = await make_till()
    order_id = await ring_up(api, t.direct_cashier, t.chain.direct_store_id, 3_000)

    answer = await api.post(
        f"/pos/orders/{order_id}/pay",
        body,
        token=t.direct_cashier,
        headers={"Idempotency-Key": "k"} if headers is None else headers,
    )

    assert (answer.status, answer.error_code) == (status, code), answer
    order = await PosOrder.get(id=order_id)
    assert (order.state, order.attempt) == (PosOrderState.OPEN, 0)
    assert await Payment.all().count() == 0


async def test_paying_an_order_of_another_store_or_unknown_is_not_found(
    api: Api, player: Player
) -> None:
    t = await make_till()
    order_id = await ring_up(api, t.franchise_cashier, t.chain.franchise_store_id, 3_000)

    foreign = await pay(
        api, t.direct_cashier, order_id, "wechat_code", await player.payment_code("wechat")
    )
    unknown = await pay(
        api, t.direct_cashier, 999_999, "wechat_code", await player.payment_code("wechat")
    )

    assert (foreign.status, foreign.error_code) == (404, "pos_order.not_found")
    assert (unknown.status, unknown.error_code) == (404, "pos_order.not_found")
    assert await Payment.all().count() == 0


async def test_the_till_needs_staff(api: Api) -> None:
    t = await make_till()
    member = await funded_member(t)
    store = await Store.get(id=t.chain.direct_store_id)
    guide = staff_token(await make_staff(brand=t.chain.brand, role=StaffRole.GUIDE, store=store))

    anonymous = await api.post("/pos/orders", {"store_id": store.id, "amount_fen": 100})
    as_member = await api.post(
        "/pos/orders", {"store_id": store.id, "amount_fen": 100}, token=member_token(member)
    )
    as_guide = await api.post("/pos/orders", {"store_id": store.id, "amount_fen": 100}, token=guide)

    assert anonymous.status == 401
    assert as_member.status in (401, 403)
    assert as_guide.status == 201
