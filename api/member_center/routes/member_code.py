"""The dynamic member code: the member shows it, the till resolves it."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.core.auth import member_required
from api.coupons.models import Channel
from api.coupons.pricing import usable_coupons
from api.coupons.schemas_pos import till_coupon
from api.member_center import member_code as service
from api.member_center.schemas.member_code import (
    MemberCodeOut,
    MemberCodeResolveIn,
    MemberSummaryOut,
)
from api.org.access import ALL_STAFF, staff_required
from api.web.http import body, doc, out

bp = Blueprint("member_center_member_code", url_prefix="/api/v1")

MEMBER_CODE_EXAMPLE = {
    "code": "681234567890123456",
    "qr_svg": '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 29 29">…</svg>',
    "qr_png_base64": "iVBORw0KGgoAAAANSUhEUgAAAMgAAADIAQAAAACFI5MzAAAA…",
    "barcode_svg": '<svg xmlns="http://www.w3.org/2000/svg" width="92mm" height="23mm">…</svg>',
    "expires_at": "2025-06-01T12:01:00+08:00",
}
RESOLVE_EXAMPLE = {"code": "681234567890123456"}
MEMBER_SUMMARY_EXAMPLE = {
    "member_id": 1024,
    "member_no": "M000001024",
    "nickname": "小林",
    "phone_masked": "138****5678",
    "status": "member",
    "level": {"id": 2, "name": "Gold", "discount_pct": 95},
    "points_balance": 350,
    "wallet_principal_fen": 10000,
    "wallet_bonus_fen": 500,
    "wallet_total_fen": 10500,
    "coupons": [
        {
            "id": 77,
            "code": "CK7M2QX9PZ4A",
            "name": "10 off 100",
            "kind": "cash_off",
            "value_fen": 1000,
            "percent_off": None,
            "cap_fen": None,
            "threshold_fen": 10000,
            "gift_name": "",
            "stacks_with_level_discount": False,
            "stacks_with_coupons": False,
            "valid_until": "2025-06-30T23:59:59+08:00",
        }
    ],
}


@bp.get("/me/code")
@doc(
    summary="A fresh single-use member code with its QR and barcode (valid for the brand's TTL)",
    returns="The code to show at the till, as digits, QR and barcode",
    tag="member code",
    response=MemberCodeOut,
    response_example=MEMBER_CODE_EXAMPLE,
    errors=(401, 403),
)
@member_required()
async def issue_member_code(request: Request) -> HTTPResponse:
    code = await service.issue_member_code(
        brand_id=request.ctx.brand_id, member_id=request.ctx.member_id
    )
    return out(MemberCodeOut.of(code))


@bp.post("/pos/member-code/resolve")
@doc(
    summary="Who is at the till: the member behind a scanned code (masked), with their coupons "
    "usable at the caller's store; burns the code",
    returns="The member behind the code, phone masked; the code cannot be used again",
    tag="member code",
    body=MemberCodeResolveIn,
    response=MemberSummaryOut,
    body_example=RESOLVE_EXAMPLE,
    response_example=MEMBER_SUMMARY_EXAMPLE,
    errors=(401, 403, 404, 409, 410, 429),
)
@staff_required(*ALL_STAFF)
async def resolve_member_code(request: Request) -> HTTPResponse:
    payload = body(request, MemberCodeResolveIn)
    member = await service.resolve_member_code(
        brand_id=request.ctx.brand_id, staff_id=request.ctx.staff.id, code=payload.code
    )
    coupons = await usable_coupons(
        brand_id=request.ctx.brand_id,
        member_id=member.member_id,
        store_id=request.ctx.staff.store_id,
        channel=Channel.TILL,
    )
    summary = MemberSummaryOut.of(member)
    summary.coupons = [till_coupon(coupon) for coupon in coupons]
    return out(summary)
