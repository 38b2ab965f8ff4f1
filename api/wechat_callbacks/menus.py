"""Head office's two menus per official account, and their publication through WeChat.

The consumer menu is the account's default menu (`menu/create`); the staff menu is a
personalised menu (`menu/addconditional`) matched by the brand's staff tag, so only bound staff
see it. Until head office defines a staff menu, `DEFAULT_STAFF_MENU` is the one published: the
three staff commands. WeChat wants a default menu before any personalised one, so publishing
needs the consumer menu defined; a staff menu published earlier is removed before the new one
goes up (WeChat keeps every personalised menu until it is deleted).
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from api.core import audit, wechat
from api.core.errors import Conflict, UpstreamError
from api.core.ports import clock
from api.org.apps import wechat_credentials

from .error_codes import MenuErrorCode
from .models import MenuKind, WechatMenu, WechatStaffTag
from .staff_binding import official_account, staff_tag_id

STAFF_TODAY = "staff_today"
STAFF_REDEEM = "staff_redeem"
STAFF_MEMBERS = "staff_members"

DEFAULT_STAFF_MENU: list[dict[str, Any]] = [
    {"type": "click", "name": "今日数据", "key": STAFF_TODAY},
    {"type": "scancode_waitmsg", "name": "核销", "key": STAFF_REDEEM},
    {"type": "click", "name": "我的会员", "key": STAFF_MEMBERS},
]


@dataclass(frozen=True)
class MenuView:
    """One menu as head office sees it: saved, or the default (`defined` false)."""

    kind: MenuKind
    button: list[dict[str, Any]]
    defined: bool
    published_at: datetime | None


@dataclass(frozen=True)
class Menus:
    appid: str
    staff_tag_id: int | None
    items: list[MenuView]


def _target(appid: str, kind: MenuKind | None = None) -> str:
    return f"wechat_menu:{appid}" + (f":{kind.value}" if kind else "")


async def list_menus(*, brand_id: int, appid: str) -> Menus:
    """The account's consumer and staff menus; 404 `wechat_staff.no_official_account`."""
    app = await official_account(brand_id=brand_id, appid=appid)
    saved = {menu.kind: menu for menu in await WechatMenu.filter(appid=app.appid)}
    tag = await WechatStaffTag.get_or_none(appid=app.appid)
    items = []
    for kind in MenuKind:
        menu = saved.get(kind)
        if menu is not None:
            items.append(MenuView(kind, list(menu.buttons), True, menu.published_at))
        else:
            default = DEFAULT_STAFF_MENU if kind is MenuKind.STAFF else []
            items.append(MenuView(kind, list(default), False, None))
    return Menus(app.appid, tag.tag_id if tag else None, items)


async def save_menu(
    *, brand_id: int, actor: str, appid: str, kind: MenuKind, buttons: list[dict[str, Any]]
) -> Menus:
    """Define (or redefine) one of the account's menus; published by `publish_menus`."""
    app = await official_account(brand_id=brand_id, appid=appid)
    async with in_transaction() as db:
        changed = (
            await WechatMenu.filter(appid=app.appid, kind=kind)
            .using_db(db)
            .update(buttons=buttons, published_at=None)
        )
        if not changed:
            try:
                await WechatMenu.create(
                    using_db=db, brand_id=brand_id, appid=app.appid, kind=kind, buttons=buttons
                )
            except IntegrityError:
                raise Conflict(MenuErrorCode.BUSY, "The menu is being saved; try again.") from None
        await audit.record(
            brand_id=brand_id,
            actor=actor,
            action="wechat_menu.save",
            target=_target(app.appid, kind),
            details={"buttons": len(buttons)},
            connection=db,
        )
    return await list_menus(brand_id=brand_id, appid=app.appid)


async def publish_menus(*, brand_id: int, actor: str, appid: str) -> Menus:
    """Publish the consumer menu (default) and the staff menu (personalised, by staff tag).

    404 `wechat_staff.no_official_account`; 409 `wechat_menu.no_consumer_menu`;
    502 `wechat.upstream`.
    """
    app = await official_account(brand_id=brand_id, appid=appid)
    consumer = await WechatMenu.get_or_none(appid=app.appid, kind=MenuKind.CONSUMER)
    if consumer is None:
        raise Conflict(
            MenuErrorCode.NO_CONSUMER_MENU,
            "Define the consumer menu first: WeChat shows a staff menu only beside a default one.",
        )
    staff = await WechatMenu.get_or_none(appid=app.appid, kind=MenuKind.STAFF)
    if staff is None:
        await WechatMenu.bulk_create(
            [
                WechatMenu(
                    brand_id=brand_id,
                    appid=app.appid,
                    kind=MenuKind.STAFF,
                    buttons=DEFAULT_STAFF_MENU,
                )
            ],
            ignore_conflicts=True,
        )
        staff = await WechatMenu.get(appid=app.appid, kind=MenuKind.STAFF)
    creds = wechat_credentials(app)
    tag_id = await staff_tag_id(app)
    await wechat.create_menu(creds, {"button": consumer.buttons})
    if staff.conditional_menuid:
        # Already gone at WeChat (65301) is as good as removed.
        with suppress(UpstreamError):
            await wechat.delete_conditional_menu(creds, staff.conditional_menuid)
    menuid = await wechat.add_conditional_menu(
        creds, {"button": staff.buttons, "matchrule": {"tag_id": str(tag_id)}}
    )
    now = clock().now()
    async with in_transaction() as db:
        await WechatMenu.filter(id=consumer.id).using_db(db).update(published_at=now)
        await (
            WechatMenu.filter(id=staff.id)
            .using_db(db)
            .update(published_at=now, conditional_menuid=menuid)
        )
        await audit.record(
            brand_id=brand_id,
            actor=actor,
            action="wechat_menu.publish",
            target=_target(app.appid),
            details={"staff_menuid": menuid, "staff_tag_id": tag_id},
            connection=db,
        )
    return await list_menus(brand_id=brand_id, appid=app.appid)
