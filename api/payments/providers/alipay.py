"""Alipay (python-alipay-sdk) behind the provider protocol: direct apps and ISV franchisees.

One `AlipayProvider` speaks for one Alipay merchant account: `merchant.app_id` is the app,
`merchant.mch_id` the seller id (the merchant's PID "2088…") its notifications must carry, and
the secrets hold `private_key` (the app's), `alipay_public_key`, and in ISV mode
(`merchant.mode == "isv"`) the franchisee's `app_auth_token`, bound into the one SDK client the
provider keeps (`ISVAliPay`). The SDK is synchronous (urllib): every call runs in a thread.

Stable refusal codes (`ProviderRefused.code`):
- `payment.already_paid`: closing a trade that was paid; a trade paid before under this
  out_trade_no (ACQ.TRADE_HAS_SUCCESS).
- `payment.closed`: the trade is closed (ACQ.TRADE_HAS_CLOSE).
- `payment.trade_conflict`: this out_trade_no exists with other content, e.g. another amount
  (ACQ.CONTEXT_INCONSISTENT).
- `payment.trade_not_found`: refunding a trade Alipay does not know (ACQ.TRADE_NOT_EXIST).
- `payment.not_paid`: refunding a trade that is not paid (ACQ.TRADE_STATUS_ERROR).
- `payment.refund_exceeds`: more refunded than was paid (ACQ.REFUND_AMT_NOT_EQUAL_TOTAL).
- `payment.payer_invalid`: the buyer named for a mini-program trade is unknown or not allowed.
- `payment.refused`: any other business refusal, Alipay's sub_code in the message.
- `payment.account_refused`: Alipay refused the app itself (signature, permissions, ISV token).

Input errors (`ProviderInputError`): `payment_account.incomplete` (a secret or the seller id is
missing; raised by the constructor), `payment_account.invalid` (a key does not parse),
`payment.payer_invalid` (a payer that is not an Alipay user).

`ProviderUnavailable` covers the network, timeouts, answers that fail verification or do not
parse, and Alipay's own "try again" answers (code 20000, ACQ.SYSTEM_ERROR, retry_flag=Y).

Notifications (`trade_status_sync`): a form-encoded body, verified RSA2 over Alipay's string to
sign with the account's Alipay public key, then app_id and seller_id compared with the account.
Alipay signs no timestamp: a replay verifies, and is stopped only by the caller's notify_id
de-duplication; `now` is not used.
"""

from __future__ import annotations

import asyncio
import csv
import http.client
import io
import logging
import re
import time
import zipfile
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.error import URLError
from urllib.parse import parse_qsl

import httpx
from alipay import AliPay, ISVAliPay
from alipay.exceptions import AliPayException, AliPayValidationError

from api.core.alipay import AlipayCredentials, build_client, error_fields
from api.core.metrics import observe_upstream
from api.core.money import fen_to_yuan, yuan_to_fen
from config.settings import get_settings

from .base import (
    BillLine,
    BillLineKind,
    CodeOrder,
    Merchant,
    Notice,
    NoticeKind,
    NotificationRefused,
    Payer,
    Prepay,
    PrepayOrder,
    ProviderInputError,
    ProviderRefused,
    ProviderUnavailable,
    Refund,
    RefundOrder,
    RefundState,
    Trade,
    TradeState,
)

log = logging.getLogger(__name__)

PLATFORM = "alipay"
# Alipay writes its times in China time, without an offset.
BEIJING = timezone(timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
ALIPAY_USER_ID = re.compile(r"^2088\d{12}$")

SUCCESS = "10000"
PAYING = "10003"  # alipay.trade.pay: ORDER_SUCCESS_PAY_INPROCESS, the payer is confirming
UNAVAILABLE_CODES = frozenset({"20000"})
UNAVAILABLE_SUB_CODES = frozenset({"ACQ.SYSTEM_ERROR", "aop.unknow-error", "isp.unknow-error"})
REFUSALS = {
    "ACQ.TRADE_HAS_SUCCESS": "payment.already_paid",
    "ACQ.TRADE_HAS_CLOSE": "payment.closed",
    "ACQ.CONTEXT_INCONSISTENT": "payment.trade_conflict",
    "ACQ.TRADE_NOT_EXIST": "payment.trade_not_found",
    "ACQ.TRADE_STATUS_ERROR": "payment.not_paid",
    "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL": "payment.refund_exceeds",
    "ACQ.BUYER_NOT_EXIST": "payment.payer_invalid",
    "ACQ.INVALID_BUYER": "payment.payer_invalid",
}
PAID_STATUSES = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})
# The few fields a notification must carry for memberhub to read it.
NOTIFICATION_FIELDS = ("notify_id", "app_id", "seller_id", "out_trade_no", "trade_status")


def _beijing_time(value: str | None) -> datetime | None:
    """An Alipay time ("2024-05-01 12:00:00", China time) as an aware datetime; None if absent."""
    if not value:
        return None
    return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=BEIJING)


def _fen(value: Any) -> int | None:
    """A yuan amount Alipay answered, in fen; None when absent."""
    if value in (None, ""):
        return None
    return yuan_to_fen(str(value))


def _payer(app_id: str, node: Mapping[str, Any], *keys: str) -> Payer | None:
    for key in keys:
        value = node.get(key)
        if value:
            return Payer(kind="alipay_user", app_id=app_id, value=str(value))
    return None


def _secret(secrets: Mapping[str, str | None], name: str) -> str:
    value = secrets.get(name)
    if not value:
        raise ProviderInputError("payment_account.incomplete", f"The Alipay account has no {name}.")
    return value


class AlipayProvider:
    """One Alipay merchant account (direct or ISV). See the module doc for errors and codes."""

    name = PLATFORM
    answer = PLATFORM

    def __init__(self, merchant: Merchant, secrets: Mapping[str, str]) -> None:
        """Build the account's SDK client. Raises ProviderInputError `payment_account.incomplete`
        without a seller id (merchant.mch_id), app id, private key, Alipay public key, or (ISV)
        app_auth_token, and `payment_account.invalid` when a key does not parse."""
        self.merchant = merchant
        if not merchant.mch_id:
            raise ProviderInputError(
                "payment_account.incomplete",
                "The Alipay account has no seller id (the merchant PID, 2088…).",
            )
        if not merchant.app_id:
            raise ProviderInputError(
                "payment_account.incomplete", "The Alipay account has no app id."
            )
        token = _secret(secrets, "app_auth_token") if merchant.mode == "isv" else None
        self._creds = AlipayCredentials(
            app_id=merchant.app_id,
            app_private_key_pem=_secret(secrets, "private_key"),
            alipay_public_key_pem=_secret(secrets, "alipay_public_key"),
            app_auth_token=token,
        )
        try:
            self._client: AliPay | ISVAliPay = build_client(
                self._creds, get_settings().alipay_gateway
            )
        except (ValueError, TypeError, IndexError) as exc:
            raise ProviderInputError(
                "payment_account.invalid", "A key of the Alipay account cannot be read."
            ) from exc

    # --- calls ------------------------------------------------------------------------------

    def _server_api(self, method: str, biz: dict[str, Any], extra: dict[str, str]) -> Any:
        return self._client.server_api(method, biz, **extra)

    async def _call(self, method: str, biz: dict[str, Any], **extra: str) -> dict[str, Any]:
        """One signed gateway call in a thread, its answer verified: the method's node, whatever
        its code. Raises ProviderUnavailable (unreachable, unverifiable, "try again") and
        ProviderRefused `payment.account_refused` (Alipay refused the app, not the trade)."""
        started = time.perf_counter()
        outcome = "error"
        try:
            try:
                result = await asyncio.to_thread(self._server_api, method, biz, extra)
            except AliPayValidationError:
                outcome = "bad_signature"
                log.warning("alipay answer failed verification", extra={"api": method})
                raise ProviderUnavailable(
                    "Alipay's answer failed signature verification."
                ) from None
            except AliPayException as exc:
                code, sub_code = error_fields(exc)
                if code is None or code in UNAVAILABLE_CODES or sub_code in UNAVAILABLE_SUB_CODES:
                    outcome = "unavailable"
                    raise ProviderUnavailable(
                        f"Alipay could not answer (code {code}, sub_code {sub_code})."
                    ) from None
                outcome = "refused"
                log.warning(
                    "alipay refused the app",
                    extra={"api": method, "code": code, "sub_code": sub_code},
                )
                raise ProviderRefused(
                    "payment.account_refused",
                    f"Alipay refused the app: code {code}, sub_code {sub_code}.",
                ) from None
            except (URLError, OSError, http.client.HTTPException, ValueError, TypeError) as exc:
                outcome = "unreachable"
                log.warning(
                    "alipay unreachable", extra={"api": method, "error": type(exc).__name__}
                )
                raise ProviderUnavailable(
                    f"Alipay could not be reached or understood ({type(exc).__name__})."
                ) from None
            if not isinstance(result, dict):
                outcome = "unreadable"
                raise ProviderUnavailable("Alipay's answer is not an object.")
            code = str(result.get("code", ""))
            if code in UNAVAILABLE_CODES or result.get("sub_code") in UNAVAILABLE_SUB_CODES:
                outcome = "unavailable"
                raise ProviderUnavailable(
                    f"Alipay could not answer (code {code}, sub_code {result.get('sub_code')})."
                )
            outcome = {SUCCESS: "ok", PAYING: "pending"}.get(code, "refused")
            return result
        finally:
            observe_upstream(platform=PLATFORM, api=method, outcome=outcome, started=started)

    @staticmethod
    def _refused(result: Mapping[str, Any]) -> ProviderRefused:
        sub_code = str(result.get("sub_code") or "")
        code = REFUSALS.get(sub_code, "payment.refused")
        return ProviderRefused(
            code,
            f"Alipay refused: {result.get('code')} {sub_code} {result.get('sub_msg') or ''}".strip(),
        )

    def _amount(self, value: Any) -> int | None:
        try:
            return _fen(value)
        except ValueError:
            raise ProviderUnavailable(
                f"Alipay answered an amount that is not fen: {value!r}."
            ) from None

    def _time(self, value: Any) -> datetime | None:
        try:
            return _beijing_time(str(value) if value else None)
        except ValueError:
            raise ProviderUnavailable(
                f"Alipay answered a time we cannot read: {value!r}."
            ) from None

    # --- the protocol -----------------------------------------------------------------------

    async def prepay(self, order: PrepayOrder) -> Prepay:
        """alipay.trade.create for the mini-program's my.tradePay: the payer is the buyer_id
        ("2088…") or buyer_open_id; returns {"trade_no"} and the trade_no as platform_ref."""
        payer = order.payer
        if payer.kind != "alipay_user" or not payer.value:
            raise ProviderInputError(
                "payment.payer_invalid", "An Alipay trade needs the payer's Alipay user id."
            )
        biz: dict[str, Any] = {
            "out_trade_no": order.out_trade_no,
            "total_amount": fen_to_yuan(order.amount_fen),
            "subject": order.description,
            "product_code": "JSAPI_PAY",
            "op_app_id": self.merchant.app_id,
            "time_expire": order.expires_at.astimezone(BEIJING).strftime(TIME_FORMAT),
        }
        if ALIPAY_USER_ID.match(payer.value):
            biz["buyer_id"] = payer.value
        else:
            biz["buyer_open_id"] = payer.value
        if order.attach:
            biz["passback_params"] = order.attach
        extra = {"notify_url": order.notify_url} if order.notify_url else {}
        result = await self._call("alipay.trade.create", biz, **extra)
        trade_no = result.get("trade_no")
        if result.get("code") != SUCCESS:
            raise self._refused(result)
        if not trade_no:
            raise ProviderUnavailable("Alipay's answer named no trade_no.")
        return Prepay(client_params={"trade_no": str(trade_no)}, platform_ref=str(trade_no))

    async def pay_with_code(self, order: CodeOrder) -> Trade:
        """alipay.trade.pay (scene bar_code): PAID, USERPAYING (code 10003) or FAILED.

        A trade paid before under this out_trade_no (a retried charge) answers what a query
        says; a trade reused with other content raises `payment.trade_conflict`.
        """
        biz: dict[str, Any] = {
            "out_trade_no": order.out_trade_no,
            "scene": "bar_code",
            "auth_code": order.auth_code,
            "subject": order.description,
            "total_amount": fen_to_yuan(order.amount_fen),
        }
        if order.store_code:
            biz["store_id"] = order.store_code
        result = await self._call("alipay.trade.pay", biz)
        code = result.get("code")
        if code in (SUCCESS, PAYING):
            paid = code == SUCCESS
            return Trade(
                out_trade_no=order.out_trade_no,
                state=TradeState.PAID if paid else TradeState.USERPAYING,
                amount_fen=self._amount(result.get("total_amount")) or order.amount_fen,
                transaction_id=str(result["trade_no"]) if result.get("trade_no") else None,
                payer=_payer(self.merchant.app_id, result, "buyer_user_id", "buyer_open_id"),
                paid_at=self._time(result.get("gmt_payment")) if paid else None,
            )
        sub_code = result.get("sub_code")
        if sub_code == "ACQ.TRADE_HAS_SUCCESS":
            return await self.query(order.out_trade_no)
        if sub_code == "ACQ.CONTEXT_INCONSISTENT":
            raise self._refused(result)
        return Trade(
            out_trade_no=order.out_trade_no,
            state=TradeState.FAILED,
            amount_fen=order.amount_fen,
            message=f"{sub_code or code}: {result.get('sub_msg') or result.get('msg') or ''}",
        )

    async def query(self, out_trade_no: str) -> Trade:
        """alipay.trade.query. WAIT_BUYER_PAY is NOT_PAID (Alipay says the same while a payment
        code's payer is confirming); TRADE_CLOSED after a payment (send_pay_date) is REFUNDED."""
        result = await self._call("alipay.trade.query", {"out_trade_no": out_trade_no})
        if result.get("code") != SUCCESS:
            if result.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
                return Trade(out_trade_no=out_trade_no, state=TradeState.UNKNOWN)
            raise self._refused(result)
        status = result.get("trade_status")
        paid_at = self._time(result.get("send_pay_date"))
        if status in PAID_STATUSES:
            state = TradeState.PAID
        elif status == "TRADE_CLOSED":
            state = TradeState.REFUNDED if paid_at else TradeState.CLOSED
        elif status == "WAIT_BUYER_PAY":
            state = TradeState.NOT_PAID
        else:
            raise ProviderUnavailable(f"Alipay answered an unknown trade_status {status!r}.")
        return Trade(
            out_trade_no=out_trade_no,
            state=state,
            amount_fen=self._amount(result.get("total_amount")),
            transaction_id=str(result["trade_no"]) if result.get("trade_no") else None,
            payer=_payer(self.merchant.app_id, result, "buyer_user_id", "buyer_open_id"),
            paid_at=paid_at,
        )

    async def close(self, out_trade_no: str) -> None:
        """alipay.trade.close; a closed or unknown trade is fine, a paid one raises
        `payment.already_paid`."""
        result = await self._call("alipay.trade.close", {"out_trade_no": out_trade_no})
        if result.get("code") == SUCCESS or result.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return
        if result.get("sub_code") == "ACQ.TRADE_STATUS_ERROR":
            # Alipay says the same for a closed trade and a paid one: ask which.
            trade = await self.query(out_trade_no)
            if trade.state in (TradeState.CLOSED, TradeState.UNKNOWN):
                return
            if trade.state in (TradeState.PAID, TradeState.REFUNDED):
                raise ProviderRefused("payment.already_paid", "The Alipay trade is paid.")
        raise self._refused(result)

    async def reverse(self, out_trade_no: str) -> None:
        """alipay.trade.cancel: stops a payer still confirming, refunds a paid trade. An
        unknown trade is fine; Alipay's retry_flag=Y raises ProviderUnavailable (call again)."""
        result = await self._call("alipay.trade.cancel", {"out_trade_no": out_trade_no})
        if result.get("code") == SUCCESS or result.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return
        if result.get("retry_flag") == "Y":
            raise ProviderUnavailable("Alipay asks for the cancel to be tried again.")
        raise self._refused(result)

    async def refund(self, order: RefundOrder) -> Refund:
        """alipay.trade.refund with out_request_no = out_refund_no: SUCCESS when Alipay answers
        (it refunds synchronously); the same out_refund_no again is the same refund."""
        biz: dict[str, Any] = {
            "out_trade_no": order.out_trade_no,
            "out_request_no": order.out_refund_no,
            "refund_amount": fen_to_yuan(order.refund_fen),
        }
        if order.reason:
            biz["refund_reason"] = order.reason
        result = await self._call("alipay.trade.refund", biz)
        if result.get("code") != SUCCESS:
            raise self._refused(result)
        return Refund(
            out_trade_no=order.out_trade_no,
            out_refund_no=order.out_refund_no,
            state=RefundState.SUCCESS,
            amount_fen=order.refund_fen,
            refund_id=str(result["trade_no"]) if result.get("trade_no") else None,
            total_fen=order.total_fen,
        )

    async def query_refund(self, *, out_trade_no: str, out_refund_no: str) -> Refund:
        """alipay.trade.fastpay.refund.query: SUCCESS with the refunded amount, or FAILED
        (amount 0) when Alipay has no such refund of this trade."""
        result = await self._call(
            "alipay.trade.fastpay.refund.query",
            {"out_trade_no": out_trade_no, "out_request_no": out_refund_no},
        )
        if result.get("code") != SUCCESS:
            raise self._refused(result)
        amount = self._amount(result.get("refund_amount"))
        status = result.get("refund_status")
        done = amount is not None and status in (None, "", "REFUND_SUCCESS")
        return Refund(
            out_trade_no=out_trade_no,
            out_refund_no=out_refund_no,
            state=RefundState.SUCCESS if done else RefundState.FAILED,
            amount_fen=amount or 0,
            refund_id=str(result["trade_no"]) if result.get("trade_no") else None,
            total_fen=self._amount(result.get("total_amount")),
        )

    def parse_notification(
        self, headers: Mapping[str, str], body: bytes, *, now: datetime
    ) -> Notice:
        """Verify and read an Alipay async notification (trade_status_sync). See the protocol.

        Refused: a body that is not a form of single values (`malformed`), a signature that is
        not the account's Alipay key's (`bad_signature`), another app_id or seller_id
        (`merchant_mismatch`), an amount that is not whole fen (`malformed`), and a
        trade_status other than TRADE_SUCCESS / TRADE_FINISHED / TRADE_CLOSED (`not_paid`).
        A notification with refund_fee or out_biz_no is a REFUND notice; its `amount_fen` is
        Alipay's refund_fee, the trade's refunded total so far (Alipay names no single
        refund's amount there).
        """
        params = self._form(body)
        sign = params.pop("sign", None)
        if not sign:
            raise NotificationRefused("bad_signature", "no sign")
        if params.get("sign_type", "RSA2") != "RSA2":
            raise NotificationRefused("bad_signature", "sign_type is not RSA2")
        try:
            # Alipay signs the non-empty values only; verify() mutates what it is given.
            signed = {key: value for key, value in params.items() if value != ""}
            verified = self._client.verify(signed, sign)
        except (AliPayException, ValueError, TypeError, IndexError):
            verified = False
        if not verified:
            raise NotificationRefused("bad_signature")
        missing = [name for name in NOTIFICATION_FIELDS if not params.get(name)]
        if missing:
            raise NotificationRefused("malformed", f"missing {', '.join(missing)}")
        if params["app_id"] != self.merchant.app_id:
            raise NotificationRefused("merchant_mismatch", "app_id is not this account's")
        if params["seller_id"] != self.merchant.mch_id:
            raise NotificationRefused("merchant_mismatch", "seller_id is not this account's")
        status = params["trade_status"]
        if status in PAID_STATUSES:
            state = TradeState.PAID
        elif status == "TRADE_CLOSED":
            state = TradeState.CLOSED
        else:
            raise NotificationRefused("not_paid", f"trade_status {status}")
        try:
            amount_fen = _fen(params.get("total_amount"))
            refund_fen = _fen(params.get("refund_fee"))
            paid_at = _beijing_time(params.get("gmt_payment"))
        except ValueError as exc:
            raise NotificationRefused("malformed", str(exc)) from None
        if amount_fen is None:
            raise NotificationRefused("malformed", "missing total_amount")
        is_refund = refund_fen is not None or bool(params.get("out_biz_no"))
        if state is TradeState.CLOSED and paid_at is not None:
            state = TradeState.REFUNDED
        trade = Trade(
            out_trade_no=params["out_trade_no"],
            state=state,
            amount_fen=amount_fen,
            transaction_id=params.get("trade_no") or None,
            payer=_payer(self.merchant.app_id, params, "buyer_id", "buyer_open_id"),
            paid_at=paid_at,
        )
        if not is_refund:
            return Notice(kind=NoticeKind.PAYMENT, notification_id=params["notify_id"], trade=trade)
        if not params.get("out_biz_no") or refund_fen is None:
            raise NotificationRefused("malformed", "a refund needs out_biz_no and refund_fee")
        refund = Refund(
            out_trade_no=params["out_trade_no"],
            out_refund_no=params["out_biz_no"],
            state=RefundState.SUCCESS,
            amount_fen=refund_fen,
            refund_id=params.get("trade_no") or None,
            total_fen=amount_fen,
        )
        return Notice(
            kind=NoticeKind.REFUND, notification_id=params["notify_id"], trade=trade, refund=refund
        )

    @staticmethod
    def _form(body: bytes) -> dict[str, str]:
        """The form body as single strings; a repeated key or a body that is not UTF-8
        form-encoding is `malformed` (the SDK cannot verify lists)."""
        try:
            pairs = parse_qsl(
                body.decode("utf-8"), keep_blank_values=True, strict_parsing=True, errors="strict"
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise NotificationRefused("malformed", "not a form body") from exc
        params: dict[str, str] = {}
        for key, value in pairs:
            if key in params:
                raise NotificationRefused("malformed", f"repeated key {key}")
            params[key] = value
        return params


# --- bills ------------------------------------------------------------------------------------

BILL_API = "alipay.data.dataservice.bill.downloadurl.query"
BILL_DOWNLOAD_TIMEOUT_S = 30.0
BILL_KINDS = {"交易": BillLineKind.PAYMENT, "退款": BillLineKind.REFUND}
BILL_TOTALS = (
    (re.compile(r"^#交易合计：(\d+)笔"), BillLineKind.PAYMENT),
    (re.compile(r"^#退款合计：(\d+)笔"), BillLineKind.REFUND),
)


def _bill_text(content: bytes) -> str:
    """The business-detail CSV: Alipay's zip (GBK CSVs, the detail file being the one that is
    not the summary, 汇总) or the CSV itself, UTF-8 or GBK."""
    if content[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = [n for n in archive.namelist() if n.endswith(".csv") and "汇总" not in n]
            if len(names) != 1:
                raise ValueError("the bill archive has no single detail CSV")
            content = archive.read(names[0])
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("gb18030")


def parse_business_bill(text: str) -> list[BillLine]:
    """The lines of an Alipay business-detail bill (业务明细): payments (交易, the order's
    total) and refunds (退款, the amount given back, by its out_request_no). Comment lines
    start with `#`; the footer's counts must agree with the lines read. Raises ValueError for
    anything that is not such a bill."""
    rows = [line for line in text.splitlines() if line.strip()]
    table = [line for line in rows if not line.startswith("#")]
    if not table:
        raise ValueError("the bill has no header")
    reader = csv.reader(table)
    header = [name.strip() for name in next(reader)]
    index = {name: position for position, name in enumerate(header)}
    needed = (
        "支付宝交易号",
        "商户订单号",
        "业务类型",
        "完成时间",
        "订单金额（元）",
        "商家实收（元）",
    )
    missing = [name for name in (*needed, "退款批次号/请求号") if name not in index]
    if missing:
        raise ValueError(f"the bill has no column {missing[0]}")
    lines = []
    for raw in reader:
        fields = [value.strip() for value in raw]
        if len(fields) < len(header):
            raise ValueError(f"a bill line has {len(fields)} fields, not {len(header)}")
        kind = BILL_KINDS.get(fields[index["业务类型"]])
        if kind is None:
            raise ValueError(f"a bill line has business type {fields[index['业务类型']]!r}")
        refund = kind is BillLineKind.REFUND
        amount = yuan_to_fen(fields[index["商家实收（元）" if refund else "订单金额（元）"]])
        lines.append(
            BillLine(
                out_trade_no=fields[index["商户订单号"]],
                transaction_id=fields[index["支付宝交易号"]],
                kind=kind,
                out_refund_no=fields[index["退款批次号/请求号"]] if refund else "",
                amount_fen=abs(amount),
                state=(RefundState.SUCCESS if refund else TradeState.PAID).value,
                time=datetime.strptime(fields[index["完成时间"]], TIME_FORMAT).replace(
                    tzinfo=BEIJING
                ),
            )
        )
    for line in rows:
        for pattern, kind in BILL_TOTALS:
            found = pattern.match(line)
            if found and int(found.group(1)) != sum(1 for b in lines if b.kind is kind):
                raise ValueError(f"the footer counts {found.group(1)} lines of {kind.value}")
    return lines


async def download_bill(provider: AlipayProvider, day: date) -> list[BillLine]:
    """The account's business-detail bill of `day` (China time), read into lines.

    `alipay.data.dataservice.bill.downloadurl.query` (bill_type trade) names a download URL;
    the file there is read as `parse_business_bill` says. A day Alipay has no bill for
    (isp.bill_not_exist) is an empty bill. Unreachable, unreadable → ProviderUnavailable; any
    other refusal → ProviderRefused.
    """
    result = await provider._call(BILL_API, {"bill_type": "trade", "bill_date": day.isoformat()})
    if result.get("code") != SUCCESS:
        if result.get("sub_code") == "isp.bill_not_exist":
            return []
        raise provider._refused(result)
    url = str(result.get("bill_download_url") or "")
    if not url.startswith(("https://", "http://")):
        raise ProviderUnavailable("Alipay named no bill download URL.")
    started = time.perf_counter()
    outcome = "error"
    try:
        try:
            async with httpx.AsyncClient(timeout=BILL_DOWNLOAD_TIMEOUT_S) as http:
                answer = await http.get(url)
        except httpx.HTTPError as exc:
            outcome = "unreachable"
            raise ProviderUnavailable(
                f"Alipay's bill could not be downloaded ({type(exc).__name__})."
            ) from None
        if answer.status_code != 200:
            outcome = "refused"
            raise ProviderUnavailable(f"Alipay's bill answered HTTP {answer.status_code}.")
        try:
            lines = parse_business_bill(_bill_text(answer.content))
        except (ValueError, UnicodeDecodeError, zipfile.BadZipFile, csv.Error) as exc:
            outcome = "unreadable"
            raise ProviderUnavailable(f"Alipay's bill could not be read: {exc}") from None
        outcome = "ok"
        return lines
    finally:
        observe_upstream(platform=PLATFORM, api="billdownload", outcome=outcome, started=started)


# --- ISV: checking a franchisee's authorisation -------------------------------------------------


async def check_app_auth(isv_app: AlipayProvider, app_auth_token: str) -> tuple[str | None, str]:
    """Whether `app_auth_token` authorises this (direct, the ISV's own) app to act for a merchant,
    by alipay.open.auth.token.app.query: (the merchant's seller id, "") when it does, else
    (None, why not). The token never appears in the answer. ProviderUnavailable when Alipay
    cannot say."""
    try:
        result = await isv_app._call(
            "alipay.open.auth.token.app.query", {"app_auth_token": app_auth_token}
        )
    except ProviderRefused as exc:
        return None, f"Alipay refused the query: {exc.message}"
    if result.get("code") != SUCCESS:
        return None, (
            f"Alipay refused the authorisation: {result.get('code')} "
            f"{result.get('sub_code') or ''} {result.get('sub_msg') or ''}".strip()
        )
    if result.get("status") != "valid":
        return None, "the app_auth_token is no longer valid (revoked or expired)"
    if str(result.get("auth_app_id", "")) != isv_app.merchant.app_id:
        return None, "the app_auth_token authorises another app"
    seller_id = str(result.get("user_id") or "")
    if not seller_id.startswith("2088"):
        return None, "Alipay named no merchant for the app_auth_token"
    return seller_id, ""
