"""The brand and its rules."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.org import brands
from api.org.access import ADMINS, HQ, staff_required
from api.org.schemas import BrandOut, BrandUpdate
from api.web.http import body, doc, out

bp = Blueprint("org_brand", url_prefix="/api/v1")


@bp.get("/admin/brand")
@doc(summary="The brand and its rules", tag="admin", response=BrandOut, errors=(401, 403))
@staff_required(*ADMINS)
async def get_brand(request: Request) -> HTTPResponse:
    brand = await brands.get_brand(brand_id=request.ctx.brand_id)
    return out(BrandOut.of(brand))


@bp.patch("/admin/brand")
@doc(
    summary="Change the brand's name or rules",
    tag="admin",
    body=BrandUpdate,
    response=BrandOut,
    errors=(401, 403),
)
@staff_required(*HQ)
async def update_brand(request: Request) -> HTTPResponse:
    payload = body(request, BrandUpdate)
    brand = await brands.update_brand(
        brand_id=request.ctx.brand_id,
        actor=request.ctx.staff.audit_name,
        name=payload.name,
        settings=(
            payload.settings.model_dump(mode="json", exclude_none=True)
            if payload.settings is not None
            else None
        ),
    )
    return out(BrandOut.of(brand))
