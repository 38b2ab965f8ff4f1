"""Store and guide QR codes: head office for every store, a store manager for their own."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.org.access import ADMINS, staff_required
from api.web.http import Raw, body, doc, out, query
from api.wechat_callbacks import qrcodes as service
from api.wechat_callbacks.qrcodes import MadeQrCode
from api.wechat_callbacks.schemas import QrCodeIn, QrCodeOut, QrZipQuery

bp = Blueprint("wechat_qrcodes", url_prefix="/api/v1")

MADE = (
    "201 with the new code; 200 with the stored one when the store or guide already has a code "
    "in that app (WeChat is not asked again). A store manager acts on their own store only."
)


def _answer(made: MadeQrCode) -> HTTPResponse:
    return out(QrCodeOut.of(made.qrcode), status=201 if made.created else 200)


@bp.post("/admin/stores/<store_id:int>/qrcodes")
@doc(
    summary="The store's QR code (`s=<store code>`) in the official account or mini-program",
    description=MADE,
    tag="wechat",
    body=QrCodeIn,
    response=QrCodeOut,
    status=201,
    errors=(403, 404, 409, 502),
    params={"store_id": "The store's id"},
)
@staff_required(*ADMINS)
async def create_store_qrcode(request: Request, store_id: int) -> HTTPResponse:
    payload = body(request, QrCodeIn)
    made = await service.create_store_qrcode(
        brand_id=request.ctx.brand_id,
        scope=request.ctx.scope,
        actor=request.ctx.staff.audit_name,
        store_id=store_id,
        kind=payload.kind,
        appid=payload.appid,
    )
    return _answer(made)


@bp.post("/admin/staff/<staff_id:int>/qrcodes")
@doc(
    summary="A guide's QR code (`g=<guide code>`) in the official account or mini-program",
    description=MADE + " A staff member without a guide code: 422 `relation.no_guide_code`.",
    tag="wechat",
    body=QrCodeIn,
    response=QrCodeOut,
    status=201,
    errors=(403, 404, 409, 502),
    params={"staff_id": "The guide's staff id"},
)
@staff_required(*ADMINS)
async def create_guide_qrcode(request: Request, staff_id: int) -> HTTPResponse:
    payload = body(request, QrCodeIn)
    made = await service.create_guide_qrcode(
        brand_id=request.ctx.brand_id,
        scope=request.ctx.scope,
        actor=request.ctx.staff.audit_name,
        staff_id=staff_id,
        kind=payload.kind,
        appid=payload.appid,
    )
    return _answer(made)


@bp.get("/admin/qrcodes/<qrcode_id:int>/image.png")
@doc(
    summary="A stored QR code's image (its `image_url`)",
    tag="wechat",
    response=Raw("image/png", "the QR code"),
    errors=(403, 404),
    params={"qrcode_id": "The QR code's id"},
)
@staff_required(*ADMINS)
async def get_qrcode_image(request: Request, qrcode_id: int) -> HTTPResponse:
    qrcode = await service.get_qrcode(
        brand_id=request.ctx.brand_id, scope=request.ctx.scope, qrcode_id=qrcode_id
    )
    return HTTPResponse(
        qrcode.png,
        content_type="image/png",
        headers={"cache-control": "private, max-age=3600"},
    )


@bp.get("/admin/qrcodes.zip")
@doc(
    summary="Every active store's QR code of one kind, as a zip (made where missing)",
    description="Files `<store code>-<store name>.png`; with `include_guides=true` the active "
    "guides' codes too, as `guides/<guide code>-<name>.png`. A store manager gets their store's.",
    tag="wechat",
    query=QrZipQuery,
    response=Raw("application/zip", "the codes"),
    errors=(403, 409, 502),
)
@staff_required(*ADMINS)
async def get_qrcodes_zip(request: Request) -> HTTPResponse:
    params = query(request, QrZipQuery)
    archive = await service.zip_qrcodes(
        brand_id=request.ctx.brand_id,
        scope=request.ctx.scope,
        actor=request.ctx.staff.audit_name,
        kind=params.kind,
        include_guides=params.include_guides,
    )
    return HTTPResponse(
        archive,
        content_type="application/zip",
        headers={"content-disposition": f'attachment; filename="qrcodes-{params.kind.value}.zip"'},
    )
