"""WeChat delivers a push up to three times (after 5 s without an answer): handle it once.

A push is known by its `MsgId`, or for events (which have none) by `FromUserName` +
`CreateTime` + `Event`, per app. The first delivery claims the key in the shared cache (an
atomic set-if-absent, so concurrent deliveries on several processes agree on one winner) and
stores its reply there once handled; a later delivery answers that same reply, and one that
arrives while the first is still being handled waits a moment for it, else answers `success`.
A delivery whose handling failed gives its claim back, so that WeChat's next try is handled.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from api.core.ports import cache

TTL_S = 600  # far beyond WeChat's three tries within about 15 seconds
PENDING = "pending"
WAIT_S = 1.0
POLL_S = 0.05


def push_key(appid: str, fields: dict[str, Any]) -> str:
    """The cache key one push and its retries share."""
    msg_id = fields.get("MsgId") or fields.get("MsgID")
    if msg_id:
        identity = f"m:{msg_id}"
    else:
        identity = (
            f"e:{fields.get('FromUserName')}:{fields.get('CreateTime')}:{fields.get('Event')}"
        )
    return f"wechat-push:{appid}:{identity}"[:250]


async def claim(key: str) -> bool:
    """True for the first delivery of this push: it is the one to handle it."""
    return await cache().add(key, PENDING, ttl_s=TTL_S)


async def answer_of(key: str) -> str:
    """The reply the first delivery gave ("" for `success`), waiting briefly if it is not done."""
    deadline = time.monotonic() + WAIT_S
    while True:
        value = await cache().get(key)
        if value is not None and value != PENDING:
            return str(json.loads(value).get("reply") or "")
        if value is None or time.monotonic() >= deadline:
            return ""
        await asyncio.sleep(POLL_S)


async def remember(key: str, reply: str) -> None:
    """Keep the reply for the retries of this push."""
    await cache().set(key, json.dumps({"reply": reply}, ensure_ascii=False), ttl_s=TTL_S)


async def release(key: str) -> None:
    """Give the claim back: handling failed, WeChat's next try should be handled."""
    await cache().delete(key)
