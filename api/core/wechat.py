"""WeChat's server APIs for memberhub: an async facade over wechatpy (sync, requests).

Every call runs wechatpy in a worker thread. Access tokens live in wechatpy's session storage —
Redis when configured, so all processes share one token instead of refreshing it against each
other — and wechatpy's own retry (refetch the token, try again, once) handles 40001/40014/42001.

The access token behind a lock. Every grant of `cgi-bin/token` ends the app's previous token at
WeChat (after a short overlap), so two processes refreshing at once leave one of them holding a
dead token, which it refreshes again, and so on. A refresh therefore
1. takes the app's token lock: a Redis lock (`redis.lock.Lock`, with a timeout, so a process
   that dies holding it frees it) when Redis is configured, else a thread lock of this process;
2. reads the stored token again: when another process has meanwhile stored a token that is not
   the one WeChat just refused and is not about to expire, it is used as it is;
3. only otherwise asks WeChat for a new one and stores it with its expiry time, which every
   process reads (wechatpy alone keeps the expiry in the memory of the process that fetched).

WeChat's refusals keep their errcode (`WechatRefused.errcode`) so that a caller can tell a user's
refusal (43101) from a failure worth retrying.

The base URL is `settings.wechat_api_base`: the sandbox by default, api.weixin.qq.com for real.
Secrets and session keys never reach a log line or an error message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis
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
# A token this close to its expiry is refreshed rather than used.
TOKEN_MARGIN_S = 60
# How long a process may hold an app's token lock, and how long another waits for it.
TOKEN_LOCK_TTL_S = 30
TOKEN_LOCK_WAIT_S = 30
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
# The token sent with the request whose answer is being handled (see _Client._handle_result).
_sent_token = threading.local()


class WechatRefused(UpstreamError):
    """WeChat answered an errcode; `errcode` says which."""

    def __init__(self, errcode: int, message: str) -> None:
        super().__init__("wechat.upstream", message)
        self.errcode = errcode


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

    @property
    def expires_at_key(self) -> str:
        return f"{self.access_token_key}_expires_at"

    @property
    def access_token(self) -> Any:
        """The stored token while it has more than TOKEN_MARGIN_S to live, else a fresh one."""
        token = self.session.get(self.access_token_key)
        if token and self._stored_token_lives():
            return token
        self.fetch_access_token()
        return self.session.get(self.access_token_key)

    def _stored_token_lives(self) -> bool:
        # A token stored without an expiry (by an older process, or handed in) is trusted until
        # WeChat refuses it.
        expires_at = self.session.get(self.expires_at_key)
        return expires_at is None or float(expires_at) - time.time() > TOKEN_MARGIN_S

    def _handle_result(
        self, res: Any, method: Any = None, url: Any = None, result_processor: Any = None, **kw: Any
    ) -> Any:
        # wechatpy calls fetch_access_token() from here when WeChat refused the token; remember
        # which token that was, so the refresh can tell a newer one stored meanwhile from it.
        params = kw.get("params")
        _sent_token.value = params.get("access_token") if isinstance(params, dict) else None
        try:
            return super()._handle_result(res, method, url, result_processor, **kw)
        finally:
            _sent_token.value = None

    def fetch_access_token(self) -> Any:
        """A token for this app: one another process stored meanwhile, else a new grant."""
        refused = getattr(_sent_token, "value", None)
        with _token_lock(self):
            stored = self.session.get(self.access_token_key)
            if stored and stored != refused and self._stored_token_lives():
                return {"access_token": stored}
            result = self._fetch_access_token(
                url=f"{self.api_base}/cgi-bin/token",
                params={
                    "grant_type": "client_credential",
                    "appid": self.appid,
                    "secret": self.secret,
                },
            )
            expires_in = int(result.get("expires_in") or 7200)
            self.session.set(self.expires_at_key, time.time() + expires_in, expires_in)
            return result


@contextlib.contextmanager
def _token_lock(client: _Client) -> Iterator[None]:
    """The app's token lock: across processes through Redis when tokens live there."""
    redis_client = getattr(client.session, "redis", None)
    if redis_client is None:
        with client._fetch_lock:
            yield
        return
    lock = redis_client.lock(
        f"memberhub:wechat:token-lock:{client.appid}",
        timeout=TOKEN_LOCK_TTL_S,
        blocking_timeout=TOKEN_LOCK_WAIT_S,
    )
    if not lock.acquire():
        raise requests.Timeout("the access token lock stayed taken")
    try:
        yield
    finally:
        with contextlib.suppress(redis.exceptions.LockError):
            lock.release()


_clients: dict[str, _Client] = {}
_clients_lock = threading.Lock()
_storage: SessionStorage | None = None


def _session_storage() -> SessionStorage:
    """Redis when configured (tokens shared by every process), else one in-process store."""
    global _storage
    if _storage is None:
        settings = get_settings()
        if settings.redis_url:
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
        if exc.errcode is not None:
            raise WechatRefused(int(exc.errcode), message) from None
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


async def list_tags(creds: WechatCredentials) -> list[dict[str, Any]]:
    """The official account's user tags: [{id, name, count}]."""
    client = _client(creds)
    result = await _call(creds.appid, "cgi-bin/tags/get", lambda: client.tag.get())
    return [dict(tag) for tag in result or []]


async def create_tag(creds: WechatCredentials, name: str) -> int:
    """A new user tag on the official account; its id."""
    client = _client(creds)
    result = await _call(creds.appid, "cgi-bin/tags/create", lambda: client.tag.create(name))
    return int(_require(result, "id"))


async def tag_users(creds: WechatCredentials, tag_id: int, openids: list[str]) -> None:
    """Put the tag on these followers (at most 50 at once)."""
    client = _client(creds)
    await _call(
        creds.appid,
        "cgi-bin/tags/members/batchtagging",
        lambda: client.tag.tag_user(tag_id, openids),
    )


async def untag_users(creds: WechatCredentials, tag_id: int, openids: list[str]) -> None:
    """Take the tag off these followers (at most 50 at once)."""
    client = _client(creds)
    await _call(
        creds.appid,
        "cgi-bin/tags/members/batchuntagging",
        lambda: client.tag.untag_user(tag_id, openids),
    )


async def user_tag_ids(creds: WechatCredentials, openid: str) -> list[int]:
    """The ids of the tags a follower carries."""
    client = _client(creds)
    result = await _call(
        creds.appid, "cgi-bin/tags/getidlist", lambda: client.tag.get_user_tag(openid)
    )
    return [int(tag_id) for tag_id in result or []]


async def add_conditional_menu(creds: WechatCredentials, menu: dict[str, Any]) -> str:
    """A personalised menu (`button` + `matchrule`); its menuid."""
    client = _client(creds)
    result = await _call(
        creds.appid, "cgi-bin/menu/addconditional", lambda: client.menu.add_conditional(menu)
    )
    return str(_require(result, "menuid"))


async def delete_conditional_menu(creds: WechatCredentials, menuid: str) -> None:
    """Remove a personalised menu."""
    client = _client(creds)
    await _call(
        creds.appid, "cgi-bin/menu/delconditional", lambda: client.menu.del_conditional(menuid)
    )


async def try_match_menu(creds: WechatCredentials, user_id: str) -> dict[str, Any]:
    """The menu this follower sees (WeChat's personalised-menu match)."""
    client = _client(creds)
    result = await _call(
        creds.appid, "cgi-bin/menu/trymatch", lambda: client.menu.try_match(user_id)
    )
    return dict(result)


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
