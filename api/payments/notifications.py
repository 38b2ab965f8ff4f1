"""Platform notifications: verified with the keys of the account their URL names, applied once,
every delivery logged.

`receive_notification` is what the callback routes call. It answers one of three ways:
- `Received(ok=True)`: applied now, or already applied (a duplicate): acknowledge.
- `Received(ok=False)`: refused — unknown account, not verified (signature, SIGNTEST probe,
  serial, timestamp, another account's keys), or not this payment's (out_trade_no, amount,
  merchant ids): nothing changed; answer with the platform's failure.
- an exception (the database is down …): nothing committed; the route answers with an error so
  that the platform delivers again.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from api.core.context import request_id
from api.core.ports import clock
from api.org.models import MerchantAccount, PaymentProvider

from . import refunds
from .models import DeliveryOutcome, Payment, PaymentDelivery
from .payments import TradeMismatch, apply_trade
from .providers import provider_for
from .providers.base import Notice, NoticeKind, NotificationRefused

log = logging.getLogger(__name__)

# Account keys are 16 hex characters (`accounts.create_account`); a URL naming anything else
# names no account.
ACCOUNT_KEY = re.compile(r"^[0-9a-f]{1,32}$")
CHANNEL_PROVIDERS = {
    "wechatpay": (PaymentProvider.WECHATPAY_V3, PaymentProvider.WECHATPAY_V2),
    "alipay": (PaymentProvider.ALIPAY,),
}


@dataclass(frozen=True)
class Received:
    ok: bool
    outcome: DeliveryOutcome
    reason: str = ""
    answer: str = ""  # how to answer: "wechatpay_v3", "wechatpay_v2", "alipay"; "" if unknown


@dataclass
class _Log:
    channel: str
    account_key: str
    body_sha256: str
    brand_id: int | None = None
    payment_id: int | None = None
    out_trade_no: str = ""
    notification_id: str = ""
    kind: str = ""
    verified: bool = False

    async def write(self, outcome: DeliveryOutcome, reason: str = "") -> None:
        await PaymentDelivery.create(
            brand_id=self.brand_id,
            account_key=self.account_key[:32],
            channel=self.channel,
            payment_id=self.payment_id,
            out_trade_no=self.out_trade_no[:64],
            notification_id=self.notification_id[:64],
            kind=self.kind,
            verified=self.verified,
            outcome=outcome,
            reason=reason[:255],
            body_sha256=self.body_sha256,
            request_id=request_id.get(),
            received_at=clock().now(),
        )


async def find_account(*, channel: str, account_key: str) -> MerchantAccount | None:
    """The account a callback URL names, if it is one of this channel's."""
    if not ACCOUNT_KEY.match(account_key):
        return None
    account = await MerchantAccount.get_or_none(key=account_key)
    if account is None or account.provider not in CHANNEL_PROVIDERS.get(channel, ()):
        return None
    return account


def answer_of(*, channel: str, account: MerchantAccount | None) -> str:
    """How a notification to this URL is answered ("wechatpay_v2" for v2 accounts)."""
    if account is not None and account.provider == PaymentProvider.WECHATPAY_V2:
        return "wechatpay_v2"
    return "alipay" if channel == "alipay" else "wechatpay_v3"


async def receive_notification(
    *,
    channel: str,
    account_key: str,
    account: MerchantAccount | None,
    headers: Mapping[str, str],
    body: bytes,
) -> Received:
    """Verify, apply and log one delivery to the URL of `account_key` (see the module doc);
    `account` is what `find_account` found for it."""
    entry = _Log(channel, account_key, hashlib.sha256(body).hexdigest())
    if account is None:
        await entry.write(DeliveryOutcome.REFUSED, "unknown_account")
        return Received(False, DeliveryOutcome.REFUSED, "unknown_account")
    entry.brand_id = account.brand_id
    provider = provider_for(account)
    try:
        # The platform stamps its notifications with its own clock: the 5-minute window is
        # judged against the wall clock, whatever clock the services are given.
        notice = provider.parse_notification(headers, body, now=datetime.now(UTC))
    except NotificationRefused as refused:
        log.warning(
            "payment notification refused",
            extra={"account_key": account_key, "reason": refused.reason},
        )
        await entry.write(DeliveryOutcome.REFUSED, refused.reason)
        return Received(False, DeliveryOutcome.REFUSED, refused.reason, provider.answer)
    entry.verified = True
    entry.kind = notice.kind.value
    entry.notification_id = notice.notification_id
    try:
        outcome = await _apply(account, notice, entry)
    except TradeMismatch as mismatch:
        log.warning(
            "payment notification does not match the payment",
            extra={"account_key": account_key, "reason": mismatch.reason},
        )
        await entry.write(DeliveryOutcome.REFUSED, mismatch.reason)
        return Received(False, DeliveryOutcome.REFUSED, mismatch.reason, provider.answer)
    except Exception:
        try:
            await entry.write(DeliveryOutcome.FAILED, "error")
        except Exception:  # the database itself is what failed: the log goes too
            log.exception("could not log a failed payment notification")
        raise
    await entry.write(outcome)
    return Received(True, outcome, "", provider.answer)


async def _apply(account: MerchantAccount, notice: Notice, entry: _Log) -> DeliveryOutcome:
    out_trade_no = (
        notice.trade.out_trade_no
        if notice.trade is not None
        else notice.refund.out_trade_no
        if notice.refund is not None
        else ""
    )
    entry.out_trade_no = out_trade_no
    payment = await Payment.get_or_none(account_id=account.id, out_trade_no=out_trade_no)
    if payment is None:
        raise TradeMismatch("unknown_out_trade_no")
    entry.payment_id = payment.id
    if notice.kind == NoticeKind.PAYMENT and notice.trade is not None:
        applied = await apply_trade(payment, notice.trade)
        return DeliveryOutcome.APPLIED if applied.changed else DeliveryOutcome.DUPLICATE
    if notice.refund is not None:
        return await apply_refund_notice(payment, notice)
    raise TradeMismatch("malformed")


async def apply_refund_notice(payment: Payment, notice: Notice) -> DeliveryOutcome:
    """A refund's state, applied once to the refund recorded under its number, with what the
    refund does to the payment, points and growth (`refunds.apply_refund_notice`)."""
    assert notice.refund is not None
    changed = await refunds.apply_refund_notice(payment, notice.refund)
    return DeliveryOutcome.APPLIED if changed else DeliveryOutcome.DUPLICATE
