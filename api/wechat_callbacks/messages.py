"""Messages to a member in WeChat — payment success, points earned, coupon expiring, pickup
ready — queued through the outbox by the service that has the news, sent by a worker.

Queueing (`queue_member_message`) writes one outbox row inside the caller's transaction and
looks nothing up. Who is called:
- `payment_success`, `points_earned`: `api.payments.effects.on_paid`, for a paid payment;
- `pickup_ready`: the mall, when an order waits at the store for its buyer (its hook);
- `coupon_expiring`: any reminder that wants this channel choice (the coupon domain's own
  expiry reminder sends its subscribe message itself).

The handler (`send_member_message`, topic `wechat.member_message`) picks the channel when it
sends: a subscribe message through the brand's mini-program when the member has an OpenID
there, else a template message through the brand's official account when they follow it (an
OpenID there, not unsubscribed), else nothing, which is not an error. Template ids come from
the brand setting `message_templates` (`{event: {miniprogram: id, official_account: id}}`),
else the defaults below (the sandbox accepts any id).

WeChat's answers: 43101 (the user did not subscribe to, or refused, the message) and 43004 (the
user no longer follows the account) are recorded as `refused` and not retried; a refused access
token (40001/40014/42001) is refreshed through the token lock and the send tried once more (in
`api.core.wechat`); anything else raises, so the outbox retries with backoff. Each message's
delivery row (unique by the outbox key) is claimed before sending, so a message the outbox hands
over twice is sent once. Each app sends at most `wechat_send_per_app_per_s` messages a second
(a count per second in the shared cache); a sender over it waits for the next second.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q

from api.core import outbox, ports, wechat
from api.member_center.models import IdentityKind, MemberIdentity
from api.member_center.welcome import mini_program_recipient
from api.org.apps import wechat_credentials
from api.org.models import Brand, Status, WechatApp, WechatAppKind
from config.settings import get_settings

from .models import DeliveryStatus, WechatMessageDelivery

MESSAGE_TOPIC = "wechat.member_message"
# The user did not accept this message (43101: no subscription left, or refused; 43004: no
# longer follows the official account): trying again cannot help.
REFUSED_ERRCODES = frozenset({43101, 43004})
# A subscribe message's `thing` values hold at most 20 characters.
THING_MAX = 20


class MemberMessageEvent(StrEnum):
    PAYMENT_SUCCESS = "payment_success"
    POINTS_EARNED = "points_earned"
    COUPON_EXPIRING = "coupon_expiring"
    PICKUP_READY = "pickup_ready"


@dataclass(frozen=True)
class Layout:
    """How one event's fields fill each channel's template, and its default template ids."""

    miniprogram_template: str
    official_account_template: str
    page: str  # the mini-program page the subscribe message opens
    subscribe_keys: dict[str, str]  # field → the subscribe template's keyword
    template_keys: dict[str, str]  # field → the official-account template's keyword


LAYOUTS: dict[MemberMessageEvent, Layout] = {
    MemberMessageEvent.PAYMENT_SUCCESS: Layout(
        "memberhub-payment-success",
        "memberhub-oa-payment-success",
        "pages/member/index",
        {
            "amount": "amount1",
            "store": "thing2",
            "paid_at": "time3",
            "out_trade_no": "character_string4",
        },
        {
            "amount": "keyword1",
            "store": "keyword2",
            "paid_at": "keyword3",
            "out_trade_no": "keyword4",
        },
    ),
    MemberMessageEvent.POINTS_EARNED: Layout(
        "memberhub-points-earned",
        "memberhub-oa-points-earned",
        "pages/points/index",
        {"points": "number1", "balance": "number2", "reason": "thing3"},
        {"points": "keyword1", "balance": "keyword2", "reason": "keyword3"},
    ),
    MemberMessageEvent.COUPON_EXPIRING: Layout(
        "memberhub-coupon-expiring",
        "memberhub-oa-coupon-expiring",
        "pages/coupons/index",
        {"coupon": "thing1", "valid_until": "time2", "code": "character_string3"},
        {"coupon": "keyword1", "valid_until": "keyword2", "code": "keyword3"},
    ),
    MemberMessageEvent.PICKUP_READY: Layout(
        "memberhub-pickup-ready",
        "memberhub-oa-pickup-ready",
        "pages/orders/index",
        {"order_no": "character_string1", "store": "thing2", "pickup_code": "character_string3"},
        {"order_no": "keyword1", "store": "keyword2", "pickup_code": "keyword3"},
    ),
}


class MessageInFlight(RuntimeError):
    """Another sender holds this message right now; the outbox tries again later."""


class SendRateExceeded(RuntimeError):
    """The app stayed over its sending rate for longer than a sender waits."""


async def queue_member_message(
    db: BaseDBAsyncClient,
    *,
    brand_id: int,
    member_id: int,
    event: MemberMessageEvent,
    fields: dict[str, str | int],
    dedupe_key: str,
) -> None:
    """Queue a message to the member, in the caller's transaction (once per event and key)."""
    key = f"{MESSAGE_TOPIC}:{event.value}:{dedupe_key}"
    await outbox.enqueue(
        topic=MESSAGE_TOPIC,
        payload={
            "brand_id": brand_id,
            "member_id": member_id,
            "event": event.value,
            "fields": {name: str(value) for name, value in fields.items()},
            "key": key,
        },
        brand_id=brand_id,
        dedupe_key=key,
        connection=db,
    )


@dataclass(frozen=True)
class _Recipient:
    channel: WechatAppKind
    creds: wechat.WechatCredentials
    openid: str


async def send_member_message(payload: dict[str, Any]) -> None:
    """Outbox handler for `wechat.member_message`."""
    brand_id, member_id = int(payload["brand_id"]), int(payload["member_id"])
    event = MemberMessageEvent(payload["event"])
    key = str(payload["key"])
    if not await _claim(key, brand_id=brand_id, member_id=member_id, event=event):
        return
    try:
        await _deliver(
            key,
            brand_id=brand_id,
            member_id=member_id,
            event=event,
            values={str(k): str(v) for k, v in (payload.get("fields") or {}).items()},
        )
    except Exception:
        # Let the outbox's next attempt (or another worker) claim it again.
        await WechatMessageDelivery.filter(key=key, status=DeliveryStatus.SENDING).update(
            claimed_until=None
        )
        raise


async def _claim(key: str, *, brand_id: int, member_id: int, event: MemberMessageEvent) -> bool:
    """Hold the message's delivery row; False when it was already dealt with."""
    now = ports.clock().now()
    await WechatMessageDelivery.bulk_create(
        [WechatMessageDelivery(key=key, brand_id=brand_id, member_id=member_id, event=event.value)],
        ignore_conflicts=True,
    )
    lease = timedelta(seconds=get_settings().outbox_lease_s)
    claimed = (
        await WechatMessageDelivery.filter(key=key, status=DeliveryStatus.SENDING)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .update(claimed_until=now + lease)
    )
    if claimed:
        return True
    if await WechatMessageDelivery.filter(key=key, status=DeliveryStatus.SENDING).exists():
        raise MessageInFlight(f"message {key} is being sent by another worker")
    return False


async def _deliver(
    key: str,
    *,
    brand_id: int,
    member_id: int,
    event: MemberMessageEvent,
    values: dict[str, str],
) -> None:
    """Send through the channel that reaches the member and record what became of it."""
    done = WechatMessageDelivery.filter(key=key, status=DeliveryStatus.SENDING)
    brand = await Brand.get_or_none(id=brand_id)
    recipient = None if brand is None else await _recipient(brand_id, member_id)
    if brand is None or recipient is None:
        await done.update(status=DeliveryStatus.NO_RECIPIENT, claimed_until=None)
        return
    layout = LAYOUTS[event]
    configured = (brand.settings.get("message_templates") or {}).get(event.value) or {}
    await _wait_for_send_slot(recipient.creds.appid)
    try:
        if recipient.channel == WechatAppKind.MINIPROGRAM:
            msgid = await wechat.send_subscribe(
                recipient.creds,
                openid=recipient.openid,
                template_id=str(configured.get("miniprogram") or layout.miniprogram_template),
                data=_data(layout.subscribe_keys, values, subscribe=True),
                page=layout.page,
            )
        else:
            msgid = await wechat.send_template(
                recipient.creds,
                openid=recipient.openid,
                template_id=str(
                    configured.get("official_account") or layout.official_account_template
                ),
                data=_data(layout.template_keys, values, subscribe=False),
            )
    except wechat.WechatRefused as refused:
        if refused.errcode not in REFUSED_ERRCODES:
            raise
        await done.update(
            status=DeliveryStatus.REFUSED,
            channel=recipient.channel.value,
            appid=recipient.creds.appid,
            errcode=refused.errcode,
            claimed_until=None,
        )
        return
    await done.update(
        status=DeliveryStatus.SENT,
        channel=recipient.channel.value,
        appid=recipient.creds.appid,
        msgid=msgid,
        claimed_until=None,
    )


async def _recipient(brand_id: int, member_id: int) -> _Recipient | None:
    """The mini-program when the member has an OpenID there, else the official account they
    follow, else None."""
    in_mini_program = await mini_program_recipient(brand_id=brand_id, member_id=member_id)
    if in_mini_program is not None:
        creds, openid = in_mini_program
        return _Recipient(WechatAppKind.MINIPROGRAM, creds, openid)
    accounts = {
        app.appid: app
        for app in await WechatApp.filter(
            brand_id=brand_id, kind=WechatAppKind.OFFICIAL_ACCOUNT, status=Status.ACTIVE
        )
    }
    follower = (
        await MemberIdentity.filter(
            member_id=member_id,
            kind=IdentityKind.WECHAT_OPENID,
            app_id__in=list(accounts),
            unsubscribed_at__isnull=True,
        )
        .order_by("id")
        .first()
    )
    if follower is None:
        return None
    app = accounts[follower.app_id]
    creds = wechat_credentials(app)
    return _Recipient(WechatAppKind.OFFICIAL_ACCOUNT, creds, follower.value)


def _data(keys: dict[str, str], values: dict[str, str], *, subscribe: bool) -> dict[str, Any]:
    """The template's `data`: each known field under its keyword, `{"value": …}`."""
    data: dict[str, Any] = {}
    for name, keyword in keys.items():
        if name not in values:
            continue
        value = str(values[name])
        if subscribe and keyword.startswith("thing"):
            value = value[:THING_MAX]
        data[keyword] = {"value": value}
    return data


async def _wait_for_send_slot(appid: str) -> None:
    """Count this send in the app's current second; over the limit, wait for the next second
    (at most `wechat_send_wait_max_s` in all, then raise so that the outbox retries later)."""
    settings = get_settings()
    limit = settings.wechat_send_per_app_per_s
    deadline = time.monotonic() + settings.wechat_send_wait_max_s
    while True:
        # Wall-clock seconds: every process counts in the same windows.
        now = time.time()
        window = int(now)
        sent = await ports.cache().incr(f"wechat:send-rate:{appid}:{window}", ttl_s=5)
        if sent <= limit:
            return
        wait = window + 1 - now
        if time.monotonic() + wait > deadline:
            raise SendRateExceeded(f"{appid} stayed over {limit} messages a second")
        await asyncio.sleep(wait)
