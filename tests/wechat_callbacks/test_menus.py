"""Head office's menus: the consumer menu and the staff menu, checked as WeChat would, and
published so that a bound staff member sees the staff menu and a consumer the default one."""

from __future__ import annotations

from typing import Any

import pytest

from api.core import wechat
from api.core.models import AuditLog
from api.org.models import StaffRole
from api.wechat_callbacks.menus import DEFAULT_STAFF_MENU
from api.wechat_callbacks.models import WechatMenu
from tests.factories import make_brand, make_staff, make_store, staff_token
from tests.support.api import Api
from tests.support.player import Player

from .staff_support import creds, invite, say, scan_event
from .support import push_app

CONSUMER_MENU = {
    "button": [
        {"type": "view", "name": "会员中心", "url": "https://m.example.com/member"},
        {
            "name": "更多",
            "sub_button": [
                {"type": "click", "name": "门店", "key": "stores"},
                {
                    "type": "miniprogram",
                    "name": "小程序商城",
                    "url": "https://m.example.com",
                    "appid": "wx0123456789abcdef",
                    "pagepath": "pages/index",
                },
            ],
        },
    ]
}


def path(appid: str, tail: str = "") -> str:
    return f"/admin/wechat-menus/{appid}{tail}"


async def test_a_published_staff_menu_is_what_bound_staff_see_and_consumers_keep_the_default(
    api: Api, player: Player, live_url: str
) -> None:
    # given head office's consumer menu (no staff menu of its own) and a bound guide
    brand = await make_brand()
    admin = await make_staff(brand=brand)
    guide = await make_staff(brand=brand, role=StaffRole.GUIDE, store=await make_store(brand=brand))
    app = await push_app(brand)
    token = staff_token(admin)
    saved = await api.put(path(app.appid, "/consumer"), CONSUMER_MENU, token=token)
    assert saved.status == 200, saved
    made = await invite(api, admin, guide)
    await say(player, live_url, app, scan_event("o-guide", made["scene"], subscribe=True))

    # when head office publishes, and then publishes again
    first = await api.post(path(app.appid, "/publish"), token=token)
    published = await api.post(path(app.appid, "/publish"), token=token)

    # then WeChat (the sandbox) has the default menu and one personalised menu, by staff tag
    assert first.status == 200 and published.status == 200, published
    items = {item["kind"]: item for item in published.json["items"]}
    assert items["staff"]["button"] == DEFAULT_STAFF_MENU and items["staff"]["defined"]
    assert items["consumer"]["published_at"] is not None
    menus = (await player.http.get("/wechat/menus")).json()
    assert menus["items"][app.appid]["button"] == CONSUMER_MENU["button"]
    [conditional] = menus["conditional"][app.appid]
    assert conditional["matchrule"] == {"tag_id": str(published.json["staff_tag_id"])}
    # and the guide sees the staff menu, a consumer the default one
    staff_menu = await wechat.try_match_menu(creds(app), "o-guide")
    consumer_menu = await wechat.try_match_menu(creds(app), "o-someone")
    assert [button["key"] for button in staff_menu["button"]] == [
        "staff_today",
        "staff_redeem",
        "staff_members",
    ]
    assert consumer_menu["button"] == CONSUMER_MENU["button"]
    actions = await AuditLog.filter(action__startswith="wechat_menu").values_list(
        "action", flat=True
    )
    assert sorted(actions) == ["wechat_menu.publish", "wechat_menu.publish", "wechat_menu.save"]


async def test_head_office_defines_its_own_staff_menu_and_reads_both_back(api: Api) -> None:
    brand = await make_brand()
    app = await push_app(brand)
    token = staff_token(await make_staff(brand=brand))
    staff_menu = {"button": [{"type": "click", "name": "今日", "key": "staff_today"}]}

    before = await api.get(path(app.appid), token=token)
    saved = await api.put(path(app.appid, "/staff"), staff_menu, token=token)
    after = await api.get(path(app.appid), token=token)

    shown = {item["kind"]: item for item in before.json["items"]}
    assert shown["staff"] == {
        "kind": "staff",
        "button": DEFAULT_STAFF_MENU,
        "defined": False,
        "published_at": None,
    }
    assert shown["consumer"]["button"] == [] and not shown["consumer"]["defined"]
    assert saved.status == 200 and after.json == saved.json
    assert {item["kind"]: item["button"] for item in after.json["items"]}["staff"] == staff_menu[
        "button"
    ]


def _button(**fields: Any) -> dict[str, Any]:
    return {"type": "click", "name": "按钮", "key": "k", **fields}


BAD_MENUS = {
    "no buttons": {"button": []},
    "four buttons": {"button": [_button()] * 4},
    "six sub-buttons": {"button": [{"name": "更多", "sub_button": [_button()] * 6}]},
    "click without key": {"button": [{"type": "click", "name": "x"}]},
    "view without url": {"button": [{"type": "view", "name": "x"}]},
    "view with a bad url": {"button": [{"type": "view", "name": "x", "url": "javascript:1"}]},
    "miniprogram without pagepath": {
        "button": [
            {
                "type": "miniprogram",
                "name": "x",
                "url": "https://a.cn",
                "appid": "wx0123456789abcdef",
            }
        ]
    },
    "unknown type": {"button": [_button(type="shake")]},
    "name too long on the bar": {"button": [_button(name="六个汉字太长")]},
    "a parent with a type": {
        "button": [{"name": "x", "type": "click", "key": "k", "sub_button": [_button()]}]
    },
    "nested sub-buttons": {
        "button": [{"name": "x", "sub_button": [{**_button(), "sub_button": [_button()]}]}]
    },
    "unknown field": {"button": [_button(colour="red")]},
}


@pytest.mark.parametrize("menu", BAD_MENUS.values(), ids=BAD_MENUS.keys())
async def test_a_menu_wechat_would_refuse_is_refused_and_changes_nothing(
    api: Api, menu: dict[str, Any]
) -> None:
    brand = await make_brand()
    app = await push_app(brand)
    token = staff_token(await make_staff(brand=brand))

    answer = await api.put(path(app.appid, "/consumer"), menu, token=token)

    assert answer.status == 422 and answer.error_code == "request.invalid", answer
    assert not await WechatMenu.exists()


async def test_publishing_needs_a_consumer_menu_and_menus_are_head_offices_own(
    api: Api, player: Player
) -> None:
    brand, other = await make_brand(), await make_brand()
    app = await push_app(brand)
    store = await make_store(brand=brand)
    token = staff_token(await make_staff(brand=brand))
    manager = staff_token(await make_staff(brand=brand, role=StaffRole.STORE_MANAGER, store=store))
    stranger = staff_token(await make_staff(brand=other))

    unpublishable = await api.post(path(app.appid, "/publish"), token=token)
    by_manager = await api.put(path(app.appid, "/consumer"), CONSUMER_MENU, token=manager)
    foreign = await api.put(path(app.appid, "/consumer"), CONSUMER_MENU, token=stranger)

    assert (
        unpublishable.status == 409 and unpublishable.error_code == "wechat_menu.no_consumer_menu"
    )
    assert by_manager.status == 403
    assert foreign.status == 404 and foreign.error_code == "wechat_staff.no_official_account"
    assert not await WechatMenu.exists()
    assert app.appid not in (await player.http.get("/wechat/menus")).json()["items"]
