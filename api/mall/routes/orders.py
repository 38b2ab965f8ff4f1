"""Mall orders: preview, create, read, cancel, pay; the store's pickup."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.core.auth import member_required
from api.core.errors import Forbidden
from api.mall import after_sale, fulfilment, paying, pickup
from api.mall import orders as service
from api.mall.models import OrderState
from api.mall.schemas_orders import (
    AdvancedOut,
    AdvanceIn,
    OrderIn,
    OrderOut,
    OrderPage,
    OrderQuery,
    PayIn,
    PayOut,
    PickupIn,
    PickupOut,
    PreviewOut,
    RefundIn,
    RefundOut,
    StaffOrderIn,
)
from api.org.access import ADMINS, ALL_STAFF, staff_required
from api.org.error_codes import AuthErrorCode
from api.org.models import StaffRole
from api.web.http import body, doc, idempotency_key, out, query

bp = Blueprint("mall_orders", url_prefix="/api/v1")

ORDER = {"order_id": "The order's id"}
REFUND = {"refund_id": "The refund request's id"}


async def _order_out(order_id: int, brand_id: int, member_id: int) -> OrderOut:
    order = await service.get_order(brand_id=brand_id, member_id=member_id, order_id=order_id)
    lines = await service.order_lines([order.id])
    return OrderOut.of(order, lines[order.id])


@bp.post("/mall/orders/preview")
@doc(
    summary="Price an order as it would be created now (nothing is held)",
    tag="mall",
    body=OrderIn,
    response=PreviewOut,
    errors=(404, 409),
)
@member_required()
async def preview_order(request: Request) -> HTTPResponse:
    payload = body(request, OrderIn)
    quote = await service.quote_order(
        brand_id=request.ctx.brand_id, member_id=request.ctx.member_id, request=payload.request()
    )
    return out(PreviewOut.of(quote))


@bp.post("/mall/orders")
@doc(
    summary="Create an order: stock, coupons and points held until it is paid or closed",
    description="The same Idempotency-Key answers the first order; another body with it is "
    "refused 409 `mall_order.key_reused`.",
    tag="mall",
    body=OrderIn,
    response=OrderOut,
    status=201,
    errors=(404, 409),
    idempotent=True,
)
@member_required()
async def create_order(request: Request) -> HTTPResponse:
    key = idempotency_key(request)
    payload = body(request, OrderIn)
    order = await service.create_order(
        brand_id=request.ctx.brand_id,
        member_id=request.ctx.member_id,
        request_key=key,
        request=payload.request(),
    )
    return out(await _order_out(order.id, request.ctx.brand_id, request.ctx.member_id), status=201)


@bp.get("/mall/orders")
@doc(summary="My orders, newest first", tag="mall", query=OrderQuery, response=OrderPage)
@member_required()
async def list_orders(request: Request) -> HTTPResponse:
    params = query(request, OrderQuery)
    rows, next_cursor = await service.list_orders(
        brand_id=request.ctx.brand_id, member_id=request.ctx.member_id, **params.model_dump()
    )
    lines = await service.order_lines([o.id for o in rows])
    return out(
        OrderPage(items=[OrderOut.of(o, lines[o.id]) for o in rows], next_cursor=next_cursor)
    )


@bp.get("/mall/orders/<order_id:int>")
@doc(summary="One of my orders", tag="mall", response=OrderOut, errors=(404,), params=ORDER)
@member_required()
async def get_order(request: Request, order_id: int) -> HTTPResponse:
    return out(await _order_out(order_id, request.ctx.brand_id, request.ctx.member_id))


@bp.post("/mall/orders/<order_id:int>/cancel")
@doc(
    summary="Cancel my unpaid order: its stock, coupons and points come back",
    tag="mall",
    response=OrderOut,
    errors=(404, 409),
    params=ORDER,
)
@member_required()
async def cancel_order(request: Request, order_id: int) -> HTTPResponse:
    order = await service.cancel_order(
        brand_id=request.ctx.brand_id, member_id=request.ctx.member_id, order_id=order_id
    )
    return out(await _order_out(order.id, request.ctx.brand_id, request.ctx.member_id))


@bp.post("/mall/orders/<order_id:int>/pay")
@doc(
    summary="Pay my order through WeChat Pay, Alipay or my stored value",
    tag="mall",
    body=PayIn,
    response=PayOut,
    errors=(404, 409, 502),
    params=ORDER,
)
@member_required()
async def pay_order(request: Request, order_id: int) -> HTTPResponse:
    payload = body(request, PayIn)
    paid = await paying.pay_order(
        brand_id=request.ctx.brand_id,
        member_id=request.ctx.member_id,
        order_id=order_id,
        provider=payload.provider,
        client_ip=request.client_ip or "127.0.0.1",
    )
    return out(PayOut.of(paid))


@bp.post("/pos/pickups/verify")
@doc(
    summary="Hand a paid pickup order over at its store",
    description="Staff of that store (head office: any). Another store's order: 409 "
    "`pickup.wrong_store`; handed over already: 409 `pickup.already_picked_up`.",
    tag="mall",
    body=PickupIn,
    response=PickupOut,
    errors=(404, 409),
)
@staff_required(*ALL_STAFF)
async def verify_pickup(request: Request) -> HTTPResponse:
    payload = body(request, PickupIn)
    order = await pickup.verify_pickup(
        brand_id=request.ctx.brand_id,
        scope=request.ctx.scope,
        store_id=payload.store_id,
        pickup_code=payload.pickup_code,
        staff_id=request.ctx.staff_id,
    )
    return out(PickupOut.of(order))


# ---------------------------------------------------------------- after-sale


@bp.post("/mall/orders/<order_id:int>/refund")
@doc(
    summary="Ask for units of my paid order back (none named: all that is left)",
    tag="mall",
    body=RefundIn,
    response=RefundOut,
    status=201,
    errors=(404, 409),
    params=ORDER,
)
@member_required()
async def request_refund(request: Request, order_id: int) -> HTTPResponse:
    payload = body(request, RefundIn)
    refund = await after_sale.request_refund(
        brand_id=request.ctx.brand_id,
        member_id=request.ctx.member_id,
        order_id=order_id,
        reason=payload.reason,
        lines=None if payload.lines is None else [(ln.sku_id, ln.quantity) for ln in payload.lines],
    )
    return out(RefundOut.of(refund), status=201)


@bp.post("/admin/mall-refunds/<refund_id:int>/approve")
@doc(
    summary="Approve a refund request: the money goes back through the payments service",
    description="The order's store manager, or head office (a delivery's: head office only).",
    tag="mall-admin",
    response=RefundOut,
    errors=(404, 409, 502),
    params=REFUND,
)
@staff_required(*ADMINS)
async def approve_refund(request: Request, refund_id: int) -> HTTPResponse:
    refund = await after_sale.approve_refund(
        brand_id=request.ctx.brand_id,
        scope=request.ctx.scope,
        actor=request.ctx.staff.audit_name,
        refund_id=refund_id,
    )
    return out(RefundOut.of(refund))


@bp.post("/admin/mall-refunds/<refund_id:int>/reject")
@doc(
    summary="Reject a refund request",
    tag="mall-admin",
    response=RefundOut,
    errors=(404, 409),
    params=REFUND,
)
@staff_required(*ADMINS)
async def reject_refund(request: Request, refund_id: int) -> HTTPResponse:
    refund = await after_sale.reject_refund(
        brand_id=request.ctx.brand_id,
        scope=request.ctx.scope,
        actor=request.ctx.staff.audit_name,
        refund_id=refund_id,
    )
    return out(RefundOut.of(refund))


# ---------------------------------------------------------------- a guide's order


@bp.post("/staff/orders")
@doc(
    summary="A guide orders for a member a size the store lacks, delivered from central stock",
    description="Priced for the member as their own order would be, credited to the guide and "
    "their store; the member pays it in the mini-program (`/mall/orders/{id}/pay`) and then "
    "receives the brand's compensation coupon (`o2o_compensation_template_id`).",
    tag="mall",
    body=StaffOrderIn,
    response=OrderOut,
    status=201,
    errors=(403, 404, 409),
    idempotent=True,
)
@staff_required(StaffRole.GUIDE, StaffRole.STORE_MANAGER)
async def create_staff_order(request: Request) -> HTTPResponse:
    key = idempotency_key(request)
    payload = body(request, StaffOrderIn)
    staff = request.ctx.staff
    if staff.store_id is None:
        raise Forbidden(AuthErrorCode.ROLE_FORBIDDEN, "Only staff of a store order for members.")
    order = await service.create_order(
        brand_id=request.ctx.brand_id,
        member_id=payload.member_id,
        request_key=key,
        request=payload.request(),
        staff=(staff.id, staff.store_id),
    )
    lines = await service.order_lines([order.id])
    return out(OrderOut.of(order, lines[order.id]), status=201)


@bp.post("/admin/mall-orders/<order_id:int>/advance")
@doc(
    summary="Move a paid order on: shipped (carrier, tracking number), delivered, completed",
    description="Head office (any order) or the order's store manager. A delivery is shipped "
    "then delivered; a delivered or picked-up order is completed. Repeating the last move "
    "answers the order as it is; anything else is 409 `mall_order.invalid_transition`.",
    tag="mall-admin",
    body=AdvanceIn,
    response=AdvancedOut,
    errors=(404, 409),
    params=ORDER,
)
@staff_required(*ADMINS)
async def advance_order(request: Request, order_id: int) -> HTTPResponse:
    payload = body(request, AdvanceIn)
    order = await fulfilment.advance_order(
        brand_id=request.ctx.brand_id,
        scope=request.ctx.scope,
        actor=request.ctx.staff.audit_name,
        order_id=order_id,
        to=OrderState(payload.to),
        carrier=payload.carrier,
        tracking_no=payload.tracking_no,
    )
    return out(AdvancedOut.of(order))
