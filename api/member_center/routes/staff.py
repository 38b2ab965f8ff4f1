"""Staff on the shop floor: a guide's live figures, and tagging a member face to face."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.core.errors import Forbidden
from api.member_center import relations, tags
from api.member_center.schemas.relations import PerformanceOut, PerformanceQuery
from api.member_center.schemas.tags import MemberTagsIn, MemberTagsOut
from api.org.access import staff_required
from api.org.error_codes import AuthErrorCode
from api.org.models import StaffRole
from api.web.http import body, doc, out, query

bp = Blueprint("member_center_staff", url_prefix="/api/v1")


@bp.get("/staff/me/performance")
@doc(
    summary="A guide's members and attributed sales, live (a store manager gets the store's)",
    returns="Member counts and attributed sales, as of now",
    tag="staff",
    query=PerformanceQuery,
    response=PerformanceOut,
    errors=(401, 403, 422),
)
@staff_required(StaffRole.GUIDE, StaffRole.STORE_MANAGER)
async def get_my_performance(request: Request) -> HTTPResponse:
    since = query(request, PerformanceQuery).since
    staff = request.ctx.staff
    if staff.role == StaffRole.GUIDE:
        figures = await relations.guide_performance(
            brand_id=staff.brand_id, guide_id=staff.id, since=since
        )
    elif staff.store_id is not None:
        figures = await relations.guide_performance(
            brand_id=staff.brand_id, store_id=staff.store_id, since=since
        )
    else:
        raise Forbidden(
            AuthErrorCode.ROLE_FORBIDDEN, "Only guides and store managers have figures."
        )
    return out(PerformanceOut.of(figures, since=since))


@bp.post("/staff/members/<member_id:int>/tags")
@doc(
    summary="A guide tags a member of their store face to face (guide tags only; idempotent)",
    returns="Every tag the member now carries",
    tag="staff",
    body=MemberTagsIn,
    response=MemberTagsOut,
    errors=(401, 403, 404),
)
@staff_required(StaffRole.GUIDE, StaffRole.STORE_MANAGER)
async def tag_store_member(request: Request, member_id: int) -> HTTPResponse:
    payload = body(request, MemberTagsIn)
    staff = request.ctx.staff
    member = await tags.guide_tag_member(
        brand_id=staff.brand_id,
        scope=request.ctx.scope,
        actor=staff.audit_name,
        member_id=member_id,
        tag_ids=payload.tag_ids,
    )
    carried = await tags.member_tags(brand_id=staff.brand_id, member_id=member.id)
    return out(MemberTagsOut.of(member.id, carried))
