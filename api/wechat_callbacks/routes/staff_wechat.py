"""Staff on the official account: the invite QR code, and the binding it makes."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.org.access import ADMINS, staff_required
from api.web.http import body, doc, out
from api.wechat_callbacks import staff_binding as service
from api.wechat_callbacks.schemas import BindingList, BindingOut, InviteIn, InviteOut

bp = Blueprint("wechat_staff", url_prefix="/api/v1")

STAFF_ID_DOC = "The staff member's id"


@bp.post("/admin/staff/<staff_id:int>/wechat-invite")
@doc(
    summary="A one-time QR code for the staff member to bind their WeChat to the official account",
    returns="The temporary QR code (WeChat's ticket and URL, and a PNG) and when it expires",
    tag="wechat",
    body=InviteIn,
    response=InviteOut,
    status=201,
    errors=(403, 404, 409, 502),
    params={"staff_id": STAFF_ID_DOC},
    description="Scanned once by the staff member's own WeChat, it binds that OpenID to the "
    "staff record and tags it as staff (the staff menu). Store managers invite their store's "
    "staff. `appid` defaults to the brand's active official account.",
)
@staff_required(*ADMINS)
async def create_wechat_invite(request: Request, staff_id: int) -> HTTPResponse:
    payload = body(request, InviteIn)
    invite = await service.create_invite(
        brand_id=request.ctx.brand_id,
        scope=request.ctx.scope,
        actor=request.ctx.staff.audit_name,
        staff_id=staff_id,
        appid=payload.appid,
    )
    return out(InviteOut(**vars(invite)), status=201)


@bp.get("/admin/staff/<staff_id:int>/wechat-binding")
@doc(
    summary="The staff member's WeChat bindings, one per official account",
    tag="wechat",
    response=BindingList,
    errors=(403, 404),
    params={"staff_id": STAFF_ID_DOC},
)
@staff_required(*ADMINS)
async def get_wechat_binding(request: Request, staff_id: int) -> HTTPResponse:
    rows = await service.list_bindings(
        brand_id=request.ctx.brand_id, scope=request.ctx.scope, staff_id=staff_id
    )
    return out(BindingList(staff_id=staff_id, items=[BindingOut.of(row) for row in rows]))


@bp.delete("/admin/staff/<staff_id:int>/wechat-binding")
@doc(
    summary="Unbind the staff member's WeChat (the staff tag comes off through the outbox)",
    returns="The bindings left (none)",
    tag="wechat",
    response=BindingList,
    errors=(403, 404),
    params={"staff_id": STAFF_ID_DOC},
)
@staff_required(*ADMINS)
async def delete_wechat_binding(request: Request, staff_id: int) -> HTTPResponse:
    await service.unbind_staff(
        brand_id=request.ctx.brand_id,
        scope=request.ctx.scope,
        actor=request.ctx.staff.audit_name,
        staff_id=staff_id,
    )
    return out(BindingList(staff_id=staff_id, items=[]))
