"""Never lose a payment: the recovery job asks the platform about payments whose notification
never came, and closes the ones left unpaid past their timeout."""

from __future__ import annotations

import pytest

from api.core.clock import FrozenClock
from api.member_center.models import PointsEntry
from api.payments import effects, recovery
from api.payments.models import Payment, PaymentState
from tests.support.player import Player

from .chain import alipay_payment, make_chain, wechat_payment

pytestmark = pytest.mark.usefixtures("live_url")


async def test_a_paid_payment_whose_notification_never_came_is_applied_by_query(
    player: Player, clock: FrozenClock
) -> None:
    chain = await make_chain()
    wechat = await wechat_payment(chain, store_id=chain.franchise_store_id)
    alipay = await alipay_payment(chain)
    await player.pay(wechat.out_trade_no, deliveries=0)
    await player.pay(alipay.out_trade_no, deliveries=0)

    too_soon = await recovery.recover_payments()
    clock.advance(minutes=6)
    recovered = await recovery.recover_payments()
    again = await recovery.recover_payments()

    assert too_soon["checked"] == 0
    assert recovered == {"checked": 2, "paid": 2, "closed": 0, "errors": 0}
    assert again["checked"] == 0
    for payment in (wechat, alipay):
        assert (await Payment.get(id=payment.id)).state == PaymentState.PAID
        assert await PointsEntry.filter(key=effects.payment_key(payment)).count() == 1


async def test_a_late_notification_after_recovery_changes_nothing(
    player: Player, clock: FrozenClock
) -> None:
    chain = await make_chain()
    payment = await wechat_payment(chain)
    await player.pay(payment.out_trade_no, deliveries=0)
    clock.advance(minutes=6)
    await recovery.recover_payments()

    late = await player.pay(payment.out_trade_no, deliveries=2)

    assert [d["status"] for d in late["deliveries"]] == [204, 204]
    assert await PointsEntry.filter(key=effects.payment_key(payment)).count() == 1


async def test_an_unpaid_payment_is_closed_at_the_platform_after_its_timeout(
    player: Player, clock: FrozenClock
) -> None:
    chain = await make_chain(settings={"payment_timeout_min": 10})
    wechat = await wechat_payment(chain)
    alipay = await alipay_payment(chain, store_id=chain.franchise_store_id)

    clock.advance(minutes=6)
    waiting = await recovery.recover_payments()
    clock.advance(minutes=6)
    closed = await recovery.recover_payments()

    assert waiting == {"checked": 2, "paid": 0, "closed": 0, "errors": 0}
    assert closed == {"checked": 2, "paid": 0, "closed": 2, "errors": 0}
    for payment in (wechat, alipay):
        assert (await Payment.get(id=payment.id)).state == PaymentState.CLOSED
        assert (await player.trade(payment.out_trade_no))["state"] in ("CLOSED", "TRADE_CLOSED")
