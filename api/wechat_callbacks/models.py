"""Official-account menu events (for reports), head office's keyword auto-replies and menus,
the store and guide QR codes, the record of each message sent to a member, and staff bound to
the official account (invites, bindings, the staff tag)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from api.org.models import Brand, Staff, Store


class MenuEventKind(StrEnum):
    CLICK = "click"  # a button that sends its key
    VIEW = "view"  # a button that opens a URL


class MatchKind(StrEnum):
    EXACT = "exact"  # the whole message, trimmed and case-folded, is the keyword
    CONTAINS = "contains"  # the keyword appears in the message


class WechatMenuEvent(Model):
    """One press of an official-account menu button, as WeChat reported it."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    appid = fields.CharField(max_length=32)
    openid = fields.CharField(max_length=64)
    kind = fields.CharEnumField(MenuEventKind, max_length=8)
    key = fields.CharField(max_length=255, default="")  # the button's key, or the URL opened
    occurred_at = fields.DatetimeField()  # WeChat's CreateTime
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "wx_menu_event"
        indexes = (("brand_id", "occurred_at"),)


class WechatAutoReply(Model):
    """A keyword and the text the official account answers a message matching it with."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    keyword = fields.CharField(max_length=32)
    match = fields.CharEnumField(MatchKind, max_length=8, default=MatchKind.EXACT)
    reply_text = fields.TextField()
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "wx_auto_reply"
        unique_together = (("brand", "keyword", "match"),)


class QrTarget(StrEnum):
    STORE = "store"
    GUIDE = "guide"


class WechatQrCode(Model):
    """A store's or a guide's QR code in one app: what WeChat answered, and the image.

    One row per app and scene (and mini-program page): WeChat caps an official account's
    permanent QR codes at 100,000, so a code asked for again is answered from here.
    """

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    kind = fields.CharField(max_length=24)  # WechatAppKind of the app
    target = fields.CharEnumField(QrTarget, max_length=8)
    store: fields.ForeignKeyNullableRelation[Store] = fields.ForeignKeyField(
        "memberhub.Store", related_name=False, null=True
    )
    store_id: int | None
    staff: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "memberhub.Staff", related_name=False, null=True
    )
    staff_id: int | None
    appid = fields.CharField(max_length=32)
    scene = fields.CharField(max_length=64)
    ticket = fields.CharField(max_length=255, default="")  # official account
    url = fields.CharField(max_length=255, default="")  # official account: what the QR encodes
    page = fields.CharField(max_length=128, default="")  # mini-program
    png = fields.BinaryField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "wx_qrcode"
        unique_together = (("appid", "scene", "page"),)


class DeliveryStatus(StrEnum):
    SENDING = "sending"  # claimed by a sender; a stale claim is taken over
    SENT = "sent"
    REFUSED = "refused"  # WeChat said the user does not accept it (43101): not retried
    NO_RECIPIENT = "no_recipient"  # neither the mini-program nor the official account reaches them


class WechatMessageDelivery(Model):
    """What became of one member message: the channel it took and WeChat's answer.

    Its unique key is the outbox message's dedupe key, so a message the outbox hands over twice
    is sent once.
    """

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    key = fields.CharField(max_length=191, unique=True)
    member_id = fields.IntField()
    event = fields.CharField(max_length=32)
    status = fields.CharEnumField(DeliveryStatus, max_length=16, default=DeliveryStatus.SENDING)
    channel = fields.CharField(max_length=24, default="")  # WechatAppKind, or "" for none
    appid = fields.CharField(max_length=32, default="")
    errcode = fields.IntField(null=True)
    msgid = fields.BigIntField(null=True)
    # While a sender holds the message (status `sending`); a claim past it is taken over.
    claimed_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "wx_message_delivery"
        indexes = (("brand_id", "member_id"),)


class MenuKind(StrEnum):
    CONSUMER = "consumer"  # the default menu: every follower not matched otherwise
    STAFF = "staff"  # the personalised menu of followers carrying the brand's staff tag


class StaffInvite(Model):
    """A one-time invite for a staff member to bind their WeChat, behind a temporary QR code.

    Only the token's SHA-256 is kept: the token itself lives in the QR code's scene alone.
    """

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    staff: fields.ForeignKeyRelation[Staff] = fields.ForeignKeyField(
        "memberhub.Staff", related_name=False
    )
    staff_id: int
    appid = fields.CharField(max_length=32)
    token_hash = fields.CharField(max_length=64, unique=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    used_openid = fields.CharField(max_length=64, null=True)
    created_by = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "wx_staff_invite"


class StaffWechatBinding(Model):
    """A staff member's WeChat (their OpenID on one official account): one per staff per app,
    and one staff member per OpenID."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    staff: fields.ForeignKeyRelation[Staff] = fields.ForeignKeyField(
        "memberhub.Staff", related_name=False
    )
    staff_id: int
    appid = fields.CharField(max_length=32)
    openid = fields.CharField(max_length=64)
    bound_at = fields.DatetimeField()

    class Meta:
        table = "wx_staff_binding"
        unique_together = (("staff", "appid"), ("appid", "openid"))


class WechatStaffTag(Model):
    """The user tag that marks staff on an official account (WeChat's id, created once)."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    appid = fields.CharField(max_length=32, unique=True)
    tag_id = fields.IntField()
    name = fields.CharField(max_length=30)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "wx_staff_tag"


class WechatMenu(Model):
    """Head office's consumer or staff menu of an official account, in WeChat's `button` form."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    appid = fields.CharField(max_length=32)
    kind = fields.CharEnumField(MenuKind, max_length=8)
    buttons: list[Any] = fields.JSONField(default=list)
    conditional_menuid = fields.CharField(max_length=32, null=True)  # the staff menu, published
    published_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "wx_menu"
        unique_together = (("appid", "kind"),)
