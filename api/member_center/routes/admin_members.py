"""Head office on members: search, one member's page, tags, and moving a leaving guide's members."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.member_center import relations, search, tags
from api.member_center.schemas.admin_members import (
    AdminMemberDetailOut,
    AdminMemberOut,
    AdminMemberPage,
    AdminMemberQuery,
)
from api.member_center.schemas.relations import ReassignIn, ReassignOut
from api.member_center.schemas.tags import (
    MemberTagsIn,
    MemberTagsOut,
    TagFilter,
    TagGroupIn,
    TagGroupList,
    TagGroupOut,
    TagIn,
    TagList,
    TagOut,
    TagPatch,
)
from api.org.access import ADMINS, HQ, staff_required
from api.web.http import body, doc, out, query

bp = Blueprint("member_center_admin_members", url_prefix="/api/v1")

# Members -----------------------------------------------------------------------------------


@bp.get("/admin/members")
@doc(
    summary="Search members (tags, level, store, guide, status, registration dates, q)",
    returns="One page of matching members, newest first, phones masked",
    tag="admin-members",
    query=AdminMemberQuery,
    response=AdminMemberPage,
    errors=(401, 403, 422),
)
@staff_required(*ADMINS)
async def search_members(request: Request) -> HTTPResponse:
    params = query(request, AdminMemberQuery)
    rows, cursor = await search.search_members(
        brand_id=request.ctx.brand_id,
        scope=request.ctx.scope,
        filters=params.filters(),
        cursor=params.cursor,
        limit=params.limit,
    )
    return out(AdminMemberPage(items=[AdminMemberOut.of_row(r) for r in rows], next_cursor=cursor))


@bp.get("/admin/members/<member_id:int>")
@doc(
    summary="One member with tags and store/guide relation history",
    returns="The member, their tags and their store and guide relations, current and past",
    tag="admin-members",
    response=AdminMemberDetailOut,
    errors=(401, 403, 404),
)
@staff_required(*ADMINS)
async def get_member(request: Request, member_id: int) -> HTTPResponse:
    detail = await search.member_detail(
        brand_id=request.ctx.brand_id, scope=request.ctx.scope, member_id=member_id
    )
    return out(AdminMemberDetailOut.of_detail(detail))


async def _member_tags_out(brand_id: int, member_id: int) -> MemberTagsOut:
    carried = await tags.member_tags(brand_id=brand_id, member_id=member_id)
    return MemberTagsOut.of(member_id, carried)


@bp.post("/admin/members/<member_id:int>/tags")
@doc(
    summary="Tag a member with manual or guide tags (idempotent)",
    returns="Every tag the member now carries",
    tag="admin-members",
    body=MemberTagsIn,
    response=MemberTagsOut,
    errors=(401, 403, 404),
)
@staff_required(*HQ)
async def tag_member(request: Request, member_id: int) -> HTTPResponse:
    payload = body(request, MemberTagsIn)
    staff = request.ctx.staff
    member = await tags.tag_member(
        brand_id=staff.brand_id,
        member_id=member_id,
        tag_ids=payload.tag_ids,
        actor=staff.audit_name,
    )
    return out(await _member_tags_out(staff.brand_id, member.id))


@bp.delete("/admin/members/<member_id:int>/tags/<tag_id:int>")
@doc(
    summary="Take a tag off a member",
    returns="Every tag the member still carries",
    tag="admin-members",
    response=MemberTagsOut,
    errors=(401, 403, 404),
)
@staff_required(*HQ)
async def untag_member(request: Request, member_id: int, tag_id: int) -> HTTPResponse:
    brand_id = request.ctx.brand_id
    member = await tags.untag_member(
        brand_id=brand_id, member_id=member_id, tag_id=tag_id, actor=request.ctx.staff.audit_name
    )
    return out(await _member_tags_out(brand_id, member.id))


# Tag groups and tags -----------------------------------------------------------------------


@bp.get("/admin/tag-groups")
@doc(
    summary="The brand's tag groups",
    returns="The tag groups",
    tag="tags",
    response=TagGroupList,
    errors=(401, 403),
)
@staff_required(*HQ)
async def list_tag_groups(request: Request) -> HTTPResponse:
    groups = await tags.list_tag_groups(brand_id=request.ctx.brand_id)
    return out(TagGroupList(items=[TagGroupOut.of(g) for g in groups]))


@bp.post("/admin/tag-groups")
@doc(
    summary="Add a tag group",
    returns="The new tag group",
    tag="tags",
    body=TagGroupIn,
    response=TagGroupOut,
    status=201,
    errors=(401, 403, 409),
)
@staff_required(*HQ)
async def create_tag_group(request: Request) -> HTTPResponse:
    payload = body(request, TagGroupIn)
    group = await tags.create_tag_group(
        brand_id=request.ctx.brand_id, name=payload.name, actor=request.ctx.staff.audit_name
    )
    return out(TagGroupOut.of(group), status=201)


@bp.get("/admin/tags")
@doc(
    summary="The brand's tags (filter by kind, group_id, active)",
    returns="The matching tags",
    tag="tags",
    query=TagFilter,
    response=TagList,
    errors=(401, 403, 422),
)
@staff_required(*HQ)
async def list_tags(request: Request) -> HTTPResponse:
    params = query(request, TagFilter)
    found = await tags.list_tags(
        brand_id=request.ctx.brand_id,
        kind=params.kind,
        group_id=params.group_id,
        active=params.active,
    )
    return out(TagList(items=[TagOut.of(t) for t in found]))


@bp.post("/admin/tags")
@doc(
    summary="Add a manual or guide tag (auto tags are the workers')",
    returns="The new tag",
    tag="tags",
    body=TagIn,
    response=TagOut,
    status=201,
    errors=(401, 403, 409),
)
@staff_required(*HQ)
async def create_tag(request: Request) -> HTTPResponse:
    payload = body(request, TagIn)
    tag = await tags.create_tag(
        brand_id=request.ctx.brand_id,
        name=payload.name,
        kind=payload.kind,
        group_id=payload.group_id,
        actor=request.ctx.staff.audit_name,
    )
    return out(TagOut.of(tag), status=201)


@bp.patch("/admin/tags/<tag_id:int>")
@doc(
    summary="Rename, regroup or (de)activate a tag",
    returns="The tag as it now is",
    tag="tags",
    body=TagPatch,
    response=TagOut,
    errors=(401, 403, 404, 409),
)
@staff_required(*HQ)
async def update_tag(request: Request, tag_id: int) -> HTTPResponse:
    payload = body(request, TagPatch)
    tag = await tags.update_tag(
        brand_id=request.ctx.brand_id,
        tag_id=tag_id,
        name=payload.name,
        active=payload.active,
        group_id=payload.group_id,
        actor=request.ctx.staff.audit_name,
    )
    return out(TagOut.of(tag))


# Guides ------------------------------------------------------------------------------------


@bp.post("/admin/guides/<guide_id:int>/reassign")
@doc(
    summary="Move a leaving guide's members to another active guide, or to the guide's store",
    returns="How many members moved",
    tag="admin-members",
    body=ReassignIn,
    params={"guide_id": "The leaving guide's staff id"},
    response=ReassignOut,
    errors=(401, 403, 404),
)
@staff_required(*ADMINS)
async def reassign_guide_members(request: Request, guide_id: int) -> HTTPResponse:
    payload = body(request, ReassignIn)
    moved = await relations.reassign_guide_members(
        brand_id=request.ctx.brand_id,
        scope=request.ctx.scope,
        actor=request.ctx.staff.audit_name,
        guide_id=guide_id,
        to_guide_id=payload.to_guide_id,
    )
    return out(ReassignOut(moved=moved))
