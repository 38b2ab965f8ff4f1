"""The member's own profile: read, edit, export, erase."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.core.auth import member_required
from api.member_center import profile
from api.member_center.schemas.profile import ErasedOut, ExportOut, MemberOut, ProfileUpdate
from api.web.http import body, doc, out

bp = Blueprint("member_center_me", url_prefix="/api/v1")


@bp.get("/me")
@doc(
    summary="My profile, level, points and wallet",
    returns="The caller's profile; the phone is masked",
    tag="me",
    response=MemberOut,
    errors=(401, 403),
)
@member_required()
async def get_my_profile(request: Request) -> HTTPResponse:
    return out(await profile.member_profile(request.ctx.member))


@bp.patch("/me")
@doc(
    summary="Change nickname, avatar, gender, birthday (once)",
    returns="The profile as it now is",
    tag="me",
    body=ProfileUpdate,
    response=MemberOut,
    errors=(401, 403, 409),
)
@member_required()
async def update_my_profile(request: Request) -> HTTPResponse:
    data = body(request, ProfileUpdate)
    updated = await profile.update_profile(
        brand_id=request.ctx.brand_id, member_id=request.ctx.member_id, data=data
    )
    return out(updated)


@bp.get("/me/export")
@doc(
    summary="Everything held about me (personal data export)",
    returns="Every record held about the caller",
    tag="me",
    response=ExportOut,
    errors=(401, 403),
)
@member_required()
async def export_my_data(request: Request) -> HTTPResponse:
    return out(
        await profile.export_member(brand_id=request.ctx.brand_id, member_id=request.ctx.member_id)
    )


@bp.delete("/me")
@doc(
    summary="Erase my personal data (ledgers are kept, anonymised)",
    returns="The personal data is erased; the token no longer works",
    tag="me",
    response=ErasedOut,
    errors=(401, 403),
)
@member_required()
async def erase_my_data(request: Request) -> HTTPResponse:
    await profile.erase_member(brand_id=request.ctx.brand_id, member_id=request.ctx.member_id)
    return out(ErasedOut(erased=True))
