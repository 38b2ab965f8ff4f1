"""Payment trades as the sandbox's platforms keep them, and the player routes that move them.

Every trade a provider creates (WeChat Pay v3 jsapi, v2 unifiedorder/micropay, Alipay
trade.create/trade.pay) is a `SandboxTrade`, stored in `SandboxState` (shared by every process)
and keyed by out_trade_no. What differs between platforms (the notification's wire format, what
counts as an acknowledgement, the bill's format, the retry schedule) lives in a `Platform`
object of the platform's module, registered in `REGISTRY` by `create_sandbox_blueprint`.

Platform API (a platform module exposes one object per platform name):

    class Platform(Protocol):
        name: str                               # "wechatpay_v3" | "wechatpay_v2" | "alipay"
        retry_schedule_s: tuple[float, ...]     # waits between background re-deliveries
        def paid_notification(self, trade) -> tuple[dict[str, str], bytes]
        def refund_notification(self, trade, refund: dict) -> tuple[dict[str, str], bytes]
        def forged_notification(self, trade, kind: str) -> tuple[dict[str, str], bytes]
        def acknowledged(self, status: int, body: bytes) -> bool
        def bill(self, trades: list[SandboxTrade], day: date) -> tuple[str, bytes]

`REGISTRY.register(platform)` adds one (idempotent by name); `REGISTRY.get(name)`.
`bill` gets every trade of the account (the platform family's, whose notify_url ends in the
account key) and picks the day's own lines. A refund is a dict (see `add_refund`).
`forged_notification` may raise `ValueError` for a kind it does not play (→ 400).

Helpers the platform modules share: `create_trade`, `load_trade`, `save_trade`, `mark_paid`,
`charge_with_code`, `take_payment_code`, `cancel_trade`, `close_trade`, `add_refund`,
`find_refund`, `deliver` (with background retries), `mint_transaction_id`.

Player routes (JSON; errors `{"error": {"code": "sandbox.invalid", ...}}` with 400/404/409):
- POST /payments/{out_trade_no}/pay {payer?, deliveries? (0..50; 0: the notification is lost),
  delay_s?, retry_scale?}
  → {out_trade_no, transaction_id, deliveries: [{status, body, acknowledged}]}. With delay_s
  the deliveries happen that many seconds later in the background and the answer's
  `deliveries` is empty (`scheduled: true`).
- GET /payments/{out_trade_no} → the trade.
- POST /payments/{out_trade_no}/forge {kind, url?} → {status, body}. Kind `genuine` sends the
  paid trade's real notification (to another account's URL, say).
- POST /payments/{out_trade_no}/refunds/{out_refund_no}/notify {retry_scale?}
  → {out_refund_no, refund_id, deliveries}.
- POST /payment-codes {provider: wechat|alipay, payer?, behaviour?, confirm_after_s?}
  → {auth_code, provider, payer, behaviour}.
- GET /bills/{provider}/{account_key}/{date} → the bill in the platform's format.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import string
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Protocol

import httpx
from sanic import Blueprint, HTTPResponse, Request
from sanic.response import json as json_response
from sanic.response import raw

from . import outbound
from .player import bad_player_request, player_body, route_state
from .state import SandboxState, new_alipay_user_id, new_openid

log = logging.getLogger("memberhub.sandbox.payments")

CHINA = timezone(timedelta(hours=8))
DELIVERY_TIMEOUT_S = 5.0  # WeChat Pay and Alipay both give up on a callback after about 5 s
MAX_DELIVERIES = 50
# The forge kind that is no forgery: the trade's real notification, sent wherever asked (to
# check that a notification of one account is refused at another account's URL).
GENUINE = "genuine"
BODY_EXCERPT = 500
DEFAULT_CONFIRM_AFTER_S = 2.0

# Trade states, WeChat's words (Alipay's module maps them to its own on the wire).
NOTPAY = "NOTPAY"
USERPAYING = "USERPAYING"
SUCCESS = "SUCCESS"
CLOSED = "CLOSED"
REVOKED = "REVOKED"
PAYERROR = "PAYERROR"
REFUND = "REFUND"
PAID_STATES = frozenset({SUCCESS, REFUND})

# Payment codes: WeChat's are 18 digits starting 10–15, Alipay's 28 digits starting 25–30.
CODE_FORMATS = {"wechat": (range(10, 16), 18), "alipay": (range(25, 31), 28)}
BEHAVIOURS = ("success", "userpaying", "fail")


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass
class SandboxTrade:
    """One trade at a platform. Times are ISO 8601 strings in UTC ("" when not yet).

    payer holds the platform's names: WeChat direct {"openid"}, partner {"sp_openid"} or
    {"sub_openid"}; Alipay {"buyer_id"} or {"buyer_open_id"}. extra holds what only one
    platform reads (v2 sign_type, trade_type, attach, a payment code's confirm_at, the last
    notification delivered, ...).
    """

    platform: str
    out_trade_no: str
    amount_fen: int
    description: str = ""
    notify_url: str = ""
    mchid: str = ""  # WeChat mchid, or sp_mchid in partner mode
    sub_mchid: str = ""
    appid: str = ""  # WeChat appid, or sp_appid in partner mode
    sub_appid: str = ""
    app_id: str = ""  # Alipay
    seller_id: str = ""
    app_auth_token: str = ""
    payer: dict[str, str] = field(default_factory=dict)
    state: str = NOTPAY
    transaction_id: str = ""
    paid_at: str = ""
    created_at: str = ""
    closed_at: str = ""
    refunds: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def partner(self) -> bool:
        return bool(self.sub_mchid)

    @property
    def account_key(self) -> str:
        """The last path segment of notify_url: memberhub's account key."""
        return self.notify_url.rstrip("/").rsplit("/", 1)[-1] if self.notify_url else ""

    @property
    def refunded_fen(self) -> int:
        return sum(r["amount_fen"] for r in self.refunds if r.get("state") != "ABNORMAL")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SandboxTrade:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def public(self) -> dict[str, Any]:
        """The trade as the player route shows it (the last notification's bytes left out)."""
        data = self.to_dict()
        data["extra"] = {k: v for k, v in self.extra.items() if k != "last_notification"}
        data["refunded_fen"] = self.refunded_fen
        return data


class Platform(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def retry_schedule_s(self) -> tuple[float, ...]: ...

    def paid_notification(self, trade: SandboxTrade) -> tuple[dict[str, str], bytes]: ...

    def refund_notification(
        self, trade: SandboxTrade, refund: dict[str, Any]
    ) -> tuple[dict[str, str], bytes]: ...

    def forged_notification(
        self, trade: SandboxTrade, kind: str
    ) -> tuple[dict[str, str], bytes]: ...

    def acknowledged(self, status: int, body: bytes) -> bool: ...

    def bill(self, trades: list[SandboxTrade], day: date) -> tuple[str, bytes]: ...


class PlatformRegistry:
    """The platforms the player routes serve, by name."""

    def __init__(self) -> None:
        self._platforms: dict[str, Platform] = {}

    def register(self, platform: Platform) -> None:
        self._platforms[platform.name] = platform

    def get(self, name: str) -> Platform:
        return self._platforms[name]

    def names(self) -> list[str]:
        return sorted(self._platforms)


REGISTRY = PlatformRegistry()

# The sandbox's own background deliveries: kept referenced until they finish.
_background: set[asyncio.Task[None]] = set()


def _spawn(coroutine: Any) -> None:
    task = asyncio.get_running_loop().create_task(coroutine)
    _background.add(task)
    task.add_done_callback(_background.discard)


def mint_transaction_id(platform: str, moment: datetime | None = None) -> str:
    """A platform trade number: WeChat "42000…" (28 digits), Alipay yyyymmdd + 20 digits."""
    moment = (moment or now_utc()).astimezone(CHINA)
    digits = string.digits
    if platform == "alipay":
        return moment.strftime("%Y%m%d") + "".join(secrets.choice(digits) for _ in range(20))
    return (
        "4200"
        + "".join(secrets.choice(digits) for _ in range(6))
        + moment.strftime("%Y%m%d")
        + "".join(secrets.choice(digits) for _ in range(10))
    )


def mint_refund_id(platform: str) -> str:
    prefix = "5030" if platform != "alipay" else "2088"
    return prefix + "".join(secrets.choice(string.digits) for _ in range(25))


# --- trades -----------------------------------------------------------------------------------


def _promote(trade: SandboxTrade) -> bool:
    """A payer who was confirming a payment code has confirmed by now: the trade is paid."""
    confirm_at = trade.extra.get("confirm_at")
    if trade.state != USERPAYING or not confirm_at:
        return False
    moment = parse_iso(confirm_at)
    if moment > now_utc():
        return False
    trade.state = SUCCESS
    trade.paid_at = iso(moment)
    trade.transaction_id = trade.transaction_id or mint_transaction_id(trade.platform, moment)
    return True


async def load_trade(state: SandboxState, out_trade_no: str) -> SandboxTrade | None:
    """The trade as it is now (a confirming payer whose time has come has paid), or None."""
    data = await state.trade_data(out_trade_no)
    if data is None:
        return None
    trade = SandboxTrade.from_dict(data)
    if trade.state == USERPAYING and trade.extra.get("confirm_at"):
        async with state.trade_lock(out_trade_no):
            data = await state.trade_data(out_trade_no)
            assert data is not None
            trade = SandboxTrade.from_dict(data)
            if _promote(trade):
                await save_trade(state, trade)
    return trade


async def save_trade(state: SandboxState, trade: SandboxTrade) -> None:
    """Write the trade back (call under `state.trade_lock(trade.out_trade_no)`)."""
    await state.save_trade_data(trade.out_trade_no, trade.to_dict())


async def create_trade(state: SandboxState, trade: SandboxTrade) -> tuple[SandboxTrade, bool]:
    """Record a new trade; (the trade already recorded under its out_trade_no, False) if any.

    The caller compares the existing trade with what was asked (amount, merchant) and answers
    as its platform does.
    """
    async with state.trade_lock(trade.out_trade_no):
        existing = await state.trade_data(trade.out_trade_no)
        if existing is not None:
            return SandboxTrade.from_dict(existing), False
        trade.created_at = trade.created_at or iso(now_utc())
        await save_trade(state, trade)
        return trade, True


async def mark_paid(
    state: SandboxState, out_trade_no: str, payer: dict[str, str] | None = None
) -> SandboxTrade | None:
    """The consumer pays: SUCCESS with a new transaction id (an already paid trade is kept as
    it is). None if there is no such trade; a closed one is returned unchanged."""
    async with state.trade_lock(out_trade_no):
        data = await state.trade_data(out_trade_no)
        if data is None:
            return None
        trade = SandboxTrade.from_dict(data)
        _promote(trade)
        if trade.state in (NOTPAY, USERPAYING):
            if payer:
                trade.payer = _merged_payer(trade, payer)
            trade.state = SUCCESS
            moment = now_utc()
            trade.paid_at = iso(moment)
            trade.transaction_id = trade.transaction_id or mint_transaction_id(
                trade.platform, moment
            )
            trade.extra.pop("confirm_at", None)
        await save_trade(state, trade)
        return trade


def _merged_payer(trade: SandboxTrade, given: dict[str, str]) -> dict[str, str]:
    """The player's payer under the trade's own names (openid → sub_openid in partner mode)."""
    payer = dict(trade.payer)
    alipay = trade.platform == "alipay"
    for key, value in given.items():
        if not isinstance(value, str) or not value:
            continue
        if key == "openid" and not alipay:
            name = next((k for k in ("sub_openid", "sp_openid") if k in payer), "openid")
            payer = {name: value}
        elif key in (("buyer_id", "buyer_open_id") if alipay else ("sp_openid", "sub_openid")):
            payer = {key: value}
    return payer


async def take_payment_code(
    state: SandboxState, auth_code: str, provider: str
) -> dict[str, Any] | None:
    """The payment code minted by POST /payment-codes for provider ("wechat" | "alipay"), once.

    {provider, payer, behaviour, confirm_after_s}; None for a code never minted, already used,
    expired, or minted for the other provider.
    """
    data = await state.take_payment_code(auth_code)
    if data is None or data.get("provider") != provider:
        return None
    return data


async def charge_with_code(
    state: SandboxState, trade: SandboxTrade, code: dict[str, Any]
) -> SandboxTrade:
    """Apply a payment code's behaviour to a new trade and store it.

    success → SUCCESS now; userpaying → USERPAYING, SUCCESS after confirm_after_s (never when
    null); fail → PAYERROR.
    """
    moment = now_utc()
    trade.payer = dict(code.get("payer") or {})
    trade.created_at = trade.created_at or iso(moment)
    behaviour = code.get("behaviour", "success")
    if behaviour == "success":
        trade.state = SUCCESS
        trade.paid_at = iso(moment)
        trade.transaction_id = mint_transaction_id(trade.platform, moment)
    elif behaviour == "userpaying":
        trade.state = USERPAYING
        trade.transaction_id = mint_transaction_id(trade.platform, moment)
        after = code.get("confirm_after_s", DEFAULT_CONFIRM_AFTER_S)
        if after is not None:
            trade.extra["confirm_at"] = iso(moment + timedelta(seconds=float(after)))
    else:
        trade.state = PAYERROR
    async with state.trade_lock(trade.out_trade_no):
        await save_trade(state, trade)
    return trade


async def close_trade(state: SandboxState, out_trade_no: str) -> SandboxTrade | None:
    """Close an unpaid trade (CLOSED); a paid one is returned unchanged for the caller to refuse."""
    async with state.trade_lock(out_trade_no):
        data = await state.trade_data(out_trade_no)
        if data is None:
            return None
        trade = SandboxTrade.from_dict(data)
        _promote(trade)
        if trade.state in (NOTPAY, USERPAYING, PAYERROR):
            trade.state = CLOSED
            trade.closed_at = iso(now_utc())
            trade.extra.pop("confirm_at", None)
        await save_trade(state, trade)
        return trade


async def cancel_trade(state: SandboxState, out_trade_no: str) -> SandboxTrade | None:
    """Reverse / cancel a payment-code trade whatever its state: REVOKED (a paid one is given
    back to the payer by the platform)."""
    async with state.trade_lock(out_trade_no):
        data = await state.trade_data(out_trade_no)
        if data is None:
            return None
        trade = SandboxTrade.from_dict(data)
        _promote(trade)
        if trade.state != REVOKED:
            trade.extra["was_paid"] = trade.state in PAID_STATES
            trade.state = REVOKED
            trade.closed_at = iso(now_utc())
            trade.extra.pop("confirm_at", None)
        await save_trade(state, trade)
        return trade


def find_refund(trade: SandboxTrade, out_refund_no: str) -> dict[str, Any] | None:
    return next((r for r in trade.refunds if r["out_refund_no"] == out_refund_no), None)


async def add_refund(
    state: SandboxState,
    out_trade_no: str,
    *,
    out_refund_no: str,
    amount_fen: int,
    reason: str = "",
    notify_url: str = "",
    refund_state: str = "PROCESSING",
) -> tuple[SandboxTrade, dict[str, Any]] | str:
    """Record a refund of a paid trade; the same out_refund_no again returns the first one.

    Refund dict: {out_refund_no, refund_id, amount_fen, total_fen, reason, notify_url, state
    ("PROCESSING" | "SUCCESS"), created_at, success_at}. Returns a reason string instead when
    refused: "not_found", "not_paid", "amount_mismatch" (same out_refund_no, other amount),
    "exceeds" (more than what is left).
    """
    async with state.trade_lock(out_trade_no):
        data = await state.trade_data(out_trade_no)
        if data is None:
            return "not_found"
        trade = SandboxTrade.from_dict(data)
        _promote(trade)
        existing = find_refund(trade, out_refund_no)
        if existing is not None:
            return (trade, existing) if existing["amount_fen"] == amount_fen else "amount_mismatch"
        if trade.state not in PAID_STATES:
            return "not_paid"
        if amount_fen <= 0 or trade.refunded_fen + amount_fen > trade.amount_fen:
            return "exceeds"
        moment = now_utc()
        refund = {
            "out_refund_no": out_refund_no,
            "refund_id": mint_refund_id(trade.platform),
            "amount_fen": amount_fen,
            "total_fen": trade.amount_fen,
            "reason": reason,
            "notify_url": notify_url,
            "state": refund_state,
            "created_at": iso(moment),
            "success_at": iso(moment) if refund_state == "SUCCESS" else "",
        }
        trade.refunds.append(refund)
        trade.state = REFUND
        await save_trade(state, trade)
        return trade, refund


async def settle_refund(
    state: SandboxState, out_trade_no: str, out_refund_no: str
) -> tuple[SandboxTrade, dict[str, Any]] | None:
    """The platform finishes a PROCESSING refund: SUCCESS (a done one is returned as it is)."""
    async with state.trade_lock(out_trade_no):
        data = await state.trade_data(out_trade_no)
        if data is None:
            return None
        trade = SandboxTrade.from_dict(data)
        refund = find_refund(trade, out_refund_no)
        if refund is None:
            return None
        if refund["state"] == "PROCESSING":
            refund["state"] = "SUCCESS"
            refund["success_at"] = iso(now_utc())
            await save_trade(state, trade)
        return trade, refund


# --- delivery ---------------------------------------------------------------------------------


async def _post(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], body: bytes
) -> tuple[int, bytes]:
    try:
        answer = await http.post(url, headers=headers, content=body)
    except httpx.HTTPError as exc:
        log.info("delivery to %s failed: %s", url, exc.__class__.__name__)
        return 0, b""
    return answer.status_code, answer.content


async def _record(
    state: SandboxState,
    out_trade_no: str,
    kind: str,
    results: list[dict[str, Any]],
    sent: tuple[dict[str, str], bytes] | None,
) -> None:
    async with state.trade_lock(out_trade_no):
        data = await state.trade_data(out_trade_no)
        if data is None:
            return
        trade = SandboxTrade.from_dict(data)
        for result in results:
            trade.deliveries.append({"kind": kind, **result})
        if sent is not None:
            headers, body = sent
            trade.extra["last_notification"] = {
                "headers": headers,
                "body": body.decode("utf-8", errors="replace"),
            }
        await save_trade(state, trade)


async def post_once(url: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    """POST one notification to url; (0, b"") when it could not be delivered."""
    async with outbound.client(timeout=DELIVERY_TIMEOUT_S) as http:
        return await _post(http, url, headers, body)


async def deliver(
    state: SandboxState,
    platform: Platform,
    trade: SandboxTrade,
    *,
    kind: str = "payment",
    refund: dict[str, Any] | None = None,
    times: int = 1,
    retry_scale: float = 1.0,
) -> list[dict[str, Any]]:
    """Deliver the trade's payment (or refund) notification `times` times at once.

    Every attempt is recorded on the trade. When none was acknowledged, re-deliveries go on in
    the background, on the platform's schedule times retry_scale, until one is.
    """
    url = (refund or {}).get("notify_url") or trade.notify_url
    headers, body = _notification(platform, trade, kind, refund)
    async with outbound.client(timeout=DELIVERY_TIMEOUT_S) as http:
        answers = await asyncio.gather(
            *(_post(http, url, headers, body) for _ in range(max(1, times)))
        )
    results = [_result(platform, status, answer) for status, answer in answers]
    await _record(state, trade.out_trade_no, kind, results, (headers, body))
    if not any(r["acknowledged"] for r in results) and platform.retry_schedule_s:
        _spawn(_retry(state, platform, trade.out_trade_no, kind, refund, retry_scale))
    return results


def _notification(
    platform: Platform, trade: SandboxTrade, kind: str, refund: dict[str, Any] | None
) -> tuple[dict[str, str], bytes]:
    if kind == "refund":
        assert refund is not None
        return platform.refund_notification(trade, refund)
    return platform.paid_notification(trade)


def _result(platform: Platform, status: int, body: bytes) -> dict[str, Any]:
    return {
        "at": iso(now_utc()),
        "status": status,
        "body": body[:BODY_EXCERPT].decode("utf-8", errors="replace"),
        "acknowledged": status != 0 and platform.acknowledged(status, body),
    }


async def _retry(
    state: SandboxState,
    platform: Platform,
    out_trade_no: str,
    kind: str,
    refund: dict[str, Any] | None,
    scale: float,
) -> None:
    for wait_s in platform.retry_schedule_s:
        await asyncio.sleep(wait_s * scale)
        trade = await load_trade(state, out_trade_no)
        if trade is None:
            return
        if refund is not None:
            refund = find_refund(trade, refund["out_refund_no"]) or refund
        url = (refund or {}).get("notify_url") or trade.notify_url
        headers, body = _notification(platform, trade, kind, refund)
        status, answer = await post_once(url, headers, body)
        result = _result(platform, status, answer)
        result["retry"] = True
        await _record(state, out_trade_no, kind, [result], (headers, body))
        if result["acknowledged"]:
            return


async def _deliver_later(
    state: SandboxState,
    platform: Platform,
    trade: SandboxTrade,
    delay_s: float,
    times: int,
    retry_scale: float,
) -> None:
    await asyncio.sleep(delay_s)
    await deliver(state, platform, trade, times=times, retry_scale=retry_scale)


# --- player routes ----------------------------------------------------------------------------


def _not_found(what: str) -> HTTPResponse:
    return json_response(
        {"error": {"code": "sandbox.not_found", "message": f"no such {what}"}}, status=404
    )


def _platform_of(trade: SandboxTrade) -> Platform | None:
    try:
        return REGISTRY.get(trade.platform)
    except KeyError:
        return None


def _number(value: Any, default: float, *, low: float, high: float) -> float | None:
    """A number from a player's body within [low, high]; None when it is not one."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if low <= value <= high else None


async def player_pay(request: Request, out_trade_no: str) -> HTTPResponse:
    """POST /payments/{out_trade_no}/pay: the consumer pays; the notification is delivered."""
    state = route_state(request)
    data = player_body(request)
    payer = data.get("payer")
    if payer is not None and not isinstance(payer, dict):
        return bad_player_request("payer must be an object")
    times = data.get("deliveries", 1)
    if isinstance(times, bool) or not isinstance(times, int) or not 0 <= times <= MAX_DELIVERIES:
        return bad_player_request(f"deliveries must be an integer from 0 to {MAX_DELIVERIES}")
    delay_s = _number(data.get("delay_s"), 0, low=0, high=3600)
    retry_scale = _number(data.get("retry_scale"), 1, low=0, high=100)
    if delay_s is None or retry_scale is None:
        return bad_player_request("delay_s and retry_scale must be non-negative numbers")
    existing = await load_trade(state, out_trade_no)
    if existing is None:
        return _not_found("trade")
    platform = _platform_of(existing)
    if platform is None:
        return bad_player_request(f"no platform {existing.platform} in this sandbox")
    trade = await mark_paid(state, out_trade_no, payer)
    assert trade is not None
    if trade.state not in PAID_STATES:
        return json_response(
            {"error": {"code": "sandbox.conflict", "message": f"the trade is {trade.state}"}},
            status=409,
        )
    answer: dict[str, Any] = {
        "out_trade_no": out_trade_no,
        "transaction_id": trade.transaction_id,
        "deliveries": [],
    }
    if times == 0:  # the notification is lost: the merchant has to ask (query) to know
        return json_response(answer)
    if delay_s > 0:
        _spawn(_deliver_later(state, platform, trade, delay_s, times, retry_scale))
        answer["scheduled"] = True
        return json_response(answer)
    results = await deliver(state, platform, trade, times=times, retry_scale=retry_scale)
    answer["deliveries"] = [{k: r[k] for k in ("status", "body", "acknowledged")} for r in results]
    return json_response(answer, ensure_ascii=False)


async def player_trade(request: Request, out_trade_no: str) -> HTTPResponse:
    """GET /payments/{out_trade_no}: the trade as the platform holds it."""
    trade = await load_trade(route_state(request), out_trade_no)
    if trade is None:
        return _not_found("trade")
    return json_response(trade.public(), ensure_ascii=False)


async def player_forge(request: Request, out_trade_no: str) -> HTTPResponse:
    """POST /payments/{out_trade_no}/forge {kind, url?}: a bad actor's notification, once."""
    data = player_body(request)
    kind, url = data.get("kind"), data.get("url")
    if not isinstance(kind, str) or not kind:
        return bad_player_request("kind is required")
    if url is not None and (not isinstance(url, str) or not url.startswith("http")):
        return bad_player_request("url must be an http(s) URL")
    trade = await load_trade(route_state(request), out_trade_no)
    if trade is None:
        return _not_found("trade")
    platform = _platform_of(trade)
    if platform is None:
        return bad_player_request(f"no platform {trade.platform} in this sandbox")
    try:
        if kind == GENUINE:
            headers, body = platform.paid_notification(trade)
        else:
            headers, body = platform.forged_notification(trade, kind)
    except ValueError as exc:
        return bad_player_request(str(exc))
    status, answer = await post_once(url or trade.notify_url, headers, body)
    return json_response(
        {"status": status, "body": answer.decode("utf-8", errors="replace")}, ensure_ascii=False
    )


async def player_refund_notify(
    request: Request, out_trade_no: str, out_refund_no: str
) -> HTTPResponse:
    """POST /payments/{out_trade_no}/refunds/{out_refund_no}/notify: the refund is done; its
    notification is delivered."""
    state = route_state(request)
    retry_scale = _number(player_body(request).get("retry_scale"), 1, low=0, high=100)
    if retry_scale is None:
        return bad_player_request("retry_scale must be a non-negative number")
    settled = await settle_refund(state, out_trade_no, out_refund_no)
    if settled is None:
        return _not_found("refund")
    trade, refund = settled
    platform = _platform_of(trade)
    if platform is None:
        return bad_player_request(f"no platform {trade.platform} in this sandbox")
    results = await deliver(
        state, platform, trade, kind="refund", refund=refund, retry_scale=retry_scale
    )
    return json_response(
        {
            "out_refund_no": out_refund_no,
            "refund_id": refund["refund_id"],
            "deliveries": [{k: r[k] for k in ("status", "body", "acknowledged")} for r in results],
        },
        ensure_ascii=False,
    )


def _mint_code(provider: str) -> str:
    starts, length = CODE_FORMATS[provider]
    head = str(secrets.choice(starts))
    return head + "".join(secrets.choice(string.digits) for _ in range(length - len(head)))


async def player_payment_code(request: Request) -> HTTPResponse:
    """POST /payment-codes {provider, payer?, behaviour?, confirm_after_s?}: a payment code."""
    data = player_body(request)
    provider = data.get("provider")
    if provider not in CODE_FORMATS:
        return bad_player_request("provider must be wechat or alipay")
    behaviour = data.get("behaviour", "success")
    if behaviour not in BEHAVIOURS:
        return bad_player_request("behaviour must be success, userpaying or fail")
    given = data.get("payer") or {}
    if not isinstance(given, dict):
        return bad_player_request("payer must be an object")
    confirm_after_s: float | None = DEFAULT_CONFIRM_AFTER_S
    if "confirm_after_s" in data:
        raw_after = data["confirm_after_s"]
        confirm_after_s = None if raw_after is None else _number(raw_after, 0, low=0, high=86400)
        if raw_after is not None and confirm_after_s is None:
            return bad_player_request("confirm_after_s must be a non-negative number or null")
    if provider == "wechat":
        payer = {"openid": str(given.get("openid") or new_openid())}
        if given.get("appid"):
            payer["appid"] = str(given["appid"])
    else:
        payer = {"buyer_id": str(given.get("buyer_id") or new_alipay_user_id())}
    auth_code = _mint_code(provider)
    await route_state(request).add_payment_code(
        auth_code,
        {
            "provider": provider,
            "payer": payer,
            "behaviour": behaviour,
            "confirm_after_s": confirm_after_s,
        },
    )
    return json_response(
        {"auth_code": auth_code, "provider": provider, "payer": payer, "behaviour": behaviour}
    )


BILL_PLATFORMS = {"wechatpay": ("wechatpay_v3", "wechatpay_v2"), "alipay": ("alipay",)}


async def account_trades(
    state: SandboxState, platforms: tuple[str, ...], account_key: str | None = None
) -> list[SandboxTrade]:
    """Every trade of these platforms (of one account: notify_url's last segment, if given)."""
    trades = []
    for out_trade_no in await state.trade_numbers():
        trade = await load_trade(state, out_trade_no)
        if trade is None or trade.platform not in platforms:
            continue
        if account_key is not None and trade.account_key != account_key:
            continue
        trades.append(trade)
    return trades


async def player_bill(request: Request, provider: str, account_key: str, day: str) -> HTTPResponse:
    """GET /bills/{provider}/{account_key}/{date}: the account's bill of that day."""
    platforms = BILL_PLATFORMS.get(provider)
    if platforms is None:
        return bad_player_request("provider must be wechatpay or alipay")
    try:
        bill_day = date.fromisoformat(day)
    except ValueError:
        return bad_player_request("date must be YYYY-MM-DD")
    try:
        platform = REGISTRY.get(platforms[0])
    except KeyError:
        return bad_player_request(f"no platform {platforms[0]} in this sandbox")
    trades = await account_trades(route_state(request), platforms, account_key)
    content_type, content = platform.bill(trades, bill_day)
    return raw(content, content_type=content_type)


def create_payments_blueprint(name: str, state: SandboxState) -> Blueprint:
    """The payment player routes as a fresh blueprint named name, remembering in state."""
    bp = Blueprint(name)
    routes: list[tuple[Any, str, list[str]]] = [
        (player_pay, "/payments/<out_trade_no:str>/pay", ["POST"]),
        (player_trade, "/payments/<out_trade_no:str>", ["GET"]),
        (player_forge, "/payments/<out_trade_no:str>/forge", ["POST"]),
        (
            player_refund_notify,
            "/payments/<out_trade_no:str>/refunds/<out_refund_no:str>/notify",
            ["POST"],
        ),
        (player_payment_code, "/payment-codes", ["POST"]),
        (player_bill, "/bills/<provider:str>/<account_key:str>/<day:str>", ["GET"]),
    ]
    for handler, uri, methods in routes:
        bp.add_route(handler, uri, methods=methods, name=handler.__name__, ctx_sandbox=state)
    return bp
