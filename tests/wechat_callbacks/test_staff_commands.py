"""Staff commands on the official account, pushed by the sandbox as WeChat sends them: today's
figures, the write-off scan, my members and the phone lookup, each for the sender's own scope,
and nothing privileged for anyone who is not active, bound staff."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from api.core.ports import clock
from api.coupons import wallet
from api.coupons.models import Coupon, CouponState
from api.member_center import relations
from api.member_center.models import Member
from api.org.models import Brand, Staff, StaffRole, Store, WechatApp
from api.wechat_callbacks.models import MatchKind, WechatAutoReply
from api.wechat_callbacks.staff_commands import STAFF_ONLY
from tests.coupons.support import active_template
from tests.factories import make_brand, make_member, make_paid_payment, make_staff, make_store
from tests.support.api import Api
from tests.support.player import Player

from .staff_support import click, invite, say, scan_event, scan_to_redeem, text
from .support import push_app


@dataclass
class Shop:
    brand: Brand
    app: WechatApp
    store: Store  # 静安店: the guide's and the manager's
    elsewhere: Store  # 徐汇店
    admin: Staff
    manager: Staff
    guide: Staff


async def _bind(
    api: Api, player: Player, live_url: str, shop: Shop, staff: Staff, openid: str
) -> None:
    made = await invite(api, shop.admin, staff)
    reply = await say(player, live_url, shop.app, scan_event(openid, made["scene"], subscribe=True))
    assert reply.startswith("已绑定为"), reply


async def _shop(api: Api, player: Player, live_url: str, **settings: object) -> Shop:
    """A brand with two stores, its head office, a store manager and a guide, each bound."""
    brand = await make_brand(name="茶饮", settings=settings)
    store = await make_store(brand=brand, code="JA", name="静安店")
    elsewhere = await make_store(brand=brand, code="XH", name="徐汇店")
    shop = Shop(
        brand=brand,
        app=await push_app(brand),
        store=store,
        elsewhere=elsewhere,
        admin=await make_staff(brand=brand, name="周总"),
        manager=await make_staff(
            brand=brand, role=StaffRole.STORE_MANAGER, store=store, name="李店长"
        ),
        guide=await make_staff(
            brand=brand, role=StaffRole.GUIDE, store=store, name="王导购", guide_code="G1"
        ),
    )
    await _bind(api, player, live_url, shop, shop.admin, "o-hq")
    await _bind(api, player, live_url, shop, shop.manager, "o-manager")
    await _bind(api, player, live_url, shop, shop.guide, "o-guide")
    return shop


async def _member(shop: Shop, scene: str, **fields: object) -> Member:
    """A member won today through a store's or guide's QR scene."""
    member = await make_member(brand=shop.brand, **fields)
    await relations.apply_scene(brand_id=shop.brand.id, member_id=member.id, scene=scene)
    return await Member.get(id=member.id)


async def _coupon(shop: Shop, member: Member, store: Store, name: str = "满100减10") -> Coupon:
    template = await active_template(shop.brand, name=name, store_ids=[store.id])
    issued = await wallet.claim_coupon(
        brand_id=shop.brand.id, member_id=member.id, template_id=template.id, request_key=None
    )
    return issued.coupon


async def test_today_gives_each_staff_member_the_figures_of_their_own_scope(
    api: Api, player: Player, live_url: str
) -> None:
    # given today: a member won by the guide, one by the store, one by the other store, their
    # payments (and one of yesterday), and a coupon the guide wrote off by scanning it
    shop = await _shop(api, player, live_url)
    by_guide = await _member(shop, "g=G1")
    by_store = await _member(shop, "s=JA")
    other = await _member(shop, "s=XH")
    await make_paid_payment(brand=shop.brand, member=by_guide, amount_fen=12_000, store=shop.store)
    await make_paid_payment(brand=shop.brand, member=by_store, amount_fen=3_050, store=shop.store)
    await make_paid_payment(brand=shop.brand, member=other, amount_fen=5_000, store=shop.elsewhere)
    yesterday = clock().now() - timedelta(days=1)
    await make_paid_payment(
        brand=shop.brand, member=by_guide, amount_fen=99_900, store=shop.store, paid_at=yesterday
    )
    coupon = await _coupon(shop, by_guide, shop.store, name="拿铁兑换券")
    redeemed = await say(player, live_url, shop.app, scan_to_redeem("o-guide", coupon.code))
    assert redeemed == "已核销：拿铁兑换券"

    # when each of them presses 今日数据
    guide = await say(player, live_url, shop.app, click("o-guide", "staff_today"))
    manager = await say(player, live_url, shop.app, click("o-manager", "staff_today"))
    hq = await say(player, live_url, shop.app, click("o-hq", "staff_today"))

    # then the guide sees theirs, the manager the store's, head office the brand's
    assert "静安店导购 王导购" in guide
    assert "新增会员：1" in guide and "业绩：¥120.00（1笔）" in guide and "核销券：1张" in guide
    assert "静安店店长 李店长" in manager
    assert "新增会员：2" in manager and "业绩：¥150.50（2笔）" in manager
    assert "核销券：1张" in manager
    assert "总部 周总" in hq
    assert "新增会员：3" in hq and "业绩：¥200.50（3笔）" in hq and "核销券：1张" in hq


async def test_the_write_off_scan_redeems_at_the_staff_members_store_only(
    api: Api, player: Player, live_url: str
) -> None:
    # given coupons valid only in the other store, one used, and a consumer
    shop = await _shop(api, player, live_url)
    member = await _member(shop, "s=JA")
    foreign = await _coupon(shop, member, shop.elsewhere)
    used = await _coupon(shop, member, shop.store)
    await say(player, live_url, shop.app, scan_to_redeem("o-manager", used.code))

    # when the guide scans each, head office (no store) scans one, and a code that is none
    elsewhere = await say(player, live_url, shop.app, scan_to_redeem("o-guide", foreign.code))
    again = await say(player, live_url, shop.app, scan_to_redeem("o-guide", used.code))
    no_store = await say(player, live_url, shop.app, scan_to_redeem("o-hq", foreign.code))
    unknown = await say(player, live_url, shop.app, scan_to_redeem("o-guide", "NOTACODE"))

    # then each is refused with its reason, and the other store's coupon is still available
    assert elsewhere == "核销失败：此券不能在本店使用"
    assert again == "核销失败：此券已被使用"
    assert no_store.startswith("核销失败：您未归属门店")
    assert unknown == "核销失败：没有这张券"
    assert (await Coupon.get(id=foreign.id)).state is CouponState.AVAILABLE
    assert (await Coupon.get(id=used.id)).used_staff_id == shop.manager.id


async def test_a_forged_staff_button_from_a_consumer_gets_nothing_privileged(
    api: Api, player: Player, live_url: str
) -> None:
    # given a consumer following the account, and a coupon valid in the store
    shop = await _shop(api, player, live_url)
    member = await _member(shop, "s=JA", phone_masked="138****5678")
    coupon = await _coupon(shop, member, shop.store)
    await say(player, live_url, shop.app, scan_event("o-fan", "s=JA", subscribe=True))

    # when the consumer sends the staff menu's events (WeChat would never show them the menu)
    replies = [
        await say(player, live_url, shop.app, scan_to_redeem("o-fan", coupon.code)),
        await say(player, live_url, shop.app, click("o-fan", "staff_today")),
        await say(player, live_url, shop.app, click("o-fan", "staff_members")),
    ]

    # then each is answered 仅限员工使用, nothing is written off, no figure is given
    assert replies == [STAFF_ONLY] * 3
    assert (await Coupon.get(id=coupon.id)).state is CouponState.AVAILABLE


async def test_twenty_write_off_scans_at_once_write_the_coupon_off_once(
    api: Api, player: Player, live_url: str
) -> None:
    # given a coupon valid in the store of the guide and the manager
    shop = await _shop(api, player, live_url)
    coupon = await _coupon(shop, await _member(shop, "s=JA"), shop.store)

    # when both scan it ten times each, all at once
    scanners = ["o-guide", "o-manager"] * 10
    replies = await asyncio.gather(
        *(
            say(player, live_url, shop.app, scan_to_redeem(openid, coupon.code))
            for openid in scanners
        )
    )

    # then one of them wrote it off (their retries answered the same), the other was refused
    used = await Coupon.get(id=coupon.id)
    winner = "o-guide" if used.used_staff_id == shop.guide.id else "o-manager"
    assert used.state is CouponState.USED and used.used_staff_id in (shop.guide.id, shop.manager.id)
    for openid, reply in zip(scanners, replies, strict=True):
        expected = "已核销：满100减10" if openid == winner else "核销失败：此券已被使用"
        assert reply == expected, (openid, reply)


async def test_my_members_lists_the_guides_members_masked_with_the_brands_link(
    api: Api, player: Player, live_url: str
) -> None:
    # given the guide's two members, a store member who is not theirs, and the brand's link
    shop = await _shop(api, player, live_url, staff_members_url="https://crm.example.com/mine")
    await _member(shop, "g=G1", nickname="张三丰", phone_masked="138****5678")
    await _member(shop, "g=G1", nickname="李四", phone_masked="")
    await _member(shop, "s=JA", nickname="赵六", phone_masked="139****0000")

    # when the guide and the manager press 我的会员
    guide = await say(player, live_url, shop.app, click("o-guide", "staff_members"))
    manager = await say(player, live_url, shop.app, click("o-manager", "staff_members"))

    # then the guide sees their two, newest first, masked, and the link; the manager the store's
    assert guide.splitlines() == [
        "我的会员：共2位",
        "李** 未留手机",
        "张** 138****5678",
        "会员列表：https://crm.example.com/mine",
    ]
    assert manager.splitlines()[0] == "我的会员：共3位"
    assert "张三丰" not in guide + manager and "赵六" not in manager


async def test_phone_lookup_finds_the_stores_members_masked_and_falls_through_for_consumers(
    api: Api, player: Player, live_url: str
) -> None:
    # given members ending 5678 in both stores, and a keyword auto-reply containing 查
    shop = await _shop(api, player, live_url)
    zhang = await _member(shop, "s=JA", nickname="张三", phone_masked="138****5678")
    qian = await _member(shop, "s=XH", nickname="钱七", phone_masked="186****5678")
    await _member(shop, "s=JA", nickname="孙八", phone_masked="137****1234")
    await WechatAutoReply.create(
        brand_id=shop.brand.id, keyword="查", match=MatchKind.CONTAINS, reply_text="请到门店查询"
    )

    # when the manager, head office and a consumer ask
    manager = await say(player, live_url, shop.app, text("o-manager", "查 5678"))
    hq = await say(player, live_url, shop.app, text("o-hq", "查5678"))
    consumer = await say(player, live_url, shop.app, text("o-fan", "查 5678"))

    # then the manager sees their store's one, head office both, the consumer the auto-reply
    assert manager.splitlines() == [
        "手机尾号5678的会员：",
        f"张** 138****5678 会员号{zhang.member_no}",
    ]
    assert sorted(hq.splitlines()[1:]) == sorted(
        [f"张** 138****5678 会员号{zhang.member_no}", f"钱** 186****5678 会员号{qian.member_no}"]
    )
    assert consumer == "请到门店查询"
