"""The till: ring up an order, charge it by a code, poll it; the member confirms a large one."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.core.auth import member_required
from api.org.access import ALL_STAFF, staff_required
from api.payments import member_code_pay, till
from api.payments.models import PosOrderState
from api.payments.schemas_till import (
    MemberPaymentList,
    MemberPaymentOut,
    PosOrderIn,
    PosOrderOut,
    PosPayIn,
)
from api.web.http import body, doc, idempotency_key, out

bp = Blueprint("payments_till", url_prefix="/api/v1")

ORDER_ID = {"order_id": "The till order's id"}
PAYMENT_ID = {"payment_id": "The payment's id"}
ORDER_EXAMPLE = {"store_id": 3, "amount_fen": 3800, "member_code": "681234567890123456"}
PAY_EXAMPLE = {"method": "wechat_code", "auth_code": "134567890123456789"}


@bp.post("/pos/orders")
@doc(
    summary="Ring up a sale at a store, priced at the level discount of the member whose code "
    "is scanned (the code is used up)",
    returns="The order, open, with its payable amount",
    tag="till",
    body=PosOrderIn,
    response=PosOrderOut,
    status=201,
    body_example=ORDER_EXAMPLE,
    errors=(404, 409, 410, 429),
)
@staff_required(*ALL_STAFF)
async def create_pos_order(request: Request) -> HTTPResponse:
    payload = body(request, PosOrderIn)
    order = await till.create_order(
        brand_id=request.ctx.brand_id,
        scope=request.ctx.scope,
        staff_id=request.ctx.staff.id,
        store_id=payload.store_id,
        amount_fen=payload.amount_fen,
        items=[item.model_dump() for item in payload.items] if payload.items else None,
        member_code=payload.member_code,
        coupon_ids=payload.coupon_ids,
    )
    return out(PosOrderOut.of(order), status=201)


@bp.get("/pos/orders/<order_id:int>")
@doc(
    summary="One till order, up to date with its payment (the till polls a pending one)",
    tag="till",
    response=PosOrderOut,
    params=ORDER_ID,
    errors=(404,),
)
@staff_required(*ALL_STAFF)
async def get_pos_order(request: Request, order_id: int) -> HTTPResponse:
    order = await till.get_order(
        brand_id=request.ctx.brand_id, scope=request.ctx.scope, order_id=order_id
    )
    return out(PosOrderOut.of(order))


@bp.post("/pos/orders/<order_id:int>/pay")
@doc(
    summary="Charge a till order by a WeChat or Alipay payment code, or by the member's code "
    "from their stored value",
    returns="The order paid (200), or waiting for the member to confirm in the mini-program "
    "(202, state pending_confirmation: poll the order); the same Idempotency-Key again answers "
    "the order as it is, charging nothing",
    tag="till",
    body=PosPayIn,
    response=PosOrderOut,
    body_example=PAY_EXAMPLE,
    params=ORDER_ID,
    errors=(404, 409, 410, 429, 502),
    idempotent=True,
    responses={202: PosOrderOut},
    description="Declined codes (`pos_order.payment_failed`) and payers who do not confirm in "
    "time (`pos_order.payer_timeout`, the trade reversed) leave the order open for another "
    "try; a paid order answers `pos_order.already_paid`, one being paid `pos_order.paying`.",
)
@staff_required(*ALL_STAFF)
async def pay_pos_order(request: Request, order_id: int) -> HTTPResponse:
    key = idempotency_key(request)
    payload = body(request, PosPayIn)
    order = await till.pay_order(
        brand_id=request.ctx.brand_id,
        scope=request.ctx.scope,
        staff_id=request.ctx.staff.id,
        order_id=order_id,
        method=payload.method,
        auth_code=payload.auth_code,
        key=key,
        client_ip=request.client_ip or "127.0.0.1",
    )
    pending = order.order.state == PosOrderState.PENDING_CONFIRMATION
    return out(PosOrderOut.of(order), status=202 if pending else 200)


@bp.post("/pos/orders/<order_id:int>/cancel")
@doc(
    summary="Cancel an open till order",
    tag="till",
    response=PosOrderOut,
    params=ORDER_ID,
    errors=(404, 409),
)
@staff_required(*ALL_STAFF)
async def cancel_pos_order(request: Request, order_id: int) -> HTTPResponse:
    order = await till.cancel_order(
        brand_id=request.ctx.brand_id, scope=request.ctx.scope, order_id=order_id
    )
    return out(PosOrderOut.of(order))


@bp.get("/me/payments/pending")
@doc(
    summary="My till payments waiting for my confirmation",
    tag="till",
    response=MemberPaymentList,
)
@member_required()
async def list_pending_payments(request: Request) -> HTTPResponse:
    rows = await member_code_pay.list_pending_confirmations(
        brand_id=request.ctx.brand_id, member_id=request.ctx.member_id
    )
    return out(MemberPaymentList(items=[MemberPaymentOut.model_validate(r) for r in rows]))


@bp.post("/me/payments/<payment_id:int>/confirm")
@doc(
    summary="Confirm a till payment of mine above the no-confirmation limit: it is paid from "
    "my stored value",
    returns="The payment, paid",
    tag="till",
    response=MemberPaymentOut,
    params=PAYMENT_ID,
    errors=(404, 409, 410),
)
@member_required()
async def confirm_payment(request: Request, payment_id: int) -> HTTPResponse:
    payment = await member_code_pay.confirm_member_payment(
        brand_id=request.ctx.brand_id, member_id=request.ctx.member_id, payment_id=payment_id
    )
    return out(MemberPaymentOut.model_validate(payment))
