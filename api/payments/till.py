"""The till: a sale rung up at a store, priced for the member at the counter, paid by a payment
code (WeChat micropay, alipay.trade.pay) or by the member's own code from their stored value.

Pricing, by the one pricing engine (`api.mall.pricing`, the sale as one line): the list
amount, less the member's level discount (`Level.discount_pct`, the payable rounded half up to
a whole fen: 95 % of 1 999 fen is 1 899.05, paid as 1 899), less what the coupons the member
chose take off (the coupon domain's rules, channel `till`: a coupon that does not stack with
the level discount prices the order on its list amount instead). The price is fixed when the
order is created; paying never re-prices it.

Coupons (`coupon_ids`, the member known by their code): every one must apply, or the order is
refused with the first one's code (`coupon.not_valid_in_store`, `coupon.below_threshold` …)
and nothing is kept. They are held by the order (`pos:<order id>`) when it is created — of
any number of orders choosing one coupon at once, one gets it — and used when it is paid
(`finish_paid`, recording the store, the cashier, channel `till` and what each took off). They
go back to the member when the order is cancelled or an attempt ends with nothing charged (the
code declined, the payer timed out and the trade was reversed, a confirmation that expired); the
next attempt holds them again before charging (409 with the coupon's code when one was used or
expired meanwhile: cancel and ring up again). A full refund of the order's payment returns its
coupons to the wallet, an expired one as expired; a partial refund leaves them used (the
coupon priced the whole sale, and the part kept is still sold with it).

Paying is one attempt at a time. An attempt claims the order by a guarded update (`open →
paying`, attempt + 1, remembering its Idempotency-Key), creates ONE payment for itself and ends
by moving the order on from (paying, that attempt) only: to `paid`, back to `open` when nothing
was charged (the code was declined, the payer did not confirm and the trade was reversed), or to
`pending_confirmation` (a member-code payment above the brand's limit). A pay that finds the
order paying is refused (409 `pos_order.paying`); one that finds it paid is refused (409
`pos_order.already_paid`) unless it repeats the paying attempt's key, which answers the order
as it is. An attempt whose request died mid-way (a crash) is taken over by the next pay once
it is older than the code wait plus a minute: its payment is asked at the platform, applied if
paid, else reversed and closed, before anything is charged again. So one order is charged at
most once, however the till retries.

The payment goes through the core: created on the store's routed account, the platform's word
applied by `payments.apply_trade`, so a payment-code payer nobody knew becomes a member with
points (`effects.on_paid`, purpose `pos`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F

from api.core.errors import Conflict, DomainError, InvalidInput, NotFound, UpstreamError
from api.core.ports import clock
from api.coupons import pricing
from api.coupons import wallet as coupon_wallet
from api.coupons.error_codes import CouponErrorCode
from api.coupons.models import Channel, Coupon, OrderCoupon
from api.mall import pricing as engine
from api.member_center.member_code import resolve_member_code
from api.org.models import Brand, Status, Store
from api.org.scope import StoreScope
from api.org.stores import get_store
from config.settings import get_settings

from . import member_code_pay, payments
from .error_codes import PaymentErrorCode, PosOrderErrorCode
from .models import Payment, PaymentPurpose, PaymentState, PosOrder, PosOrderState
from .providers import provider_for
from .providers.base import (
    CodeOrder,
    ProviderInputError,
    ProviderRefused,
    ProviderUnavailable,
    Trade,
    TradeState,
)
from .providers.codepay import settle_code_payment

log = logging.getLogger("memberhub.payments.till")

# How a till names the way the customer pays.
WECHAT_CODE = "wechat_code"
ALIPAY_CODE = "alipay_code"
MEMBER_CODE = "member_code"
METHODS = (WECHAT_CODE, ALIPAY_CODE, MEMBER_CODE)
CHANNEL = {WECHAT_CODE: "wechat", ALIPAY_CODE: "alipay"}
# Payment codes as the platforms print them: WeChat 18 digits starting 10-15, Alipay 16-24
# digits starting 25-30 (28 in the sandbox); the member center's codes 18 digits starting 68.
CODE_SHAPES = {
    WECHAT_CODE: re.compile(r"1[0-5]\d{16}"),
    ALIPAY_CODE: re.compile(r"(2[5-9]|30)\d{14,28}"),
    MEMBER_CODE: re.compile(r"68\d{16}"),
}
DESCRIPTION = "门店消费"
# An attempt this much older than the code wait has lost its request: the next pay takes over.
TAKEOVER_GRACE_S = 60
# The idle sweep looks at open orders at least this old (no brand's payment timeout is shorter),
# a batch at a time.
IDLE_MIN_MINUTES = 5
IDLE_BATCH = 200


@dataclass(frozen=True)
class TillOrder:
    """An order with the payment of its current or last attempt."""

    order: PosOrder
    payment: Payment | None
    replayed: bool = False  # the answer to a repeated Idempotency-Key: nothing was charged now
    coupons: tuple[OrderCoupon, ...] = ()  # what the order was priced with


# Pricing ------------------------------------------------------------------------------------


level_price = pricing.level_price


def coupon_ref(order_id: int) -> str:
    """How a till order names itself on the coupons it holds."""
    return f"pos:{order_id}"


def _check_coupon_ids(coupon_ids: list[int], *, member_known: bool) -> None:
    if len(set(coupon_ids)) != len(coupon_ids):
        raise InvalidInput(CouponErrorCode.LISTED_TWICE, "A coupon is listed twice.")
    if coupon_ids and not member_known:
        raise InvalidInput(
            CouponErrorCode.MEMBER_REQUIRED, "Coupons need the member's code scanned."
        )


async def _price(
    *,
    brand_id: int,
    store_id: int,
    member_id: int | None,
    amount_fen: int,
    discount_pct: int,
    coupon_ids: list[int],
) -> pricing.Priced:
    _check_coupon_ids(coupon_ids, member_known=member_id is not None)
    priced = await _price_with_engine(
        brand_id=brand_id,
        store_id=store_id,
        member_id=member_id,
        amount_fen=amount_fen,
        discount_pct=discount_pct,
        coupon_ids=coupon_ids,
    )
    refusal = priced.refusal
    if refusal is not None:
        reason = str(refusal.reason)
        error = NotFound if reason == CouponErrorCode.NOT_FOUND else Conflict
        raise error(
            reason,
            f"Coupon {refusal.coupon_id} cannot be used on this order ({reason}).",
            details={"coupon_id": refusal.coupon_id},
        )
    return priced


async def _price_with_engine(
    *,
    brand_id: int,
    store_id: int,
    member_id: int | None,
    amount_fen: int,
    discount_pct: int,
    coupon_ids: list[int],
) -> pricing.Priced:
    """The sale priced by the mall's engine as one line (the till has no products)."""
    rows: dict[int, Coupon] = {}
    if coupon_ids and member_id is not None:
        found = await Coupon.filter(
            id__in=coupon_ids, brand_id=brand_id, member_id=member_id
        ).prefetch_related("template")
        rows = {c.id: c for c in found}
    chosen = [
        (cid, rows.get(cid), rows[cid].template if cid in rows else None) for cid in coupon_ids
    ]
    breakdown = engine.price(
        engine.PricingInput(
            lines=[engine.LineIn(sku_id=0, quantity=1, list_price_fen=amount_fen)],
            store_id=store_id,
            channel=Channel.TILL,
            now=clock().now(),
            discount_pct=discount_pct,
            coupons=chosen,
            order_ref=None,
        )
    )
    level_fen = pricing.level_price(amount_fen, discount_pct)
    return pricing.Priced(
        amount_fen=amount_fen,
        level_fen=level_fen,
        base_fen=level_fen if breakdown.level_applied else amount_fen,
        level_applied=breakdown.level_applied,
        lines=[
            pricing.CouponLine(cid, coupon, template, out.reason, out.discount_fen)
            for (cid, coupon, template), out in zip(chosen, breakdown.coupons, strict=True)
        ],
        coupon_discount_fen=breakdown.coupon_discount_fen,
        payable_fen=breakdown.payable_fen,
    )


# Orders -------------------------------------------------------------------------------------


async def create_order(
    *,
    brand_id: int,
    scope: StoreScope,
    staff_id: int,
    store_id: int,
    amount_fen: int,
    items: list[dict[str, Any]] | None = None,
    member_code: str | None = None,
    coupon_ids: list[int] | None = None,
) -> TillOrder:
    """Ring up a sale at a store in scope, priced for the member behind `member_code` (burnt)
    with the coupons they chose, held by the order (see the module doc for the refusals)."""
    store = await get_store(brand_id=brand_id, scope=scope, store_id=store_id)
    if store.status != Status.ACTIVE:
        raise Conflict(PosOrderErrorCode.STORE_DISABLED, "This store is disabled.")
    if not 0 < amount_fen <= payments.MAX_AMOUNT_FEN:
        raise InvalidInput(
            PaymentErrorCode.INVALID_AMOUNT,
            f"The amount must be 1 to {payments.MAX_AMOUNT_FEN} fen.",
        )
    items = items or []
    if items and sum(int(i["price_fen"]) * int(i["quantity"]) for i in items) != amount_fen:
        raise InvalidInput(
            PosOrderErrorCode.ITEMS_MISMATCH, "The items do not add up to amount_fen."
        )
    coupon_ids = coupon_ids or []
    _check_coupon_ids(coupon_ids, member_known=member_code is not None)
    member_id, discount_pct = None, 100
    if member_code is not None:
        _check_shape(MEMBER_CODE, member_code)
        card = await resolve_member_code(brand_id=brand_id, staff_id=staff_id, code=member_code)
        member_id = card.member_id
        discount_pct = card.level.discount_pct if card.level else 100
    priced = await _price(
        brand_id=brand_id,
        store_id=store.id,
        member_id=member_id,
        amount_fen=amount_fen,
        discount_pct=discount_pct,
        coupon_ids=coupon_ids,
    )
    order = await PosOrder.create(
        brand_id=brand_id,
        store_id=store.id,
        staff_id=staff_id,
        member_id=member_id,
        items=items,
        amount_fen=amount_fen,
        discount_pct=discount_pct if priced.level_applied else 100,
        discount_fen=amount_fen - priced.payable_fen,
        payable_fen=priced.payable_fen,
        created_at=clock().now(),
    )
    if priced.lines and member_id is not None:
        try:
            await coupon_wallet.hold_order_coupons(
                brand_id=brand_id,
                member_id=member_id,
                order_ref=coupon_ref(order.id),
                discounts={line.coupon_id: line.discount_fen for line in priced.lines},
            )
        except DomainError:
            # Another order holds one of them: this order never was.
            await OrderCoupon.filter(order_ref=coupon_ref(order.id)).delete()
            await PosOrder.filter(id=order.id).delete()
            raise
    return await _loaded(order.id)


async def _order_in_scope(*, brand_id: int, scope: StoreScope, order_id: int) -> PosOrder:
    order = await PosOrder.get_or_none(id=order_id, brand_id=brand_id)
    if order is None or not scope.allows(order.store_id):
        raise NotFound(PosOrderErrorCode.NOT_FOUND, "No such order.")
    return order


async def get_order(*, brand_id: int, scope: StoreScope, order_id: int) -> TillOrder:
    """An order of a store in scope, brought up to date with its payment (the till polls it)."""
    order = await _order_in_scope(brand_id=brand_id, scope=scope, order_id=order_id)
    return await follow_payment(order)


async def cancel_order(*, brand_id: int, scope: StoreScope, order_id: int) -> TillOrder:
    """Cancel an open order (nothing is being charged); 409 otherwise."""
    order = await _order_in_scope(brand_id=brand_id, scope=scope, order_id=order_id)
    cancelled = await PosOrder.filter(id=order.id, state=PosOrderState.OPEN).update(
        state=PosOrderState.CANCELLED
    )
    if not cancelled:
        current = await follow_payment(await PosOrder.get(id=order.id))
        if current.order.state != PosOrderState.CANCELLED:
            raise Conflict(
                PosOrderErrorCode.NOT_OPEN, f"The order is {current.order.state}, not open."
            )
    await _settle_coupons(order, PosOrderState.CANCELLED)
    return await _loaded(order.id)


async def cancel_idle_orders(*, now: datetime | None = None, limit: int = IDLE_BATCH) -> int:
    """Cancel open orders left unpaid longer than their brand's `payment_timeout_min` since they
    were rung up or last tried, giving their coupons back; how many (safe to run twice, and
    beside a pay: the guarded `open → cancelled` and the attempt's `open → paying` let one win)."""
    now = now or clock().now()
    idle = (
        await PosOrder.filter(
            state=PosOrderState.OPEN, created_at__lte=now - timedelta(minutes=IDLE_MIN_MINUTES)
        )
        .order_by("id")
        .limit(limit)
    )
    brands = {b.id: b for b in await Brand.filter(id__in={o.brand_id for o in idle})}
    cancelled = 0
    for order in idle:
        timeout = timedelta(minutes=int(brands[order.brand_id].setting("payment_timeout_min")))  # type: ignore[call-overload]
        if (order.attempt_started_at or order.created_at) > now - timeout:
            continue
        moved = await PosOrder.filter(
            id=order.id, state=PosOrderState.OPEN, attempt=order.attempt
        ).update(state=PosOrderState.CANCELLED, last_error=PosOrderErrorCode.IDLE)
        if moved:
            cancelled += 1
            await _settle_coupons(order, PosOrderState.CANCELLED)
    return cancelled


async def _loaded(order_id: int) -> TillOrder:
    order = await PosOrder.get(id=order_id)
    payment = await Payment.get_or_none(id=order.payment_id) if order.payment_id else None
    coupons = await coupon_wallet.order_coupons(order_ref=coupon_ref(order_id))
    return TillOrder(order, payment, coupons=tuple(coupons))


async def return_coupons_on_refund(db: BaseDBAsyncClient, payment: Payment) -> int:
    """A till payment was refunded in full: its order's coupons go back to the member (an
    expired one as expired); how many. Called in the refund's transaction."""
    if payment.purpose != PaymentPurpose.POS:
        return 0
    order = (
        await PosOrder.filter(
            payment_id=payment.id, brand_id=payment.brand_id, state=PosOrderState.PAID
        )
        .using_db(db)
        .first()
    )
    if order is None:
        return 0
    return await coupon_wallet.return_order_coupons(
        brand_id=payment.brand_id, order_ref=coupon_ref(order.id), connection=db
    )


# Moving an attempt on, guarded by (state, attempt) ----------------------------------------


async def finish_paid(order: PosOrder, payment: Payment) -> bool:
    """The attempt's payment is paid: the order is paid (and knows its payer), once."""
    won = await PosOrder.filter(
        id=order.id,
        attempt=order.attempt,
        payment_id=payment.id,
        state__in=[PosOrderState.PAYING, PosOrderState.PENDING_CONFIRMATION],
    ).update(
        state=PosOrderState.PAID,
        paid_at=payment.paid_at or clock().now(),
        member_id=order.member_id or payment.member_id,
        last_error="",
    )
    if won:
        await _settle_coupons(order, PosOrderState.PAID)
    return bool(won)


async def release(order: PosOrder, *, error: str, payment: Payment | None = None) -> bool:
    """Nothing was charged: the attempt ends, the order is open again (its payment closed)."""
    if payment is not None:
        await Payment.filter(id=payment.id, state=PaymentState.CREATED).update(
            state=PaymentState.CLOSED, closed_at=clock().now()
        )
    won = await PosOrder.filter(
        id=order.id,
        attempt=order.attempt,
        state__in=[PosOrderState.PAYING, PosOrderState.PENDING_CONFIRMATION],
    ).update(state=PosOrderState.OPEN, last_error=error[:64])
    if won:
        await coupon_wallet.release_order_coupons(
            brand_id=order.brand_id, order_ref=coupon_ref(order.id)
        )
    return bool(won)


async def _settle_coupons(order: PosOrder, state: PosOrderState) -> None:
    """A paid order's coupons used, a cancelled one's given back: the moves that follow the
    order's own, made good here if a crash came between them (each is a no-op once done)."""
    ref = coupon_ref(order.id)
    if state == PosOrderState.PAID:
        await coupon_wallet.use_order_coupons(
            brand_id=order.brand_id,
            order_ref=ref,
            store_id=order.store_id,
            staff_id=order.staff_id,
            channel=Channel.TILL,
        )
    elif state == PosOrderState.CANCELLED:
        await coupon_wallet.release_order_coupons(brand_id=order.brand_id, order_ref=ref)


async def follow_payment(order: PosOrder) -> TillOrder:
    """Bring an order whose attempt is over up to date with its payment: paid, or open again
    (the payment closed, or a confirmation that expired)."""
    if order.state not in (PosOrderState.PAYING, PosOrderState.PENDING_CONFIRMATION):
        await _settle_coupons(order, order.state)
        return await _loaded(order.id)
    payment = await Payment.get_or_none(id=order.payment_id) if order.payment_id else None
    if payment is None:
        return TillOrder(order, None)
    if payment.state == PaymentState.PAID:
        await finish_paid(order, payment)
    elif payment.state == PaymentState.CLOSED:
        await release(order, error="payment.closed")
    elif order.state == PosOrderState.PENDING_CONFIRMATION and payment.expires_at <= clock().now():
        await release(order, error=PosOrderErrorCode.CONFIRMATION_EXPIRED, payment=payment)
    return await _loaded(order.id)


# Paying -------------------------------------------------------------------------------------


def _check_shape(method: str, code: str) -> None:
    if not CODE_SHAPES[method].fullmatch(code):
        raise InvalidInput(
            PosOrderErrorCode.INVALID_CODE, f"This is not a {method.replace('_', ' ')}."
        )


def _takeover_after() -> timedelta:
    return timedelta(seconds=get_settings().till_code_wait_s + TAKEOVER_GRACE_S)


async def _claim(order: PosOrder, *, method: str, key: str) -> PosOrder | TillOrder:
    """Start an attempt on the order (the claimed order), or the answer for a repeated key."""
    for _ in range(3):
        now = clock().now()
        won = await PosOrder.filter(id=order.id, state=PosOrderState.OPEN).update(
            state=PosOrderState.PAYING,
            attempt=F("attempt") + 1,
            attempt_key=key,
            attempt_started_at=now,
            method=method,
            payment_id=None,
            last_error="",
        )
        if won:
            return await PosOrder.get(id=order.id)
        current = await follow_payment(await PosOrder.get(id=order.id))
        state = current.order.state
        if state == PosOrderState.OPEN:
            continue  # its attempt had just ended: claim it now
        same_attempt = current.order.attempt_key == key
        if state == PosOrderState.PAID:
            if same_attempt:
                return TillOrder(current.order, current.payment, replayed=True)
            raise Conflict(PosOrderErrorCode.ALREADY_PAID, "This order is paid already.")
        if state == PosOrderState.CANCELLED:
            raise Conflict(PosOrderErrorCode.CANCELLED, "This order was cancelled.")
        if state == PosOrderState.PENDING_CONFIRMATION:
            if same_attempt:
                return TillOrder(current.order, current.payment, replayed=True)
            raise Conflict(PosOrderErrorCode.PAYING, "The member is confirming this payment.")
        started = current.order.attempt_started_at
        if started is None or started > now - _takeover_after():
            raise Conflict(PosOrderErrorCode.PAYING, "This order is being paid; ask again later.")
        await _settle_abandoned(current.order, now=now)
        order = current.order
    raise Conflict(PosOrderErrorCode.PAYING, "This order is being paid; ask again later.")


async def _settle_abandoned(order: PosOrder, *, now: datetime) -> None:
    """Decide an attempt whose request died: paid stays paid, anything else is undone."""
    # Restarting the clock of the attempt is the takeover: only one retry gets to decide it.
    took = await PosOrder.filter(
        id=order.id,
        state=PosOrderState.PAYING,
        attempt=order.attempt,
        attempt_started_at=order.attempt_started_at,
    ).update(attempt_started_at=now)
    if not took:
        return
    log.warning("taking over an abandoned till attempt", extra={"pos_order_id": order.id})
    payment = await Payment.get_or_none(id=order.payment_id) if order.payment_id else None
    if payment is None:
        await release(order, error="abandoned")
        return
    if payment.account_id is None:  # stored value: paid with its order's update, or not at all
        fresh = await Payment.get(id=payment.id)
        if fresh.state == PaymentState.PAID:
            await finish_paid(order, fresh)
        else:
            await release(order, error="abandoned", payment=fresh)
        return
    provider = await payments.provider_of(payment)
    trade = await provider.query(payment.out_trade_no)
    if trade.state != TradeState.PAID:
        await provider.reverse(payment.out_trade_no)
        trade = Trade(payment.out_trade_no, TradeState.CLOSED, payment.amount_fen)
    applied = await payments.apply_trade(payment, trade)
    if applied.payment.state == PaymentState.PAID:
        await finish_paid(order, applied.payment)
    else:
        await release(order, error="abandoned", payment=applied.payment)


async def pay_order(
    *,
    brand_id: int,
    scope: StoreScope,
    staff_id: int,
    order_id: int,
    method: str,
    auth_code: str,
    key: str,
    client_ip: str,
) -> TillOrder:
    """Charge an order by the code the customer shows (see the module doc); the order as it
    ends: `paid`, or `pending_confirmation` for a member-code payment above the brand's limit.

    409 `pos_order.payment_failed` (declined; the order stays open), `pos_order.payer_timeout`
    (the payer did not confirm in time; reversed, the order stays open), `pos_order.paying`,
    `pos_order.already_paid`; 502 when the platform could not be reached.
    """
    _check_shape(method, auth_code)
    order = await _order_in_scope(brand_id=brand_id, scope=scope, order_id=order_id)
    claimed = await _claim(order, method=method, key=key)
    if isinstance(claimed, TillOrder):
        return claimed
    if claimed.member_id is not None:
        try:  # an earlier attempt that charged nothing gave the coupons back
            await coupon_wallet.hold_order_coupons(
                brand_id=brand_id, member_id=claimed.member_id, order_ref=coupon_ref(claimed.id)
            )
        except DomainError as exc:
            await release(claimed, error=exc.code)
            raise
    if method == MEMBER_CODE:
        return await member_code_pay.pay_by_member_code(
            claimed, staff_id=staff_id, member_code=auth_code
        )
    return await _pay_by_payment_code(
        claimed, channel=CHANNEL[method], auth_code=auth_code, client_ip=client_ip
    )


async def _pay_by_payment_code(
    order: PosOrder, *, channel: str, auth_code: str, client_ip: str
) -> TillOrder:
    store = await Store.get(id=order.store_id)
    try:
        account = await payments.account_for_channel(
            brand_id=order.brand_id, channel=channel, store_id=order.store_id
        )
        payment = await payments.create_payment(
            brand_id=order.brand_id,
            account=account,
            purpose=PaymentPurpose.POS,
            amount_fen=order.payable_fen,
            description=f"{DESCRIPTION} {store.name}",
            store_id=order.store_id,
            member_id=order.member_id,
            details={"pos_order_id": order.id, "attempt": order.attempt},
        )
    except DomainError as exc:
        await release(order, error=exc.code)
        raise
    await PosOrder.filter(id=order.id, attempt=order.attempt).update(payment_id=payment.id)
    order.payment_id = payment.id
    provider = provider_for(account)
    settings = get_settings()
    code_order = CodeOrder(
        out_trade_no=payment.out_trade_no,
        amount_fen=payment.amount_fen,
        description=payment.description,
        auth_code=auth_code,
        client_ip=client_ip,
        store_code=store.code,
    )
    try:
        trade = await settle_code_payment(
            provider,
            code_order,
            wait_s=settings.till_code_wait_s,
            poll_s=settings.till_code_poll_s,
        )
    except ProviderUnavailable:
        # The charge (or its reversal) may or may not have happened there: undo it if we can;
        # if not, the attempt stays `paying` until a later pay takes it over and decides it.
        try:
            await provider.reverse(payment.out_trade_no)
        except ProviderUnavailable:
            raise UpstreamError(
                "payment.upstream",
                "The payment platform could not be reached; the charge is undecided. "
                "Ask for the order again in a minute.",
            ) from None
        await release(order, error="payment.upstream", payment=payment)
        raise
    except (ProviderRefused, ProviderInputError) as exc:  # refused as asked: nothing charged
        await release(order, error=exc.code, payment=payment)
        raise
    try:
        applied = await payments.apply_trade(payment, trade)
    except payments.TradeMismatch as exc:
        log.error(
            "till trade does not fit its payment",
            extra={"payment_id": payment.id, "reason": exc.reason},
        )
        raise UpstreamError(
            "payment.upstream", "The platform's answer does not fit this payment."
        ) from None
    if applied.payment.state == PaymentState.PAID:
        await finish_paid(order, applied.payment)
        return await _loaded(order.id)
    reversed_ = trade.state == TradeState.CLOSED
    error = PosOrderErrorCode.PAYER_TIMEOUT if reversed_ else PosOrderErrorCode.PAYMENT_FAILED
    await release(order, error=error, payment=applied.payment)
    if reversed_:
        raise Conflict(
            error,
            "The payer did not confirm in time; the payment was cancelled. Scan a new code.",
        )
    raise Conflict(error, f"The payment was declined: {trade.message or 'no reason given'}.")
