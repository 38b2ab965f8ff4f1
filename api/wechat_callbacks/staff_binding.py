"""Staff on the official account: invites, the binding of a staff member's OpenID, the staff tag.

Head office (or a store manager, for their store's staff) creates an invite: a one-time random
token behind a temporary parametric QR code (scene `inv=<token>`); only the token's SHA-256 is
stored. The staff member scans it with their own WeChat; the push (`subscribe` with
`qrscene_inv=…`, or `SCAN` with `inv=…`) consumes the token with one guarded update, so a second
scan, an expired or an unknown token binds nothing. The OpenID is then bound to the staff record
(one binding per staff member per official account, and one staff member per OpenID: binding
again replaces) and tagged with the brand's staff tag, which gives the staff menu (a personalised
menu matched by that tag).

Disabling a staff member (`api.org.staff.update_staff`) and unbinding drop the binding in the
same transaction and queue the untagging through the outbox, so a WeChat outage never holds up
the admin change; the tagging on a scan, when WeChat fails right then, is queued the same way.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import segno
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from api.core import audit, outbox, wechat
from api.core.errors import Conflict, DomainError, NotFound, UpstreamError
from api.core.ports import clock
from api.org import staff as org_staff
from api.org.actor import staff_ref
from api.org.apps import wechat_credentials
from api.org.models import Staff, Status, WechatApp, WechatAppKind
from api.org.scope import StoreScope

from .error_codes import StaffWechatErrorCode
from .models import StaffInvite, StaffWechatBinding, WechatStaffTag
from .push import PushApp

log = logging.getLogger("memberhub.wechat_callbacks")

INVITE_SCENE_PREFIX = "inv="
INVITE_TTL_S = 1800  # half an hour to scan; WeChat keeps a temporary code up to 30 days
STAFF_TAG_NAME = "员工"
TAG_TOPIC = "wechat.staff_tag"
UNTAG_TOPIC = "wechat.staff_untag"
REFUSED = "该员工邀请二维码已失效或已被使用，请联系管理员重新生成。"


@dataclass(frozen=True)
class Invite:
    """An invite just created: its QR code (WeChat's ticket and URL, and as a PNG)."""

    invite_id: int
    staff_id: int
    appid: str
    scene: str
    ticket: str
    url: str
    qr_png_base64: str
    expires_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def official_account(*, brand_id: int, appid: str | None = None) -> WechatApp:
    """The brand's active official account (the one named, else its first); 404 otherwise."""
    apps = WechatApp.filter(
        brand_id=brand_id, kind=WechatAppKind.OFFICIAL_ACCOUNT, status=Status.ACTIVE
    )
    app = None
    if appid is None:
        app = await apps.order_by("id").first()
    elif len(appid) <= 32:  # longer is no appid (and no longer than the column)
        app = await apps.filter(appid=appid).first()
    if app is None:
        raise NotFound(
            StaffWechatErrorCode.NO_OFFICIAL_ACCOUNT,
            "The brand has no such active official account.",
        )
    return app


def _png_base64(content: str) -> str:
    buffer = io.BytesIO()
    segno.make(content, error="m").save(buffer, kind="png", scale=8, border=2)
    return base64.b64encode(buffer.getvalue()).decode()


async def create_invite(
    *, brand_id: int, scope: StoreScope, actor: str, staff_id: int, appid: str | None = None
) -> Invite:
    """A one-time invite QR code for the staff member to bind their WeChat.

    404 `staff.not_found`, `wechat_staff.no_official_account`; 409 `wechat_staff.staff_inactive`;
    502 `wechat.upstream` when WeChat does not make the code.
    """
    staff = await org_staff.get_staff(brand_id=brand_id, scope=scope, staff_id=staff_id)
    if staff.status != Status.ACTIVE:
        raise Conflict(StaffWechatErrorCode.STAFF_INACTIVE, "The staff member is disabled.")
    app = await official_account(brand_id=brand_id, appid=appid)
    token = secrets.token_urlsafe(24)  # 32 characters: the scene stays far under WeChat's 64
    scene = INVITE_SCENE_PREFIX + token
    qrcode = await wechat.create_qrcode_scene(
        wechat_credentials(app), scene, expire_seconds=INVITE_TTL_S
    )
    ticket, url = qrcode.get("ticket"), qrcode.get("url")
    if not ticket or not url:
        raise UpstreamError("wechat.upstream", "WeChat's answer carried no QR code.")
    expires_at = clock().now() + timedelta(seconds=INVITE_TTL_S)
    async with in_transaction() as db:
        invite = await StaffInvite.create(
            using_db=db,
            brand_id=brand_id,
            staff_id=staff.id,
            appid=app.appid,
            token_hash=_hash(token),
            expires_at=expires_at,
            created_by=actor,
        )
        await audit.record(
            brand_id=brand_id,
            actor=actor,
            action="staff.wechat_invite",
            target=staff_ref(staff.id),
            details={"invite_id": invite.id, "appid": app.appid},
            connection=db,
        )
    return Invite(
        invite_id=invite.id,
        staff_id=staff.id,
        appid=app.appid,
        scene=scene,
        ticket=str(ticket),
        url=str(url),
        qr_png_base64=_png_base64(str(url)),
        expires_at=expires_at,
    )


def invite_token(scene: str | None) -> str | None:
    """The invite token a QR scene carries, or None when the scene is not an invite's."""
    if scene and scene.startswith(INVITE_SCENE_PREFIX):
        return scene[len(INVITE_SCENE_PREFIX) :]
    return None


async def staff_tag_id(app: WechatApp) -> int:
    """The id of the brand's staff tag on the official account, created there the first time."""
    known = await WechatStaffTag.get_or_none(appid=app.appid)
    if known is not None:
        return known.tag_id
    creds = wechat_credentials(app)
    tag_id = await _find_tag(creds)
    if tag_id is None:
        try:
            tag_id = await wechat.create_tag(creds, STAFF_TAG_NAME)
        except UpstreamError:
            # Another process created it a moment ago (45157, the name exists): look again.
            tag_id = await _find_tag(creds)
            if tag_id is None:
                raise
    await WechatStaffTag.bulk_create(
        [
            WechatStaffTag(
                brand_id=app.brand_id, appid=app.appid, tag_id=tag_id, name=STAFF_TAG_NAME
            )
        ],
        ignore_conflicts=True,
    )
    return (await WechatStaffTag.get(appid=app.appid)).tag_id


async def _find_tag(creds: wechat.WechatCredentials) -> int | None:
    for tag in await wechat.list_tags(creds):
        if tag.get("name") == STAFF_TAG_NAME:
            return int(tag["id"])
    return None


async def _queue(
    topic: str,
    *,
    brand_id: int,
    appid: str,
    openid: str,
    key: str,
    connection: BaseDBAsyncClient | None = None,
) -> None:
    await outbox.enqueue(
        topic=topic,
        payload={"appid": appid, "openid": openid},
        brand_id=brand_id,
        dedupe_key=f"{topic}:{appid}:{openid}:{key}"[:128],
        connection=connection,
    )


async def accept_invite(*, app: PushApp, openid: str, token: str) -> str:
    """Bind the scanner's OpenID to the invite's staff member, once; the reply text."""
    now = clock().now()
    token_hash = _hash(token)
    consumed = await StaffInvite.filter(
        token_hash=token_hash,
        brand_id=app.brand_id,
        appid=app.appid,
        used_at__isnull=True,
        expires_at__gt=now,
    ).update(used_at=now, used_openid=openid)
    if not consumed:
        return REFUSED
    invite = await StaffInvite.get(token_hash=token_hash)
    staff = await Staff.get_or_none(id=invite.staff_id, brand_id=app.brand_id, status=Status.ACTIVE)
    if staff is None:
        return REFUSED
    async with in_transaction() as db:
        previous = await StaffWechatBinding.filter(
            Q(staff_id=staff.id) | Q(openid=openid), appid=app.appid
        ).using_db(db)
        await StaffWechatBinding.filter(id__in=[row.id for row in previous]).using_db(db).delete()
        binding = await StaffWechatBinding.create(
            using_db=db,
            brand_id=app.brand_id,
            staff_id=staff.id,
            appid=app.appid,
            openid=openid,
            bound_at=now,
        )
        for row in previous:
            if row.openid != openid:  # the staff member's former WeChat is no longer staff
                await _queue(
                    UNTAG_TOPIC,
                    brand_id=app.brand_id,
                    appid=app.appid,
                    openid=row.openid,
                    key=str(row.id),
                    connection=db,
                )
        await audit.record(
            brand_id=app.brand_id,
            actor=staff_ref(staff.id),
            action="staff.wechat_bind",
            target=staff_ref(staff.id),
            details={"invite_id": invite.id, "appid": app.appid, "openid": openid},
            connection=db,
        )
    try:
        await _tag(app.appid, openid)
    except DomainError as exc:
        log.warning("staff tagging deferred", extra={"appid": app.appid, "code": exc.code})
        await _queue(
            TAG_TOPIC,
            brand_id=app.brand_id,
            appid=app.appid,
            openid=openid,
            key=str(binding.id),
        )
    return f"已绑定为{app.brand_name}员工 {staff.name}"


async def _tag(appid: str, openid: str) -> None:
    app = await WechatApp.get(appid=appid)
    await wechat.tag_users(wechat_credentials(app), await staff_tag_id(app), [openid])


def _active_binding(appid: str, openid: str) -> Any:
    return StaffWechatBinding.filter(
        appid=appid,
        openid=openid,
        staff_id__in=Subquery(Staff.filter(status=Status.ACTIVE).values("id")),
    )


async def tag_staff(payload: dict[str, Any]) -> None:
    """Outbox handler: put the staff tag on an OpenID that is (still) bound to active staff."""
    appid, openid = str(payload["appid"]), str(payload["openid"])
    if not await _active_binding(appid, openid).exists():
        return
    if not await WechatApp.filter(appid=appid, status=Status.ACTIVE).exists():
        return
    await _tag(appid, openid)


async def untag_staff(payload: dict[str, Any]) -> None:
    """Outbox handler: take the staff tag off an OpenID no longer bound to active staff."""
    appid, openid = str(payload["appid"]), str(payload["openid"])
    if await _active_binding(appid, openid).exists():
        return  # bound again since (a new invite): it stays staff
    app = await WechatApp.get_or_none(appid=appid, status=Status.ACTIVE)
    tag = await WechatStaffTag.get_or_none(appid=appid)
    if app is None or tag is None:
        return
    await wechat.untag_users(wechat_credentials(app), tag.tag_id, [openid])


async def on_staff_disabled(db: BaseDBAsyncClient, *, brand_id: int, staff_id: int) -> int:
    """Drop a disabled staff member's WeChat bindings and queue their untagging (inside the
    staff change's transaction); how many bindings there were."""
    bindings = await StaffWechatBinding.filter(brand_id=brand_id, staff_id=staff_id).using_db(db)
    for row in bindings:
        await _queue(
            UNTAG_TOPIC,
            brand_id=brand_id,
            appid=row.appid,
            openid=row.openid,
            key=str(row.id),
            connection=db,
        )
    if bindings:
        await StaffWechatBinding.filter(id__in=[row.id for row in bindings]).using_db(db).delete()
    return len(bindings)


async def list_bindings(
    *, brand_id: int, scope: StoreScope, staff_id: int
) -> list[StaffWechatBinding]:
    """The staff member's WeChat bindings, one per official account."""
    staff = await org_staff.get_staff(brand_id=brand_id, scope=scope, staff_id=staff_id)
    return await StaffWechatBinding.filter(brand_id=brand_id, staff_id=staff.id).order_by("id")


async def unbind_staff(*, brand_id: int, scope: StoreScope, actor: str, staff_id: int) -> int:
    """Unbind the staff member's WeChat everywhere (the tag comes off through the outbox);
    how many bindings there were. 404 `staff.not_found`."""
    staff = await org_staff.get_staff(brand_id=brand_id, scope=scope, staff_id=staff_id)
    async with in_transaction() as db:
        removed = await on_staff_disabled(db, brand_id=brand_id, staff_id=staff.id)
        await audit.record(
            brand_id=brand_id,
            actor=actor,
            action="staff.wechat_unbind",
            target=staff_ref(staff.id),
            details={"bindings": removed},
            connection=db,
        )
    return removed


async def bound_staff(*, app: PushApp, openid: str) -> Staff | None:
    """The active staff member of the app's brand this OpenID is bound to, read fresh."""
    return await Staff.filter(
        id__in=Subquery(
            StaffWechatBinding.filter(appid=app.appid, openid=openid, brand_id=app.brand_id).values(
                "staff_id"
            )
        ),
        brand_id=app.brand_id,
        status=Status.ACTIVE,
    ).first()
