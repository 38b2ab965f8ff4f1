"""Everything the sandbox remembers, in memory, for one process.

Handlers read and change it without awaiting in between, and a lock guards every change, so a
one-time code is handed out once even if a thread-pool caller races an async one.
"""

from __future__ import annotations

import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

TOKEN_TTL_S = 7200
# WeChat keeps the previous access_token valid for five minutes after a new one is issued.
TOKEN_OVERLAP_S = 300
CODE_TTL_S = 300
_URLSAFE = string.ascii_letters + string.digits + "-_"


def random_token(length: int, alphabet: str = _URLSAFE) -> str:
    """A random string of length characters from alphabet."""
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_openid() -> str:
    """An openid shaped like WeChat's: `o` and 27 url-safe characters."""
    return "o" + random_token(27)


def new_alipay_user_id() -> str:
    """A user id shaped like Alipay's: `2088` and 12 digits."""
    return "2088" + random_token(12, string.digits)


@dataclass
class AccessToken:
    appid: str
    expires_at: float
    kind: str = "client"  # "client" (cgi-bin/token) or "oauth" (sns/oauth2, bound to openid)
    openid: str | None = None


@dataclass
class LoginCode:
    appid: str
    openid: str
    unionid: str | None
    expires_at: float


@dataclass
class PhoneCode:
    appid: str
    phone: str
    expires_at: float


@dataclass
class AlipayAuthCode:
    app_id: str
    user_id: str
    open_id: str | None
    expires_at: float


@dataclass
class SandboxState:
    """The sandbox's memory; `reset()` forgets everything."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    login_codes: dict[str, LoginCode] = field(default_factory=dict)
    phone_codes: dict[str, PhoneCode] = field(default_factory=dict)
    alipay_codes: dict[str, AlipayAuthCode] = field(default_factory=dict)
    # (appid, openid) → unionid or None: users the sandbox has seen, for user/info.
    users: dict[tuple[str, str], str | None] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)
    menus: dict[str, dict[str, Any]] = field(default_factory=dict)
    qrcodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    # app_id → the merchant app's public key PEM, or None to skip request verification.
    alipay_app_keys: dict[str, str | None] = field(default_factory=dict)
    _msgid: int = 1000

    def reset(self) -> None:
        with self.lock:
            self.access_tokens.clear()
            self.login_codes.clear()
            self.phone_codes.clear()
            self.alipay_codes.clear()
            self.users.clear()
            self.sent.clear()
            self.menus.clear()
            self.qrcodes.clear()
            self.alipay_app_keys.clear()

    # --- WeChat access tokens -------------------------------------------------------------

    def issue_access_token(self, appid: str) -> tuple[str, int]:
        """A new client access_token for appid; earlier ones stay valid for five minutes only."""
        now = time.time()
        token = random_token(96)
        with self.lock:
            for item in self.access_tokens.values():
                if item.appid == appid and item.kind == "client":
                    item.expires_at = min(item.expires_at, now + TOKEN_OVERLAP_S)
            self.access_tokens[token] = AccessToken(appid=appid, expires_at=now + TOKEN_TTL_S)
        return token, TOKEN_TTL_S

    def issue_oauth_token(self, appid: str, openid: str) -> tuple[str, int]:
        """A web-authorization access_token for one user of appid."""
        token = random_token(96)
        with self.lock:
            self.access_tokens[token] = AccessToken(
                appid=appid, expires_at=time.time() + TOKEN_TTL_S, kind="oauth", openid=openid
            )
        return token, TOKEN_TTL_S

    def lookup_token(self, token: str, kind: str = "client") -> tuple[AccessToken | None, bool]:
        """(the token, expired?) — (None, False) when the sandbox never issued it."""
        with self.lock:
            item = self.access_tokens.get(token)
        if item is None or item.kind != kind:
            return None, False
        return item, item.expires_at <= time.time()

    def expire_tokens(self, appid: str | None = None) -> int:
        """Expire every issued access token (of appid, when given); returns how many."""
        count = 0
        past = time.time() - 1
        with self.lock:
            for item in self.access_tokens.values():
                if appid is None or item.appid == appid:
                    item.expires_at = past
                    count += 1
        return count

    # --- one-time codes -------------------------------------------------------------------

    def add_login_code(self, appid: str, openid: str, unionid: str | None) -> str:
        code = random_token(32)
        with self.lock:
            self.login_codes[code] = LoginCode(appid, openid, unionid, time.time() + CODE_TTL_S)
            self.users[(appid, openid)] = unionid
        return code

    def take_login_code(self, code: str, appid: str) -> LoginCode | None:
        """The login code if it is live and belongs to appid; it is burnt either way."""
        with self.lock:
            item = self.login_codes.pop(code, None)
        if item is None or item.appid != appid or item.expires_at <= time.time():
            return None
        return item

    def add_phone_code(self, appid: str, phone: str) -> str:
        code = random_token(64, string.hexdigits.lower()[:16])
        with self.lock:
            self.phone_codes[code] = PhoneCode(appid, phone, time.time() + CODE_TTL_S)
        return code

    def take_phone_code(self, code: str, appid: str) -> PhoneCode | None:
        with self.lock:
            item = self.phone_codes.pop(code, None)
        if item is None or item.appid != appid or item.expires_at <= time.time():
            return None
        return item

    def add_alipay_code(self, app_id: str, user_id: str, open_id: str | None) -> str:
        code = random_token(32, string.ascii_letters + string.digits)
        with self.lock:
            self.alipay_codes[code] = AlipayAuthCode(
                app_id, user_id, open_id, time.time() + CODE_TTL_S
            )
        return code

    def take_alipay_code(self, code: str, app_id: str) -> AlipayAuthCode | None:
        with self.lock:
            item = self.alipay_codes.pop(code, None)
        if item is None or item.app_id != app_id or item.expires_at <= time.time():
            return None
        return item

    # --- what memberhub sent ----------------------------------------------------------------

    def record_sent(self, kind: str, appid: str, touser: str, payload: dict[str, Any]) -> int:
        """Remember a message memberhub sent; returns its msgid."""
        with self.lock:
            self._msgid += 1
            self.sent.append(
                {
                    "msgid": self._msgid,
                    "kind": kind,
                    "appid": appid,
                    "touser": touser,
                    "payload": payload,
                    "sent_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                }
            )
            return self._msgid

    def sent_newest_first(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(reversed(self.sent))


STATE = SandboxState()
