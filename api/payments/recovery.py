"""Never lose a payment: ask the platform about payments whose notification has not come, and
close at the platform those left unpaid past their timeout; settle refunds left processing.

Run by the worker every minute (`payments.recover`). Each payment still `created` for longer
than `payment_recover_after_s` (and not asked within that time) is queried; a paid answer goes
through `apply_trade`, the same function a notification uses, so a notification arriving at the
same moment cannot double anything. A payment past its `expires_at` that the platform still
reports unpaid is closed there, then here.

`recover_refunds` (the worker's `payments.recover_refunds`) does the same for refunds still
`processing` after `refund_recover_after_s`: their platform answer was lost, or their
notification has not come.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from tortoise.expressions import Q

from api.core.errors import DomainError
from api.core.ports import clock
from config.settings import get_settings

from .models import Payment, PaymentMethod, PaymentRefund, PaymentState, RefundState
from .payments import TradeMismatch, provider_of, refresh_from_platform
from .providers.base import ProviderRefused, TradeState
from .providers.base import RefundState as PlatformRefundState
from .refunds import ask_platform, settle_refund

log = logging.getLogger(__name__)

BATCH = 200


async def recover_payments(*, now: datetime | None = None, limit: int = BATCH) -> dict[str, int]:
    """Query the stale `created` payments and apply what the platforms answer; counts by outcome."""
    now = now or clock().now()
    after = timedelta(seconds=get_settings().payment_recover_after_s)
    stale = (
        await Payment.filter(
            Q(checked_at__isnull=True) | Q(checked_at__lte=now - after),
            state=PaymentState.CREATED,
            account_id__isnull=False,
            created_at__lte=now - after,
        )
        .order_by("id")
        .limit(limit)
    )
    counts = {"checked": 0, "paid": 0, "closed": 0, "errors": 0}
    for payment in stale:
        counts["checked"] += 1
        try:
            outcome = await _recover(payment, now=now)
        except (DomainError, TradeMismatch) as exc:
            counts["errors"] += 1
            log.warning(
                "payment recovery failed",
                extra={"payment_id": payment.id, "error": str(exc)},
            )
            continue
        if outcome:
            counts[outcome] += 1
    return counts


async def _recover(payment: Payment, *, now: datetime) -> str | None:
    trade, applied = await refresh_from_platform(payment, now=now)
    if trade.state == TradeState.PAID:
        return "paid" if applied.changed else None
    if trade.state in (TradeState.CLOSED, TradeState.FAILED):
        return "closed" if applied.changed else None
    if payment.expires_at <= now and trade.state in (TradeState.NOT_PAID, TradeState.UNKNOWN):
        await (await provider_of(payment)).close(payment.out_trade_no)
        closed = await Payment.filter(id=payment.id, state=PaymentState.CREATED).update(
            state=PaymentState.CLOSED, closed_at=now
        )
        return "closed" if closed else None
    return None


async def recover_refunds(*, now: datetime | None = None, limit: int = BATCH) -> dict[str, int]:
    """Settle refunds still processing after `refund_recover_after_s`; counts by outcome.

    Each is queried (`query_refund`) and the answer applied through `refunds.settle_refund`,
    the function a refund notification uses, so the two cannot both apply it. A refund the
    platform does not know (the request never reached it: WeChat Pay's not found; Alipay, which
    refunds synchronously, reporting it not done) is asked for again under the same number,
    which the platforms de-duplicate.
    """
    now = now or clock().now()
    after = timedelta(seconds=get_settings().refund_recover_after_s)
    stale = (
        await PaymentRefund.filter(
            Q(checked_at__isnull=True) | Q(checked_at__lte=now - after),
            state=RefundState.PROCESSING,
            created_at__lte=now - after,
        )
        .order_by("id")
        .limit(limit)
    )
    counts = {"checked": 0, "succeeded": 0, "failed": 0, "resent": 0, "errors": 0}
    for refund in stale:
        counts["checked"] += 1
        try:
            outcome = await _recover_refund(refund, now=now)
        except (DomainError, TradeMismatch) as exc:
            counts["errors"] += 1
            log.warning("refund recovery failed", extra={"refund_id": refund.id, "error": str(exc)})
            continue
        if outcome:
            counts[outcome] += 1
    return counts


async def _recover_refund(refund: PaymentRefund, *, now: datetime) -> str | None:
    payment = await Payment.get(id=refund.payment_id)
    if payment.account_id is None:
        return None  # a stored-value refund is settled when it is made
    await PaymentRefund.filter(id=refund.id).update(checked_at=now)
    provider = await provider_of(payment)
    try:
        answer = await provider.query_refund(
            out_trade_no=payment.out_trade_no, out_refund_no=refund.out_refund_no
        )
    except ProviderRefused as refused:
        if refused.code != "payment.refund_not_found":
            raise
        answer = None
    if answer is None or (
        payment.method == PaymentMethod.ALIPAY and answer.state == PlatformRefundState.FAILED
    ):
        try:
            await ask_platform(payment, refund)
        except ProviderRefused:
            return "failed"
        fresh = await PaymentRefund.get(id=refund.id)
        return {RefundState.SUCCEEDED: "succeeded", RefundState.FAILED: "failed"}.get(
            fresh.state, "resent"
        )
    if not await settle_refund(payment, refund, answer, total_running=False):
        return None
    return "succeeded" if answer.state == PlatformRefundState.SUCCESS else "failed"
