"""The dynamic member code: the member shows it, the till resolves it."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.core.auth import member_required
from api.core.http import body, doc, out
from api.member_center import member_code as service
from api.member_center.schemas.member_code import (
    MemberCodeOut,
    MemberCodeResolveIn,
    MemberSummaryOut,
)
from api.org.access import ALL_STAFF, staff_required

bp = Blueprint("member_center_member_code", url_prefix="/api/v1")


@bp.get("/me/code")
@doc(
    summary="A fresh single-use member code with its QR and barcode (valid for the brand's TTL)",
    tag="member code",
    response=MemberCodeOut,
    errors=(401, 403),
)
@member_required()
async def get_member_code(request: Request) -> HTTPResponse:
    code = await service.issue_member_code(
        brand_id=request.ctx.brand_id, member_id=request.ctx.member_id
    )
    return out(MemberCodeOut.of(code))


@bp.post("/pos/member-code/resolve")
@doc(
    summary="Who is at the till: the member behind a scanned code (masked); burns the code",
    tag="member code",
    body=MemberCodeResolveIn,
    response=MemberSummaryOut,
    errors=(401, 403, 404, 409, 410, 429),
)
@staff_required(*ALL_STAFF)
async def resolve_member_code(request: Request) -> HTTPResponse:
    payload = body(request, MemberCodeResolveIn)
    member = await service.resolve_member_code(
        brand_id=request.ctx.brand_id, staff_id=request.ctx.staff.id, code=payload.code
    )
    return out(MemberSummaryOut.of(member))
