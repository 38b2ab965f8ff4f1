"""Levels: head office's ladder."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.core.auth import member_required
from api.member_center import levels as service
from api.member_center.schemas.levels import (
    LadderOut,
    LadderStepOut,
    LevelIn,
    LevelList,
    LevelOut,
    LevelPatch,
)
from api.org.access import HQ, staff_required
from api.web.http import body, doc, out

bp = Blueprint("member_center_levels", url_prefix="/api/v1")


@bp.get("/admin/levels")
@doc(
    summary="The brand's levels, lowest rank first",
    returns="Every level, lowest rank first",
    tag="levels",
    response=LevelList,
    errors=(403,),
)
@staff_required(*HQ)
async def list_levels(request: Request) -> HTTPResponse:
    levels = await service.list_levels(brand_id=request.ctx.brand_id)
    return out(LevelList(items=[LevelOut.of(level) for level in levels]))


@bp.post("/admin/levels")
@doc(
    summary="Add a level (rank 0 is the entry level at threshold 0; thresholds rise with rank)",
    returns="The new level",
    tag="levels",
    body=LevelIn,
    response=LevelOut,
    status=201,
    errors=(403, 409),
)
@staff_required(*HQ)
async def create_level(request: Request) -> HTTPResponse:
    payload = body(request, LevelIn)
    level = await service.create_level(
        brand_id=request.ctx.brand_id, actor=request.ctx.staff.audit_name, **payload.model_dump()
    )
    return out(LevelOut.of(level), status=201)


@bp.patch("/admin/levels/<level_id:int>")
@doc(
    summary="Change a level's name, threshold, benefits or availability",
    returns="The level as it now is",
    tag="levels",
    body=LevelPatch,
    response=LevelOut,
    errors=(403, 404, 409),
)
@staff_required(*HQ)
async def update_level(request: Request, level_id: int) -> HTTPResponse:
    payload = body(request, LevelPatch)
    level = await service.update_level(
        brand_id=request.ctx.brand_id,
        actor=request.ctx.staff.audit_name,
        level_id=level_id,
        **payload.model_dump(),
    )
    return out(LevelOut.of(level))


@bp.get("/levels")
@doc(
    summary="The brand's active levels, lowest rank first, as members see them",
    returns="Each active level with the growth it takes; the member center shows the progress "
    "from the member's `growth` to the next level's `growth_threshold`",
    tag="levels",
    response=LadderOut,
    errors=(401, 403),
)
@member_required()
async def list_member_levels(request: Request) -> HTTPResponse:
    levels = await service.list_levels(brand_id=request.ctx.brand_id, active_only=True)
    return out(LadderOut(items=[LadderStepOut.of(level) for level in levels]))
