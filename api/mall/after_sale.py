"""After-sale: a member asks for units of a paid order back; the order's store manager (a
delivery: head office) approves, and the money goes back through the payments service
(`refunds.refund_payment`, refund number `MALL-<request id>`). When that refund succeeds,
`refunded.on_refund_succeeded` puts the units back in stock, gives back the points the order
used in their share and, with the order's last units, its coupons; the points the payment
earned are taken back by the payments service itself.

The amount of a request is each line's share of its payable for the units asked
(`pricing.refund_share`, so refunding all of a line's units in any steps pays back exactly its
payable), plus the delivery fee with the order's last units. The units are reserved when asked
(guarded: never more than were bought, across requests) and released if it is rejected.
"""

from __future__ import annotations

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from api.core import audit
from api.core.errors import Conflict, DomainError, NotFound
from api.core.ports import clock
from api.org.scope import StoreScope
from api.payments import refunds
from api.payments.error_codes import RefundErrorCode
from api.payments.models import PaymentRefund

from .error_codes import MallRefundErrorCode
from .models import MallOrder, MallOrderLine, MallRefund, OrderState, RefundRequestState
from .orders import get_order
from .pricing import refund_share

REFUNDABLE = (
    OrderState.PAID,
    OrderState.READY_FOR_PICKUP,
    OrderState.PICKED_UP,
    OrderState.SHIPPED,
    OrderState.DELIVERED,
    OrderState.COMPLETED,
)


async def request_refund(
    *,
    brand_id: int,
    member_id: int,
    order_id: int,
    reason: str,
    lines: list[tuple[int, int]] | None = None,
) -> MallRefund:
    """Ask for units of a paid order back (`lines`: (sku id, quantity); none: all that is left).

    404 `mall_order.not_found`, `mall_refund.line_not_found`; 409 `mall_refund.not_refundable`,
    `mall_refund.too_many`.
    """
    order = await get_order(brand_id=brand_id, member_id=member_id, order_id=order_id)
    if order.state not in REFUNDABLE or order.payment_id is None:
        raise Conflict(MallRefundErrorCode.NOT_REFUNDABLE, "Only a paid order is refunded.")
    async with in_transaction() as db:
        order_lines = await MallOrderLine.filter(order_id=order.id).using_db(db).order_by("id")
        by_sku = {line.sku_id: line for line in order_lines}
        if lines is None:
            wanted = [(ln, ln.quantity - ln.refunded_quantity) for ln in order_lines]
            wanted = [(ln, q) for ln, q in wanted if q > 0]
        else:
            wanted = []
            for sku_id, quantity in lines:
                if sku_id not in by_sku:
                    raise NotFound(
                        MallRefundErrorCode.LINE_NOT_FOUND,
                        f"The order has no SKU {sku_id}.",
                        details={"sku_id": sku_id},
                    )
                wanted.append((by_sku[sku_id], quantity))
        if not wanted:
            raise Conflict(MallRefundErrorCode.TOO_MANY, "Every unit was asked back already.")
        amount = points = 0
        for line, quantity in wanted:
            reserved = await (
                MallOrderLine.filter(id=line.id, refunded_quantity__lte=line.quantity - quantity)
                .using_db(db)
                .update(refunded_quantity=F("refunded_quantity") + quantity)
            )
            if not reserved:
                raise Conflict(
                    MallRefundErrorCode.TOO_MANY,
                    f"Fewer units of {line.name} are left to refund.",
                    details={"sku_id": line.sku_id},
                )
            fresh = await MallOrderLine.get(id=line.id, using_db=db)
            before = fresh.refunded_quantity - quantity
            amount += refund_share(
                line_fen=line.payable_fen,
                quantity=line.quantity,
                refunded_before=before,
                refunding=quantity,
            )
            points += refund_share(
                line_fen=line.points,
                quantity=line.quantity,
                refunded_before=before,
                refunding=quantity,
            )
        left = [
            ln.quantity - ln.refunded_quantity
            for ln in await MallOrderLine.filter(order_id=order.id).using_db(db)
        ]
        closes = not any(left)
        if closes:
            amount += order.delivery_fee_fen
        return await MallRefund.create(
            using_db=db,
            brand_id=brand_id,
            order_id=order.id,
            member_id=member_id,
            lines=[{"line_id": ln.id, "quantity": q} for ln, q in wanted],
            amount_fen=amount,
            points=points,
            closes_order=closes,
            reason=reason,
        )


async def get_refund(*, brand_id: int, scope: StoreScope, refund_id: int) -> MallRefund:
    """A refund request of an order in scope (a delivery's: head office only); 404 otherwise."""
    refund = await MallRefund.filter(id=refund_id, brand_id=brand_id).first()
    if refund is not None:
        order = await MallOrder.get(id=refund.order_id)
        if scope.allows(order.store_id):
            return refund
    raise NotFound(MallRefundErrorCode.NOT_FOUND, "No such refund request.")


async def approve_refund(
    *, brand_id: int, scope: StoreScope, actor: str, refund_id: int
) -> MallRefund:
    """Approve a request: the payment's refund is asked (see the module doc); again: as it is.

    404 `mall_refund.not_found`; 409 `mall_refund.not_requested` (rejected), and the payments
    service's refusals.
    """
    refund = await get_refund(brand_id=brand_id, scope=scope, refund_id=refund_id)
    number = f"MALL-{refund.id}"
    moved = await MallRefund.filter(id=refund.id, state=RefundRequestState.REQUESTED).update(
        state=RefundRequestState.APPROVED,
        out_refund_no=number,
        decided_by=actor,
        decided_at=clock().now(),
    )
    # Audited by the payments service (`payment.refund`, refund number `MALL-<id>`).
    refund = await MallRefund.get(id=refund.id)
    if refund.state is RefundRequestState.REJECTED:
        raise Conflict(MallRefundErrorCode.NOT_REQUESTED, "This request was rejected.")
    if refund.state is RefundRequestState.APPROVED and refund.amount_fen > 0:
        order = await MallOrder.get(id=refund.order_id)
        assert order.payment_id is not None
        asked = PaymentRefund.filter(payment_id=order.payment_id, out_refund_no=number)
        # The approval that moved the request asks; a later one asks again only when no refund
        # was recorded (its request died in between); the same number makes it the same refund.
        if moved or not await asked.exists():
            try:
                await refunds.refund_payment(
                    brand_id=brand_id,
                    scope=StoreScope(None),
                    actor=actor,
                    payment_id=order.payment_id,
                    reason=refund.reason,
                    out_refund_no=number,
                    amount_fen=refund.amount_fen,
                )
            except DomainError as exc:
                # The same refund number recorded by a concurrent approval at this very moment.
                if exc.code != RefundErrorCode.EXCEEDS or not await asked.exists():
                    raise
    return await MallRefund.get(id=refund.id)


async def reject_refund(
    *, brand_id: int, scope: StoreScope, actor: str, refund_id: int
) -> MallRefund:
    """Reject a request: its units may be asked again. 409 `mall_refund.not_requested`."""
    refund = await get_refund(brand_id=brand_id, scope=scope, refund_id=refund_id)
    async with in_transaction() as db:
        moved = await (
            MallRefund.filter(id=refund.id, state=RefundRequestState.REQUESTED)
            .using_db(db)
            .update(state=RefundRequestState.REJECTED, decided_by=actor, decided_at=clock().now())
        )
        if moved:
            for row in refund.lines:
                await (
                    MallOrderLine.filter(id=int(row["line_id"]))
                    .using_db(db)
                    .update(refunded_quantity=F("refunded_quantity") - int(row["quantity"]))
                )
            await audit.record(
                brand_id=brand_id,
                actor=actor,
                action="mall_refund.reject",
                target=f"mall_refund:{refund.id}",
                connection=db,
            )
    refund = await MallRefund.get(id=refund.id)
    if refund.state is not RefundRequestState.REJECTED:
        raise Conflict(MallRefundErrorCode.NOT_REQUESTED, "This request was decided already.")
    return refund
