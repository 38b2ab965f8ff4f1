"""The brand's WeChat and Alipay apps (head office); secrets go in, never out."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.org import apps
from api.org.access import HQ, staff_required
from api.org.schemas import (
    AlipayAppCreate,
    AlipayAppList,
    AlipayAppOut,
    AlipayAppUpdate,
    WechatAppCreate,
    WechatAppList,
    WechatAppOut,
    WechatAppUpdate,
)
from api.web.http import body, doc, out

bp = Blueprint("org_apps", url_prefix="/api/v1")


# WeChat apps ---------------------------------------------------------------------------------


@bp.get("/admin/wechat-apps")
@doc(
    summary="The brand's mini-programs and official accounts",
    tag="admin",
    response=WechatAppList,
    errors=(401, 403),
)
@staff_required(*HQ)
async def list_wechat_apps(request: Request) -> HTTPResponse:
    found = await apps.list_wechat_apps(brand_id=request.ctx.brand_id)
    return out(WechatAppList(items=[WechatAppOut.of(a) for a in found]))


@bp.post("/admin/wechat-apps")
@doc(
    summary="Register a mini-program or official account",
    tag="admin",
    body=WechatAppCreate,
    response=WechatAppOut,
    status=201,
    errors=(401, 403, 409),
)
@staff_required(*HQ)
async def create_wechat_app(request: Request) -> HTTPResponse:
    payload = body(request, WechatAppCreate)
    app = await apps.create_wechat_app(
        brand_id=request.ctx.brand_id, actor=request.ctx.staff.audit_name, **payload.model_dump()
    )
    return out(WechatAppOut.of(app), status=201)


@bp.patch("/admin/wechat-apps/<app_id:int>")
@doc(
    summary="Rotate secrets, change message mode, or disable",
    tag="admin",
    body=WechatAppUpdate,
    response=WechatAppOut,
    errors=(401, 403, 404),
)
@staff_required(*HQ)
async def update_wechat_app(request: Request, app_id: int) -> HTTPResponse:
    payload = body(request, WechatAppUpdate)
    app = await apps.update_wechat_app(
        brand_id=request.ctx.brand_id,
        actor=request.ctx.staff.audit_name,
        app_id=app_id,
        **payload.model_dump(),
    )
    return out(WechatAppOut.of(app))


# Alipay apps ---------------------------------------------------------------------------------


@bp.get("/admin/alipay-apps")
@doc(
    summary="The brand's Alipay mini-programs",
    tag="admin",
    response=AlipayAppList,
    errors=(401, 403),
)
@staff_required(*HQ)
async def list_alipay_apps(request: Request) -> HTTPResponse:
    found = await apps.list_alipay_apps(brand_id=request.ctx.brand_id)
    return out(AlipayAppList(items=[AlipayAppOut.of(a) for a in found]))


@bp.post("/admin/alipay-apps")
@doc(
    summary="Register an Alipay mini-program",
    tag="admin",
    body=AlipayAppCreate,
    response=AlipayAppOut,
    status=201,
    errors=(401, 403, 409),
)
@staff_required(*HQ)
async def create_alipay_app(request: Request) -> HTTPResponse:
    payload = body(request, AlipayAppCreate)
    app = await apps.create_alipay_app(
        brand_id=request.ctx.brand_id, actor=request.ctx.staff.audit_name, **payload.model_dump()
    )
    return out(AlipayAppOut.of(app), status=201)


@bp.patch("/admin/alipay-apps/<app_id:int>")
@doc(
    summary="Rotate keys or disable an Alipay app",
    tag="admin",
    body=AlipayAppUpdate,
    response=AlipayAppOut,
    errors=(401, 403, 404),
)
@staff_required(*HQ)
async def update_alipay_app(request: Request, app_id: int) -> HTTPResponse:
    payload = body(request, AlipayAppUpdate)
    app = await apps.update_alipay_app(
        brand_id=request.ctx.brand_id,
        actor=request.ctx.staff.audit_name,
        app_id=app_id,
        **payload.model_dump(),
    )
    return out(AlipayAppOut.of(app))
