"""Head office's keyword auto-replies: a text message matching a keyword gets its reply text.

An exact keyword matches the whole message (trimmed, case-folded); a `contains` keyword matches
anywhere in it. Exact keywords win over `contains` ones, longer `contains` keywords over shorter
ones, then the older rule. `{member_center_url}` in a reply becomes the brand's member-center
link.
"""

from __future__ import annotations

from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from api.core import audit
from api.core.errors import Conflict, NotFound

from .error_codes import AutoReplyErrorCode
from .models import MatchKind, WechatAutoReply

URL_PLACEHOLDER = "{member_center_url}"


def _target(reply_id: int) -> str:
    return f"wechat_auto_reply:{reply_id}"


async def list_auto_replies(*, brand_id: int) -> list[WechatAutoReply]:
    """The brand's rules, oldest first."""
    return await WechatAutoReply.filter(brand_id=brand_id).order_by("id")


async def _get(brand_id: int, reply_id: int) -> WechatAutoReply:
    rule = await WechatAutoReply.get_or_none(id=reply_id, brand_id=brand_id)
    if rule is None:
        raise NotFound(AutoReplyErrorCode.NOT_FOUND, "No such auto-reply.")
    return rule


async def _taken(brand_id: int, keyword: str, match: MatchKind, but: int | None = None) -> bool:
    query = WechatAutoReply.filter(brand_id=brand_id, keyword=keyword, match=match)
    if but is not None:
        query = query.exclude(id=but)
    return await query.exists()


def _keyword_taken() -> Conflict:
    return Conflict(
        AutoReplyErrorCode.KEYWORD_TAKEN, "An auto-reply with this keyword and match exists."
    )


async def create_auto_reply(
    *, brand_id: int, actor: str, keyword: str, match: MatchKind, reply_text: str, active: bool
) -> WechatAutoReply:
    """Add a rule; 409 `wechat_auto_reply.keyword_taken`."""
    if await _taken(brand_id, keyword, match):
        raise _keyword_taken()
    try:
        async with in_transaction() as db:
            rule = await WechatAutoReply.create(
                using_db=db,
                brand_id=brand_id,
                keyword=keyword,
                match=match,
                reply_text=reply_text,
                active=active,
            )
            await audit.record(
                brand_id=brand_id,
                actor=actor,
                action="wechat_auto_reply.create",
                target=_target(rule.id),
                details={"keyword": keyword, "match": match.value},
                connection=db,
            )
    except IntegrityError:
        raise _keyword_taken() from None
    return rule


async def update_auto_reply(
    *, brand_id: int, actor: str, reply_id: int, **changes: Any
) -> WechatAutoReply:
    """Change a rule; 404 `wechat_auto_reply.not_found`, 409 `wechat_auto_reply.keyword_taken`."""
    rule = await _get(brand_id, reply_id)
    changes = {name: value for name, value in changes.items() if value is not None}
    keyword = changes.get("keyword", rule.keyword)
    match = MatchKind(changes.get("match", rule.match))
    if await _taken(brand_id, keyword, match, but=rule.id):
        raise _keyword_taken()
    try:
        async with in_transaction() as db:
            await WechatAutoReply.filter(id=rule.id).using_db(db).update(**changes)
            await audit.record(
                brand_id=brand_id,
                actor=actor,
                action="wechat_auto_reply.update",
                target=_target(rule.id),
                details={name: str(value) for name, value in changes.items()},
                connection=db,
            )
    except IntegrityError:
        raise _keyword_taken() from None
    return await _get(brand_id, reply_id)


async def delete_auto_reply(*, brand_id: int, actor: str, reply_id: int) -> None:
    """Remove a rule; 404 `wechat_auto_reply.not_found`."""
    rule = await _get(brand_id, reply_id)
    async with in_transaction() as db:
        await WechatAutoReply.filter(id=rule.id).using_db(db).delete()
        await audit.record(
            brand_id=brand_id,
            actor=actor,
            action="wechat_auto_reply.delete",
            target=_target(rule.id),
            details={"keyword": rule.keyword},
            connection=db,
        )


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


async def match_reply(*, brand_id: int, text: str, member_center_url: str) -> str | None:
    """The reply for a text message, or None when no active rule matches."""
    message = _normal(text)
    if not message:
        return None
    rules = await WechatAutoReply.filter(brand_id=brand_id, active=True).order_by("id")
    exact = [rule for rule in rules if rule.match == MatchKind.EXACT]
    contains = sorted(
        (rule for rule in rules if rule.match == MatchKind.CONTAINS),
        key=lambda rule: -len(rule.keyword),
    )
    for rule in exact:
        if _normal(rule.keyword) == message:
            return rule.reply_text.replace(URL_PLACEHOLDER, member_center_url)
    for rule in contains:
        if _normal(rule.keyword) in message:
            return rule.reply_text.replace(URL_PLACEHOLDER, member_center_url)
    return None
