"""Consumer events and messages, in each message mode, pushed by the sandbox as WeChat does."""

from __future__ import annotations

import pytest
import xmltodict

from api.core.ports import Ports
from api.member_center.identity import login_wxa
from api.member_center.models import IdentityKind, Member, MemberIdentity, MemberRelation
from api.org.models import MessageMode, StaffRole, WechatAppKind
from api.wechat_callbacks.models import MatchKind, MenuEventKind, WechatAutoReply, WechatMenuEvent
from tests.factories import make_brand, make_staff, make_store, make_wechat_app
from tests.support.player import Player
from workers import wechat_callbacks as jobs

from .support import MODES, follow, push, push_app

pytestmark = pytest.mark.parametrize("mode", MODES, ids=[mode.value for mode in MODES])


def reply_of(result: dict) -> dict:
    """The passive reply memberhub answered (decrypted by the sandbox), as fields."""
    assert result["status"] == 200, result
    return dict(xmltodict.parse(result["reply"])["xml"])


async def members_of(openid: str) -> list[int]:
    rows = await MemberIdentity.filter(kind=IdentityKind.WECHAT_OPENID, value=openid)
    return [row.member_id for row in rows]


async def test_subscribe_through_a_store_qr_binds_a_new_visitor_and_welcomes_them(
    player: Player, live_url: str, mode: MessageMode
) -> None:
    # given an official account in `mode` and a store with a QR code
    brand = await make_brand(name="茶饮")
    store = await make_store(brand=brand, code="SH001", name="静安店")
    app = await push_app(brand, mode)

    # when a new user follows by scanning the store's code
    result = await push(player, live_url, app, follow("o-new-1", "s=SH001"))

    # then a visitor exists for the OpenID, bound to the store, and the reply names the store
    reply = reply_of(result)
    assert result["encrypted"] is (mode is not MessageMode.PLAIN)
    assert reply["ToUserName"] == "o-new-1" and reply["MsgType"] == "text"
    assert "静安店" in reply["Content"] and "茶饮" in reply["Content"]
    assert f"/h5/member?brand={brand.code}" in reply["Content"]
    [member_id] = await members_of("o-new-1")
    member = await Member.get(id=member_id)
    assert member.status == "visitor" and member.home_store_id == store.id
    relation = await MemberRelation.get(member_id=member_id, ended_at=None)
    assert (relation.store_id, relation.source, relation.scene) == (store.id, "store_qr", "s=SH001")


async def test_scan_of_a_guide_qr_binds_an_existing_follower_to_the_guide(
    player: Player, live_url: str, mode: MessageMode
) -> None:
    # given a follower with no store yet, and a guide's QR code
    brand = await make_brand(settings={"member_center_url": "https://m.example.com/center"})
    store = await make_store(brand=brand, name="徐汇店")
    guide = await make_staff(brand=brand, role=StaffRole.GUIDE, store=store, guide_code="G9")
    app = await push_app(brand, mode)
    await push(player, live_url, app, follow("o-fan-1"))

    # when they scan the guide's code
    scan = {"MsgType": "event", "Event": "SCAN", "EventKey": "g=G9", "FromUserName": "o-fan-1"}
    result = await push(player, live_url, app, scan)

    # then they belong to the guide and their store; the link is the brand's own
    reply = reply_of(result)
    assert "徐汇店" in reply["Content"]
    assert "https://m.example.com/center" in reply["Content"]
    [member_id] = await members_of("o-fan-1")
    member = await Member.get(id=member_id)
    assert (member.home_store_id, member.guide_id) == (store.id, guide.id)


async def test_plain_subscribe_welcomes_without_a_store_and_links_the_unionid(
    player: Player, live_url: str, mode: MessageMode, ports: Ports
) -> None:
    # given a member known from the mini-program by UnionID, and the same person's OA OpenID
    brand = await make_brand()
    app = await push_app(brand, mode)
    wxa = await make_wechat_app(brand=brand, kind=WechatAppKind.MINIPROGRAM)
    await player.login_code(app.appid, openid="o-oa-7", unionid="u-7")
    login = await player.login_code(wxa.appid, openid="o-wxa-7", unionid="u-7")
    known = await login_wxa(appid=wxa.appid, code=login["code"])

    # when they follow the official account without a QR code
    result = await push(player, live_url, app, follow("o-oa-7"))
    await ports.queue.join()  # type: ignore[attr-defined]

    # then the welcome names no store, and the job linked the OpenID to the same member
    reply = reply_of(result)
    assert "关联门店" not in reply["Content"] and "会员中心" in reply["Content"]
    assert await members_of("o-oa-7") == [known.member.id]
    assert await jobs.link_unionid(brand_id=brand.id, appid=app.appid, openid="o-oa-7")
    assert await members_of("o-oa-7") == [known.member.id]


async def test_unsubscribe_is_recorded_and_following_again_clears_it(
    player: Player, live_url: str, mode: MessageMode
) -> None:
    brand = await make_brand()
    app = await push_app(brand, mode)
    await push(player, live_url, app, follow("o-gone"))

    # when the user unfollows
    result = await push(
        player,
        live_url,
        app,
        {"MsgType": "event", "Event": "unsubscribe", "FromUserName": "o-gone"},
    )

    # then memberhub answers success and the identity records it
    assert (result["status"], result["reply"]) == (200, "success")
    identity = await MemberIdentity.get(value="o-gone")
    assert identity.unsubscribed_at is not None

    # and following again clears it
    await push(player, live_url, app, follow("o-gone", CreateTime=1_700_000_000 + 5))
    await identity.refresh_from_db()
    assert identity.unsubscribed_at is None


async def test_menu_clicks_and_views_are_recorded(
    player: Player, live_url: str, mode: MessageMode
) -> None:
    brand = await make_brand()
    app = await push_app(brand, mode)

    click = {"MsgType": "event", "Event": "CLICK", "EventKey": "MY_COUPONS", "FromUserName": "o-1"}
    view = {
        "MsgType": "event",
        "Event": "VIEW",
        "EventKey": "https://m.example.com/x",
        "FromUserName": "o-1",
        "CreateTime": 1_700_000_123,
    }
    assert (await push(player, live_url, app, click))["reply"] == "success"
    assert (await push(player, live_url, app, view))["reply"] == "success"

    rows = await WechatMenuEvent.filter(brand_id=brand.id).order_by("id")
    assert [(row.kind, row.key, row.openid) for row in rows] == [
        (MenuEventKind.CLICK, "MY_COUPONS", "o-1"),
        (MenuEventKind.VIEW, "https://m.example.com/x", "o-1"),
    ]
    assert rows[1].occurred_at.timestamp() == 1_700_000_123


async def test_text_messages_get_the_matching_keyword_reply(
    player: Player, live_url: str, mode: MessageMode
) -> None:
    # given an exact rule for 会员 and a contains rule for 营业
    brand = await make_brand()
    app = await push_app(brand, mode)
    await WechatAutoReply.create(
        brand_id=brand.id,
        keyword="会员",
        match=MatchKind.EXACT,
        reply_text="会员中心 {member_center_url}",
    )
    await WechatAutoReply.create(
        brand_id=brand.id, keyword="营业", match=MatchKind.CONTAINS, reply_text="9:00-22:00"
    )

    def text(content: str) -> dict:
        return {"MsgType": "text", "Content": content, "FromUserName": "o-talk"}

    member = reply_of(await push(player, live_url, app, text(" 会员 ")))
    hours = reply_of(await push(player, live_url, app, text("请问几点营业？")))
    nothing = await push(player, live_url, app, text("会员卡怎么办"))

    assert (
        member["Content"]
        == f"会员中心 http://127.0.0.1:{live_url.rsplit(':', 1)[1]}/h5/member?brand={brand.code}"
    )
    assert hours["Content"] == "9:00-22:00"
    assert nothing["reply"] == "success"


async def test_unknown_types_and_mini_program_pushes_answer_success_and_change_nothing(
    player: Player, live_url: str, mode: MessageMode
) -> None:
    brand = await make_brand()
    app = await push_app(brand, mode)
    wxa = await push_app(brand, mode, kind=WechatAppKind.MINIPROGRAM)

    odd = {"MsgType": "shortvideo", "MediaId": "m1", "FromUserName": "o-odd"}
    odd_event = {"MsgType": "event", "Event": "TEMPLATESENDJOBFINISH", "FromUserName": "o-odd"}
    for message in (odd, odd_event):
        result = await push(player, live_url, app, message)
        assert (result["status"], result["reply"]) == (200, "success")
    result = await push(player, live_url, wxa, follow("o-wxa-user", "s=NOPE"))
    assert (result["status"], result["reply"]) == (200, "success")

    assert await MemberIdentity.all().count() == 0
    assert await WechatMenuEvent.all().count() == 0
