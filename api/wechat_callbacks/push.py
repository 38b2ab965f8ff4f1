"""One delivery from WeChat: which app it is for, whether WeChat sent it, what it says, and the
reply sealed the way that app's message mode wants.

Every delivery carries `signature` = SHA-1 of the app's push token, `timestamp` and `nonce`;
in plain mode that is all there is, and it does not cover the body. An encrypted delivery
(`encrypt_type=aes`: safe mode, and compatible mode when WeChat chooses to encrypt) carries
`msg_signature`, which also covers the ciphertext, and the message inside is AES-encrypted with
the app's EncodingAESKey (wechatpy's `WeChatCrypto`). A safe-mode app accepts nothing else.
A timestamp more than five minutes away from our clock is refused too: a captured plain-mode
URL cannot be replayed with a body of someone else's choosing later on.

Official accounts push XML; a mini-program may be configured for XML or JSON (the same fields),
both are read here. Refusals raise before anything is done.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import xmltodict
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.messages import BaseMessage

from api.core.crypto import decrypt
from api.core.errors import BadRequest, Forbidden, NotFound
from api.core.ports import clock
from api.org.models import Brand, MessageMode, Status, WechatApp, WechatAppKind

from .error_codes import CallbackErrorCode

TIMESTAMP_WINDOW_S = 300
APP_TTL_S = 10.0
APP_CACHE_MAX = 1000


@dataclass(frozen=True)
class PushApp:
    """The app a delivery is addressed to, its brand, and its push keys (decrypted)."""

    appid: str
    kind: WechatAppKind
    mode: MessageMode
    brand_id: int
    brand_code: str
    brand_name: str
    brand_settings: dict[str, Any]
    token: str = field(repr=False)
    crypto: WeChatCrypto | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Delivery:
    """A verified delivery: the message, its raw fields, and whether it came encrypted."""

    message: BaseMessage
    fields: dict[str, Any]
    encrypted: bool
    nonce: str


_keys: dict[tuple[str, str, str], tuple[str, WeChatCrypto | None]] = {}
_keys_lock = threading.Lock()


def _push_keys(app: WechatApp) -> tuple[str, WeChatCrypto | None]:
    """The app's token and crypto, decrypted once per process (and again when they change)."""
    cache_key = (app.appid, app.token_enc or "", app.aes_key_enc or "")
    with _keys_lock:
        known = _keys.get(cache_key)
    if known is not None:
        return known
    token = decrypt(app.token_enc) if app.token_enc else ""
    crypto = None
    if app.aes_key_enc:
        try:
            crypto = WeChatCrypto(token, decrypt(app.aes_key_enc), app.appid)
        except (ValueError, AssertionError):
            crypto = None  # not a 43-character EncodingAESKey: encrypted pushes are refused
    with _keys_lock:
        _keys[cache_key] = (token, crypto)
    return token, crypto


_apps: dict[str, tuple[float, PushApp]] = {}


async def find_app(appid: str) -> PushApp:
    """The active app with this appid and a push token; 404 `wechat_callback.unknown_app`.

    A found app is kept by this process for `APP_TTL_S`: an app disabled, a token rotated or a
    brand setting changed is seen by every process within that time.
    """
    known = _apps.get(appid)
    if known is not None and known[0] > time.monotonic():
        return known[1]
    found = await _load_app(appid)
    if len(_apps) >= APP_CACHE_MAX:
        _apps.clear()
    _apps[appid] = (time.monotonic() + APP_TTL_S, found)
    return found


async def _load_app(appid: str) -> PushApp:
    app = await WechatApp.get_or_none(appid=appid[:32], status=Status.ACTIVE)
    brand = await Brand.get_or_none(id=app.brand_id, status=Status.ACTIVE) if app else None
    if app is None or brand is None or not app.token_enc:
        raise NotFound(CallbackErrorCode.UNKNOWN_APP, "No app with this appid takes pushes here.")
    token, crypto = _push_keys(app)
    return PushApp(
        appid=app.appid,
        kind=app.kind,
        mode=app.message_mode,
        brand_id=brand.id,
        brand_code=brand.code,
        brand_name=brand.name,
        brand_settings=dict(brand.settings or {}),
        token=token,
        crypto=crypto,
    )


def sign(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the parts sorted and joined."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def _same(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected, str(given))


def _check_time(timestamp: str | None) -> None:
    if not timestamp or not timestamp.isdigit() or len(timestamp) > 12:
        raise Forbidden(CallbackErrorCode.BAD_SIGNATURE, "The timestamp is missing.")
    if abs(clock().now().timestamp() - int(timestamp)) > TIMESTAMP_WINDOW_S:
        raise Forbidden(CallbackErrorCode.STALE, "The timestamp is too far from now.")


def _check_plain_signature(app: PushApp, args: dict[str, str]) -> None:
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    if not _same(sign(app.token, timestamp, nonce), args.get("signature")):
        raise Forbidden(CallbackErrorCode.BAD_SIGNATURE, "The signature does not verify.")


def verify_url(app: PushApp, args: dict[str, str]) -> str:
    """The `echostr` to answer WeChat's server URL check with; 403 when it is not WeChat."""
    _check_time(args.get("timestamp"))
    _check_plain_signature(app, args)
    return args.get("echostr", "")


def _fields(text: str) -> dict[str, Any]:
    """The top-level fields of an XML (`<xml>…</xml>`) or JSON push body; {} when unreadable."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        return {}  # WeChat never sends these; entity tricks are not read at all
    try:
        data = xmltodict.parse(stripped).get("xml")
    except Exception:  # expat errors of every kind
        return {}
    return data if isinstance(data, dict) else {}


def _plain(value: Any) -> bool:
    """A text or number field, or one level of them nested (a scan's `ScanCodeInfo`)."""
    if isinstance(value, dict):
        return all(item is None or isinstance(item, str | int) for item in value.values())
    return isinstance(value, str | int)


def _message(fields: dict[str, Any]) -> BaseMessage:
    if not isinstance(fields.get("MsgType"), str) or not isinstance(
        fields.get("FromUserName"), str
    ):
        raise BadRequest(CallbackErrorCode.MALFORMED, "The push names no MsgType or sender.")
    kept = {key: value for key, value in fields.items() if _plain(value)}
    try:
        return parse_message(xmltodict.unparse({"xml": kept}))
    except Exception:
        raise BadRequest(CallbackErrorCode.MALFORMED, "The push cannot be read.") from None


def open_delivery(app: PushApp, args: dict[str, str], body: bytes) -> Delivery:
    """Verify and, when encrypted, decrypt one push; 403 when it is not WeChat's, 400 unreadable."""
    _check_time(args.get("timestamp"))
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise BadRequest(CallbackErrorCode.MALFORMED, "The push is not UTF-8.") from None
    encrypted = args.get("encrypt_type", "").lower() == "aes"
    if app.mode is MessageMode.SAFE and not encrypted:
        raise Forbidden(CallbackErrorCode.BAD_SIGNATURE, "This app takes encrypted pushes only.")
    if app.mode is MessageMode.PLAIN:
        encrypted = False  # an app in plain mode reads the plain fields whatever else is sent
    outer = _fields(text)
    if not encrypted:
        _check_plain_signature(app, args)
        return Delivery(message=_message(outer), fields=outer, encrypted=False, nonce=nonce)
    ciphertext = outer.get("Encrypt")
    if app.crypto is None or not isinstance(ciphertext, str):
        raise Forbidden(CallbackErrorCode.UNDECRYPTABLE, "The push cannot be decrypted.")
    if not _same(sign(app.token, timestamp, nonce, ciphertext), args.get("msg_signature")):
        raise Forbidden(CallbackErrorCode.BAD_SIGNATURE, "The signature does not verify.")
    try:
        inner = app.crypto.decrypt_message(
            {"Encrypt": ciphertext}, args.get("msg_signature"), timestamp, nonce
        )
    except Exception:  # wrong key, wrong appid inside, bad padding, not base64
        raise Forbidden(CallbackErrorCode.UNDECRYPTABLE, "The push cannot be decrypted.") from None
    fields = _fields(inner)
    return Delivery(message=_message(fields), fields=fields, encrypted=True, nonce=nonce)


def seal(app: PushApp, delivery: Delivery, reply_xml: str) -> str:
    """The passive reply as WeChat wants it back: encrypted when the push came encrypted."""
    if not delivery.encrypted or app.crypto is None:
        return reply_xml
    timestamp = str(int(clock().now().timestamp()))
    return str(app.crypto.encrypt_message(reply_xml, delivery.nonce or "0", timestamp))
