"""Staff invites: one scan of the invite's QR code binds that WeChat to the staff record and
tags it as staff, once; disabling or unbinding takes the tag off through the outbox."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from api.core import outbox
from api.core.crypto import encrypt
from api.core.models import AuditLog, OutboxMessage
from api.core.ports import clock
from api.member_center.models import MemberIdentity
from api.org.models import MessageMode, StaffRole, Status, WechatApp
from api.wechat_callbacks import staff_binding
from api.wechat_callbacks.models import StaffInvite, StaffWechatBinding
from api.wechat_callbacks.staff_commands import STAFF_ONLY
from tests.factories import make_brand, make_staff, make_store, staff_token
from tests.support.api import Api
from tests.support.player import Player

from .staff_support import click, invite, say, scan_event, tagged
from .support import MODES, push_app


@pytest.fixture(autouse=True)
def _untagging() -> None:
    outbox.register_handler(staff_binding.TAG_TOPIC, staff_binding.tag_staff)
    outbox.register_handler(staff_binding.UNTAG_TOPIC, staff_binding.untag_staff)


@pytest.mark.parametrize("subscribe", [True, False], ids=["subscribe", "scan"])
@pytest.mark.parametrize("mode", MODES, ids=[mode.value for mode in MODES])
async def test_scanning_the_invite_binds_and_tags_that_wechat_as_staff(
    api: Api, player: Player, live_url: str, mode: MessageMode, subscribe: bool
) -> None:
    # given a guide and head office's invite for them
    brand = await make_brand(name="茶饮")
    store = await make_store(brand=brand)
    admin = await make_staff(brand=brand)
    guide = await make_staff(brand=brand, role=StaffRole.GUIDE, store=store, name="王芳")
    app = await push_app(brand, mode)
    made = await invite(api, admin, guide)
    assert made["scene"].startswith("inv=") and len(made["scene"]) <= 64
    assert base64.b64decode(made["qr_png_base64"]).startswith(b"\x89PNG")
    assert made["appid"] == app.appid

    # when the guide scans it with their WeChat (a follow through it, or a follower's scan)
    reply = await say(
        player, live_url, app, scan_event("o-guide", made["scene"], subscribe=subscribe)
    )

    # then that OpenID is the guide's, tagged as staff; no visitor was made of it
    assert reply == "已绑定为茶饮员工 王芳"
    binding = await StaffWechatBinding.get(staff_id=guide.id)
    assert (binding.appid, binding.openid) == (app.appid, "o-guide")
    assert (await tagged(player, app))[staff_binding.STAFF_TAG_NAME] == ["o-guide"]
    assert not await MemberIdentity.filter(value="o-guide").exists()
    actions = await AuditLog.filter(brand_id=brand.id).values_list("action", flat=True)
    assert sorted(actions) == ["staff.wechat_bind", "staff.wechat_invite"]
    stored = await StaffInvite.get(id=made["invite_id"])
    token = made["scene"].removeprefix("inv=")
    assert token not in stored.token_hash and stored.used_openid == "o-guide"


async def test_an_invite_binds_once_and_an_expired_one_not_at_all(
    api: Api, player: Player, live_url: str
) -> None:
    # given a used invite and an expired one
    brand = await make_brand()
    admin = await make_staff(brand=brand)
    store = await make_store(brand=brand)
    cashier = await make_staff(brand=brand, role=StaffRole.CASHIER, store=store)
    other = await make_staff(brand=brand, role=StaffRole.CASHIER, store=store)
    app = await push_app(brand)
    used = await invite(api, admin, cashier)
    await say(player, live_url, app, scan_event("o-first", used["scene"], subscribe=True))
    expired = await invite(api, admin, other)
    await StaffInvite.filter(id=expired["invite_id"]).update(
        expires_at=clock().now() - timedelta(seconds=1)
    )

    # when someone else scans the used one, and another the expired one, and a made-up one
    again = await say(player, live_url, app, scan_event("o-second", used["scene"], subscribe=False))
    late = await say(player, live_url, app, scan_event("o-late", expired["scene"], subscribe=True))
    forged = await say(player, live_url, app, scan_event("o-x", "inv=made-up", subscribe=True))

    # then each is refused politely and nothing more is bound, tagged or made a member
    assert again == late == forged == staff_binding.REFUSED
    bindings = await StaffWechatBinding.all().values_list("staff_id", "openid")
    assert bindings == [(cashier.id, "o-first")]
    assert (await tagged(player, app))[staff_binding.STAFF_TAG_NAME] == ["o-first"]
    assert not await MemberIdentity.filter(value__in=["o-second", "o-late", "o-x"]).exists()


async def test_binding_again_replaces_the_former_wechat_which_loses_the_tag(
    api: Api, player: Player, live_url: str
) -> None:
    # given a guide bound on their old phone
    brand = await make_brand()
    admin = await make_staff(brand=brand)
    guide = await make_staff(brand=brand, role=StaffRole.GUIDE, store=await make_store(brand=brand))
    app = await push_app(brand)
    first = await invite(api, admin, guide)
    await say(player, live_url, app, scan_event("o-old", first["scene"], subscribe=True))

    # when a new invite is scanned from the new phone, and the outbox delivers
    second = await invite(api, admin, guide)
    await say(player, live_url, app, scan_event("o-new", second["scene"], subscribe=True))
    report = await outbox.deliver_due()

    # then only the new WeChat is the guide's and carries the tag
    assert report.sent == 1
    assert await StaffWechatBinding.filter(staff_id=guide.id).values_list("openid", flat=True) == [
        "o-new"
    ]
    assert (await tagged(player, app))[staff_binding.STAFF_TAG_NAME] == ["o-new"]


async def test_disabling_a_staff_member_ends_their_commands_at_once_and_untags_them(
    api: Api, player: Player, live_url: str
) -> None:
    # given a bound store manager
    brand = await make_brand()
    admin = await make_staff(brand=brand)
    manager = await make_staff(
        brand=brand, role=StaffRole.STORE_MANAGER, store=await make_store(brand=brand)
    )
    app = await push_app(brand)
    made = await invite(api, admin, manager)
    await say(player, live_url, app, scan_event("o-mgr", made["scene"], subscribe=True))
    assert "今日数据" in await say(player, live_url, app, click("o-mgr", "staff_today"))

    # when head office disables them
    changed = await api.patch(
        f"/admin/staff/{manager.id}", {"status": "disabled"}, token=staff_token(admin)
    )
    assert changed.status == 200, changed

    # then every command is refused at once, before any untagging is delivered
    assert await say(player, live_url, app, click("o-mgr", "staff_today")) == STAFF_ONLY
    assert not await StaffWechatBinding.filter(staff_id=manager.id).exists()
    [queued] = await OutboxMessage.filter(topic=staff_binding.UNTAG_TOPIC)
    assert queued.payload == {"appid": app.appid, "openid": "o-mgr"}
    # and the outbox takes the staff tag (the staff menu) off their WeChat
    report = await outbox.deliver_due()
    assert report.sent == 1
    assert (await tagged(player, app))[staff_binding.STAFF_TAG_NAME] == []


async def test_head_office_reads_and_removes_a_binding_and_store_managers_keep_to_their_store(
    api: Api, player: Player, live_url: str
) -> None:
    brand = await make_brand()
    store, elsewhere = await make_store(brand=brand), await make_store(brand=brand)
    admin = await make_staff(brand=brand)
    manager = await make_staff(brand=brand, role=StaffRole.STORE_MANAGER, store=store)
    guide = await make_staff(brand=brand, role=StaffRole.GUIDE, store=store)
    stranger = await make_staff(brand=brand, role=StaffRole.GUIDE, store=elsewhere)
    disabled = await make_staff(
        brand=brand, role=StaffRole.GUIDE, store=store, status=Status.DISABLED
    )
    app = await push_app(brand)

    # a store manager invites their own store's guide, not another store's, nor a disabled one
    made = await invite(api, manager, guide)
    foreign = await api.post(
        f"/admin/staff/{stranger.id}/wechat-invite", {}, token=staff_token(manager)
    )
    inactive = await api.post(
        f"/admin/staff/{disabled.id}/wechat-invite", {}, token=staff_token(admin)
    )
    bad_appid = await api.post(
        f"/admin/staff/{guide.id}/wechat-invite", {"appid": "nope"}, token=staff_token(admin)
    )
    assert foreign.status == 404 and foreign.error_code == "staff.not_found"
    assert inactive.status == 409 and inactive.error_code == "wechat_staff.staff_inactive"
    assert bad_appid.status == 422 and bad_appid.error_code == "request.invalid"
    assert await StaffInvite.filter(staff_id__in=[stranger.id, disabled.id]).count() == 0

    # the binding reads back, and unbinding removes it and untags through the outbox
    await say(player, live_url, app, scan_event("o-g", made["scene"], subscribe=True))
    read = await api.get(f"/admin/staff/{guide.id}/wechat-binding", token=staff_token(admin))
    assert [(item["appid"], item["openid"]) for item in read.json["items"]] == [(app.appid, "o-g")]
    removed = await api.delete(f"/admin/staff/{guide.id}/wechat-binding", token=staff_token(admin))
    assert removed.status == 200 and removed.json["items"] == []
    await outbox.deliver_due()
    assert (await tagged(player, app))[staff_binding.STAFF_TAG_NAME] == []
    assert await say(player, live_url, app, click("o-g", "staff_members")) == STAFF_ONLY
    actions = await AuditLog.filter(action__startswith="staff.wechat").values_list(
        "action", flat=True
    )
    assert sorted(actions) == ["staff.wechat_bind", "staff.wechat_invite", "staff.wechat_unbind"]


async def test_an_invite_needs_an_official_account(api: Api) -> None:
    brand = await make_brand()
    admin = await make_staff(brand=brand)
    guide = await make_staff(brand=brand, role=StaffRole.GUIDE, store=await make_store(brand=brand))

    answer = await api.post(f"/admin/staff/{guide.id}/wechat-invite", {}, token=staff_token(admin))

    assert answer.status == 404 and answer.error_code == "wechat_staff.no_official_account"
    assert not await StaffInvite.exists()


async def test_a_scan_while_wechat_refuses_binds_at_once_and_tags_through_the_outbox(
    api: Api, player: Player, live_url: str
) -> None:
    # given an invite, then WeChat refusing the account's calls (its secret no longer matches)
    brand = await make_brand(name="茶饮")
    admin = await make_staff(brand=brand)
    cashier = await make_staff(
        brand=brand, role=StaffRole.CASHIER, store=await make_store(brand=brand), name="陈收银"
    )
    app = await push_app(brand)
    made = await invite(api, admin, cashier)
    real_secret = app.secret_enc
    await WechatApp.filter(id=app.id).update(secret_enc=encrypt("not-the-secret"))
    await player.http.post("/wechat/expire-tokens", json={"appid": app.appid})

    # when the cashier scans it
    reply = await say(player, live_url, app, scan_event("o-cash", made["scene"], subscribe=True))

    # then they are bound at once, and the tag waits in the outbox until WeChat takes it
    assert reply == "已绑定为茶饮员工 陈收银"
    assert await StaffWechatBinding.filter(staff_id=cashier.id, openid="o-cash").exists()
    assert (await tagged(player, app)).get(staff_binding.STAFF_TAG_NAME, []) == []
    await WechatApp.filter(id=app.id).update(secret_enc=real_secret)
    report = await outbox.deliver_due()
    assert report.sent == 1
    assert (await tagged(player, app))[staff_binding.STAFF_TAG_NAME] == ["o-cash"]
