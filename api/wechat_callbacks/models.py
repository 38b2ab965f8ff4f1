"""Official-account menu events (for reports) and head office's keyword auto-replies."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from api.org.models import Brand


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
