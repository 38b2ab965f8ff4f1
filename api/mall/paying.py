"""Paying a mall order through the payments service: WeChat Pay or Alipay on the account the
fulfilling store's payments are routed to (head office's for a delivery from central stock),
or the member's stored value. The order is marked paid by `effects.on_paid`, inside the
transaction that marks the payment paid, whichever way the news arrives.

An order has one open payment at a time, so a member can never pay it twice: paying again (the
sheet was dismissed, another provider chosen) first asks the platform about the payment started
before, under a lock on the order. Paid meanwhile: the order is paid and this attempt refused;
otherwise the earlier payment is closed at its platform before a new one starts."""

from __future__ import annotations

from dataclasses import dataclass

from api.core import ports
from api.core.errors import Conflict
from api.core.ports import clock
from api.payments import payments
from api.payments.models import Payment, PaymentPurpose, PaymentState
from api.payments.providers.base import Prepay, TradeState
from api.payments.recharge import member_payer

from .error_codes import MallOrderErrorCode
from .models import MallOrder, OrderState
from .orders import get_order

DESCRIPTION = "商城订单"
PROVIDERS = ("wechat", "alipay", "wallet")


@dataclass(frozen=True)
class OrderPayment:
    order: MallOrder
    payment: Payment
    prepay: Prepay | None  # None: paid from the wallet


def _not_payable(order: MallOrder) -> Conflict:
    return Conflict(
        MallOrderErrorCode.NOT_PAYABLE, f"The order is {order.state.value}, not payable."
    )


async def _close_earlier_payment(order: MallOrder) -> None:
    """Close the order's payment started before, unless the platform says it was paid (then the
    order is paid now, and 409 `mall_order.not_payable`)."""
    earlier = await Payment.get_or_none(id=order.payment_id) if order.payment_id else None
    if earlier is None or earlier.state is not PaymentState.CREATED:
        return
    if earlier.account_id is not None:
        trade, _ = await payments.refresh_from_platform(earlier)
        if trade.state is TradeState.PAID:
            raise _not_payable(await MallOrder.get(id=order.id))
        if trade.state not in (TradeState.CLOSED, TradeState.UNKNOWN):  # unknown: never made
            await (await payments.provider_of(earlier)).close(earlier.out_trade_no)
    await Payment.filter(id=earlier.id, state=PaymentState.CREATED).update(
        state=PaymentState.CLOSED, closed_at=clock().now()
    )


async def pay_order(
    *, brand_id: int, member_id: int, order_id: int, provider: str, client_ip: str
) -> OrderPayment:
    """Start paying an unpaid order: the payment and what the client pays it with; a wallet
    payment is paid at once. 404 `mall_order.not_found`; 409 `mall_order.not_payable`,
    `wallet.insufficient`; 422 `payment.no_payer`; 502 `payment.upstream` (the payment started
    before could not be asked about or closed: try again)."""
    async with ports.cache().lock(f"mall:pay:{order_id}", ttl_s=60, wait_s=30):
        return await _pay_order(
            brand_id=brand_id,
            member_id=member_id,
            order_id=order_id,
            provider=provider,
            client_ip=client_ip,
        )


async def _pay_order(
    *, brand_id: int, member_id: int, order_id: int, provider: str, client_ip: str
) -> OrderPayment:
    order = await get_order(brand_id=brand_id, member_id=member_id, order_id=order_id)
    if order.state is not OrderState.PENDING_PAYMENT or order.expires_at <= clock().now():
        raise _not_payable(order)
    await _close_earlier_payment(order)
    account = (
        None
        if provider == "wallet"
        else await payments.account_for_channel(
            brand_id=brand_id, channel=provider, store_id=order.store_id
        )
    )
    payer = (
        await member_payer(brand_id=brand_id, member_id=member_id, account=account)
        if account is not None
        else None
    )
    payment = await payments.create_payment(
        brand_id=brand_id,
        account=account,  # None: the stored value
        purpose=PaymentPurpose.MALL,
        amount_fen=order.payable_fen,
        description=DESCRIPTION,
        store_id=order.store_id,
        member_id=member_id,
        details={"mall_order_id": order.id},
    )
    await MallOrder.filter(id=order.id, state=OrderState.PENDING_PAYMENT).update(
        payment_id=payment.id
    )
    if payer is None:
        applied = await payments.pay_with_wallet(payment)
        return OrderPayment(await MallOrder.get(id=order.id), applied.payment, None)
    prepay = await payments.prepay(payment, payer=payer, client_ip=client_ip)
    return OrderPayment(await MallOrder.get(id=order.id), payment, prepay)
