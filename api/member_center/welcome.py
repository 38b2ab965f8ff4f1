"""The welcome a new member receives: queued through the outbox when they join, sent by a worker.

`queue_welcome` writes one outbox row per member (its dedupe key is the member id), inside the
transaction that made them a member; `send_welcome` is the outbox handler. It sends a subscribe
message through the brand's mini-program to the member's OpenID there; a member with no OpenID
in an active mini-program of the brand (an Alipay payer) gets nothing, which is not an error.
"""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from api.core import outbox, wechat
from api.org.apps import wechat_credentials
from api.org.models import Brand, Status, WechatApp, WechatAppKind

from .models import IdentityKind, Member, MemberIdentity

WELCOME_TOPIC = "member.welcome"
# The subscribe-message template a brand configured for its welcome (brand setting
# `welcome_template_id`); the sandbox accepts any id.
DEFAULT_TEMPLATE_ID = "memberhub-welcome"


async def queue_welcome(
    db: BaseDBAsyncClient, *, brand_id: int, member_id: int, reason: str
) -> None:
    """Queue the member's welcome (once per member, however often it is asked)."""
    await outbox.enqueue(
        topic=WELCOME_TOPIC,
        payload={"brand_id": brand_id, "member_id": member_id, "reason": reason},
        brand_id=brand_id,
        dedupe_key=f"{WELCOME_TOPIC}:{member_id}",
        connection=db,
    )


async def mini_program_recipient(
    *, brand_id: int, member_id: int
) -> tuple[wechat.WechatCredentials, str] | None:
    """Where a subscribe message to the member goes: the credentials of the brand's active
    mini-program they first signed in to, and their OpenID there; None when there is none."""
    apps = {
        app.appid: app
        for app in await WechatApp.filter(
            brand_id=brand_id, kind=WechatAppKind.MINIPROGRAM, status=Status.ACTIVE
        )
    }
    identity = (
        await MemberIdentity.filter(
            member_id=member_id, kind=IdentityKind.WECHAT_OPENID, app_id__in=list(apps)
        )
        .order_by("id")
        .first()
    )
    if identity is None:
        return None
    app = apps[identity.app_id]
    return wechat_credentials(app), identity.value


async def send_welcome(payload: dict[str, Any]) -> None:
    """Outbox handler for `member.welcome`."""
    brand_id, member_id = int(payload["brand_id"]), int(payload["member_id"])
    member = await Member.get_or_none(id=member_id, brand_id=brand_id)
    brand = await Brand.get_or_none(id=brand_id)
    if member is None or brand is None:
        return
    recipient = await mini_program_recipient(brand_id=brand_id, member_id=member_id)
    if recipient is None:
        return
    creds, openid = recipient
    await wechat.send_subscribe(
        creds,
        openid=openid,
        template_id=str(brand.settings.get("welcome_template_id") or DEFAULT_TEMPLATE_ID),
        data={
            "thing1": {"value": f"欢迎加入{brand.name}会员"[:20]},
            "character_string2": {"value": member.member_no},
        },
        page="pages/member/index",
    )
