"""What every payment provider offers: one protocol, one vocabulary of results and errors.

A provider object speaks for ONE merchant account (its keys, its merchant ids, its mode). The
payments services hold no platform detail: they ask a provider to prepay, charge a payment
code, query, close, reverse or refund, and to turn a notification's raw bytes into a `Notice`.

Errors, for every method:
- `ProviderUnavailable` (502 `payment.upstream`): the platform could not be reached, timed out,
  or answered something we cannot trust (bad signature, unparsable). The operation may or may
  not have happened there: query before deciding.
- `ProviderRefused` (409/422 with a stable `payment.*` code): the platform answered and said no
  (payment code invalid or expired, balance short, trade already closed, refund above what was
  paid). Nothing happened there.
- `NotificationRefused`: only from `parse_notification`; the notification must not be applied
  and must be answered with a failure (it is logged with `reason`).

Amounts are integer fen everywhere; a provider converts Alipay's yuan strings exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from api.core.errors import Conflict, InvalidInput, UpstreamError


class TradeState(StrEnum):
    """A trade as the platform reports it."""

    NOT_PAID = "not_paid"  # created, waiting for the payer (WeChat NOTPAY, Alipay WAIT_BUYER_PAY)
    USERPAYING = "userpaying"  # payment code: the payer is confirming (password) on the phone
    PAID = "paid"  # WeChat SUCCESS; Alipay TRADE_SUCCESS or TRADE_FINISHED
    CLOSED = "closed"  # closed or reversed before payment
    REFUNDED = "refunded"  # WeChat REFUND (paid, then refunded at least in part)
    FAILED = "failed"  # payment code charge failed for good (PAYERROR, declined)
    UNKNOWN = "unknown"  # the platform does not know this out_trade_no


class RefundState(StrEnum):
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILED = "failed"  # WeChat ABNORMAL / CLOSED; Alipay refund not done


class NoticeKind(StrEnum):
    PAYMENT = "payment"
    REFUND = "refund"


@dataclass(frozen=True)
class Payer:
    """Who paid, as the platform names them.

    kind is "wechat_openid" (app_id = the appid the openid belongs to: `sub_appid` when the
    payment was made with it, else `appid`) or "alipay_user" (app_id = the Alipay app id,
    value = buyer_id "2088…", or buyer_open_id for apps on open ids).
    """

    kind: str
    app_id: str
    value: str
    unionid: str | None = None


@dataclass(frozen=True)
class Trade:
    """One trade as the platform sees it (from a query, a code charge or a notification)."""

    out_trade_no: str
    state: TradeState
    amount_fen: int | None = None  # the total the platform charged (or will charge)
    transaction_id: str | None = None  # WeChat transaction_id / Alipay trade_no
    payer: Payer | None = None
    paid_at: datetime | None = None  # timezone-aware
    message: str = ""  # the platform's words when it failed


@dataclass(frozen=True)
class Refund:
    """One refund as the platform sees it."""

    out_trade_no: str
    out_refund_no: str
    state: RefundState
    amount_fen: int  # this refund
    refund_id: str | None = None  # the platform's refund id
    total_fen: int | None = None  # the payment's total, when the platform says it


@dataclass(frozen=True)
class Notice:
    """A verified notification: a payment's trade or a refund, and the platform's id for it.

    notification_id de-duplicates deliveries: WeChat v3's `id`, Alipay's `notify_id`; v2 has
    none, so its transaction_id (payments) or refund_id (refunds).
    """

    kind: NoticeKind
    notification_id: str
    trade: Trade | None = None
    refund: Refund | None = None


@dataclass(frozen=True)
class PrepayOrder:
    """What a payment the consumer will pay in the mini-program (or H5) needs."""

    out_trade_no: str
    amount_fen: int
    description: str
    notify_url: str
    expires_at: datetime
    # WeChat: the payer's openid and the appid it belongs to (the mini-program paying).
    # Alipay: the buyer's user id (buyer_id) or open id; app_id is the Alipay app.
    payer: Payer
    client_ip: str = "127.0.0.1"
    attach: str = ""  # echoed back by the platform; not trusted for anything


@dataclass(frozen=True)
class Prepay:
    """What the client needs to pay: `wx.requestPayment` parameters, or Alipay's trade_no."""

    client_params: dict[str, str]
    platform_ref: str  # WeChat prepay_id / Alipay trade_no


@dataclass(frozen=True)
class CodeOrder:
    """A payment code (付款码) scanned at the till."""

    out_trade_no: str
    amount_fen: int
    description: str
    auth_code: str
    client_ip: str  # the till's address: WeChat requires it (spbill_create_ip)
    store_code: str = ""


@dataclass(frozen=True)
class RefundOrder:
    out_trade_no: str
    out_refund_no: str
    refund_fen: int
    total_fen: int
    reason: str = ""
    notify_url: str = ""


@dataclass(frozen=True)
class Merchant:
    """The account a provider speaks for, as the platforms name it (no secrets)."""

    account_key: str
    mode: str  # "direct" | "partner" | "isv"
    mch_id: str = ""  # WeChat mchid or sp_mchid; Alipay seller id (2088…, the merchant's PID)
    app_id: str = ""  # WeChat appid (sp_appid in partner mode); Alipay app id
    sub_mchid: str = ""
    sub_appid: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)


class Provider(Protocol):
    """One merchant account's payment platform. See the module doc for the errors."""

    name: str  # "wechatpay_v3" | "wechatpay_v2" | "alipay" | "wallet"
    answer: str  # how its callbacks are acknowledged: "wechatpay_v3" | "wechatpay_v2" | "alipay"
    merchant: Merchant

    async def prepay(self, order: PrepayOrder) -> Prepay:
        """Create the trade for the consumer to pay; what the client calls the platform with.

        WeChat v3: JSAPI (direct, or partner with sp_mchid + sub_mchid and sub_appid/sub_openid
        when the mini-program is the sub-merchant's), returning signed `wx.requestPayment`
        parameters {appId, timeStamp, nonceStr, package, signType, paySign}. WeChat v2:
        unifiedorder JSAPI, same parameters signed the v2 way. Alipay: alipay.trade.create,
        returning {trade_no}. Calling it again with the same out_trade_no and amount returns the
        same trade (the platforms de-duplicate by out_trade_no); another amount is refused.
        """
        ...

    async def pay_with_code(self, order: CodeOrder) -> Trade:
        """Charge a payment code scanned at the till (WeChat v2 micropay, alipay.trade.pay).

        Returns PAID, USERPAYING (the payer confirms on the phone: query until paid, reverse on
        timeout; see `settle_code_payment`) or FAILED with the platform's message. An invalid
        or expired code is FAILED, not an exception.
        """
        ...

    async def query(self, out_trade_no: str) -> Trade:
        """The trade's current state at the platform; UNKNOWN when it has never seen it."""
        ...

    async def close(self, out_trade_no: str) -> None:
        """Close an unpaid trade so that it can no longer be paid. Closing a closed or unknown
        trade is not an error; closing a paid one raises ProviderRefused `payment.already_paid`."""
        ...

    async def reverse(self, out_trade_no: str) -> None:
        """Cancel a payment-code trade whatever its state (WeChat reverse, alipay.trade.cancel):
        a payer still confirming is stopped, a paid one is refunded by the platform."""
        ...

    async def refund(self, order: RefundOrder) -> Refund:
        """Ask for a refund; the same out_refund_no again is the same refund (retry safely).
        Usually PROCESSING (WeChat) or SUCCESS (Alipay answers synchronously)."""
        ...

    async def query_refund(self, *, out_trade_no: str, out_refund_no: str) -> Refund:
        """The refund's current state at the platform."""
        ...

    def parse_notification(
        self, headers: Mapping[str, str], body: bytes, *, now: datetime
    ) -> Notice:
        """Verify a notification posted to this account's callback URL and read it.

        Refuses (NotificationRefused) anything not signed with this account's platform key,
        a WeChat `WECHATPAY/SIGNTEST/` probe, a serial that is not this account's, a timestamp
        more than 5 minutes from `now`, a body that does not decrypt, a merchant or app id that
        is not this account's (mchid/sp_mchid/sub_mchid/appid; Alipay app_id, seller_id), and an
        Alipay status that is not TRADE_SUCCESS/TRADE_FINISHED/TRADE_CLOSED. Amount and
        out_trade_no are checked by the caller against the payment it recorded.
        """
        ...


class ProviderUnavailable(UpstreamError):
    def __init__(self, message: str) -> None:
        super().__init__("payment.upstream", message)


class ProviderRefused(Conflict):
    """The platform answered no. code is a stable `payment.*` code."""


class ProviderInputError(InvalidInput):
    """The request cannot be sent as asked (e.g. an account missing a key the call needs)."""


class NotificationRefused(Exception):
    """A notification that must not be applied. reason is stable and short, for the log:
    bad_signature, signtest, stale, unknown_serial, merchant_mismatch, malformed, not_paid."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# Bills ------------------------------------------------------------------------------------------


class BillLineKind(StrEnum):
    PAYMENT = "payment"
    REFUND = "refund"


@dataclass(frozen=True)
class BillLine:
    """One line of a platform's daily trade bill, in memberhub's vocabulary.

    amount_fen is positive: the payment's total, or the refund's amount. state is a
    `TradeState` value for payments ("paid"; "closed" for a reversed payment-code trade) and
    a `RefundState` value for refunds. time is when the platform booked the line.
    """

    out_trade_no: str
    transaction_id: str
    kind: BillLineKind
    out_refund_no: str
    amount_fen: int
    state: str
    time: datetime
