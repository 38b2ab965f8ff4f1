"""Keyword auto-replies of the official account: head office's table."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.org.access import HQ, staff_required
from api.web.http import body, doc, out
from api.wechat_callbacks import auto_replies as service
from api.wechat_callbacks.schemas import AutoReplyIn, AutoReplyList, AutoReplyOut, AutoReplyPatch

bp = Blueprint("wechat_auto_replies", url_prefix="/api/v1")

REPLY_ID_DOC = "The auto-reply's id"


@bp.get("/admin/wechat-auto-replies")
@doc(
    summary="The official account's keyword auto-replies",
    returns="Every rule, oldest first",
    tag="wechat",
    response=AutoReplyList,
    errors=(403,),
)
@staff_required(*HQ)
async def list_wechat_auto_replies(request: Request) -> HTTPResponse:
    rules = await service.list_auto_replies(brand_id=request.ctx.brand_id)
    return out(AutoReplyList(items=[AutoReplyOut.of(rule) for rule in rules]))


@bp.post("/admin/wechat-auto-replies")
@doc(
    summary="Add a keyword auto-reply (`{member_center_url}` in the text becomes the link)",
    returns="The new rule",
    tag="wechat",
    body=AutoReplyIn,
    response=AutoReplyOut,
    status=201,
    errors=(403, 409),
)
@staff_required(*HQ)
async def create_wechat_auto_reply(request: Request) -> HTTPResponse:
    payload = body(request, AutoReplyIn)
    rule = await service.create_auto_reply(
        brand_id=request.ctx.brand_id, actor=request.ctx.staff.audit_name, **payload.model_dump()
    )
    return out(AutoReplyOut.of(rule), status=201)


@bp.patch("/admin/wechat-auto-replies/<reply_id:int>")
@doc(
    summary="Change a keyword auto-reply",
    returns="The rule as it now is",
    tag="wechat",
    body=AutoReplyPatch,
    response=AutoReplyOut,
    errors=(403, 404, 409),
    params={"reply_id": REPLY_ID_DOC},
)
@staff_required(*HQ)
async def update_wechat_auto_reply(request: Request, reply_id: int) -> HTTPResponse:
    payload = body(request, AutoReplyPatch)
    rule = await service.update_auto_reply(
        brand_id=request.ctx.brand_id,
        actor=request.ctx.staff.audit_name,
        reply_id=reply_id,
        **payload.model_dump(),
    )
    return out(AutoReplyOut.of(rule))


@bp.delete("/admin/wechat-auto-replies/<reply_id:int>")
@doc(
    summary="Remove a keyword auto-reply",
    returns="The rules left",
    tag="wechat",
    response=AutoReplyList,
    errors=(403, 404),
    params={"reply_id": REPLY_ID_DOC},
)
@staff_required(*HQ)
async def delete_wechat_auto_reply(request: Request, reply_id: int) -> HTTPResponse:
    brand_id = request.ctx.brand_id
    await service.delete_auto_reply(
        brand_id=brand_id, actor=request.ctx.staff.audit_name, reply_id=reply_id
    )
    rules = await service.list_auto_replies(brand_id=brand_id)
    return out(AutoReplyList(items=[AutoReplyOut.of(rule) for rule in rules]))
