"""What crosses the wire for head office's keyword auto-replies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from api.core.fields import Change, Len, Line, Omittable

from .models import MatchKind, WechatAutoReply

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
