"""Staff at the counter write a coupon off by its code."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.coupons import redeem as service
from api.coupons.schemas_pos import RedeemIn, RedeemOut
from api.org.access import ALL_STAFF, staff_required
from api.web.http import body, doc, out

bp = Blueprint("coupons_pos", url_prefix="/api/v1")

REDEEM_EXAMPLE = {"coupon_code": "CK7M2QX9PZ4A", "store_id": 3}


@bp.post("/pos/coupons/redeem")
@doc(
    summary="Write a coupon off at a store's counter by its code",
    returns="The coupon, used, with the store, the staff member and what it took off; the same "
    "staff member writing it off at the same store again gets the same answer",
    tag="coupons",
    body=RedeemIn,
    response=RedeemOut,
    body_example=REDEEM_EXAMPLE,
    errors=(404, 409),
    description="Cashiers, guides and managers of the store (head office: any store). 409 "
    "`coupon.not_valid_in_store`, `coupon.channel_not_allowed`, `coupon.expired`, "
    "`coupon.not_started`, `coupon.already_used`, `coupon.locked_by_another_order`, "
    "`coupon.below_threshold` (against the order named); 404 `coupon.not_found`.",
)
@staff_required(*ALL_STAFF)
async def redeem_coupon(request: Request) -> HTTPResponse:
    payload = body(request, RedeemIn)
    redeemed = await service.redeem_at_counter(
        brand_id=request.ctx.brand_id,
        scope=request.ctx.scope,
        staff_id=request.ctx.staff.id,
        store_id=payload.store_id,
        code=payload.coupon_code,
        order_id=payload.order_id,
    )
    return out(RedeemOut.of(redeemed.coupon, redeemed.template))
