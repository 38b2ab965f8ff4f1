"""Alipay notifications the sandbox delivers to a local receiver, read by AlipayProvider."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from api.payments.providers.alipay import AlipayProvider
from api.payments.providers.base import (
    Notice,
    NoticeKind,
    NotificationRefused,
    Payer,
    Refund,
    RefundOrder,
    RefundState,
    Trade,
    TradeState,
)
from tests.support.player import Player

from .alipay_support import (
    APP_ID,
    Receiver,
    direct_provider,
    form,
    isv_provider,
    new_app_auth_token,
    new_buyer_id,
    prepay_order,
    resigned,
    running_receiver,
)

NOW = datetime.now(UTC)


async def paid(
    player: Player,
    provider: AlipayProvider,
    receiver: Receiver,
    *,
    amount_fen: int = 1000,
    buyer: str | None = None,
    deliveries: int = 1,
) -> tuple[str, dict]:
    """A trade created by the provider and paid by the consumer: (out_trade_no, the answer)."""
    order = prepay_order(
        receiver.notify_url(provider.merchant.account_key), amount_fen=amount_fen, buyer=buyer
    )
    await provider.prepay(order)
    answer = await player.http.post(
        f"/payments/{order.out_trade_no}/pay",
        json={"deliveries": deliveries, "retry_scale": 0.002},
    )
    assert answer.status_code == 200, answer.text
    return order.out_trade_no, answer.json()


def parse(provider: AlipayProvider, body: bytes) -> Notice:
    return provider.parse_notification(
        {"content-type": "application/x-www-form-urlencoded"}, body, now=NOW
    )


def trade_of(notice: Notice) -> Trade:
    assert notice.trade is not None
    return notice.trade


def refund_of(notice: Notice) -> Refund:
    assert notice.refund is not None
    return notice.refund


def refused(provider: AlipayProvider, body: bytes) -> str:
    with pytest.raises(NotificationRefused) as caught:
        parse(provider, body)
    return caught.value.reason


async def forged(player: Player, out_trade_no: str, kind: str, receiver: Receiver) -> bytes:
    answer = await player.http.post(f"/payments/{out_trade_no}/forge", json={"kind": kind})
    assert answer.status_code == 200, answer.text
    return receiver.bodies()[-1]


async def test_a_paid_notification_is_verified_and_read(player: Player) -> None:
    provider = direct_provider()
    buyer = new_buyer_id()
    async with running_receiver() as receiver:
        out_trade_no, answer = await paid(player, provider, receiver, amount_fen=1230, buyer=buyer)

    path, headers, body = receiver.received[0]
    notice = parse(provider, body)

    assert path == "/callbacks/alipay/ali-direct"
    assert headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert answer["deliveries"] == [{"status": 200, "body": "success", "acknowledged": True}]
    assert notice.kind is NoticeKind.PAYMENT
    assert notice.notification_id == form(body)["notify_id"]
    trade = notice.trade
    assert trade is not None
    assert (trade.out_trade_no, trade.state, trade.amount_fen) == (
        out_trade_no,
        TradeState.PAID,
        1230,
    )
    assert trade.transaction_id == answer["transaction_id"]
    assert trade.payer == Payer(kind="alipay_user", app_id=APP_ID, value=buyer)
    assert trade.paid_at is not None and trade.paid_at.tzinfo is not None


async def test_an_isv_notification_is_the_franchisees_only(player: Player) -> None:
    franchisee = isv_provider(new_app_auth_token())
    async with running_receiver() as receiver:
        out_trade_no, _ = await paid(player, franchisee, receiver)

    body = receiver.bodies()[0]

    assert trade_of(parse(franchisee, body)).out_trade_no == out_trade_no
    assert refused(direct_provider(), body) == "merchant_mismatch"
    assert refused(isv_provider(new_app_auth_token()), body) == "merchant_mismatch"


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("bad_signature", "bad_signature"),
        ("other_account", "bad_signature"),
        ("foreign_seller", "merchant_mismatch"),
        ("foreign_app_id", "merchant_mismatch"),
        ("not_paid", "not_paid"),
    ],
)
async def test_forged_notifications_are_refused(player: Player, kind: str, reason: str) -> None:
    provider = direct_provider()
    async with running_receiver() as receiver:
        out_trade_no, _ = await paid(player, provider, receiver)
        body = await forged(player, out_trade_no, kind, receiver)

    assert refused(provider, body) == reason


async def test_a_tampered_amount_is_validly_signed_and_read_as_sent(player: Player) -> None:
    provider = direct_provider()
    async with running_receiver() as receiver:
        out_trade_no, _ = await paid(player, provider, receiver, amount_fen=1000)
        body = await forged(player, out_trade_no, "tampered_amount", receiver)

    # The caller compares the amount with the payment it recorded.
    assert trade_of(parse(provider, body)).amount_fen == 1001


async def test_stale_and_replayed_notifications_verify_and_keep_their_notify_id(
    player: Player,
) -> None:
    provider = direct_provider()
    async with running_receiver() as receiver:
        out_trade_no, _ = await paid(player, provider, receiver)
        original = receiver.bodies()[0]
        stale = await forged(player, out_trade_no, "stale", receiver)
        replay = await forged(player, out_trade_no, "replay", receiver)

    first = parse(provider, original)
    # Alipay signs no timestamp: only notify_id de-duplication stops these.
    assert replay == original
    assert parse(provider, stale).notification_id == first.notification_id
    assert parse(provider, replay).notification_id == first.notification_id


async def test_a_body_with_a_repeated_key_is_malformed(player: Player) -> None:
    provider = direct_provider()
    async with running_receiver() as receiver:
        await paid(player, provider, receiver)
    body = receiver.bodies()[0]

    assert refused(provider, body + b"&trade_status=TRADE_SUCCESS") == "malformed"
    assert refused(provider, b"\xff\xfe" + body) == "malformed"


async def test_a_changed_field_breaks_the_signature(player: Player) -> None:
    provider = direct_provider()
    async with running_receiver() as receiver:
        await paid(player, provider, receiver)
    body = receiver.bodies()[0]
    fields = form(body)

    tampered = body.replace(
        f"buyer_id={fields['buyer_id']}".encode(), f"buyer_id={new_buyer_id()}".encode()
    )

    assert refused(provider, tampered) == "bad_signature"


@pytest.mark.parametrize(("yuan", "fen"), [("0.01", 1), ("12.30", 1230), ("100", 10000)])
async def test_yuan_amounts_are_converted_to_fen_exactly(
    player: Player, yuan: str, fen: int
) -> None:
    provider = direct_provider()
    async with running_receiver() as receiver:
        await paid(player, provider, receiver, amount_fen=fen)
    body = receiver.bodies()[0]

    as_sent = parse(provider, body).trade
    as_written = parse(provider, resigned(body, total_amount=yuan)).trade

    assert as_sent is not None and as_sent.amount_fen == fen
    assert as_written is not None and as_written.amount_fen == fen


async def test_an_amount_finer_than_a_fen_is_malformed(player: Player) -> None:
    provider = direct_provider()
    async with running_receiver() as receiver:
        await paid(player, provider, receiver)
    body = receiver.bodies()[0]

    assert refused(provider, resigned(body, total_amount="1.001")) == "malformed"
    assert refused(provider, resigned(body, total_amount="ten")) == "malformed"


async def test_a_refund_notification_names_the_refund(player: Player) -> None:
    provider = direct_provider()
    async with running_receiver() as receiver:
        out_trade_no, _ = await paid(player, provider, receiver, amount_fen=1000)
        for out_refund_no, refund_fen in (("R1", 300), ("R2", 700)):
            await provider.refund(
                RefundOrder(
                    out_trade_no=out_trade_no,
                    out_refund_no=out_refund_no,
                    refund_fen=refund_fen,
                    total_fen=1000,
                )
            )
        for out_refund_no in ("R1", "R2"):
            answer = await player.http.post(
                f"/payments/{out_trade_no}/refunds/{out_refund_no}/notify", json={}
            )
            assert answer.status_code == 200, answer.text
        payment, first, second = await receiver.wait_for(3)

    notices = [parse(provider, body) for body in (first, second)]

    assert [n.kind for n in notices] == [NoticeKind.REFUND, NoticeKind.REFUND]
    assert [refund_of(n).out_refund_no for n in notices] == ["R1", "R2"]
    # Alipay's refund_fee is what the trade has had refunded so far.
    assert [refund_of(n).amount_fen for n in notices] == [300, 1000]
    assert [refund_of(n).state for n in notices] == [RefundState.SUCCESS] * 2
    assert [trade_of(n).state for n in notices] == [TradeState.PAID, TradeState.REFUNDED]
    ids = {parse(provider, payment).notification_id, *(n.notification_id for n in notices)}
    assert len(ids) == 3


async def test_deliveries_are_retried_until_the_answer_is_exactly_success(
    player: Player,
) -> None:
    provider = direct_provider()
    async with running_receiver(answers=[b"fail", b"SUCCESS"]) as receiver:
        out_trade_no, answer = await paid(player, provider, receiver)
        bodies = await receiver.wait_for(3)
        await asyncio.sleep(0.5)  # no fourth delivery once acknowledged

    assert answer["deliveries"] == [{"status": 200, "body": "fail", "acknowledged": False}]
    assert len(receiver.received) == 3
    assert len({parse(provider, body).notification_id for body in bodies}) == 1
    trade = (await player.http.get(f"/payments/{out_trade_no}")).json()
    assert [d["acknowledged"] for d in trade["deliveries"]] == [False, False, True]


async def test_concurrent_deliveries_carry_one_notify_id(player: Player) -> None:
    provider = direct_provider()
    async with running_receiver() as receiver:
        _, answer = await paid(player, provider, receiver, deliveries=20)

    assert len(answer["deliveries"]) == 20
    assert len({parse(provider, body).notification_id for body in receiver.bodies()}) == 1
