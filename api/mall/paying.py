"""Paying a mall order through the payments service: WeChat Pay or Alipay on the account the
fulfilling store's payments are routed to (head office's for a delivery from central stock),
or the member's stored value. The order is marked paid by `effects.on_paid`, inside the
transaction that marks the payment paid, whichever way the news arrives."""

from __future__ import annotations

from dataclasses import dataclass

from api.core.errors import Conflict
from api.core.ports import clock
from api.payments import payments
from api.payments.models import Payment, PaymentMethod, PaymentPurpose
from api.payments.providers.base import Prepay
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


async def pay_order(
    *, brand_id: int, member_id: int, order_id: int, provider: str, client_ip: str
) -> OrderPayment:
    """Start paying an unpaid order: the payment and what the client pays it with; a wallet
    payment is paid at once. 404 `mall_order.not_found`; 409 `mall_order.not_payable`,
    `wallet.insufficient`; 422 `payment.no_payer`."""
    order = await get_order(brand_id=brand_id, member_id=member_id, order_id=order_id)
    if order.state is not OrderState.PENDING_PAYMENT or order.expires_at <= clock().now():
        raise Conflict(
            MallOrderErrorCode.NOT_PAYABLE, f"The order is {order.state.value}, not payable."
        )
    details = {"mall_order_id": order.id}
    if provider == "wallet":
        payment = await payments.create_payment(
            brand_id=brand_id,
            account=None,
            purpose=PaymentPurpose.MALL,
            amount_fen=order.payable_fen,
            description=DESCRIPTION,
            store_id=order.store_id,
            member_id=member_id,
            details=details,
            method=PaymentMethod.WALLET,
        )
        await MallOrder.filter(id=order.id).update(payment_id=payment.id)
        applied = await payments.pay_with_wallet(payment)
        return OrderPayment(await MallOrder.get(id=order.id), applied.payment, None)
    account = await payments.account_for_channel(
        brand_id=brand_id, channel=provider, store_id=order.store_id
    )
    payer = await member_payer(brand_id=brand_id, member_id=member_id, account=account)
    payment = await payments.create_payment(
        brand_id=brand_id,
        account=account,
        purpose=PaymentPurpose.MALL,
        amount_fen=order.payable_fen,
        description=DESCRIPTION,
        store_id=order.store_id,
        member_id=member_id,
        details=details,
    )
    await MallOrder.filter(id=order.id, state=OrderState.PENDING_PAYMENT).update(
        payment_id=payment.id
    )
    prepay = await payments.prepay(payment, payer=payer, client_ip=client_ip)
    return OrderPayment(await MallOrder.get(id=order.id), payment, prepay)
