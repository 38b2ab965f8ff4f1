"""What a consumer's event or message does, and what the official account answers.

- `subscribe` (a plain follow, or through a store or guide QR code: EventKey `qrscene_s=…` /
  `qrscene_g=…`) and `SCAN` (a follower scanning such a code): the follower's member is found
  or created as a visitor from the OpenID, bound to the store or guide through the member
  center's relation service (under the brand's attribution policy), and welcomed with a reply
  naming the store and linking the member center. The UnionID is looked up afterwards, in a job
  (WeChat's user-info call must not hold up the answer).
- `unsubscribe`: recorded on the OpenID identity (`unsubscribed_at`); following again clears it.
- `CLICK` / `VIEW` menu events: recorded for reports.
- text messages: head office's keyword auto-replies.
Anything else, and every mini-program push, is answered `success` and changes nothing.

Staff come first: a scan of a staff invite's code (scene `inv=…`) binds the scanner as staff
and nothing else (no visitor is made of a staff member's WeChat), and the staff commands (menu
buttons `staff_*`, "查 1234") are answered by `staff_commands` before any consumer handling.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from wechatpy.messages import BaseMessage
from wechatpy.replies import TextReply

from api.core.ports import clock, queue
from api.member_center import relations
from api.member_center.identity import IdentityKey, attach_identities
from api.member_center.models import IdentityKind, MemberIdentity
from api.org.models import Store, WechatAppKind
from config.settings import get_settings

from . import auto_replies, staff_binding, staff_commands
from .models import MenuEventKind, WechatMenuEvent
from .push import PushApp

# The job (workers/wechat_callbacks.py) that fetches a follower's UnionID after the reply.
LINK_UNIONID = "wechat.link_unionid"

MEMBER_CENTER_PATH = "/h5/member"


def member_center_url(app: PushApp) -> str:
    """The brand's member-center link: its setting, else memberhub's own H5 member center."""
    configured = app.brand_settings.get("member_center_url")
    if isinstance(configured, str) and configured:
        return configured
    return f"{get_settings().public_base_url}{MEMBER_CENTER_PATH}?brand={app.brand_code}"


def _welcome(app: PushApp, store: Store | None) -> str:
    lines = [f"欢迎关注{app.brand_name}！"]
    if store is not None:
        lines.append(f"您已关联门店：{store.name}。")
    lines.append(f"会员中心：{member_center_url(app)}")
    return "\n".join(lines)


def _occurred_at(message: BaseMessage) -> datetime:
    try:
        return datetime.fromtimestamp(int(message.time), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return clock().now()


async def _follower(app: PushApp, openid: str) -> int:
    """The member id behind the follower's OpenID (a visitor when new)."""
    member = await attach_identities(
        brand_id=app.brand_id,
        keys=[IdentityKey(IdentityKind.WECHAT_OPENID, openid, app.appid)],
    )
    return member.id


async def _scene_store(app: PushApp, member_id: int, scene: str | None) -> Store | None:
    """Bind the member to the scene's store or guide; the store the scene names, if any."""
    if not scene:
        return None
    target = await relations.apply_scene(brand_id=app.brand_id, member_id=member_id, scene=scene)
    if target is None:
        return None
    return await Store.get_or_none(id=target.store_id, brand_id=app.brand_id)


async def _queue_unionid(app: PushApp, openid: str) -> None:
    await queue().enqueue(
        LINK_UNIONID,
        key=f"{LINK_UNIONID}:{app.appid}:{openid}",
        brand_id=app.brand_id,
        appid=app.appid,
        openid=openid,
    )


async def _follow(app: PushApp, openid: str, scene: str | None) -> str:
    member_id = await _follower(app, openid)
    # Following (or scanning, which only followers can) ends an unfollow recorded earlier.
    await MemberIdentity.filter(
        brand_id=app.brand_id,
        kind=IdentityKind.WECHAT_OPENID,
        app_id=app.appid,
        value=openid,
        unsubscribed_at__isnull=False,
    ).update(unsubscribed_at=None)
    store = await _scene_store(app, member_id, scene)
    await _queue_unionid(app, openid)
    return _welcome(app, store)


async def _unfollow(app: PushApp, openid: str) -> None:
    await MemberIdentity.filter(
        brand_id=app.brand_id, kind=IdentityKind.WECHAT_OPENID, app_id=app.appid, value=openid
    ).update(unsubscribed_at=clock().now())


async def _menu(app: PushApp, message: BaseMessage, kind: MenuEventKind, key: Any) -> None:
    await WechatMenuEvent.create(
        brand_id=app.brand_id,
        appid=app.appid,
        openid=str(message.source)[:64],
        kind=kind,
        key=str(key or "")[:255],
        occurred_at=_occurred_at(message),
    )


async def respond(app: PushApp, message: BaseMessage) -> str | None:
    """Do what the message asks for; the passive reply's text, or None for `success`."""
    if app.kind is not WechatAppKind.OFFICIAL_ACCOUNT:
        return None
    openid = str(message.source or "")[:64]
    if not openid:
        return None
    command = staff_commands.command_of(message)
    if command is not None:
        staff_reply = await staff_commands.answer(app, openid, command)
        if staff_reply is not None or command.button:
            return staff_reply
    if message.type == "event":
        event = str(getattr(message, "event", "")).lower()
        if event in ("subscribe_scan", "scan"):
            token = staff_binding.invite_token(message.scene_id)
            if token is not None:
                return await staff_binding.accept_invite(app=app, openid=openid, token=token)
            return await _follow(app, openid, message.scene_id)
        if event == "subscribe":
            return await _follow(app, openid, None)
        if event == "unsubscribe":
            await _unfollow(app, openid)
        elif event == "click":
            await _menu(app, message, MenuEventKind.CLICK, message.key)
        elif event == "view":
            await _menu(app, message, MenuEventKind.VIEW, message.url)
        return None
    if message.type == "text":
        return await auto_replies.match_reply(
            brand_id=app.brand_id,
            text=str(message.content or ""),
            member_center_url=member_center_url(app),
        )
    return None


def reply_xml(message: BaseMessage, text: str) -> str:
    """A passive text reply to the message's sender, as WeChat reads it."""
    rendered: str = TextReply(message=message, content=text).render()
    return rendered
