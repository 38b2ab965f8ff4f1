"""What crosses the wire for head office's keyword auto-replies and the store and guide QR codes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.core.fields import Change, Len, Line, Omittable
from api.org.models import WechatAppKind

from .models import MatchKind, QrTarget, WechatAutoReply, WechatQrCode

Keyword = Annotated[str, Line, Len(1, 32)]
# WeChat cuts a passive text reply at 2048 bytes; 600 characters of Chinese stay under it.
ReplyText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$"),
    Len(1, 600),
]


class AutoReplyOut(BaseModel):
    id: int
    keyword: str
    match: MatchKind
    reply_text: str
    active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, rule: WechatAutoReply) -> AutoReplyOut:
        return cls(
            id=rule.id,
            keyword=rule.keyword,
            match=rule.match,
            reply_text=rule.reply_text,
            active=rule.active,
            created_at=rule.created_at,
            updated_at=rule.updated_at,
        )


class AutoReplyList(BaseModel):
    items: list[AutoReplyOut]


class AutoReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    keyword: Keyword
    match: MatchKind = MatchKind.EXACT
    reply_text: ReplyText
    active: bool = True


class AutoReplyPatch(Change):
    model_config = ConfigDict(strict=True)

    keyword: Omittable[Keyword] = None
    match: Omittable[MatchKind] = None
    reply_text: Omittable[ReplyText] = None
    active: Omittable[bool] = None


# Store and guide QR codes ------------------------------------------------------------------

AppId = Annotated[str, StringConstraints(pattern=r"^wx[0-9a-f]{16}$")]


class QrCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    kind: WechatAppKind = Field(
        description="official_account (a permanent parametric QR code) or miniprogram (a code)"
    )
    appid: AppId | None = Field(
        default=None, description="which app of the brand; default: its first active one of kind"
    )


class QrCodeOut(BaseModel):
    """The QR code: its scene, the image's address and what WeChat answered."""

    id: int
    kind: WechatAppKind
    target: QrTarget
    store_id: int | None
    staff_id: int | None
    scene: str = Field(description="`s=<store code>` or `g=<guide code>`")
    appid: str
    image_url: str = Field(description="the PNG, for staff of the same scope")
    url: str | None = Field(description="official account: the content the QR code encodes")
    ticket: str | None = Field(description="official account: the ticket for showqrcode")
    page: str | None = Field(description="mini-program: the page the code opens")
    created_at: datetime

    @classmethod
    def of(cls, qrcode: WechatQrCode) -> QrCodeOut:
        official = qrcode.kind == WechatAppKind.OFFICIAL_ACCOUNT
        return cls(
            id=qrcode.id,
            kind=WechatAppKind(qrcode.kind),
            target=qrcode.target,
            store_id=qrcode.store_id,
            staff_id=qrcode.staff_id,
            scene=qrcode.scene,
            appid=qrcode.appid,
            image_url=f"/api/v1/admin/qrcodes/{qrcode.id}/image.png",
            url=qrcode.url if official else None,
            ticket=qrcode.ticket if official else None,
            page=None if official else qrcode.page,
            created_at=qrcode.created_at,
        )


class QrZipQuery(BaseModel):
    kind: WechatAppKind = Field(description="official_account or miniprogram")
    include_guides: bool = Field(default=False, description="guides' codes too, under guides/")
