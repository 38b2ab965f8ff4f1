"""Member-code payment: the member's dynamic code (`GET /me/code`), shown at the till, pays the
order from their stored value.

The code is resolved through the member center's burning swap (`resolve_member_code`): single
use within its lifetime. A used code answers 409 `member_code.used`, an expired one 410
`member_code.expired`, and of any number of tills scanning one code at once exactly one gets the
member; the others charge nothing. The payment is a `wallet` payment (no merchant account),
paid by `payments.pay_with_wallet`: the spend, the move to `paid` and the points in one
transaction; a wallet short of the payable answers 409 `wallet.insufficient`, nothing spent.

Above the brand's `member_code_pay_confirm_above_fen` the payment waits for the member: the
order is `pending_confirmation`, the mini-program lists the payment (`GET /me/payments/pending`)
and the member confirms it (`POST /me/payments/{id}/confirm`, their own payments only); the till,
polling the order, then sees it paid. A payment the member never confirms expires with the
brand's `payment_timeout_min`: the worker's `pos.close_unconfirmed` job (every minute), or the
first look at the order after that, closes it and opens the order again for another way to pay.
A confirmation after that is refused (410 `payment.confirmation_expired`).
"""

from __future__ import annotations

from datetime import datetime

from api.core.errors import Conflict, DomainError, Gone, NotFound
from api.core.ports import clock
from api.member_center.error_codes import WalletErrorCode
from api.member_center.member_code import resolve_member_code
from api.org.models import Brand, Store

from . import payments, till
from .error_codes import PaymentErrorCode, PosOrderErrorCode
from .models import Payment, PaymentMethod, PaymentPurpose, PaymentState, PosOrder, PosOrderState

BATCH = 200


async def pay_by_member_code(order: PosOrder, *, staff_id: int, member_code: str) -> till.TillOrder:
    """Pay a claimed order (state `paying`) from the wallet of the member behind the code."""
    try:
        card = await resolve_member_code(
            brand_id=order.brand_id, staff_id=staff_id, code=member_code
        )
        if card.wallet_principal_fen + card.wallet_bonus_fen < order.payable_fen:
            raise Conflict(
                WalletErrorCode.INSUFFICIENT, "The stored value does not cover this order."
            )
        brand = await Brand.get(id=order.brand_id)
        store = await Store.get(id=order.store_id)
        limit = int(brand.setting("member_code_pay_confirm_above_fen"))  # type: ignore[call-overload]
        confirm = order.payable_fen > limit
        payment = await payments.create_payment(
            brand_id=order.brand_id,
            account=None,
            method=PaymentMethod.WALLET,
            purpose=PaymentPurpose.POS,
            amount_fen=order.payable_fen,
            description=f"{till.DESCRIPTION} {store.name}",
            store_id=order.store_id,
            member_id=card.member_id,
            details={"pos_order_id": order.id, "attempt": order.attempt, "confirm": confirm},
        )
    except DomainError as exc:
        await till.release(order, error=exc.code)
        raise
    await PosOrder.filter(id=order.id, attempt=order.attempt).update(payment_id=payment.id)
    order.payment_id = payment.id
    if confirm:
        await PosOrder.filter(
            id=order.id, attempt=order.attempt, state=PosOrderState.PAYING
        ).update(state=PosOrderState.PENDING_CONFIRMATION)
        return await till.follow_payment(await PosOrder.get(id=order.id))
    try:
        applied = await payments.pay_with_wallet(payment)
    except DomainError as exc:
        await till.release(order, error=exc.code, payment=payment)
        raise
    await till.finish_paid(order, applied.payment)
    return await till.follow_payment(await PosOrder.get(id=order.id))


async def _waiting(*, brand_id: int, member_id: int, payment_id: int) -> tuple[Payment, PosOrder]:
    payment = await Payment.get_or_none(id=payment_id, brand_id=brand_id)
    order = await PosOrder.get_or_none(payment_id=payment_id, brand_id=brand_id)
    if (
        payment is None
        or order is None
        or payment.member_id != member_id
        or payment.method != PaymentMethod.WALLET
    ):
        raise NotFound(PaymentErrorCode.NOT_FOUND, "No such payment.")
    return payment, order


async def list_pending_confirmations(*, brand_id: int, member_id: int) -> list[Payment]:
    """The member's till payments waiting for their confirmation, newest first."""
    waiting = await PosOrder.filter(
        brand_id=brand_id, state=PosOrderState.PENDING_CONFIRMATION
    ).values_list("payment_id", flat=True)
    if not waiting:
        return []
    return list(
        await Payment.filter(
            id__in=[i for i in waiting if i is not None],
            brand_id=brand_id,
            member_id=member_id,
            method=PaymentMethod.WALLET,
            state=PaymentState.CREATED,
            expires_at__gt=clock().now(),
        ).order_by("-id")
    )


async def confirm_member_payment(*, brand_id: int, member_id: int, payment_id: int) -> Payment:
    """The member confirms a till payment of theirs waiting above the limit: it is paid from
    their stored value and its order is paid. Confirming a paid one again answers it as it is.

    404 for anyone else's payment; 410 `payment.confirmation_expired` after its timeout; 409
    `payment.closed`, `wallet.insufficient` (nothing changed: top up and confirm again).
    """
    payment, order = await _waiting(brand_id=brand_id, member_id=member_id, payment_id=payment_id)
    if payment.state == PaymentState.CREATED and payment.expires_at <= clock().now():
        await till.follow_payment(order)  # closes it and opens the order again
        raise Gone(PosOrderErrorCode.CONFIRMATION_EXPIRED, "This payment waited too long.")
    if payment.state == PaymentState.CLOSED:
        raise Conflict(PaymentErrorCode.CLOSED, "This payment was closed.")
    applied = await payments.pay_with_wallet(payment)
    if order.payment_id == payment.id:
        await till.finish_paid(order, applied.payment)
    return applied.payment


async def close_unconfirmed(*, now: datetime | None = None, limit: int = BATCH) -> int:
    """Close the till's stored-value payments past their timeout that no member confirmed, and
    open their orders again; how many were closed (safe to run twice, or beside a confirmation:
    the guarded moves let only one of them win)."""
    now = now or clock().now()
    expired = (
        await Payment.filter(
            method=PaymentMethod.WALLET,
            purpose=PaymentPurpose.POS,
            state=PaymentState.CREATED,
            expires_at__lte=now,
        )
        .order_by("id")
        .limit(limit)
    )
    closed = 0
    for payment in expired:
        closed += await Payment.filter(id=payment.id, state=PaymentState.CREATED).update(
            state=PaymentState.CLOSED, closed_at=now
        )
        order = await PosOrder.get_or_none(payment_id=payment.id, brand_id=payment.brand_id)
        if order is not None:
            await till.release(order, error=PosOrderErrorCode.CONFIRMATION_EXPIRED)
    return closed
