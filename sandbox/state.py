"""Everything the sandbox remembers: in this process, or in the cache every API process shares.

memberhub with several API processes mounts one sandbox in each, and a login code minted by one
process must be accepted by whichever process code2session reaches. So the state lives behind a
small key-value store: memberhub's shared cache (Redis) when it has one, an in-process cache
otherwise. One-time codes are taken with a get-and-delete, so each is handed out once however
many processes race for it.
"""

from __future__ import annotations

import json
import secrets
import string
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from api.core.cache import MemoryCache
from api.core.clock import Clock

TOKEN_TTL_S = 7200
# WeChat keeps the previous access_token valid for five minutes after a new one is issued.
TOKEN_OVERLAP_S = 300
CODE_TTL_S = 300
# An expired token is still recognised (42001, not 40001) for this long after it expired.
EXPIRED_TOKEN_MEMORY_S = 86400
# Users, menus, app keys and sent messages: long enough for any demo or test run.
KEEP_S = 30 * 86400
GENERATION_TTL_S = 10 * 365 * 86400
# The newest messages kept for GET /sent.
SENT_KEPT = 1000
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


class Store(Protocol):
    """What the sandbox needs of a cache; memberhub's cache port (api/core/cache.py) has it."""

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str, *, ttl_s: float | None = None) -> None: ...

    async def take(self, key: str) -> str | None: ...

    async def incr(self, key: str, *, ttl_s: float) -> int: ...

    def lock(
        self, key: str, *, ttl_s: float = 10, wait_s: float = 5
    ) -> AbstractAsyncContextManager[None]: ...


@dataclass
class AccessToken:
    appid: str
    expires_at: float
    serial: int
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


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _platform_memory() -> MemoryCache:
    # The platforms keep wall-clock time, whatever clock memberhub's services are given.
    wall = Clock()
    return MemoryCache(clock=lambda: wall)


class SandboxState:
    """The sandbox's memory; `reset()` forgets everything.

    `shared` gives the cache every process of the deployment shares (looked up on each call, so
    it follows the ports a test installs); without it the state is this process's alone.
    """

    def __init__(
        self, shared: Callable[[], Store] | None = None, *, app_url: str | None = None
    ) -> None:
        self._shared = shared
        # memberhub's public base URL, where pushes go when a push names no `url`.
        self.app_url = app_url.rstrip("/") if app_url else None
        self._memory = _platform_memory()

    async def _scope(self) -> tuple[Store, str]:
        """The store and the key prefix of the current generation (bumped by `reset`)."""
        if self._shared is None:
            return self._memory, "sandbox:"
        store = self._shared()
        generation = await store.get("sandbox:generation") or "0"
        return store, f"sandbox:{generation}:"

    async def reset(self) -> None:
        if self._shared is None:
            self._memory = _platform_memory()
            return
        # Keys of earlier generations are never read again and run out on their own TTLs.
        await self._shared().incr("sandbox:generation", ttl_s=GENERATION_TTL_S)

    async def _get_json(self, key: str) -> Any:
        store, prefix = await self._scope()
        raw = await store.get(prefix + key)
        return None if raw is None else json.loads(raw)

    async def _set_json(self, key: str, value: Any, *, ttl_s: float) -> None:
        store, prefix = await self._scope()
        await store.set(prefix + key, _dump(value), ttl_s=ttl_s)

    async def _take_json(self, key: str) -> Any:
        store, prefix = await self._scope()
        raw = await store.take(prefix + key)
        return None if raw is None else json.loads(raw)

    async def _count(self, key: str) -> int:
        store, prefix = await self._scope()
        return await store.incr(prefix + key, ttl_s=KEEP_S)

    async def _read_count(self, key: str) -> int:
        store, prefix = await self._scope()
        return int(await store.get(prefix + key) or 0)

    # --- WeChat access tokens -------------------------------------------------------------

    async def _issue(self, appid: str, kind: str, openid: str | None) -> tuple[str, int]:
        token = random_token(96)
        serial = await self._count("wx:token-serial")
        item = AccessToken(
            appid=appid,
            expires_at=time.time() + TOKEN_TTL_S,
            serial=serial,
            kind=kind,
            openid=openid,
        )
        await self._set_json(
            f"wx:token:{token}", item.__dict__, ttl_s=TOKEN_TTL_S + EXPIRED_TOKEN_MEMORY_S
        )
        await self._count(f"wx:issued:{appid}")
        await self._count("wx:issued")
        return token, TOKEN_TTL_S

    async def issue_access_token(self, appid: str) -> tuple[str, int]:
        """A new client access_token for appid; the previous one stays valid for five minutes."""
        store, prefix = await self._scope()
        token, expires_in = await self._issue(appid, "client", None)
        async with store.lock(f"{prefix}wx:issuing:{appid}"):
            previous = await store.get(f"{prefix}wx:latest-token:{appid}")
            await store.set(
                f"{prefix}wx:latest-token:{appid}",
                token,
                ttl_s=TOKEN_TTL_S + EXPIRED_TOKEN_MEMORY_S,
            )
            if previous is not None:
                # Each token is cut short once, by its successor; older ones already were.
                item = await self._get_json(f"wx:token:{previous}")
                if item is not None:
                    item["expires_at"] = min(item["expires_at"], time.time() + TOKEN_OVERLAP_S)
                    await self._set_json(
                        f"wx:token:{previous}", item, ttl_s=TOKEN_OVERLAP_S + EXPIRED_TOKEN_MEMORY_S
                    )
        return token, expires_in

    async def issue_oauth_token(self, appid: str, openid: str) -> tuple[str, int]:
        """A web-authorization access_token for one user of appid."""
        return await self._issue(appid, "oauth", openid)

    async def lookup_token(
        self, token: str, kind: str = "client"
    ) -> tuple[AccessToken | None, bool]:
        """(the token, expired?) — (None, False) when the sandbox never issued it."""
        data = await self._get_json(f"wx:token:{token}")
        if data is None or data["kind"] != kind:
            return None, False
        item = AccessToken(**data)
        expired_upto = max(
            await self._read_count(f"wx:expired-upto:{item.appid}"),
            await self._read_count("wx:expired-upto"),
        )
        return item, item.expires_at <= time.time() or item.serial <= expired_upto

    async def expire_tokens(self, appid: str | None = None) -> int:
        """Expire every access token issued so far (of appid, when given); returns how many."""
        newest = await self._read_count("wx:token-serial")
        scope = f":{appid}" if appid else ""
        await self._set_json(f"wx:expired-upto{scope}", newest, ttl_s=KEEP_S)
        return await self._read_count(f"wx:issued{scope}")

    # --- one-time codes -------------------------------------------------------------------

    async def add_login_code(self, appid: str, openid: str, unionid: str | None) -> str:
        code = random_token(32)
        item = LoginCode(appid, openid, unionid, time.time() + CODE_TTL_S)
        await self._set_json(f"wx:login-code:{code}", item.__dict__, ttl_s=CODE_TTL_S)
        await self._set_json(f"wx:user:{appid}:{openid}", {"unionid": unionid}, ttl_s=KEEP_S)
        return code

    async def take_login_code(self, code: str, appid: str) -> LoginCode | None:
        """The login code if it is live and belongs to appid; it is burnt either way."""
        data = await self._take_json(f"wx:login-code:{code}")
        item = None if data is None else LoginCode(**data)
        if item is None or item.appid != appid or item.expires_at <= time.time():
            return None
        return item

    async def user_unionid(self, appid: str, openid: str) -> str | None:
        """The unionid of a user the sandbox has handed a login code for, if it has one."""
        data = await self._get_json(f"wx:user:{appid}:{openid}")
        return None if data is None else data["unionid"]

    async def add_phone_code(self, appid: str, phone: str) -> str:
        code = random_token(64, string.hexdigits.lower()[:16])
        item = PhoneCode(appid, phone, time.time() + CODE_TTL_S)
        await self._set_json(f"wx:phone-code:{code}", item.__dict__, ttl_s=CODE_TTL_S)
        return code

    async def take_phone_code(self, code: str, appid: str) -> PhoneCode | None:
        data = await self._take_json(f"wx:phone-code:{code}")
        item = None if data is None else PhoneCode(**data)
        if item is None or item.appid != appid or item.expires_at <= time.time():
            return None
        return item

    async def add_alipay_code(self, app_id: str, user_id: str, open_id: str | None) -> str:
        code = random_token(32, string.ascii_letters + string.digits)
        item = AlipayAuthCode(app_id, user_id, open_id, time.time() + CODE_TTL_S)
        await self._set_json(f"alipay:auth-code:{code}", item.__dict__, ttl_s=CODE_TTL_S)
        return code

    async def take_alipay_code(self, code: str, app_id: str) -> AlipayAuthCode | None:
        data = await self._take_json(f"alipay:auth-code:{code}")
        item = None if data is None else AlipayAuthCode(**data)
        if item is None or item.app_id != app_id or item.expires_at <= time.time():
            return None
        return item

    # --- official-account objects -----------------------------------------------------------

    async def add_qrcode(self, ticket: str, qrcode: dict[str, Any]) -> None:
        expire_seconds = qrcode.get("expire_seconds")
        await self._set_json(f"wx:qrcode:{ticket}", qrcode, ttl_s=expire_seconds or KEEP_S)

    async def set_menu(self, appid: str, menu: dict[str, Any]) -> None:
        store, prefix = await self._scope()
        async with store.lock(prefix + "wx:menus"):
            menus = await self._get_json("wx:menus") or {}
            menus[appid] = menu
            await self._set_json("wx:menus", menus, ttl_s=KEEP_S)

    async def menus(self) -> dict[str, dict[str, Any]]:
        """The menu last created, by appid."""
        menus: dict[str, dict[str, Any]] = await self._get_json("wx:menus") or {}
        return menus

    # --- Alipay apps ----------------------------------------------------------------------

    async def set_alipay_app_key(self, app_id: str, pem: str | None) -> None:
        """The key that verifies app_id's requests; None turns verification off for it."""
        await self._set_json(f"alipay:app:{app_id}", {"pem": pem}, ttl_s=KEEP_S)

    async def alipay_app_key(self, app_id: str, default: str) -> str | None:
        """The key registered for app_id (None: do not verify), else default."""
        data = await self._get_json(f"alipay:app:{app_id}")
        return default if data is None else data["pem"]

    # --- what memberhub sent ----------------------------------------------------------------

    async def record_sent(self, kind: str, appid: str, touser: str, payload: dict[str, Any]) -> int:
        """Remember a message memberhub sent; returns its msgid."""
        msgid = 1000 + await self._count("wx:msgid")
        store, prefix = await self._scope()
        message = {
            "msgid": msgid,
            "kind": kind,
            "appid": appid,
            "touser": touser,
            "payload": payload,
            "sent_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        async with store.lock(prefix + "wx:sent"):
            sent = await self._get_json("wx:sent") or []
            sent.append(message)
            await self._set_json("wx:sent", sent[-SENT_KEPT:], ttl_s=KEEP_S)
        return msgid

    async def sent_newest_first(self) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = await self._get_json("wx:sent") or []
        return list(reversed(sent))

    # --- payment trades -------------------------------------------------------------------

    @asynccontextmanager
    async def trade_lock(self, out_trade_no: str) -> AsyncIterator[None]:
        """Held while a trade is read, changed and written back, across processes."""
        store, prefix = await self._scope()
        async with store.lock(f"{prefix}pay:lock:{out_trade_no}", ttl_s=30, wait_s=20):
            yield

    async def trade_data(self, out_trade_no: str) -> dict[str, Any] | None:
        """A payment trade as stored (see sandbox/payments.py SandboxTrade), or None."""
        data: dict[str, Any] | None = await self._get_json(f"pay:trade:{out_trade_no}")
        return data

    async def save_trade_data(self, out_trade_no: str, data: dict[str, Any]) -> None:
        """Store a trade (under `trade_lock`); a new one joins the index bills are made from."""
        if await self._get_json(f"pay:trade:{out_trade_no}") is None:
            store, prefix = await self._scope()
            async with store.lock(prefix + "pay:trades"):
                index = await self._get_json("pay:trades") or []
                index.append(out_trade_no)
                await self._set_json("pay:trades", index, ttl_s=KEEP_S)
        await self._set_json(f"pay:trade:{out_trade_no}", data, ttl_s=KEEP_S)

    async def trade_numbers(self) -> list[str]:
        """Every out_trade_no the sandbox has recorded, oldest first."""
        index: list[str] = await self._get_json("pay:trades") or []
        return index

    async def add_payment_code(self, auth_code: str, data: dict[str, Any]) -> None:
        """A payment code (付款码) a player minted, with its payer and behaviour."""
        await self._set_json(f"pay:code:{auth_code}", data, ttl_s=CODE_TTL_S)

    async def take_payment_code(self, auth_code: str) -> dict[str, Any] | None:
        """The payment code's data; a code charges once, so it is burnt."""
        data: dict[str, Any] | None = await self._take_json(f"pay:code:{auth_code}")
        return data

    async def set_flag(self, key: str, value: Any) -> None:
        """Remember a small platform setting (unknown sub-merchants, revoked app auth tokens)."""
        await self._set_json(f"pay:flag:{key}", value, ttl_s=KEEP_S)

    async def flag(self, key: str) -> Any:
        """A setting stored with `set_flag`, or None."""
        return await self._get_json(f"pay:flag:{key}")

    # --- access-token grants, send failures (appended) -------------------------------------

    async def set_token_delay(self, appid: str | None, ms: int) -> None:
        """Make every cgi-bin/token grant (of appid, when given) take ms milliseconds."""
        await self._set_json(f"wx:token-delay:{appid or '*'}", ms, ttl_s=KEEP_S)

    async def token_delay_ms(self, appid: str) -> int:
        delay = await self._get_json(f"wx:token-delay:{appid}")
        if delay is None:
            delay = await self._get_json("wx:token-delay:*")
        return int(delay or 0)

    async def record_token_grant(self, appid: str, started_at: float, ended_at: float) -> None:
        """Remember one cgi-bin/token grant of appid and when it was being served."""
        store, prefix = await self._scope()
        async with store.lock(prefix + f"wx:token-grants:{appid}"):
            grants = await self._get_json(f"wx:token-grants:{appid}") or []
            grants.append({"started_at": started_at, "ended_at": ended_at})
            await self._set_json(f"wx:token-grants:{appid}", grants[-SENT_KEPT:], ttl_s=KEEP_S)

    async def token_grants(self, appid: str) -> list[dict[str, float]]:
        """appid's cgi-bin/token grants, oldest first."""
        grants: list[dict[str, float]] = await self._get_json(f"wx:token-grants:{appid}") or []
        return grants

    async def fail_sends(self, appid: str, errcode: int, times: int) -> None:
        """The next `times` message sends of appid answer errcode."""
        await self._set_json(
            f"wx:fail-sends:{appid}", {"errcode": errcode, "times": times}, ttl_s=KEEP_S
        )

    async def take_send_failure(self, appid: str) -> int | None:
        """The errcode this send of appid must answer, if a player asked for failures."""
        store, prefix = await self._scope()
        async with store.lock(prefix + f"wx:fail-sends:{appid}"):
            failing = await self._get_json(f"wx:fail-sends:{appid}")
            if not failing or failing["times"] <= 0:
                return None
            failing["times"] -= 1
            await self._set_json(f"wx:fail-sends:{appid}", failing, ttl_s=KEEP_S)
            return int(failing["errcode"])

    async def record_qrcode_call(self, appid: str, call: dict[str, Any]) -> None:
        """Remember a QR code or mini-program code appid asked for."""
        store, prefix = await self._scope()
        async with store.lock(prefix + f"wx:qrcode-calls:{appid}"):
            calls = await self._get_json(f"wx:qrcode-calls:{appid}") or []
            calls.append(call)
            await self._set_json(f"wx:qrcode-calls:{appid}", calls[-SENT_KEPT:], ttl_s=KEEP_S)

    async def qrcode_calls(self, appid: str) -> list[dict[str, Any]]:
        """The QR codes and mini-program codes appid asked for, oldest first."""
        calls: list[dict[str, Any]] = await self._get_json(f"wx:qrcode-calls:{appid}") or []
        return calls

    # --- official-account user tags and personalised menus -----------------------------------

    async def _tags_locked(self, appid: str) -> AbstractAsyncContextManager[None]:
        store, prefix = await self._scope()
        return store.lock(f"{prefix}wx:tags-lock:{appid}")

    async def _tag_table(self, appid: str) -> dict[str, Any]:
        table: dict[str, Any] = await self._get_json(f"wx:tags:{appid}") or {
            "next": 100,
            "tags": {},
        }
        return table

    async def create_tag(self, appid: str, name: str) -> int | None:
        """A new tag's id; None when the account already has a tag of that name."""
        async with await self._tags_locked(appid):
            table = await self._tag_table(appid)
            if any(tag["name"] == name for tag in table["tags"].values()):
                return None
            tag_id = table["next"]
            table["next"] = tag_id + 1
            table["tags"][str(tag_id)] = {"name": name, "openids": []}
            await self._set_json(f"wx:tags:{appid}", table, ttl_s=KEEP_S)
            return int(tag_id)

    async def tags(self, appid: str) -> list[dict[str, Any]]:
        """The account's tags: [{id, name, count, openids}]."""
        table = await self._tag_table(appid)
        return [
            {"id": int(tag_id), "name": tag["name"], "count": len(tag["openids"]), **tag}
            for tag_id, tag in table["tags"].items()
        ]

    async def tag_members(self, appid: str, tag_id: int, openids: list[str], *, on: bool) -> bool:
        """Put the tag on (or take it off) the users; False when the tag does not exist."""
        async with await self._tags_locked(appid):
            table = await self._tag_table(appid)
            tag = table["tags"].get(str(tag_id))
            if tag is None:
                return False
            members = [openid for openid in tag["openids"] if openid not in openids]
            tag["openids"] = members + list(dict.fromkeys(openids)) if on else members
            await self._set_json(f"wx:tags:{appid}", table, ttl_s=KEEP_S)
            return True

    async def user_tags(self, appid: str, openid: str) -> list[int]:
        """The ids of the tags a user carries."""
        return [tag["id"] for tag in await self.tags(appid) if openid in tag["openids"]]

    async def add_conditional_menu(self, appid: str, menu: dict[str, Any]) -> str:
        """Remember a personalised menu; its menuid."""
        store, prefix = await self._scope()
        menuid = str(400000000 + await self._count("wx:menuid"))
        async with store.lock(prefix + "wx:conditional-menus"):
            menus = await self._get_json("wx:conditional-menus") or {}
            menus.setdefault(appid, []).append({**menu, "menuid": menuid})
            await self._set_json("wx:conditional-menus", menus, ttl_s=KEEP_S)
        return menuid

    async def delete_conditional_menu(self, appid: str, menuid: str) -> bool:
        """Forget a personalised menu; False when the account has none with that id."""
        store, prefix = await self._scope()
        async with store.lock(prefix + "wx:conditional-menus"):
            menus = await self._get_json("wx:conditional-menus") or {}
            kept = [menu for menu in menus.get(appid, []) if menu["menuid"] != menuid]
            if len(kept) == len(menus.get(appid, [])):
                return False
            menus[appid] = kept
            await self._set_json("wx:conditional-menus", menus, ttl_s=KEEP_S)
        return True

    async def conditional_menus(self) -> dict[str, list[dict[str, Any]]]:
        """The personalised menus, oldest first, by appid."""
        menus: dict[str, list[dict[str, Any]]] = await self._get_json("wx:conditional-menus") or {}
        return menus

    # --- mini-program shipping uploads ------------------------------------------------------

    async def record_shipping_upload(self, appid: str, payload: dict[str, Any]) -> None:
        """Remember a shipping upload memberhub made to the mini-program appid."""
        store, prefix = await self._scope()
        upload = {
            "appid": appid,
            "payload": payload,
            "uploaded_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        async with store.lock(prefix + "wx:shipping"):
            uploads = await self._get_json("wx:shipping") or []
            uploads.append(upload)
            await self._set_json("wx:shipping", uploads[-SENT_KEPT:], ttl_s=KEEP_S)

    async def shipping_uploads(self) -> list[dict[str, Any]]:
        """The shipping uploads, oldest first."""
        uploads: list[dict[str, Any]] = await self._get_json("wx:shipping") or []
        return uploads

    async def set_shipping_failures(self, appid: str, failures: int) -> None:
        """The next `failures` shipping uploads to appid answer a system error."""
        await self._set_json(f"wx:shipping-fail:{appid}", failures, ttl_s=KEEP_S)

    async def take_shipping_failure(self, appid: str) -> bool:
        """Whether this shipping upload to appid fails (one fewer to fail afterwards)."""
        store, prefix = await self._scope()
        async with store.lock(prefix + f"wx:shipping-fail:{appid}"):
            left = int(await self._get_json(f"wx:shipping-fail:{appid}") or 0)
            if left <= 0:
                return False
            await self._set_json(f"wx:shipping-fail:{appid}", left - 1, ttl_s=KEEP_S)
            return True
