"""WeChat's message push as the sandbox plays it: a user's message or event, built as the XML
WeChat sends, signed (and encrypted in safe and compatible mode), posted to memberhub's push
URL, and memberhub's reply handed back decrypted.

Like app secrets (`keys.wechat_app_secret`), each appid's push token and EncodingAESKey are
derived from the sandbox seed, so memberhub is configured with `push_token(appid)` and
`push_aes_key(appid)` and nothing needs to be shared. The push goes to
`<base>/callbacks/wechat/<appid>`, where base is the `url` given, else
MEMBERHUB_PUBLIC_BASE_URL, else the host that served this request (the sandbox mounted in
memberhub).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any

import httpx
import xmltodict
from sanic import Blueprint, HTTPResponse, Request
from sanic.response import json as json_response
from wechatpy.crypto import PrpCrypto
from wechatpy.utils import to_text

from . import outbound
from .keys import SANDBOX_SEED, is_wechat_appid
from .player import bad_player_request, player_body, route_state
from .state import SandboxState

MODES = ("plain", "compatible", "safe")
PUSH_TIMEOUT_S = 5.0  # WeChat gives up on a server after 5 seconds
HEAD_FIELDS = ("ToUserName", "FromUserName", "CreateTime", "MsgType")


def push_token(appid: str) -> str:
    """The push token the sandbox signs appid's pushes with (32 characters)."""
    return hmac.new(
        SANDBOX_SEED, b"wechat-push-token:" + appid.encode(), hashlib.sha256
    ).hexdigest()[:32]


def push_aes_key(appid: str) -> str:
    """appid's EncodingAESKey: 43 characters, base64 of 32 bytes without the padding."""
    raw = hmac.new(SANDBOX_SEED, b"wechat-push-aes:" + appid.encode(), hashlib.sha256).digest()
    return base64.b64encode(raw).decode().rstrip("=")


def signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def build_xml(appid: str, message: dict[str, Any]) -> str:
    """The message as WeChat writes it: the head fields first, text in CDATA, numbers bare."""
    fields = dict(message)
    fields.setdefault("ToUserName", f"gh_{appid[2:14]}")
    fields.setdefault("CreateTime", int(time.time()))
    if str(fields.get("MsgType")) != "event":
        fields.setdefault("MsgId", secrets.randbits(63))
    ordered = [name for name in HEAD_FIELDS if name in fields]
    ordered += [name for name in fields if name not in HEAD_FIELDS]
    return "<xml>" + "".join(_element(name, fields[name]) for name in ordered) + "</xml>"


def _element(name: str, value: Any) -> str:
    """One field; a dict (a scan's `ScanCodeInfo`, a location's `SendLocationInfo`) nests."""
    if isinstance(value, dict):
        text = "".join(_element(str(key), item) for key, item in value.items())
    elif isinstance(value, int):
        text = str(value)
    else:
        text = _cdata(str(value))
    return f"<{name}>{text}</{name}>"


def sign_push(appid: str, xml: str, openid: str, mode: str) -> tuple[dict[str, str], bytes]:
    """The query string and body WeChat posts for xml in `mode` (plain, compatible or safe)."""
    token = push_token(appid)
    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
    params = {
        "signature": signature(token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": openid,
    }
    if mode == "plain":
        return params, xml.encode()
    key = base64.b64decode(push_aes_key(appid) + "=")
    ciphertext = PrpCrypto(key).encrypt(xml, appid).decode()
    params.update(encrypt_type="aes", msg_signature=signature(token, timestamp, nonce, ciphertext))
    if mode == "compatible":
        inner = xml[len("<xml>") : -len("</xml>")]
    else:
        to_user = xmltodict.parse(xml)["xml"].get("ToUserName") or f"gh_{appid[2:14]}"
        inner = f"<ToUserName>{_cdata(str(to_user))}</ToUserName>"
    return params, f"<xml>{inner}<Encrypt>{_cdata(ciphertext)}</Encrypt></xml>".encode()


def _decrypt_reply(appid: str, body: str) -> tuple[str, bool]:
    """memberhub's reply, decrypted when it came encrypted (its signature checked first)."""
    try:
        outer = xmltodict.parse(body).get("xml") or {}
    except Exception:
        return body, False
    ciphertext = outer.get("Encrypt") if isinstance(outer, dict) else None
    if not isinstance(ciphertext, str):
        return body, False
    expected = signature(
        push_token(appid), str(outer.get("TimeStamp", "")), str(outer.get("Nonce", "")), ciphertext
    )
    if not hmac.compare_digest(expected, str(outer.get("MsgSignature", ""))):
        return "<reply signature does not verify>", True
    key = base64.b64decode(push_aes_key(appid) + "=")
    return to_text(PrpCrypto(key).decrypt(ciphertext, appid)), True


def _base_url(request: Request, given: Any) -> str:
    if isinstance(given, str) and given.startswith(("http://", "https://")):
        return given.rstrip("/")
    app_url = route_state(request).app_url
    if app_url:
        return app_url
    return f"{request.scheme}://{request.host}"


async def push(request: Request) -> HTTPResponse:
    """POST /wechat/push {appid, message: {MsgType, Event?, EventKey?, FromUserName, …},
    mode?: plain|compatible|safe, url?}: WeChat pushes the message to memberhub."""
    data = player_body(request)
    appid, message = data.get("appid"), data.get("message")
    mode = data.get("mode") or "plain"
    if not isinstance(appid, str) or not is_wechat_appid(appid):
        return bad_player_request("appid must be `wx` and 16 hex digits")
    if (
        not isinstance(message, dict)
        or not message.get("MsgType")
        or not message.get("FromUserName")
    ):
        return bad_player_request("message needs MsgType and FromUserName")
    if mode not in MODES:
        return bad_player_request("mode must be plain, compatible or safe")
    xml = build_xml(appid, message)
    params, body = sign_push(appid, xml, str(message["FromUserName"]), mode)
    url = f"{_base_url(request, data.get('url'))}/callbacks/wechat/{appid}"
    async with outbound.client(timeout=PUSH_TIMEOUT_S) as http:
        try:
            answer = await http.post(
                url, params=params, content=body, headers={"content-type": "text/xml"}
            )
        except httpx.HTTPError as exc:
            return json_response({"status": None, "error": type(exc).__name__, "pushed": xml})
    reply, encrypted = (
        _decrypt_reply(appid, answer.text)
        if answer.status_code == 200
        else (
            answer.text,
            False,
        )
    )
    return json_response(
        {"status": answer.status_code, "reply": reply, "encrypted": encrypted, "pushed": xml},
        ensure_ascii=False,
    )


async def push_keys(request: Request, appid: str) -> HTTPResponse:
    """GET /wechat/push-keys/<appid>: the token and EncodingAESKey to configure in memberhub."""
    if not is_wechat_appid(appid):
        return bad_player_request("appid must be `wx` and 16 hex digits")
    return json_response({"token": push_token(appid), "encoding_aes_key": push_aes_key(appid)})


def create_wechat_push_blueprint(name: str, state: SandboxState) -> Blueprint:
    """The push player routes, as a fresh blueprint named name."""
    bp = Blueprint(name, url_prefix="/wechat")
    bp.add_route(push, "/push", methods=["POST"], name="push", ctx_sandbox=state)
    bp.add_route(push_keys, "/push-keys/<appid:str>", methods=["GET"], name="push_keys")
    return bp
