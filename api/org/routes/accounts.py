"""Merchant accounts (head office) and store payment routes (store managers: read their own)."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.org import accounts
from api.org.access import ADMINS, HQ, staff_required
from api.org.schemas import (
    AccountFilter,
    AccountPage,
    MerchantAccountCreate,
    MerchantAccountOut,
    MerchantAccountUpdate,
    RouteCreate,
    RouteFilter,
    RouteImportOut,
    RouteOut,
    RoutePage,
    RouteUpdate,
)
from api.web.http import Raw, body, doc, out, query

bp = Blueprint("org_accounts", url_prefix="/api/v1")


# Merchant accounts ---------------------------------------------------------------------------


@bp.get("/admin/merchant-accounts")
@doc(
    summary="List merchant accounts (secrets never shown)",
    tag="admin",
    query=AccountFilter,
    response=AccountPage,
    errors=(401, 403, 422),
)
@staff_required(*HQ)
async def list_merchant_accounts(request: Request) -> HTTPResponse:
    params = query(request, AccountFilter)
    found, cursor = await accounts.list_accounts(
        brand_id=request.ctx.brand_id, **params.model_dump()
    )
    return out(
        AccountPage(
            items=[
                MerchantAccountOut.of_account(a, notify_url=accounts.notify_url(a)) for a in found
            ],
            next_cursor=cursor,
        )
    )


@bp.post("/admin/merchant-accounts")
@doc(
    summary="Add a merchant account",
    tag="admin",
    body=MerchantAccountCreate,
    response=MerchantAccountOut,
    status=201,
    errors=(401, 403),
)
@staff_required(*HQ)
async def create_merchant_account(request: Request) -> HTTPResponse:
    payload = body(request, MerchantAccountCreate)
    account = await accounts.create_account(
        brand_id=request.ctx.brand_id, actor=request.ctx.staff.audit_name, **payload.model_dump()
    )
    return out(
        MerchantAccountOut.of_account(account, notify_url=accounts.notify_url(account)), status=201
    )


@bp.get("/admin/merchant-accounts/<account_id:int>")
@doc(
    summary="One merchant account",
    tag="admin",
    response=MerchantAccountOut,
    errors=(401, 403, 404),
)
@staff_required(*HQ)
async def get_merchant_account(request: Request, account_id: int) -> HTTPResponse:
    account = await accounts.get_account(brand_id=request.ctx.brand_id, account_id=account_id)
    return out(MerchantAccountOut.of_account(account, notify_url=accounts.notify_url(account)))


@bp.patch("/admin/merchant-accounts/<account_id:int>")
@doc(
    summary="Rotate keys, change sub-merchant, or disable",
    tag="admin",
    body=MerchantAccountUpdate,
    response=MerchantAccountOut,
    errors=(401, 403, 404),
)
@staff_required(*HQ)
async def update_merchant_account(request: Request, account_id: int) -> HTTPResponse:
    payload = body(request, MerchantAccountUpdate)
    account = await accounts.update_account(
        brand_id=request.ctx.brand_id,
        actor=request.ctx.staff.audit_name,
        account_id=account_id,
        **payload.model_dump(),
    )
    return out(MerchantAccountOut.of_account(account, notify_url=accounts.notify_url(account)))


# Store payment routes ------------------------------------------------------------------------


@bp.get("/admin/store-payment-routes")
@doc(
    summary="Which account each store's money goes to",
    tag="admin",
    query=RouteFilter,
    response=RoutePage,
    errors=(401, 403, 422),
)
@staff_required(*ADMINS)
async def list_payment_routes(request: Request) -> HTTPResponse:
    params = query(request, RouteFilter)
    found, cursor = await accounts.list_routes(
        brand_id=request.ctx.brand_id, scope=request.ctx.scope, **params.model_dump()
    )
    return out(RoutePage(items=[RouteOut.of(r) for r in found], next_cursor=cursor))


@bp.post("/admin/store-payment-routes")
@doc(
    summary="Route a store's money for one provider",
    tag="admin",
    body=RouteCreate,
    response=RouteOut,
    status=201,
    errors=(401, 403, 409),
)
@staff_required(*HQ)
async def create_payment_route(request: Request) -> HTTPResponse:
    payload = body(request, RouteCreate)
    route = await accounts.create_route(
        brand_id=request.ctx.brand_id, actor=request.ctx.staff.audit_name, **payload.model_dump()
    )
    return out(RouteOut.of(route), status=201)


@bp.patch("/admin/store-payment-routes/<route_id:int>")
@doc(
    summary="Re-point or disable a route",
    tag="admin",
    body=RouteUpdate,
    response=RouteOut,
    errors=(401, 403, 404),
)
@staff_required(*HQ)
async def update_payment_route(request: Request, route_id: int) -> HTTPResponse:
    payload = body(request, RouteUpdate)
    route = await accounts.update_route(
        brand_id=request.ctx.brand_id,
        actor=request.ctx.staff.audit_name,
        route_id=route_id,
        **payload.model_dump(),
    )
    return out(RouteOut.of(route))


@bp.post("/admin/store-payment-routes/import")
@doc(
    summary="Bulk create or update routes from CSV (store_code,provider,account_key; "
    "at most 5,000 rows, one per store and provider), all or nothing",
    tag="admin",
    body=Raw("text/csv", "One route per line: store_code,provider,account_key"),
    response=RouteImportOut,
    errors=(401, 403, 409, 422),
)
@staff_required(*HQ)
async def import_payment_routes(request: Request) -> HTTPResponse:
    text = request.body.decode("utf-8-sig", errors="replace")
    created, updated = await accounts.import_routes(
        brand_id=request.ctx.brand_id, actor=request.ctx.staff.audit_name, csv_text=text
    )
    return out(RouteImportOut(created=created, updated=updated))
