"""WeChat's server APIs for memberhub: an async facade over wechatpy (sync, requests).

Every call runs wechatpy in a worker thread. Access tokens live in wechatpy's session storage —
Redis when configured, so all processes share one token instead of refreshing it against each
other — and wechatpy's own retry (refetch the token, try again) handles 40001/42001.
The base URL is `settings.wechat_api_base`: the sandbox by default, api.weixin.qq.com for real.
Secrets and session keys never reach a log line or an error message.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests
from wechatpy import WeChatClient, WeChatOAuth
from wechatpy.client.api.base import BaseWeChatAPI
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage
from wechatpy.session.memorystorage import MemoryStorage

from config.settings import get_settings

from .errors import BadRequest, UpstreamError
from .metrics import observe_upstream

log = logging.getLogger(__name__)

REAL_API_BASE = "https://api.weixin.qq.com"
TIMEOUT_S = 10.0
# 40029: invalid code; 40163: code been used — both mean "ask the user to log in again".
# invalid code, code already used, missing (empty) code
INVALID_CODE_ERRCODES = frozenset({40029, 40163, 41008})
# urllib3 logs request lines at DEBUG, and token/jscode2session requests carry the secret.
logging.getLogger("urllib3.connectionpool").setLevel(logging.INFO)

T = TypeVar("T")


@dataclass(frozen=True)
class WechatCredentials:
    """One mini-program's or official account's appid and AppSecret."""

    appid: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class WxaSession:
    """What code2session answers. session_key stays on the server and out of logs."""

    openid: str
    unionid: str | None
    session_key: str = field(repr=False)


@dataclass(frozen=True)
class OAuthUser:
    """Who an official-account web authorization code belongs to."""

    openid: str
    unionid: str | None


class _TimeoutSession(requests.Session):
    """A requests session with a default timeout: wechatpy's token fetch passes none."""

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = TIMEOUT_S
        return super().request(method, url, *args, **kwargs)


_retry_depth = threading.local()


class _Client(WeChatClient):
    """wechatpy's client pointed at api_base, with a bounded token retry."""

    def __init__(self, appid: str, secret: str, *, api_base: str, session: SessionStorage) -> None:
        super().__init__(appid, secret, session=session, timeout=TIMEOUT_S)
        self._http = _TimeoutSession()
        self.api_base = api_base
        self._fetch_lock = threading.Lock()
        self.API_BASE_URL = f"{api_base}/cgi-bin/"
        # Endpoint groups such as `wxa` carry their own absolute base URL on the class.
        # (wechatpy's __new__ put one instance of each on the client; properties are not touched.)
        for endpoint in list(vars(self).values()):
            url = getattr(endpoint, "API_BASE_URL", None)
            if isinstance(endpoint, BaseWeChatAPI) and url and url.startswith(REAL_API_BASE):
                endpoint.API_BASE_URL = api_base + url[len(REAL_API_BASE) :]

    # wechatpy retries a 40001/42001 answer once with a fresh token, then again, forever, if
    # the platform keeps refusing; allow the first retry only.
    @property
    def auto_retry(self) -> bool:
        return self._auto_retry and getattr(_retry_depth, "value", 0) <= 1

    @auto_retry.setter
    def auto_retry(self, value: bool) -> None:
        self._auto_retry = value

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        depth = getattr(_retry_depth, "value", 0)
        _retry_depth.value = depth + 1
        try:
            return super()._request(method, url_or_endpoint, **kwargs)
        finally:
            _retry_depth.value = depth

    def fetch_access_token(self) -> Any:
        with self._fetch_lock:
            return self._fetch_access_token(
                url=f"{self.api_base}/cgi-bin/token",
                params={
                    "grant_type": "client_credential",
                    "appid": self.appid,
                    "secret": self.secret,
                },
            )


_clients: dict[str, _Client] = {}
_clients_lock = threading.Lock()
_storage: SessionStorage | None = None


def _session_storage() -> SessionStorage:
    """Redis when configured (tokens shared by every process), else one in-process store."""
    global _storage
    if _storage is None:
        settings = get_settings()
        if settings.redis_url:
            import redis
            from wechatpy.session.redisstorage import RedisStorage

            _storage = RedisStorage(
                redis.Redis.from_url(settings.redis_url), prefix="memberhub:wechatpy"
            )
        else:
            _storage = MemoryStorage()
    return _storage


def _api_base() -> str:
    return get_settings().wechat_api_base.rstrip("/")


def _client(creds: WechatCredentials) -> _Client:
    """The one client for this appid (rebuilt when its secret or the base URL changes)."""
    api_base = _api_base()
    with _clients_lock:
        client = _clients.get(creds.appid)
        if client is None or client.secret != creds.secret or client.api_base != api_base:
            client = _Client(
                creds.appid, creds.secret, api_base=api_base, session=_session_storage()
            )
            _clients[creds.appid] = client
        return client


def _upstream_message(exc: WeChatClientException) -> str:
    if exc.errcode is None:
        status = getattr(exc.response, "status_code", None)
        return f"WeChat answered HTTP {status}."
    return f"WeChat answered errcode {exc.errcode}: {exc.errmsg}"


async def _call(appid: str, api: str, work: Callable[[], T]) -> T:
    """Run work (a call to WeChat's `api`, named by its path) in a thread and count it in the
    upstream metrics; turn wechatpy's and requests' errors into domain errors."""
    started = time.perf_counter()
    outcome = "error"
    try:
        result = await asyncio.to_thread(work)
        outcome = "ok"
        return result
    except WeChatClientException as exc:
        # `from None`: the cause carries the request, whose URL may hold the secret.
        if exc.errcode in INVALID_CODE_ERRCODES:
            outcome = "invalid_code"
            raise BadRequest(
                "wechat.invalid_code", "The WeChat code is invalid, expired or already used."
            ) from None
        outcome = "refused" if exc.errcode is not None else "unreachable"
        message = _upstream_message(exc)
        log.warning("wechat call failed", extra={"appid": appid, "errcode": exc.errcode})
        raise UpstreamError("wechat.upstream", message) from None
    except (requests.RequestException, ValueError) as exc:
        outcome = "unreachable"
        log.warning("wechat unreachable", extra={"appid": appid, "error": type(exc).__name__})
        raise UpstreamError(
            "wechat.upstream", f"WeChat could not be reached ({type(exc).__name__})."
        ) from None
    finally:
        observe_upstream(platform="wechat", api=api, outcome=outcome, started=started)


def _require(result: Any, key: str) -> Any:
    """result[key], or UpstreamError when WeChat's answer lacks it."""
    value = result.get(key) if isinstance(result, dict) else None
    if value in (None, ""):
        raise UpstreamError("wechat.upstream", f"WeChat's answer carried no {key}.")
    return value


async def code_to_session(creds: WechatCredentials, code: str) -> WxaSession:
    """Exchange a mini-program wx.login() code for openid, unionid and session_key."""
    client = _client(creds)
    result = await _call(
        creds.appid, "sns/jscode2session", lambda: client.wxa.code_to_session(code)
    )
    return WxaSession(
        openid=_require(result, "openid"),
        unionid=result.get("unionid") or None,
        session_key=_require(result, "session_key"),
    )


async def get_phone_number(creds: WechatCredentials, code: str) -> str:
    """The phone number (without country code) behind a getPhoneNumber code."""
    client = _client(creds)
    url = f"{client.api_base}/wxa/business/getuserphonenumber"
    result = await _call(
        creds.appid,
        "wxa/business/getuserphonenumber",
        lambda: client.post(url, data={"code": code}),
    )
    info = _require(result, "phone_info")
    watermark_appid = (info.get("watermark") or {}).get("appid")
    if watermark_appid and watermark_appid != creds.appid:
        raise UpstreamError("wechat.upstream", "The phone number was issued to another app.")
    return str(_require(info, "purePhoneNumber"))


async def oauth_exchange(creds: WechatCredentials, code: str) -> OAuthUser:
    """Exchange an official-account web authorization code for the user's openid and unionid."""
    oauth = WeChatOAuth(creds.appid, creds.secret, redirect_uri="", scope="snsapi_userinfo")
    # WeChatOAuth builds its URLs from API_BASE_URL; an instance attribute points it elsewhere.
    oauth.API_BASE_URL = f"{_api_base()}/"
    oauth._http = _TimeoutSession()
    result = await _call(
        creds.appid, "sns/oauth2/access_token", lambda: oauth.fetch_access_token(code)
    )
    return OAuthUser(openid=_require(result, "openid"), unionid=result.get("unionid") or None)


async def user_info(creds: WechatCredentials, openid: str) -> dict[str, Any]:
    """An official-account follower's profile (subscribe, unionid when bound, nickname …)."""
    client = _client(creds)
    result = await _call(creds.appid, "cgi-bin/user/info", lambda: client.user.get(openid))
    return dict(result)


async def send_template(
    creds: WechatCredentials,
    *,
    openid: str,
    template_id: str,
    data: dict[str, Any],
    url: str | None = None,
) -> int | None:
    """Send an official-account template message; returns WeChat's msgid."""
    client = _client(creds)
    result = await _call(
        creds.appid,
        "cgi-bin/message/template/send",
        lambda: client.message.send_template(openid, template_id, data, url=url),
    )
    return result.get("msgid")


async def send_subscribe(
    creds: WechatCredentials,
    *,
    openid: str,
    template_id: str,
    data: dict[str, Any],
    page: str | None = None,
) -> int | None:
    """Send a mini-program subscribe message; returns WeChat's msgid when it gives one."""
    client = _client(creds)
    result = await _call(
        creds.appid,
        "cgi-bin/message/subscribe/send",
        lambda: client.wxa.send_subscribe_message(openid, template_id, data, page=page),
    )
    return result.get("msgid")


async def send_custom_text(creds: WechatCredentials, *, openid: str, text: str) -> None:
    """Send a customer-service text message (within 48 h of the user's last message)."""
    client = _client(creds)
    await _call(
        creds.appid, "cgi-bin/message/custom/send", lambda: client.message.send_text(openid, text)
    )


async def create_qrcode_scene(
    creds: WechatCredentials, scene_str: str, *, expire_seconds: int | None = None
) -> dict[str, Any]:
    """An official-account QR code for scene_str (permanent unless expire_seconds) → ticket, url."""
    qrcode: dict[str, Any] = {"action_info": {"scene": {"scene_str": scene_str}}}
    if expire_seconds is None:
        qrcode["action_name"] = "QR_LIMIT_STR_SCENE"
    else:
        qrcode.update(action_name="QR_STR_SCENE", expire_seconds=expire_seconds)
    client = _client(creds)
    result = await _call(creds.appid, "cgi-bin/qrcode/create", lambda: client.qrcode.create(qrcode))
    return dict(result)


async def wxacode_unlimited(creds: WechatCredentials, scene: str, page: str | None = None) -> bytes:
    """A mini-program code image (PNG bytes) opening page with scene (at most 32 characters)."""
    client = _client(creds)
    result = await _call(
        creds.appid,
        "wxa/getwxacodeunlimit",
        lambda: client.wxa.get_wxa_code_unlimited(scene, page=page),
    )
    # wechatpy hands back the raw response when the body is not JSON, i.e. the image.
    content = getattr(result, "content", None)
    if not isinstance(content, bytes) or not content.startswith(b"\x89PNG"):
        raise UpstreamError("wechat.upstream", "WeChat's answer was not an image.")
    return content


async def create_menu(creds: WechatCredentials, menu: dict[str, Any]) -> None:
    """Replace the official account's custom menu."""
    client = _client(creds)
    await _call(creds.appid, "cgi-bin/menu/create", lambda: client.menu.create(menu))


async def upload_shipping_info(creds: WechatCredentials, info: dict[str, Any]) -> None:
    """Upload a mini-program payment's shipping information (发货信息录入), which WeChat waits
    for before it settles the payment; `info` is the body WeChat documents (order_key,
    logistics_type, delivery_mode, shipping_list, upload_time, payer)."""
    client = _client(creds)
    url = f"{client.api_base}/wxa/sec/order/upload_shipping_info"
    await _call(
        creds.appid,
        "wxa/sec/order/upload_shipping_info",
        lambda: client.post(url, data=info),
    )
