"""Head office's official-account menus: the consumer menu and the staff menu, and publishing."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.org.access import HQ, staff_required
from api.web.http import body, doc, out
from api.wechat_callbacks import menus as service
from api.wechat_callbacks.models import MenuKind
from api.wechat_callbacks.schemas import MenuIn, MenuOut, MenusOut

bp = Blueprint("wechat_menus", url_prefix="/api/v1")

APPID_DOC = "The official account's appid"


def _out(menus: service.Menus) -> MenusOut:
    return MenusOut(
        appid=menus.appid,
        staff_tag_id=menus.staff_tag_id,
        items=[MenuOut(**vars(item)) for item in menus.items],
    )


@bp.get("/admin/wechat-menus/<appid:str>")
@doc(
    summary="The official account's consumer and staff menus",
    returns="Both menus; one not defined yet shows its default (`defined` false)",
    tag="wechat",
    response=MenusOut,
    errors=(403, 404),
    params={"appid": APPID_DOC},
)
@staff_required(*HQ)
async def get_wechat_menus(request: Request, appid: str) -> HTTPResponse:
    menus = await service.list_menus(brand_id=request.ctx.brand_id, appid=appid)
    return out(_out(menus))


MENU_RULES = (
    "At most 3 buttons, at most 5 under each; each button's type decides what it needs "
    "(`click` and the scan/photo/location types a `key`, `view` a `url`, `miniprogram` `url`, "
    "`appid` and `pagepath` …). Names: 16 bytes on the bar, 60 below."
)


async def _save(request: Request, appid: str, kind: MenuKind, payload: MenuIn) -> HTTPResponse:
    menus = await service.save_menu(
        brand_id=request.ctx.brand_id,
        actor=request.ctx.staff.audit_name,
        appid=appid,
        kind=kind,
        buttons=payload.wechat(),
    )
    return out(_out(menus))


@bp.put("/admin/wechat-menus/<appid:str>/consumer")
@doc(
    summary="Define the consumer menu (the default menu; WeChat's `button` form, checked)",
    returns="Both menus as they now are (publish to show them)",
    tag="wechat",
    body=MenuIn,
    response=MenusOut,
    errors=(403, 404, 422),
    params={"appid": APPID_DOC},
    description=MENU_RULES,
)
@staff_required(*HQ)
async def put_wechat_consumer_menu(request: Request, appid: str) -> HTTPResponse:
    return await _save(request, appid, MenuKind.CONSUMER, body(request, MenuIn))


@bp.put("/admin/wechat-menus/<appid:str>/staff")
@doc(
    summary="Define the staff menu (shown to followers tagged as staff; WeChat's `button` form)",
    returns="Both menus as they now are (publish to show them)",
    tag="wechat",
    body=MenuIn,
    response=MenusOut,
    errors=(403, 404, 422),
    params={"appid": APPID_DOC},
    description=MENU_RULES + " Until one is defined, the default staff menu is published: "
    "今日数据 (`staff_today`), 核销 (`staff_redeem`), 我的会员 (`staff_members`).",
)
@staff_required(*HQ)
async def put_wechat_staff_menu(request: Request, appid: str) -> HTTPResponse:
    return await _save(request, appid, MenuKind.STAFF, body(request, MenuIn))


@bp.post("/admin/wechat-menus/<appid:str>/publish")
@doc(
    summary="Publish the menus: the consumer menu as the default, the staff menu by staff tag",
    returns="Both menus, with when they were published",
    tag="wechat",
    response=MenusOut,
    errors=(403, 404, 409, 502),
    params={"appid": APPID_DOC},
)
@staff_required(*HQ)
async def publish_wechat_menus(request: Request, appid: str) -> HTTPResponse:
    menus = await service.publish_menus(
        brand_id=request.ctx.brand_id, actor=request.ctx.staff.audit_name, appid=appid
    )
    return out(_out(menus))
