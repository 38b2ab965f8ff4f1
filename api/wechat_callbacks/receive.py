"""The one service behind WeChat's push URL: verify, de-duplicate, act, reply."""

from __future__ import annotations

from . import dedupe, events, push

SUCCESS = "success"


async def check_url(*, appid: str, args: dict[str, str]) -> str:
    """The echostr for WeChat's server URL check; 404 unknown app, 403 not WeChat's."""
    app = await push.find_app(appid)
    return push.verify_url(app, args)


async def receive_push(*, appid: str, args: dict[str, str], body: bytes) -> str:
    """Handle one delivery of a push; the answer body (`success` or a passive reply).

    404 `wechat_callback.unknown_app`; 403 `wechat_callback.bad_signature` / `.stale` /
    `.undecryptable`; 400 `wechat_callback.malformed`. Refused deliveries change nothing.
    """
    app = await push.find_app(appid)
    delivery = push.open_delivery(app, args, body)
    key = dedupe.push_key(app.appid, delivery.fields)
    if not await dedupe.claim(key):
        previous = await dedupe.answer_of(key)
        return push.seal(app, delivery, previous) if previous else SUCCESS
    try:
        text = await events.respond(app, delivery.message)
    except Exception:
        await dedupe.release(key)
        raise
    xml = events.reply_xml(delivery.message, text) if text else ""
    await dedupe.remember(key, xml)
    return push.seal(app, delivery, xml) if xml else SUCCESS
