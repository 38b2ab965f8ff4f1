"""Staff sign-in and the head-office admin API for the org domain."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.core.auth import ADMINS, Principal, Role, TokenKind, register_resolver, staff_required
from api.web.http import Raw, body, doc, out, query

from . import schemas, service
from .models import AlipayApp, MerchantAccount, WechatApp

bp = Blueprint("org", url_prefix="/api/v1")


async def _resolve_staff(request: Request, principal: Principal) -> None:
    request.ctx.staff = await service.load_active_staff(
        brand_id=principal.brand_id, staff_id=principal.subject_id
    )


register_resolver(TokenKind.STAFF, _resolve_staff)

HQ = Role.HQ_ADMIN


def _wechat_app_out(app: WechatApp) -> schemas.WechatAppOut:
    return schemas.WechatAppOut(
        id=app.id,
        kind=app.kind,
        appid=app.appid,
        name=app.name,
        message_mode=app.message_mode,
        has_push_token=app.token_enc is not None,
        has_encoding_aes_key=app.aes_key_enc is not None,
        status=app.status,
    )


def _account_out(account: MerchantAccount) -> schemas.MerchantAccountOut:
    return schemas.MerchantAccountOut.model_validate(
        {
            **{
                name: getattr(account, name)
                for name in schemas.MerchantAccountOut.model_fields
                if name != "notify_url"
            },
            "notify_url": service.notify_url(account),
        }
    )


def _alipay_app_out(app: AlipayApp) -> schemas.AlipayAppOut:
    return schemas.AlipayAppOut(
        id=app.id,
        app_id=app.app_id,
        name=app.name,
        has_aes_key=app.aes_key_enc is not None,
        status=app.status,
    )


# Sign-in -------------------------------------------------------------------------------------


@bp.post("/auth/staff/login")
@doc(
    summary="Staff sign-in with brand code, username and password",
    tag="auth",
    body=schemas.StaffLoginIn,
    response=schemas.StaffLoginOut,
    secured=None,
    errors=(401, 429),
)
async def staff_login(request: Request) -> HTTPResponse:
    data = body(request, schemas.StaffLoginIn)
    token, staff = await service.login_staff(
        brand_code=data.brand, username=data.username, password=data.password
    )
    return out(schemas.StaffLoginOut(token=token, staff=schemas.StaffOut.model_validate(staff)))


# Brand -------------------------------------------------------------------------------------


@bp.get("/admin/brand")
@doc(summary="The brand and its rules", tag="admin", response=schemas.BrandOut, errors=(401, 403))
@staff_required(*ADMINS)
async def brand_get(request: Request) -> HTTPResponse:
    brand = await service.get_brand(actor=request.ctx.staff)
    return out(schemas.BrandOut.model_validate(brand))


@bp.patch("/admin/brand")
@doc(
    summary="Change the brand's name or rules",
    tag="admin",
    body=schemas.BrandUpdate,
    response=schemas.BrandOut,
    errors=(401, 403),
)
@staff_required(HQ)
async def brand_update(request: Request) -> HTTPResponse:
    brand = await service.update_brand(
        actor=request.ctx.staff, data=body(request, schemas.BrandUpdate)
    )
    return out(schemas.BrandOut.model_validate(brand))


# Stores ------------------------------------------------------------------------------------


@bp.get("/admin/stores")
@doc(
    summary="List stores (store managers: their own)",
    tag="admin",
    query=schemas.StoreFilter,
    response=schemas.StorePage,
    errors=(401, 403, 422),
)
@staff_required(*ADMINS)
async def stores_list(request: Request) -> HTTPResponse:
    stores, cursor = await service.list_stores(
        actor=request.ctx.staff, query=query(request, schemas.StoreFilter)
    )
    return out(
        schemas.StorePage(
            items=[schemas.StoreOut.model_validate(s) for s in stores], next_cursor=cursor
        )
    )


@bp.post("/admin/stores")
@doc(
    summary="Open a store",
    tag="admin",
    body=schemas.StoreCreate,
    response=schemas.StoreOut,
    status=201,
    errors=(401, 403, 409),
)
@staff_required(HQ)
async def stores_create(request: Request) -> HTTPResponse:
    store = await service.create_store(
        actor=request.ctx.staff, data=body(request, schemas.StoreCreate)
    )
    return out(schemas.StoreOut.model_validate(store), status=201)


@bp.get("/admin/stores/<store_id:int>")
@doc(summary="One store", tag="admin", response=schemas.StoreOut, errors=(401, 403, 404))
@staff_required(*ADMINS)
async def stores_get(request: Request, store_id: int) -> HTTPResponse:
    store = await service.get_store(actor=request.ctx.staff, store_id=store_id)
    return out(schemas.StoreOut.model_validate(store))


@bp.patch("/admin/stores/<store_id:int>")
@doc(
    summary="Change or disable a store",
    tag="admin",
    body=schemas.StoreUpdate,
    response=schemas.StoreOut,
    errors=(401, 403, 404),
)
@staff_required(*ADMINS)
async def stores_update(request: Request, store_id: int) -> HTTPResponse:
    store = await service.update_store(
        actor=request.ctx.staff, store_id=store_id, data=body(request, schemas.StoreUpdate)
    )
    return out(schemas.StoreOut.model_validate(store))


# Staff -------------------------------------------------------------------------------------


@bp.get("/admin/staff")
@doc(
    summary="List staff (store managers: their store's)",
    tag="admin",
    query=schemas.StaffFilter,
    response=schemas.StaffPage,
    errors=(401, 403, 422),
)
@staff_required(*ADMINS)
async def staff_list(request: Request) -> HTTPResponse:
    staff, cursor = await service.list_staff(
        actor=request.ctx.staff, query=query(request, schemas.StaffFilter)
    )
    return out(
        schemas.StaffPage(
            items=[schemas.StaffOut.model_validate(s) for s in staff], next_cursor=cursor
        )
    )


@bp.post("/admin/staff")
@doc(
    summary="Add a staff member",
    tag="admin",
    body=schemas.StaffCreate,
    response=schemas.StaffOut,
    status=201,
    errors=(401, 403, 409),
)
@staff_required(*ADMINS)
async def staff_create(request: Request) -> HTTPResponse:
    staff = await service.create_staff(
        actor=request.ctx.staff, data=body(request, schemas.StaffCreate)
    )
    return out(schemas.StaffOut.model_validate(staff), status=201)


@bp.get("/admin/staff/<staff_id:int>")
@doc(summary="One staff member", tag="admin", response=schemas.StaffOut, errors=(401, 403, 404))
@staff_required(*ADMINS)
async def staff_get(request: Request, staff_id: int) -> HTTPResponse:
    staff = await service.get_staff(actor=request.ctx.staff, staff_id=staff_id)
    return out(schemas.StaffOut.model_validate(staff))


@bp.patch("/admin/staff/<staff_id:int>")
@doc(
    summary="Change, move or disable a staff member",
    tag="admin",
    body=schemas.StaffUpdate,
    response=schemas.StaffOut,
    errors=(401, 403, 404, 409),
)
@staff_required(*ADMINS)
async def staff_update(request: Request, staff_id: int) -> HTTPResponse:
    staff = await service.update_staff(
        actor=request.ctx.staff, staff_id=staff_id, data=body(request, schemas.StaffUpdate)
    )
    return out(schemas.StaffOut.model_validate(staff))


# WeChat and Alipay apps --------------------------------------------------------------------


@bp.get("/admin/wechat-apps")
@doc(
    summary="The brand's mini-programs and official accounts",
    tag="admin",
    response=schemas.WechatAppList,
    errors=(401, 403),
)
@staff_required(HQ)
async def wechat_apps_list(request: Request) -> HTTPResponse:
    apps = await service.list_wechat_apps(actor=request.ctx.staff)
    return out(schemas.WechatAppList(items=[_wechat_app_out(a) for a in apps]))


@bp.post("/admin/wechat-apps")
@doc(
    summary="Register a mini-program or official account",
    tag="admin",
    body=schemas.WechatAppCreate,
    response=schemas.WechatAppOut,
    status=201,
    errors=(401, 403, 409),
)
@staff_required(HQ)
async def wechat_apps_create(request: Request) -> HTTPResponse:
    app = await service.create_wechat_app(
        actor=request.ctx.staff, data=body(request, schemas.WechatAppCreate)
    )
    return out(_wechat_app_out(app), status=201)


@bp.patch("/admin/wechat-apps/<app_id:int>")
@doc(
    summary="Rotate secrets, change message mode, or disable",
    tag="admin",
    body=schemas.WechatAppUpdate,
    response=schemas.WechatAppOut,
    errors=(401, 403, 404),
)
@staff_required(HQ)
async def wechat_apps_update(request: Request, app_id: int) -> HTTPResponse:
    app = await service.update_wechat_app(
        actor=request.ctx.staff, app_id=app_id, data=body(request, schemas.WechatAppUpdate)
    )
    return out(_wechat_app_out(app))


@bp.get("/admin/alipay-apps")
@doc(
    summary="The brand's Alipay mini-programs",
    tag="admin",
    response=schemas.AlipayAppList,
    errors=(401, 403),
)
@staff_required(HQ)
async def alipay_apps_list(request: Request) -> HTTPResponse:
    apps = await service.list_alipay_apps(actor=request.ctx.staff)
    return out(schemas.AlipayAppList(items=[_alipay_app_out(a) for a in apps]))


@bp.post("/admin/alipay-apps")
@doc(
    summary="Register an Alipay mini-program",
    tag="admin",
    body=schemas.AlipayAppCreate,
    response=schemas.AlipayAppOut,
    status=201,
    errors=(401, 403, 409),
)
@staff_required(HQ)
async def alipay_apps_create(request: Request) -> HTTPResponse:
    app = await service.create_alipay_app(
        actor=request.ctx.staff, data=body(request, schemas.AlipayAppCreate)
    )
    return out(_alipay_app_out(app), status=201)


@bp.patch("/admin/alipay-apps/<app_id:int>")
@doc(
    summary="Rotate keys or disable an Alipay app",
    tag="admin",
    body=schemas.AlipayAppUpdate,
    response=schemas.AlipayAppOut,
    errors=(401, 403, 404),
)
@staff_required(HQ)
async def alipay_apps_update(request: Request, app_id: int) -> HTTPResponse:
    app = await service.update_alipay_app(
        actor=request.ctx.staff, app_id=app_id, data=body(request, schemas.AlipayAppUpdate)
    )
    return out(_alipay_app_out(app))


# Merchant accounts -------------------------------------------------------------------------


@bp.get("/admin/merchant-accounts")
@doc(
    summary="List merchant accounts (secrets never shown)",
    tag="admin",
    query=schemas.AccountFilter,
    response=schemas.AccountPage,
    errors=(401, 403, 422),
)
@staff_required(HQ)
async def accounts_list(request: Request) -> HTTPResponse:
    accounts, cursor = await service.list_accounts(
        actor=request.ctx.staff, query=query(request, schemas.AccountFilter)
    )
    return out(schemas.AccountPage(items=[_account_out(a) for a in accounts], next_cursor=cursor))


@bp.post("/admin/merchant-accounts")
@doc(
    summary="Add a merchant account",
    tag="admin",
    body=schemas.MerchantAccountCreate,
    response=schemas.MerchantAccountOut,
    status=201,
    errors=(401, 403),
)
@staff_required(HQ)
async def accounts_create(request: Request) -> HTTPResponse:
    account = await service.create_account(
        actor=request.ctx.staff, data=body(request, schemas.MerchantAccountCreate)
    )
    return out(_account_out(account), status=201)


@bp.get("/admin/merchant-accounts/<account_id:int>")
@doc(
    summary="One merchant account",
    tag="admin",
    response=schemas.MerchantAccountOut,
    errors=(401, 403, 404),
)
@staff_required(HQ)
async def accounts_get(request: Request, account_id: int) -> HTTPResponse:
    account = await service.get_account(actor=request.ctx.staff, account_id=account_id)
    return out(_account_out(account))


@bp.patch("/admin/merchant-accounts/<account_id:int>")
@doc(
    summary="Rotate keys, change sub-merchant, or disable",
    tag="admin",
    body=schemas.MerchantAccountUpdate,
    response=schemas.MerchantAccountOut,
    errors=(401, 403, 404),
)
@staff_required(HQ)
async def accounts_update(request: Request, account_id: int) -> HTTPResponse:
    account = await service.update_account(
        actor=request.ctx.staff,
        account_id=account_id,
        data=body(request, schemas.MerchantAccountUpdate),
    )
    return out(_account_out(account))


# Payment routes ----------------------------------------------------------------------------


@bp.get("/admin/store-payment-routes")
@doc(
    summary="Which account each store's money goes to",
    tag="admin",
    query=schemas.RouteFilter,
    response=schemas.RoutePage,
    errors=(401, 403, 422),
)
@staff_required(*ADMINS)
async def routes_list(request: Request) -> HTTPResponse:
    routes, cursor = await service.list_routes(
        actor=request.ctx.staff, query=query(request, schemas.RouteFilter)
    )
    return out(
        schemas.RoutePage(
            items=[schemas.RouteOut.model_validate(r) for r in routes], next_cursor=cursor
        )
    )


@bp.post("/admin/store-payment-routes")
@doc(
    summary="Route a store's money for one provider",
    tag="admin",
    body=schemas.RouteCreate,
    response=schemas.RouteOut,
    status=201,
    errors=(401, 403, 409),
)
@staff_required(HQ)
async def routes_create(request: Request) -> HTTPResponse:
    route = await service.create_route(
        actor=request.ctx.staff, data=body(request, schemas.RouteCreate)
    )
    return out(schemas.RouteOut.model_validate(route), status=201)


@bp.patch("/admin/store-payment-routes/<route_id:int>")
@doc(
    summary="Re-point or disable a route",
    tag="admin",
    body=schemas.RouteUpdate,
    response=schemas.RouteOut,
    errors=(401, 403, 404),
)
@staff_required(HQ)
async def routes_update(request: Request, route_id: int) -> HTTPResponse:
    route = await service.update_route(
        actor=request.ctx.staff, route_id=route_id, data=body(request, schemas.RouteUpdate)
    )
    return out(schemas.RouteOut.model_validate(route))


@bp.post("/admin/store-payment-routes/import")
@doc(
    summary="Bulk create or update routes from CSV (store_code,provider,account_key)",
    tag="admin",
    body=Raw("text/csv", "One route per line: store_code,provider,account_key"),
    response=schemas.RouteImportOut,
    errors=(401, 403, 422),
)
@staff_required(HQ)
async def routes_import(request: Request) -> HTTPResponse:
    text = request.body.decode("utf-8-sig", errors="replace")
    created, updated = await service.import_routes(actor=request.ctx.staff, csv_text=text)
    return out(schemas.RouteImportOut(created=created, updated=updated))
