"""The coupon center: what a member may claim, and claiming it."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.core.auth import member_required
from api.coupons import wallet as service
from api.coupons.schemas import CouponCenterOut, CouponOut, OfferOut
from api.web.http import doc, idempotency_key, out

bp = Blueprint("coupons_center", url_prefix="/api/v1")


@bp.get("/coupon-center")
@doc(
    summary="Coupons I can claim now",
    tag="coupons",
    response=CouponCenterOut,
)
@member_required()
async def get_coupon_center(request: Request) -> HTTPResponse:
    offers = await service.coupon_center(
        brand_id=request.ctx.brand_id, member_id=request.ctx.member_id
    )
    return out(CouponCenterOut(items=[OfferOut.of(offer) for offer in offers]))


@bp.post("/coupon-templates/<template_id:int>/claim")
@doc(
    summary="Claim a coupon from the coupon center",
    description="An `Idempotency-Key` header, when sent, makes a retry answer the first coupon.",
    returns="The coupon claimed (or, on a retry with the same Idempotency-Key, the first one)",
    tag="coupons",
    response=CouponOut,
    status=201,
    errors=(404, 409),
    params={"template_id": "The coupon template's id"},
)
@member_required()
async def claim_coupon(request: Request, template_id: int) -> HTTPResponse:
    request_key = idempotency_key(request) if request.headers.get("idempotency-key") else None
    issued = await service.claim_coupon(
        brand_id=request.ctx.brand_id,
        member_id=request.ctx.member_id,
        template_id=template_id,
        request_key=request_key,
    )
    coupon = issued.coupon
    await coupon.fetch_related("template")
    return out(CouponOut.of(coupon, coupon.template), status=201)
