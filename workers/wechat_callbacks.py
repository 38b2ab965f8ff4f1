"""Slow work a push hands off, so that WeChat gets its answer well inside 5 seconds.

The embedded stack's in-process queue runs these in the API's own process (`api.wiring` imports
this module there).
"""

from __future__ import annotations

import logging

from api.core import outbox, wechat
from api.core.errors import DomainError
from api.core.queue import job
from api.member_center.identity import IdentityKey, attach_identities
from api.member_center.models import IdentityKind
from api.org.apps import wechat_credentials
from api.org.models import Status, WechatApp
from api.wechat_callbacks import staff_binding
from api.wechat_callbacks.events import LINK_UNIONID
from config.settings import Settings

log = logging.getLogger("memberhub.wechat_callbacks")


@job(LINK_UNIONID, timeout_s=60)
async def link_unionid(*, brand_id: int, appid: str, openid: str) -> bool:
    """Ask WeChat for the follower's UnionID and link it to their member; True when linked.

    attach_identities merges the follower's member with the one that already holds the
    UnionID (the same person from the mini-program). Running it twice changes nothing more.
    """
    app = await WechatApp.get_or_none(appid=appid, brand_id=brand_id, status=Status.ACTIVE)
    if app is None:
        return False
    creds = wechat_credentials(app)
    try:
        info = await wechat.user_info(creds, openid)
    except DomainError as exc:
        log.warning("user info failed", extra={"appid": appid, "code": exc.code})
        raise
    unionid = info.get("unionid")
    if not isinstance(unionid, str) or not unionid:
        return False
    await attach_identities(
        brand_id=brand_id,
        keys=[
            IdentityKey(IdentityKind.WECHAT_OPENID, openid, appid),
            IdentityKey(IdentityKind.WECHAT_UNIONID, unionid),
        ],
    )
    return True


# Staff tags on the official account: put on when a scan could not, taken off when staff leave.
OUTBOX_HANDLERS: dict[str, outbox.Handler] = {
    staff_binding.TAG_TOPIC: staff_binding.tag_staff,
    staff_binding.UNTAG_TOPIC: staff_binding.untag_staff,
}


def register(settings: Settings) -> None:
    """Nothing to schedule: the jobs here are queued by the callback; the outbox handlers."""
    for topic, handler in OUTBOX_HANDLERS.items():
        outbox.register_handler(topic, handler)
