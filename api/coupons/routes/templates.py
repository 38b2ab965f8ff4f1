"""Coupon templates: draft, change, activate, pause, end (head office; store managers for their
own stores when the brand allows it)."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.coupons import templates as service
from api.coupons.schemas import (
    TemplateIn,
    TemplateOut,
    TemplatePage,
    TemplateQuery,
    TemplateUpdate,
)
from api.org.access import ADMINS, staff_required
from api.web.http import body, doc, out, query

bp = Blueprint("coupons_templates", url_prefix="/api/v1")

TEMPLATE = {"template_id": "The coupon template's id"}


@bp.post("/admin/coupon-templates")
@doc(
    summary="Draft a coupon template (head office)",
    returns="The new template, in `draft`",
    tag="coupons",
    body=TemplateIn,
    response=TemplateOut,
    status=201,
    errors=(403, 422),
)
@staff_required(*ADMINS)
async def create_coupon_template(request: Request) -> HTTPResponse:
    payload = body(request, TemplateIn)
    template = await service.create_template(
        brand_id=request.ctx.brand_id,
        actor=request.ctx.staff.audit_name,
        spec=payload.spec(),
        scope=request.ctx.scope,
    )
    return out(TemplateOut.of(template), status=201)


@bp.get("/admin/coupon-templates")
@doc(
    summary="The brand's coupon templates, newest first",
    returns="One page of templates",
    tag="coupons",
    query=TemplateQuery,
    response=TemplatePage,
    errors=(403,),
)
@staff_required(*ADMINS)
async def list_coupon_templates(request: Request) -> HTTPResponse:
    params = query(request, TemplateQuery)
    templates, next_cursor = await service.list_templates(
        brand_id=request.ctx.brand_id,
        state=params.state,
        cursor=params.cursor,
        limit=params.limit,
        scope=request.ctx.scope,
    )
    return out(TemplatePage(items=[TemplateOut.of(t) for t in templates], next_cursor=next_cursor))


@bp.get("/admin/coupon-templates/<template_id:int>")
@doc(
    summary="One coupon template",
    tag="coupons",
    response=TemplateOut,
    errors=(403, 404),
    params=TEMPLATE,
)
@staff_required(*ADMINS)
async def get_coupon_template(request: Request, template_id: int) -> HTTPResponse:
    template = await service.get_template(
        brand_id=request.ctx.brand_id, template_id=template_id, scope=request.ctx.scope
    )
    return out(TemplateOut.of(template))


@bp.patch("/admin/coupon-templates/<template_id:int>")
@doc(
    summary="Change a draft coupon template",
    returns="The template as changed",
    tag="coupons",
    body=TemplateUpdate,
    response=TemplateOut,
    errors=(403, 404, 409),
    params=TEMPLATE,
)
@staff_required(*ADMINS)
async def update_coupon_template(request: Request, template_id: int) -> HTTPResponse:
    payload = body(request, TemplateUpdate)
    template = await service.update_template(
        brand_id=request.ctx.brand_id,
        actor=request.ctx.staff.audit_name,
        template_id=template_id,
        changes=payload.model_dump(exclude_unset=True),
        scope=request.ctx.scope,
    )
    return out(TemplateOut.of(template))


async def _change(request: Request, template_id: int, action: str) -> HTTPResponse:
    template = await service.change_state(
        brand_id=request.ctx.brand_id,
        actor=request.ctx.staff.audit_name,
        template_id=template_id,
        action=action,
        scope=request.ctx.scope,
    )
    return out(TemplateOut.of(template))


@bp.post("/admin/coupon-templates/<template_id:int>/activate")
@doc(
    summary="Start issuing a draft or paused coupon template",
    returns="The template, `active`",
    tag="coupons",
    response=TemplateOut,
    errors=(403, 404, 409),
    params=TEMPLATE,
)
@staff_required(*ADMINS)
async def activate_coupon_template(request: Request, template_id: int) -> HTTPResponse:
    return await _change(request, template_id, "activate")


@bp.post("/admin/coupon-templates/<template_id:int>/pause")
@doc(
    summary="Stop issuing an active coupon template for now",
    returns="The template, `paused`",
    tag="coupons",
    response=TemplateOut,
    errors=(403, 404, 409),
    params=TEMPLATE,
)
@staff_required(*ADMINS)
async def pause_coupon_template(request: Request, template_id: int) -> HTTPResponse:
    return await _change(request, template_id, "pause")


@bp.post("/admin/coupon-templates/<template_id:int>/end")
@doc(
    summary="End a coupon template for good (issued coupons stay valid)",
    returns="The template, `ended`",
    tag="coupons",
    response=TemplateOut,
    errors=(403, 404, 409),
    params=TEMPLATE,
)
@staff_required(*ADMINS)
async def end_coupon_template(request: Request, template_id: int) -> HTTPResponse:
    return await _change(request, template_id, "end")
