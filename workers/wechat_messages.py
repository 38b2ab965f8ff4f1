"""Messages to members in WeChat (payment success, points earned, coupon expiring, pickup
ready): the outbox handler that sends what any service queued (api/wechat_callbacks/messages.py)."""

from __future__ import annotations

from api.core import outbox
from api.wechat_callbacks import messages
from config.settings import Settings

OUTBOX_HANDLERS: dict[str, outbox.Handler] = {
    messages.MESSAGE_TOPIC: messages.send_member_message,
}


def register(settings: Settings) -> None:
    """Nothing to schedule: `outbox.deliver` sends them; route their topic to the handler."""
    for topic, handler in OUTBOX_HANDLERS.items():
        outbox.register_handler(topic, handler)
