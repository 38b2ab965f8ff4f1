"""Staff on the official account: invites made through the admin API, scans and menu presses
pushed by the sandbox as WeChat sends them, and what the sandbox's platform then knows."""

from __future__ import annotations

import itertools
import time
from typing import Any

import xmltodict

from api.core import wechat
from api.org.models import Staff, WechatApp
from sandbox.keys import wechat_app_secret
from tests.factories import staff_token
from tests.support.api import Api
from tests.support.player import Player

from .support import push

# Events are told apart by sender, CreateTime and event (WeChat's retries repeat all three): each
# event here gets a CreateTime of its own, so two presses within a second are two presses.
_times = itertools.count(int(time.time()) - 100_000)


def creds(app: WechatApp) -> wechat.WechatCredentials:
    return wechat.WechatCredentials(appid=app.appid, secret=wechat_app_secret(app.appid))


async def invite(api: Api, admin: Staff, staff: Staff) -> dict[str, Any]:
    """Head office's invite for `staff`: the QR code's scene and the rest."""
    answer = await api.post(f"/admin/staff/{staff.id}/wechat-invite", {}, token=staff_token(admin))
    assert answer.status == 201, answer
    result: dict[str, Any] = answer.json
    return result


def scan_event(openid: str, scene: str, *, subscribe: bool) -> dict[str, Any]:
    """The push of a QR code scan: a follow through it, or a follower's SCAN."""
    if subscribe:
        return {
            "MsgType": "event",
            "Event": "subscribe",
            "EventKey": f"qrscene_{scene}",
            "FromUserName": openid,
        }
    return {"MsgType": "event", "Event": "SCAN", "EventKey": scene, "FromUserName": openid}


def click(openid: str, key: str) -> dict[str, Any]:
    return {"MsgType": "event", "Event": "CLICK", "EventKey": key, "FromUserName": openid}


def scan_to_redeem(openid: str, code: str) -> dict[str, Any]:
    """The staff menu's write-off button: WeChat scans the code and pushes what it read."""
    return {
        "MsgType": "event",
        "Event": "scancode_waitmsg",
        "EventKey": "staff_redeem",
        "FromUserName": openid,
        "ScanCodeInfo": {"ScanType": "qrcode", "ScanResult": code},
    }


def text(openid: str, content: str) -> dict[str, Any]:
    return {"MsgType": "text", "Content": content, "FromUserName": openid}


async def say(player: Player, live_url: str, app: WechatApp, message: dict[str, Any]) -> str:
    """Push message as WeChat would; the text of memberhub's passive reply ("" for none)."""
    if message.get("MsgType") == "event":
        message = {"CreateTime": next(_times), **message}
    result = await push(player, live_url, app, message)
    assert result["status"] == 200, result
    if not result["reply"].startswith("<xml"):
        return ""
    return str(xmltodict.parse(result["reply"])["xml"]["Content"])


async def tagged(player: Player, app: WechatApp) -> dict[str, list[str]]:
    """The official account's tags in the sandbox: name → the OpenIDs carrying it."""
    answer = await player.http.get("/wechat/tags", params={"appid": app.appid})
    assert answer.status_code == 200, answer.text
    return {tag["name"]: tag["openids"] for tag in answer.json()["items"]}
