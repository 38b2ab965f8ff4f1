"""Apps that take pushes, and pushes: through the sandbox (as WeChat sends them) or hand-signed."""

from __future__ import annotations

import itertools
import random
import time
from typing import Any

from api.core.crypto import encrypt
from api.org.models import Brand, MessageMode, WechatApp, WechatAppKind
from sandbox.wechat_push import push_aes_key, push_token, signature
from tests.factories import make_wechat_app, wechat_appid
from tests.support.api import Answer, Api
from tests.support.player import Player

MODES = (MessageMode.PLAIN, MessageMode.COMPATIBLE, MessageMode.SAFE)
# Each app of a run has an appid of its own (the push URL keeps a found app for a few seconds).
_numbers = itertools.count(random.randrange(1 << 40))


async def push_app(
    brand: Brand,
    mode: MessageMode = MessageMode.PLAIN,
    kind: WechatAppKind = WechatAppKind.OFFICIAL_ACCOUNT,
) -> WechatApp:
    """An app of `brand` configured with the sandbox's push token and EncodingAESKey."""
    appid = wechat_appid(next(_numbers))
    return await make_wechat_app(
        brand=brand,
        kind=kind,
        appid=appid,
        token_enc=encrypt(push_token(appid)),
        aes_key_enc=encrypt(push_aes_key(appid)),
        message_mode=mode,
    )


async def push(
    player: Player,
    live_url: str,
    app: WechatApp,
    message: dict[str, Any],
    *,
    mode: MessageMode | None = None,
) -> dict[str, Any]:
    """WeChat (the sandbox) pushes message to the app's push URL → status and decrypted reply."""
    answer = await player.http.post(
        "/wechat/push",
        json={
            "appid": app.appid,
            "message": message,
            "mode": (mode or app.message_mode).value,
            "url": live_url,
        },
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def follow(openid: str, scene: str | None = None, **extra: Any) -> dict[str, Any]:
    """A subscribe event, through a parametric QR code when scene is given."""
    message: dict[str, Any] = {"MsgType": "event", "Event": "subscribe", "FromUserName": openid}
    if scene is not None:
        message["EventKey"] = f"qrscene_{scene}"
    message.update(extra)
    return message


def signed_params(
    token: str, *, timestamp: str | None = None, nonce: str = "12345"
) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    return {
        "signature": signature(token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
    }


async def post_plain(api: Api, app: WechatApp, xml: str, params: dict[str, str]) -> Answer:
    """A push posted straight to the app's push URL, as given."""
    return await api.request("POST", f"/callbacks/wechat/{app.appid}", content=xml, params=params)
