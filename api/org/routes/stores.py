"""Stores (store managers: their own)."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.org import stores
from api.org.access import ADMINS, HQ, staff_required
from api.org.schemas import StoreCreate, StoreFilter, StoreOut, StorePage, StoreUpdate
from api.web.http import body, doc, out, query

bp = Blueprint("org_stores", url_prefix="/api/v1")


@bp.get("/admin/stores")
@doc(
    summary="List stores (store managers: their own)",
    tag="admin",
    query=StoreFilter,
    response=StorePage,
    errors=(401, 403, 422),
)
@staff_required(*ADMINS)
async def list_stores(request: Request) -> HTTPResponse:
    params = query(request, StoreFilter)
    found, cursor = await stores.list_stores(
        brand_id=request.ctx.brand_id, scope=request.ctx.scope, **params.model_dump()
    )
    return out(StorePage(items=[StoreOut.of(s) for s in found], next_cursor=cursor))


@bp.post("/admin/stores")
@doc(
    summary="Open a store",
    tag="admin",
    body=StoreCreate,
    response=StoreOut,
    status=201,
    errors=(401, 403, 409),
)
@staff_required(*HQ)
async def create_store(request: Request) -> HTTPResponse:
    payload = body(request, StoreCreate)
    store = await stores.create_store(
        brand_id=request.ctx.brand_id, actor=request.ctx.staff.audit_name, **payload.model_dump()
    )
    return out(StoreOut.of(store), status=201)


@bp.get("/admin/stores/<store_id:int>")
@doc(summary="One store", tag="admin", response=StoreOut, errors=(401, 403, 404))
@staff_required(*ADMINS)
async def get_store(request: Request, store_id: int) -> HTTPResponse:
    store = await stores.get_store(
        brand_id=request.ctx.brand_id, scope=request.ctx.scope, store_id=store_id
    )
    return out(StoreOut.of(store))


@bp.patch("/admin/stores/<store_id:int>")
@doc(
    summary="Change or disable a store",
    tag="admin",
    body=StoreUpdate,
    response=StoreOut,
    errors=(401, 403, 404),
)
@staff_required(*ADMINS)
async def update_store(request: Request, store_id: int) -> HTTPResponse:
    payload = body(request, StoreUpdate)
    store = await stores.update_store(
        brand_id=request.ctx.brand_id,
        scope=request.ctx.scope,
        actor=request.ctx.staff.audit_name,
        store_id=store_id,
        **payload.model_dump(exclude_unset=True),
    )
    return out(StoreOut.of(store))
