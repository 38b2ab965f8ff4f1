"""The member's coupon wallet."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.core.auth import member_required
from api.coupons import wallet as service
from api.coupons.schemas import CouponOut, CouponPage, WalletQuery
from api.web.http import doc, out, query

bp = Blueprint("coupons_wallet", url_prefix="/api/v1")


@bp.get("/me/coupons")
@doc(
    summary="My coupons, with their codes and QR symbols",
    returns="One page of the caller's coupons in the status asked for, newest first",
    tag="coupons",
    query=WalletQuery,
    response=CouponPage,
)
@member_required()
async def list_my_coupons(request: Request) -> HTTPResponse:
    params = query(request, WalletQuery)
    coupons, next_cursor = await service.list_my_coupons(
        brand_id=request.ctx.brand_id,
        member_id=request.ctx.member_id,
        status=params.status,
        cursor=params.cursor,
        limit=params.limit,
    )
    return out(
        CouponPage(items=[CouponOut.of(c, c.template) for c in coupons], next_cursor=next_cursor)
    )
