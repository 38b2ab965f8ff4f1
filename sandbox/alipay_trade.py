"""Alipay's trade APIs and async notifications as the sandbox plays them.

Gateway methods (dispatched by sandbox/alipay.py, answered signed like every gateway answer):
alipay.trade.create (mini-program: buyer_id or buyer_open_id), alipay.trade.pay (a payment
code minted by POST /sandbox/payment-codes), alipay.trade.query, alipay.trade.close,
alipay.trade.cancel, alipay.trade.refund (out_request_no), alipay.trade.fastpay.refund.query,
alipay.data.dataservice.bill.downloadurl.query and alipay.open.auth.token.app.query.

A trade belongs to the app and seller that created it: a direct app's seller id is
`alipay_seller_id(app_id)`, an ISV call's `alipay_seller_id(app_id, app_auth_token)` (each
franchisee has its own). Another app or franchisee asking about it is told it does not exist.
Tokens revoked with POST /sandbox/alipay/app-auth/revoked are refused on every trade call.

Notifications (`trade_status_sync`) are form-encoded, signed RSA2 with the sandbox's Alipay key
over Alipay's string to sign (sorted k=v of the non-empty values, without sign and sign_type),
and acknowledged only by the body `success`. Alipay signs no timestamp, so the forged kinds
`stale` and `replay` are simply valid notifications (an old notify_time; the last one again,
byte for byte): memberhub refuses them only by de-duplicating notify_id.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from api.core.money import fen_to_yuan, yuan_to_fen

from .keys import alipay_app_private_pem, alipay_platform_private_pem, alipay_seller_id, rsa2_sign
from .payments import (
    CHINA,
    CLOSED,
    NOTPAY,
    PAID_STATES,
    PAYERROR,
    REFUND,
    REVOKED,
    SUCCESS,
    USERPAYING,
    SandboxTrade,
    add_refund,
    cancel_trade,
    charge_with_code,
    close_trade,
    create_trade,
    find_refund,
    load_trade,
    mint_transaction_id,
    now_utc,
    parse_iso,
    take_payment_code,
)
from .state import SandboxState

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_AMOUNT_FEN = 100_000_000 * 100  # Alipay: at most 100,000,000.00 yuan a trade
RETRY_SCHEDULE_S = (240.0, 600.0, 600.0, 3600.0, 7200.0, 21600.0, 54000.0)
FORM = "application/x-www-form-urlencoded; charset=utf-8"
# The seller another merchant's notification would name.
FOREIGN_APP_ID = "2021009999999999"

Answer = tuple[str, dict[str, Any]]  # (node name, node): the gateway signs and sends it


@dataclass(frozen=True)
class GatewayCall:
    """One verified gateway request: its parameters, its biz_content, and who is calling."""

    state: SandboxState
    params: dict[str, str]
    biz: dict[str, Any]
    sandbox_url: str  # this sandbox's /sandbox URL, for the links it hands out

    @property
    def method(self) -> str:
        return self.params["method"]

    @property
    def app_id(self) -> str:
        return self.params["app_id"]

    @property
    def token(self) -> str:
        return self.params.get("app_auth_token", "")

    @property
    def seller_id(self) -> str:
        return alipay_seller_id(self.app_id, self.token or None)

    @property
    def node_name(self) -> str:
        return self.method.replace(".", "_") + "_response"


def china_time(moment: datetime | str) -> str:
    """A time as Alipay writes it: China time, no offset."""
    if isinstance(moment, str):
        moment = parse_iso(moment)
    return moment.astimezone(CHINA).strftime(TIME_FORMAT)


def _business_error(call: GatewayCall, sub_code: str, sub_msg: str) -> Answer:
    node = {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg}
    return call.node_name, node


def _invalid(call: GatewayCall, sub_msg: str) -> Answer:
    return _business_error(call, "ACQ.INVALID_PARAMETER", sub_msg)


def _not_exist(call: GatewayCall) -> Answer:
    return _business_error(call, "ACQ.TRADE_NOT_EXIST", "交易不存在")


def _success(call: GatewayCall, **fields: Any) -> Answer:
    return call.node_name, {"code": "10000", "msg": "Success", **fields}


def _amount(value: Any) -> int | None:
    """A yuan amount from biz_content in fen, or None when it is not a valid one."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        fen = yuan_to_fen(str(value))
    except ValueError:
        return None
    return fen if 0 < fen <= MAX_AMOUNT_FEN else None


def _logon_id(buyer_id: str) -> str:
    """A masked buyer logon id, as Alipay shows it (the sandbox has no real logon names)."""
    return f"{buyer_id[-4:]}***@sandbox.example"


def _buyer_fields(trade: SandboxTrade) -> dict[str, str]:
    fields: dict[str, str] = {}
    if trade.payer.get("buyer_id"):
        fields["buyer_user_id"] = trade.payer["buyer_id"]
        fields["buyer_logon_id"] = _logon_id(trade.payer["buyer_id"])
    if trade.payer.get("buyer_open_id"):
        fields["buyer_open_id"] = trade.payer["buyer_open_id"]
    return fields


def trade_status(trade: SandboxTrade) -> str:
    """The trade's state in Alipay's words."""
    if trade.state in (NOTPAY, USERPAYING):
        return "WAIT_BUYER_PAY"
    if trade.state == SUCCESS:
        return "TRADE_SUCCESS"
    if trade.state == REFUND:
        return "TRADE_CLOSED" if trade.refunded_fen >= trade.amount_fen else "TRADE_SUCCESS"
    return "TRADE_CLOSED"  # CLOSED, REVOKED, PAYERROR


async def _own_trade(call: GatewayCall, out_trade_no: Any) -> SandboxTrade | None:
    """The caller's Alipay trade under out_trade_no, or None (unknown, or someone else's)."""
    if not isinstance(out_trade_no, str) or not out_trade_no:
        return None
    trade = await load_trade(call.state, out_trade_no)
    if trade is None or trade.platform != "alipay":
        return None
    if trade.app_id != call.app_id or trade.seller_id != call.seller_id:
        return None
    return trade


def _new_trade(call: GatewayCall, out_trade_no: str, amount_fen: int, subject: str) -> SandboxTrade:
    return SandboxTrade(
        platform="alipay",
        out_trade_no=out_trade_no,
        amount_fen=amount_fen,
        description=subject,
        notify_url=call.params.get("notify_url", ""),
        app_id=call.app_id,
        seller_id=call.seller_id,
        app_auth_token=call.token,
    )


# --- gateway methods ------------------------------------------------------------------------


async def trade_create(call: GatewayCall) -> Answer:
    """alipay.trade.create: a mini-program trade for one buyer; the same out_trade_no and
    content again answers the same trade_no."""
    biz = call.biz
    out_trade_no, subject = biz.get("out_trade_no"), biz.get("subject")
    amount_fen = _amount(biz.get("total_amount"))
    if not isinstance(out_trade_no, str) or not out_trade_no or len(out_trade_no) > 64:
        return _invalid(call, "out_trade_no无效")
    if amount_fen is None:
        return _invalid(call, "total_amount无效")
    if not isinstance(subject, str) or not subject:
        return _invalid(call, "subject不能为空")
    payer = {k: str(biz[k]) for k in ("buyer_id", "buyer_open_id") if biz.get(k)}
    if not payer:
        return _invalid(call, "buyer_id和buyer_open_id不能同时为空")
    trade = _new_trade(call, out_trade_no, amount_fen, subject)
    trade.payer = payer
    trade.transaction_id = mint_transaction_id("alipay")
    stored, created = await create_trade(call.state, trade)
    if not created:
        if stored.platform != "alipay" or (stored.app_id, stored.seller_id) != (
            call.app_id,
            call.seller_id,
        ):
            return _business_error(call, "ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
        if stored.state in PAID_STATES:
            return _business_error(call, "ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
        if stored.state in (CLOSED, REVOKED, PAYERROR):
            return _business_error(call, "ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
        if stored.amount_fen != amount_fen or stored.payer != payer:
            return _business_error(call, "ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
    return _success(call, out_trade_no=out_trade_no, trade_no=stored.transaction_id)


async def trade_pay(call: GatewayCall) -> Answer:
    """alipay.trade.pay: charge a payment code; its behaviour decides the answer."""
    biz = call.biz
    out_trade_no, subject, auth_code = (
        biz.get("out_trade_no"),
        biz.get("subject"),
        biz.get("auth_code"),
    )
    amount_fen = _amount(biz.get("total_amount"))
    if not isinstance(out_trade_no, str) or not out_trade_no or len(out_trade_no) > 64:
        return _invalid(call, "out_trade_no无效")
    if biz.get("scene") not in ("bar_code", "wave_code"):
        return _invalid(call, "scene无效")
    if amount_fen is None:
        return _invalid(call, "total_amount无效")
    if not isinstance(subject, str) or not subject:
        return _invalid(call, "subject不能为空")
    existing = await load_trade(call.state, out_trade_no)
    if existing is not None:
        if existing.platform != "alipay" or existing.seller_id != call.seller_id:
            return _business_error(call, "ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
        if existing.state in PAID_STATES:
            return _business_error(call, "ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
        if existing.state in (CLOSED, REVOKED):
            return _business_error(call, "ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
        if existing.amount_fen != amount_fen:
            return _business_error(call, "ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
        if existing.state == USERPAYING:
            return _pay_answer(call, existing)
    code = (
        await take_payment_code(call.state, auth_code, "alipay")
        if isinstance(auth_code, str) and auth_code
        else None
    )
    if code is None:
        return _business_error(
            call,
            "ACQ.PAYMENT_AUTH_CODE_INVALID",
            "支付失败，获取顾客账户信息失败，请顾客刷新付款码后重新收款",
        )
    trade = _new_trade(call, out_trade_no, amount_fen, subject)
    if existing is not None:
        trade.created_at = existing.created_at
    if biz.get("store_id"):
        trade.extra["store_id"] = str(biz["store_id"])
    trade = await charge_with_code(call.state, trade, code)
    return _pay_answer(call, trade)


def _pay_answer(call: GatewayCall, trade: SandboxTrade) -> Answer:
    if trade.state == PAYERROR:
        return _business_error(call, "ACQ.BUYER_BALANCE_NOT_ENOUGH", "买家余额不足")
    fields: dict[str, Any] = {
        "out_trade_no": trade.out_trade_no,
        "trade_no": trade.transaction_id,
        "total_amount": fen_to_yuan(trade.amount_fen),
        **_buyer_fields(trade),
    }
    if trade.state == USERPAYING:
        return call.node_name, {"code": "10003", "msg": "ORDER_SUCCESS_PAY_INPROCESS", **fields}
    return _success(
        call,
        **fields,
        receipt_amount=fen_to_yuan(trade.amount_fen),
        gmt_payment=china_time(trade.paid_at),
        fund_bill_list=[{"fund_channel": "ALIPAYACCOUNT", "amount": fen_to_yuan(trade.amount_fen)}],
    )


async def trade_query(call: GatewayCall) -> Answer:
    """alipay.trade.query by out_trade_no (or trade_no)."""
    trade = await _own_trade(call, call.biz.get("out_trade_no"))
    if trade is None and call.biz.get("trade_no"):
        trade = await _find_by_trade_no(call, str(call.biz["trade_no"]))
    if trade is None or trade.state == PAYERROR:
        return _not_exist(call)
    fields: dict[str, Any] = {
        "out_trade_no": trade.out_trade_no,
        "trade_no": trade.transaction_id,
        "trade_status": trade_status(trade),
        "total_amount": fen_to_yuan(trade.amount_fen),
        **_buyer_fields(trade),
    }
    if trade.paid_at:
        fields["send_pay_date"] = china_time(trade.paid_at)
        fields["receipt_amount"] = fen_to_yuan(trade.amount_fen)
    return _success(call, **fields)


async def _find_by_trade_no(call: GatewayCall, trade_no: str) -> SandboxTrade | None:
    for out_trade_no in await call.state.trade_numbers():
        trade = await _own_trade(call, out_trade_no)
        if trade is not None and trade.transaction_id == trade_no:
            return trade
    return None


async def trade_close(call: GatewayCall) -> Answer:
    """alipay.trade.close: only a trade waiting for its payer can be closed."""
    trade = await _own_trade(call, call.biz.get("out_trade_no"))
    if trade is None:
        return _not_exist(call)
    if trade.state not in (NOTPAY, USERPAYING, PAYERROR):
        return _business_error(call, "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
    closed = await close_trade(call.state, trade.out_trade_no)
    if closed is None or closed.state != CLOSED:
        return _business_error(call, "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
    return _success(call, out_trade_no=closed.out_trade_no, trade_no=closed.transaction_id)


async def trade_cancel(call: GatewayCall) -> Answer:
    """alipay.trade.cancel: close a trade not paid yet, refund a paid one (action says which)."""
    trade = await _own_trade(call, call.biz.get("out_trade_no"))
    if trade is None:
        return _not_exist(call)
    cancelled = await cancel_trade(call.state, trade.out_trade_no)
    assert cancelled is not None
    action = "refund" if cancelled.extra.get("was_paid") else "close"
    return _success(
        call,
        out_trade_no=cancelled.out_trade_no,
        trade_no=cancelled.transaction_id,
        retry_flag="N",
        action=action,
    )


async def trade_refund(call: GatewayCall) -> Answer:
    """alipay.trade.refund: synchronous; the same out_request_no again is the same refund."""
    biz = call.biz
    trade = await _own_trade(call, biz.get("out_trade_no"))
    if trade is None:
        return _not_exist(call)
    amount_fen = _amount(biz.get("refund_amount"))
    if amount_fen is None:
        return _invalid(call, "refund_amount无效")
    out_request_no = str(biz.get("out_request_no") or trade.out_trade_no)
    repeated = find_refund(trade, out_request_no) is not None
    result = await add_refund(
        call.state,
        trade.out_trade_no,
        out_refund_no=out_request_no,
        amount_fen=amount_fen,
        reason=str(biz.get("refund_reason") or ""),
        refund_state="SUCCESS",
    )
    if result == "not_found":
        return _not_exist(call)
    if result == "not_paid":
        return _business_error(call, "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
    if result == "amount_mismatch":
        return _invalid(call, "同一退款请求号的退款金额不一致")
    if result == "exceeds":
        return _business_error(call, "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
    assert not isinstance(result, str)
    refunded, refund = result
    return _success(
        call,
        out_trade_no=refunded.out_trade_no,
        trade_no=refunded.transaction_id,
        fund_change="N" if repeated else "Y",
        refund_fee=fen_to_yuan(refunded.refunded_fen),
        send_back_fee=fen_to_yuan(0 if repeated else refund["amount_fen"]),
        gmt_refund_pay=china_time(refund["success_at"] or refund["created_at"]),
        **_buyer_fields(refunded),
    )


async def refund_query(call: GatewayCall) -> Answer:
    """alipay.trade.fastpay.refund.query: a refund not known answers without refund_amount."""
    biz = call.biz
    trade = await _own_trade(call, biz.get("out_trade_no"))
    if trade is None:
        return _not_exist(call)
    out_request_no = str(biz.get("out_request_no") or trade.out_trade_no)
    fields: dict[str, Any] = {
        "out_trade_no": trade.out_trade_no,
        "trade_no": trade.transaction_id,
        "out_request_no": out_request_no,
    }
    refund = find_refund(trade, out_request_no)
    if refund is not None:
        fields.update(
            total_amount=fen_to_yuan(trade.amount_fen),
            refund_amount=fen_to_yuan(refund["amount_fen"]),
            refund_status="REFUND_SUCCESS",
            gmt_refund_pay=china_time(refund["success_at"] or refund["created_at"]),
        )
    return _success(call, **fields)


async def bill_download_url(call: GatewayCall) -> Answer:
    """alipay.data.dataservice.bill.downloadurl.query (bill_type trade, bill_date yyyy-MM-dd):
    a link to the seller's business-detail bill of that day (a CSV, not Alipay's zip), by the
    account (notify URL) of the seller's latest trade."""
    bill_date = call.biz.get("bill_date")
    if call.biz.get("bill_type") not in ("trade", "signcustomer"):
        return _invalid(call, "bill_type无效")
    try:
        day = date.fromisoformat(str(bill_date))
    except ValueError:
        return _invalid(call, "bill_date无效")
    keys = []
    for out_trade_no in await call.state.trade_numbers():
        trade = await _own_trade(call, out_trade_no)
        if trade is not None and trade.account_key and trade.account_key not in keys:
            keys.append(trade.account_key)
    if not keys:
        return _business_error(call, "isp.bill_not_exist", "账单不存在")
    url = f"{call.sandbox_url}/bills/alipay/{quote(keys[-1], safe='')}/{day.isoformat()}"
    return _success(call, bill_download_url=url)


async def auth_token_query(call: GatewayCall) -> Answer:
    """alipay.open.auth.token.app.query: the franchisee behind an app_auth_token."""
    token = call.biz.get("app_auth_token") or call.token
    if not isinstance(token, str) or not token:
        return _invalid(call, "app_auth_token不能为空")
    revoked = await call.state.flag(f"alipay:revoked:{token}")
    now = now_utc()
    return _success(
        call,
        user_id=alipay_seller_id(call.app_id, token),
        auth_app_id=call.app_id,
        expires_in=0 if revoked else 31536000,
        auth_methods=["alipay.trade.create", "alipay.trade.pay", "alipay.trade.refund"],
        auth_start=china_time(now - timedelta(days=30)),
        auth_end=china_time(now + timedelta(days=335)),
        status="invalid" if revoked else "valid",
    )


Handler = Callable[[GatewayCall], Awaitable[Answer]]
TRADE_METHODS: dict[str, Handler] = {
    "alipay.trade.create": trade_create,
    "alipay.trade.pay": trade_pay,
    "alipay.trade.query": trade_query,
    "alipay.trade.close": trade_close,
    "alipay.trade.cancel": trade_cancel,
    "alipay.trade.refund": trade_refund,
    "alipay.trade.fastpay.refund.query": refund_query,
    "alipay.data.dataservice.bill.downloadurl.query": bill_download_url,
    "alipay.open.auth.token.app.query": auth_token_query,
}
# Methods that work with a revoked app_auth_token (they are how one finds out).
TOKEN_CHECK_EXEMPT = frozenset({"alipay.open.auth.token.app.query"})


async def call_trade_method(
    state: SandboxState, params: dict[str, str], sandbox_url: str
) -> Answer | None:
    """Answer a trade method's call; None when method is not one of them."""
    handler = TRADE_METHODS.get(params["method"])
    if handler is None:
        return None
    token = params.get("app_auth_token", "")
    checked = token and params["method"] not in TOKEN_CHECK_EXEMPT
    if checked and await state.flag(f"alipay:revoked:{token}"):
        return "error_response", {
            "code": "20001",
            "msg": "Insufficient Token Permissions",
            "sub_code": "aop.invalid-app-auth-token",
            "sub_msg": "无效的应用授权令牌",
        }
    try:
        biz = json.loads(params.get("biz_content") or "{}")
    except ValueError:
        biz = None
    if not isinstance(biz, dict):
        return "error_response", {
            "code": "40002",
            "msg": "Invalid Arguments",
            "sub_code": "isv.invalid-parameter",
            "sub_msg": "biz_content无效",
        }
    return await handler(GatewayCall(state, params, biz, sandbox_url))


async def revoke_app_auth_token(state: SandboxState, token: str) -> None:
    """The franchisee withdrew the authorisation behind token."""
    await state.set_flag(f"alipay:revoked:{token}", True)


# --- notifications ---------------------------------------------------------------------------


def unsigned_string(params: dict[str, str]) -> str:
    """Alipay's string to sign for a notification: sorted k=v of the non-empty values, without
    sign and sign_type."""
    items = sorted((k, v) for k, v in params.items() if k not in ("sign", "sign_type") and v != "")
    return "&".join(f"{k}={v}" for k, v in items)


def _signed_form(params: dict[str, str], private_pem: str) -> tuple[dict[str, str], bytes]:
    signed = dict(params)
    signed["sign"] = rsa2_sign(unsigned_string(params), private_pem)
    signed["sign_type"] = "RSA2"
    return {"Content-Type": FORM}, urlencode(signed).encode()


def _notify_id(*parts: str) -> str:
    return hashlib.sha256(":".join(("alipay-notify", *parts)).encode()).hexdigest()[:34]


def _notification_params(trade: SandboxTrade, notify_time: datetime) -> dict[str, str]:
    """A paid trade's trade_status_sync fields (what a refund notification starts from)."""
    paid_at = trade.paid_at or trade.created_at or datetime.now(UTC).isoformat()
    params = {
        "notify_type": "trade_status_sync",
        "notify_time": china_time(notify_time),
        "notify_id": _notify_id("payment", trade.out_trade_no, trade.transaction_id),
        "charset": "utf-8",
        "version": "1.0",
        "app_id": trade.app_id,
        "auth_app_id": trade.app_id,
        "seller_id": trade.seller_id,
        "out_trade_no": trade.out_trade_no,
        "trade_no": trade.transaction_id or mint_transaction_id("alipay"),
        "subject": trade.description,
        "total_amount": fen_to_yuan(trade.amount_fen),
        "receipt_amount": fen_to_yuan(trade.amount_fen),
        "buyer_pay_amount": fen_to_yuan(trade.amount_fen),
        "trade_status": "TRADE_CLOSED" if trade.state in (CLOSED, REVOKED) else "TRADE_SUCCESS",
        "gmt_create": china_time(trade.created_at or paid_at),
        "gmt_payment": china_time(paid_at),
    }
    for key in ("buyer_id", "buyer_open_id"):
        if trade.payer.get(key):
            params[key] = trade.payer[key]
    return params


class AlipayPlatform:
    """Alipay in the sandbox's payment registry: notifications, acknowledgement, bills."""

    name = "alipay"
    retry_schedule_s: tuple[float, ...] = RETRY_SCHEDULE_S

    def paid_notification(self, trade: SandboxTrade) -> tuple[dict[str, str], bytes]:
        """TRADE_SUCCESS, signed with the sandbox's Alipay key."""
        params = _notification_params(trade, now_utc())
        params["trade_status"] = "TRADE_SUCCESS"
        return _signed_form(params, alipay_platform_private_pem())

    def refund_notification(
        self, trade: SandboxTrade, refund: dict[str, Any]
    ) -> tuple[dict[str, str], bytes]:
        """The trade's notification with refund_fee (refunded so far, this refund included),
        gmt_refund and out_biz_no (the out_request_no); TRADE_CLOSED once all is refunded."""
        refunded = 0
        for item in trade.refunds:
            refunded += item["amount_fen"]
            if item["out_refund_no"] == refund["out_refund_no"]:
                break
        params = _notification_params(trade, now_utc())
        params.update(
            notify_id=_notify_id("refund", trade.out_trade_no, refund["refund_id"]),
            trade_status="TRADE_CLOSED" if refunded >= trade.amount_fen else "TRADE_SUCCESS",
            refund_fee=fen_to_yuan(refunded),
            gmt_refund=china_time(refund["success_at"] or refund["created_at"]),
            out_biz_no=refund["out_refund_no"],
        )
        return _signed_form(params, alipay_platform_private_pem())

    def forged_notification(self, trade: SandboxTrade, kind: str) -> tuple[dict[str, str], bytes]:
        """A bad actor's notification of the trade as paid (see the module doc for stale and
        replay). Raises ValueError for a kind Alipay has no counterpart of."""
        params = _notification_params(trade, now_utc())
        params["trade_status"] = "TRADE_SUCCESS"
        platform_key = alipay_platform_private_pem()
        if kind == "bad_signature":
            headers, _ = _signed_form(params, platform_key)
            forged = dict(params, sign=rsa2_sign(unsigned_string(params) + "&x=1", platform_key))
            forged["sign_type"] = "RSA2"
            return headers, urlencode(forged).encode()
        if kind == "stale":
            params["notify_time"] = china_time(now_utc() - timedelta(minutes=10))
            return _signed_form(params, platform_key)
        if kind == "replay":
            last = trade.extra.get("last_notification")
            if last:
                return dict(last["headers"]), last["body"].encode()
            return self.paid_notification(trade)
        if kind == "other_account":
            return _signed_form(params, alipay_app_private_pem())
        if kind == "tampered_amount":
            params["total_amount"] = fen_to_yuan(trade.amount_fen + 1)
            params["receipt_amount"] = params["buyer_pay_amount"] = params["total_amount"]
            return _signed_form(params, platform_key)
        if kind == "foreign_seller":
            params["seller_id"] = alipay_seller_id(FOREIGN_APP_ID)
            return _signed_form(params, platform_key)
        if kind == "foreign_app_id":
            params["app_id"] = params["auth_app_id"] = FOREIGN_APP_ID
            return _signed_form(params, platform_key)
        if kind == "not_paid":
            params["trade_status"] = "WAIT_BUYER_PAY"
            del params["gmt_payment"]
            return _signed_form(params, platform_key)
        raise ValueError(
            "Alipay forges bad_signature, stale, replay, other_account, tampered_amount, "
            "foreign_seller, foreign_app_id or not_paid"
        )

    def acknowledged(self, status: int, body: bytes) -> bool:
        """Alipay stops re-sending only when the body is exactly `success`."""
        return body == b"success"

    def bill(self, trades: list[SandboxTrade], day: date) -> tuple[str, bytes]:
        """The day's business-detail bill (业务明细) as Alipay lays it out, in UTF-8 CSV: payments
        paid and refunds made that day (China time), then the totals."""
        rows: list[list[str]] = []
        paid_fen = refunded_fen = payments = refunds = 0
        for trade in trades:
            if trade.paid_at and parse_iso(trade.paid_at).astimezone(CHINA).date() == day:
                payments += 1
                paid_fen += trade.amount_fen
                rows.append(_bill_row(trade, "交易", trade.amount_fen, trade.paid_at, ""))
            for refund in trade.refunds:
                done_at = refund.get("success_at") or refund["created_at"]
                if parse_iso(done_at).astimezone(CHINA).date() == day:
                    refunds += 1
                    refunded_fen += refund["amount_fen"]
                    rows.append(
                        _bill_row(
                            trade, "退款", -refund["amount_fen"], done_at, refund["out_refund_no"]
                        )
                    )
        seller = trades[0].seller_id if trades else ""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        out.write("#支付宝业务明细查询\r\n")
        out.write(f"#账号：[{seller}]\r\n")
        out.write(
            f"#起始日期：[{day:%Y年%m月%d日} 00:00:00]   终止日期：[{day + timedelta(days=1):%Y年%m月%d日} 00:00:00]\r\n"
        )
        out.write(
            "#-----------------------------------------业务明细列表----------------------------------------\r\n"
        )
        writer.writerow(BILL_COLUMNS)
        writer.writerows(rows)
        out.write(
            "#-----------------------------------------业务明细列表结束------------------------------------\r\n"
        )
        out.write(
            f"#交易合计：{payments}笔，商家实收：{fen_to_yuan(paid_fen)}元，商家优惠：0.00元\r\n"
        )
        out.write(
            f"#退款合计：{refunds}笔，商家实收：{fen_to_yuan(-refunded_fen)}元，商家优惠：0.00元\r\n"
        )
        out.write(f"#导出时间：[{china_time(now_utc())}]\r\n")
        return "text/csv; charset=utf-8", out.getvalue().encode()


BILL_COLUMNS = [
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "商品名称",
    "创建时间",
    "完成时间",
    "门店编号",
    "门店名称",
    "操作员",
    "终端号",
    "对方账户",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝红包（元）",
    "集分宝（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "券核销金额（元）",
    "券名称",
    "商家红包消费金额（元）",
    "卡消费金额（元）",
    "退款批次号/请求号",
    "服务费（元）",
    "分润（元）",
    "备注",
]


def _bill_row(
    trade: SandboxTrade, kind: str, amount_fen: int, done_at: str, out_request_no: str
) -> list[str]:
    buyer = trade.payer.get("buyer_id") or trade.payer.get("buyer_open_id") or ""
    return [
        trade.transaction_id,
        trade.out_trade_no,
        kind,
        trade.description,
        china_time(trade.created_at or done_at),
        china_time(done_at),
        str(trade.extra.get("store_id", "")),
        "",
        "",
        "",
        _logon_id(buyer) if buyer else "",
        fen_to_yuan(trade.amount_fen),
        fen_to_yuan(amount_fen),
        "0.00",
        "0.00",
        "0.00",
        "0.00",
        "0.00",
        "",
        "0.00",
        "0.00",
        out_request_no,
        "0.00",
        "0.00",
        "",
    ]


ALIPAY = AlipayPlatform()
