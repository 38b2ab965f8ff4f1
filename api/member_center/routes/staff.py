"""Staff on the shop floor: a guide's live figures, and tagging a member face to face."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.core.auth import Role, staff_required
from api.core.http import body, doc, out, query
from api.member_center import relations, tags
from api.member_center.schemas.relations import PerformanceOut, PerformanceQuery
from api.member_center.schemas.tags import MemberTagsIn, MemberTagsOut

bp = Blueprint("member_center_staff", url_prefix="/api/v1")


@bp.get("/staff/me/performance")
@doc(
    summary="A guide's members and attributed sales, live (a store manager gets the store's)",
    tag="staff",
    response=PerformanceOut,
    errors=(401, 403, 422),
)
@staff_required(Role.GUIDE, Role.STORE_MANAGER)
async def my_performance(request: Request) -> HTTPResponse:
    since = query(request, PerformanceQuery).since
    figures = await relations.guide_performance(actor=request.ctx.staff, since=since)
    return out(PerformanceOut.of(figures, since=since))


@bp.post("/staff/members/<member_id:int>/tags")
@doc(
    summary="A guide tags a member of their store face to face (guide tags only; idempotent)",
    tag="staff",
    body=MemberTagsIn,
    response=MemberTagsOut,
    errors=(401, 403, 404),
)
@staff_required(Role.GUIDE, Role.STORE_MANAGER)
async def tag_member(request: Request, member_id: int) -> HTTPResponse:
    payload = body(request, MemberTagsIn)
    staff = request.ctx.staff
    member = await tags.guide_tag_member(actor=staff, member_id=member_id, tag_ids=payload.tag_ids)
    carried = await tags.member_tags(brand_id=staff.brand_id, member_id=member.id)
    return out(MemberTagsOut.of(member.id, carried))
