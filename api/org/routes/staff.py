"""Staff (store managers: their store's guides and cashiers)."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.org import staff as service
from api.org.access import ADMINS, staff_required
from api.org.schemas import StaffCreate, StaffFilter, StaffOut, StaffPage, StaffUpdate
from api.web.http import body, doc, out, query

bp = Blueprint("org_staff", url_prefix="/api/v1")


@bp.get("/admin/staff")
@doc(
    summary="List staff (store managers: their store's)",
    tag="admin",
    query=StaffFilter,
    response=StaffPage,
    errors=(401, 403, 422),
)
@staff_required(*ADMINS)
async def list_staff(request: Request) -> HTTPResponse:
    params = query(request, StaffFilter)
    found, cursor = await service.list_staff(
        brand_id=request.ctx.brand_id, scope=request.ctx.scope, **params.model_dump()
    )
    return out(StaffPage(items=[StaffOut.of(s) for s in found], next_cursor=cursor))


@bp.post("/admin/staff")
@doc(
    summary="Add a staff member",
    tag="admin",
    body=StaffCreate,
    response=StaffOut,
    status=201,
    errors=(401, 403, 409),
)
@staff_required(*ADMINS)
async def create_staff(request: Request) -> HTTPResponse:
    payload = body(request, StaffCreate)
    staff = await service.create_staff(
        brand_id=request.ctx.brand_id,
        scope=request.ctx.scope,
        actor=request.ctx.staff.audit_name,
        **payload.model_dump(),
    )
    return out(StaffOut.of(staff), status=201)


@bp.get("/admin/staff/<staff_id:int>")
@doc(summary="One staff member", tag="admin", response=StaffOut, errors=(401, 403, 404))
@staff_required(*ADMINS)
async def get_staff(request: Request, staff_id: int) -> HTTPResponse:
    staff = await service.get_staff(
        brand_id=request.ctx.brand_id, scope=request.ctx.scope, staff_id=staff_id
    )
    return out(StaffOut.of(staff))


@bp.patch("/admin/staff/<staff_id:int>")
@doc(
    summary="Change, move or disable a staff member",
    tag="admin",
    body=StaffUpdate,
    response=StaffOut,
    errors=(401, 403, 404, 409),
)
@staff_required(*ADMINS)
async def update_staff(request: Request, staff_id: int) -> HTTPResponse:
    payload = body(request, StaffUpdate)
    staff = await service.update_staff(
        brand_id=request.ctx.brand_id,
        scope=request.ctx.scope,
        actor=request.ctx.staff.audit_name,
        staff_id=staff_id,
        **payload.model_dump(exclude_unset=True),
    )
    return out(StaffOut.of(staff))
