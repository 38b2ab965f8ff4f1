"""Official-account menu events (for reports), head office's keyword auto-replies and menus,
and staff bound to the official account (invites, bindings, the staff tag)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from api.org.models import Brand, Staff


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
