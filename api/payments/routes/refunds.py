"""Refunds, asked by head office (any payment) or a store manager (their stores' payments)."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.org.access import ADMINS, staff_required
from api.payments import refunds as service
from api.payments.schemas import PaymentRefundOut, RefundIn
from api.web.http import body, doc, out

bp = Blueprint("payments_refunds", url_prefix="/api/v1")


@bp.post("/admin/payments/<payment_id:int>/refunds")
@doc(
    summary="Refund a payment in full (no amount) or in part, once per refund number",
    returns="The refund: 201 when new, 200 when the refund number already named it (asked of "
    "the platform again while processing)",
    tag="admin",
    body=RefundIn,
    response=PaymentRefundOut,
    status=201,
    responses={200: PaymentRefundOut},
    errors=(401, 403, 404, 409, 422, 502),
    params={"payment_id": "The payment's id"},
    description="Never more than paid minus refunded. Alipay refunds at once (`succeeded`); "
    "WeChat Pay answers `processing` until its refund notification. On success the payment "
    "moves to partially_refunded / refunded and the points and growth it earned are clawed "
    "back in proportion (points already spent are recorded as `points_unrecovered`, never "
    "taken below zero). A recharge's refund takes its stored value back out of the wallet "
    "(409 `refund.wallet_spent` when it was spent); a wallet payment's gives principal and "
    "bonus back as they were spent.",
)
@staff_required(*ADMINS)
async def refund_payment(request: Request, payment_id: int) -> HTTPResponse:
    payload = body(request, RefundIn)
    result = await service.refund_payment(
        brand_id=request.ctx.brand_id,
        scope=request.ctx.scope,
        actor=request.ctx.staff.audit_name,
        payment_id=payment_id,
        out_refund_no=payload.out_refund_no,
        amount_fen=payload.amount_fen,
        reason=payload.reason,
    )
    return out(PaymentRefundOut.of(result), status=201 if result.created else 200)
