"""Payments: created on the account a store's route names, moved by what the platform reports.

One function applies what a platform says about a trade, `apply_trade`, whichever way the news
came: a notification, a query by the recovery job, or a payment code charged at the till. The
state moves only by guarded updates (`created → paid → partially_refunded → refunded`,
`created → closed`), so of twenty concurrent deliveries of one notification exactly one moves
the payment and runs its effects, in the same transaction; the others find it done.
"""

from __future__ import annotations

import copy
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from api.core.errors import Conflict, InvalidInput, NotFound
from api.core.pagination import paginate
from api.core.ports import clock
from api.member_center.identity import member_for_payer
from api.org.accounts import account_for_store, head_office_account, notify_url
from api.org.models import Brand, MerchantAccount, PaymentProvider, Status, StorePaymentRoute
from api.org.scope import StoreScope

from . import effects
from .error_codes import PaymentErrorCode
from .models import (
    Payment,
    PaymentDelivery,
    PaymentMethod,
    PaymentPurpose,
    PaymentRefund,
    PaymentState,
)
from .providers import provider_for
from .providers.base import Payer, Prepay, PrepayOrder, Provider, Trade, TradeState
from .providers.wallet import WalletProvider

log = logging.getLogger(__name__)

MAX_AMOUNT_FEN = 100_000_000  # one million yuan: above any single retail payment
CHANNELS = ("wechat", "alipay")


class TradeMismatch(Exception):
    """What the platform reports does not fit the payment we recorded; nothing is changed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Applied:
    payment: Payment
    changed: bool  # False: the trade was already applied (or says nothing new)


def new_out_trade_no(now: datetime) -> str:
    """26 characters, unique across accounts: `MH`, the UTC time to the second, 12 random digits."""
    return f"MH{now:%y%m%d%H%M%S}{secrets.randbelow(10**12):012d}"


# Routing ------------------------------------------------------------------------------------


async def account_for_channel(
    *, brand_id: int, channel: str, store_id: int | None
) -> MerchantAccount:
    """The account a payment through `channel` (wechat | alipay) at this store is made on.

    WeChat Pay: the store's v3 route, else its v2 route, else head office's v3 (or v2) account.
    Alipay: the store's route, else head office's account. See `accounts.account_for_store`.
    """
    if channel == "alipay":
        return await account_for_store(
            brand_id=brand_id, provider=PaymentProvider.ALIPAY, store_id=store_id
        )
    if store_id is not None:
        routed = await StorePaymentRoute.filter(
            brand_id=brand_id,
            store_id=store_id,
            provider__in=[PaymentProvider.WECHATPAY_V3, PaymentProvider.WECHATPAY_V2],
            status=Status.ACTIVE,
        ).values_list("provider", flat=True)
        if routed:
            provider = (
                PaymentProvider.WECHATPAY_V3
                if PaymentProvider.WECHATPAY_V3 in routed
                else PaymentProvider.WECHATPAY_V2
            )
            return await account_for_store(brand_id=brand_id, provider=provider, store_id=store_id)
    try:
        return await head_office_account(brand_id=brand_id, provider=PaymentProvider.WECHATPAY_V3)
    except NotFound:
        return await head_office_account(brand_id=brand_id, provider=PaymentProvider.WECHATPAY_V2)


# Creating -----------------------------------------------------------------------------------


async def create_payment(
    *,
    brand_id: int,
    account: MerchantAccount | None,
    purpose: PaymentPurpose,
    amount_fen: int,
    description: str,
    store_id: int | None = None,
    member_id: int | None = None,
    details: dict[str, Any] | None = None,
    method: PaymentMethod | None = None,
) -> Payment:
    """Record a payment to be paid on `account` (None with method `wallet`), state `created`."""
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        raise InvalidInput(PaymentErrorCode.INVALID_AMOUNT, "Amounts are whole numbers of fen.")
    if not 0 < amount_fen <= MAX_AMOUNT_FEN:
        raise InvalidInput(
            PaymentErrorCode.INVALID_AMOUNT, f"The amount must be 1 to {MAX_AMOUNT_FEN} fen."
        )
    if account is not None and account.status != Status.ACTIVE:
        raise Conflict(PaymentErrorCode.ACCOUNT_DISABLED, "The merchant account is disabled.")
    brand = await Brand.get(id=brand_id)
    now = clock().now()
    timeout_min = int(brand.setting("payment_timeout_min"))  # type: ignore[call-overload]
    return await Payment.create(
        brand_id=brand_id,
        account=account,
        store_id=store_id,
        member_id=member_id,
        method=method or PaymentMethod(account.provider.value if account else "wallet"),
        purpose=purpose,
        details=details or {},
        out_trade_no=new_out_trade_no(now),
        amount_fen=amount_fen,
        description=description[:127],
        created_at=now,
        expires_at=now + timedelta(minutes=timeout_min),
    )


async def prepay(payment: Payment, *, payer: Payer, client_ip: str) -> Prepay:
    """Create the trade at the platform; what the client pays it with."""
    account = await _account(payment)
    return await provider_for(account).prepay(
        PrepayOrder(
            out_trade_no=payment.out_trade_no,
            amount_fen=payment.amount_fen,
            description=payment.description,
            notify_url=notify_url(account),
            expires_at=payment.expires_at,
            payer=payer,
            client_ip=client_ip,
        )
    )


async def _account(payment: Payment) -> MerchantAccount:
    if payment.account_id is None:
        raise Conflict(PaymentErrorCode.NOT_FOUND, "A stored-value payment has no platform.")
    return await MerchantAccount.get(id=payment.account_id)


async def provider_of(payment: Payment) -> Provider:
    """The provider of the account the payment was made on."""
    return provider_for(await _account(payment))


# Applying what the platform says ------------------------------------------------------------


async def apply_trade(payment: Payment, trade: Trade) -> Applied:
    """Apply the platform's word on a payment's trade, exactly once.

    PAID: checks out_trade_no and amount, finds (or creates) the member behind the payer, then
    in ONE transaction moves `created` (or `closed`: the money arrived all the same) to `paid`
    by a guarded update and runs the paid effects (`effects.on_paid`). CLOSED/FAILED: moves
    `created` to `closed`. Anything else changes nothing. Raises TradeMismatch, changing
    nothing, when the trade is not this payment's; database errors propagate, so a platform
    that delivered the news is answered with an error and delivers it again.
    """
    if trade.out_trade_no != payment.out_trade_no:
        raise TradeMismatch("out_trade_no")
    if trade.state == TradeState.PAID:
        return await _apply_paid(payment, trade)
    if trade.state in (TradeState.CLOSED, TradeState.FAILED):
        closed = await Payment.filter(id=payment.id, state=PaymentState.CREATED).update(
            state=PaymentState.CLOSED, closed_at=clock().now()
        )
        return Applied(await Payment.get(id=payment.id), changed=bool(closed))
    return Applied(payment, changed=False)


async def _apply_paid(payment: Payment, trade: Trade) -> Applied:
    if trade.amount_fen != payment.amount_fen:
        raise TradeMismatch("amount")
    if payment.state not in (PaymentState.CREATED, PaymentState.CLOSED):
        if payment.transaction_id and trade.transaction_id != payment.transaction_id:
            raise TradeMismatch("transaction_id")
        return Applied(payment, changed=False)
    member_id = payment.member_id
    if member_id is None and trade.payer is not None:
        member = await member_for_payer(
            brand_id=payment.brand_id,
            kind=trade.payer.kind,
            app_id=trade.payer.app_id,
            value=trade.payer.value,
            unionid=trade.payer.unionid,
        )
        member_id = member.id
    changes = {
        "state": PaymentState.PAID,
        "paid_at": trade.paid_at or clock().now(),
        "closed_at": None,
        "transaction_id": trade.transaction_id,
        "member_id": member_id,
        "payer_kind": trade.payer.kind if trade.payer else "",
        "payer_app_id": trade.payer.app_id if trade.payer else "",
        "payer_id": trade.payer.value if trade.payer else "",
    }
    try:
        async with in_transaction() as db:
            won = await (
                Payment.filter(id=payment.id, state__in=[PaymentState.CREATED, PaymentState.CLOSED])
                .using_db(db)
                .update(**changes)
            )
            if won:
                # The row as the update left it, without reading it back.
                paid = copy.copy(payment)
                for name, value in changes.items():
                    setattr(paid, name, value)
                await effects.on_paid(db, paid)
    except IntegrityError:
        # Another payment already carries this transaction id: not this payment's trade.
        raise TradeMismatch("transaction_id") from None
    fresh = await Payment.get(id=payment.id)
    if not won and fresh.transaction_id != trade.transaction_id:
        raise TradeMismatch("transaction_id")
    return Applied(fresh, changed=bool(won))


async def pay_with_wallet(payment: Payment) -> Applied:
    """Pay a `wallet` payment from its member's stored value, exactly once.

    One transaction: the guarded move to `paid`, the wallet spend (key `payment:<id>`) and the
    paid effects. 409 `wallet.insufficient` when the balance is short, nothing changed; a
    payment already paid is returned as it is.
    """
    if payment.method != PaymentMethod.WALLET or payment.member_id is None:
        raise Conflict(PaymentErrorCode.NOT_WALLET, "This payment is not paid from a wallet.")
    wallet = WalletProvider(brand_id=payment.brand_id, member_id=payment.member_id)
    async with in_transaction() as db:
        won = await (
            Payment.filter(id=payment.id, state=PaymentState.CREATED)
            .using_db(db)
            .update(state=PaymentState.PAID, paid_at=clock().now())
        )
        if won:
            trade = await wallet.charge(
                db,
                payment_id=payment.id,
                out_trade_no=payment.out_trade_no,
                amount_fen=payment.amount_fen,
            )
            await (
                Payment.filter(id=payment.id)
                .using_db(db)
                .update(transaction_id=trade.transaction_id)
            )
            await effects.on_paid(db, await Payment.get(id=payment.id, using_db=db))
    fresh = await Payment.get(id=payment.id)
    if not won and fresh.state == PaymentState.CLOSED:
        raise Conflict(PaymentErrorCode.CLOSED, "This payment was closed.")
    return Applied(fresh, changed=bool(won))


async def refresh_from_platform(
    payment: Payment, *, now: datetime | None = None
) -> tuple[Trade, Applied]:
    """Ask the platform about a payment still `created` and apply its answer; the platform's
    trade and what applying it did."""
    trade = await (await provider_of(payment)).query(payment.out_trade_no)
    await Payment.filter(id=payment.id).update(checked_at=now or clock().now())
    return trade, await apply_trade(payment, trade)


# Head office --------------------------------------------------------------------------------


async def list_payments(
    *,
    brand_id: int,
    scope: StoreScope,
    store_id: int | None = None,
    account_id: int | None = None,
    method: PaymentMethod | None = None,
    state: PaymentState | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> tuple[list[Payment], str | None]:
    """The brand's payments newest first; store staff see their stores' only."""
    payments = scope.limit(Payment.filter(brand_id=brand_id))
    if store_id is not None:
        payments = payments.filter(store_id=store_id)
    if account_id is not None:
        payments = payments.filter(account_id=account_id)
    if method is not None:
        payments = payments.filter(method=method)
    if state is not None:
        payments = payments.filter(state=state)
    if since is not None:
        payments = payments.filter(created_at__gte=since)
    if until is not None:
        payments = payments.filter(created_at__lt=until)
    return await paginate(payments, cursor=cursor, limit=limit)


@dataclass(frozen=True)
class PaymentDetail:
    payment: Payment
    account_key: str | None
    deliveries: list[PaymentDelivery]
    refunds: list[PaymentRefund]


async def get_payment(*, brand_id: int, scope: StoreScope, payment_id: int) -> Payment:
    """One payment of the brand within the caller's stores; 404 otherwise."""
    payment = await Payment.get_or_none(id=payment_id, brand_id=brand_id)
    if payment is None or not scope.allows(payment.store_id):
        raise NotFound(PaymentErrorCode.NOT_FOUND, "No such payment.")
    return payment


async def payment_detail(*, brand_id: int, scope: StoreScope, payment_id: int) -> PaymentDetail:
    """A payment with its account key, every notification delivery received and its refunds."""
    payment = await get_payment(brand_id=brand_id, scope=scope, payment_id=payment_id)
    account_key = None
    if payment.account_id is not None:
        account = await MerchantAccount.get(id=payment.account_id)
        account_key = account.key
    deliveries = await PaymentDelivery.filter(payment_id=payment.id).order_by("id")
    refunds = await PaymentRefund.filter(payment_id=payment.id).order_by("id")
    return PaymentDetail(payment, account_key, list(deliveries), list(refunds))
