"""Differences between a platform's bill and our books, made on purpose for reconciliation
tests: trades only the sandbox knows, payments only we hold as paid, refunds on one side."""

from __future__ import annotations

import secrets
from datetime import timedelta

from api.core.ports import clock
from api.org.accounts import notify_url
from api.org.models import MerchantAccount, PaymentProvider
from api.payments import payments
from api.payments.models import Payment, PaymentPurpose, PaymentRefund, PaymentState, RefundState
from api.payments.providers import provider_for
from api.payments.providers.base import Payer, PrepayOrder, RefundOrder
from sandbox.state import new_alipay_user_id, new_openid
from tests.support.player import Player


def payer_for(account: MerchantAccount, appid: str) -> Payer:
    if account.provider is PaymentProvider.ALIPAY:
        return Payer("alipay_user", account.app_id, new_alipay_user_id())
    return Payer("wechat_openid", appid, new_openid())


async def payment_on(
    account: MerchantAccount, *, appid: str, amount_fen: int = 12_345, store_id: int | None = None
) -> Payment:
    """A payment on `account`, its trade created at the sandbox."""
    payment = await payments.create_payment(
        brand_id=account.brand_id,
        account=account,
        purpose=PaymentPurpose.POS,
        amount_fen=amount_fen,
        description="面包 x3",
        store_id=store_id,
    )
    await payments.prepay(payment, payer=payer_for(account, appid), client_ip="127.0.0.1")
    return payment


async def paid_on(
    account: MerchantAccount, player: Player, *, appid: str, amount_fen: int = 12_345
) -> Payment:
    """A payment paid at the sandbox, its notification applied here."""
    payment = await payment_on(account, appid=appid, amount_fen=amount_fen)
    paid = await player.pay(payment.out_trade_no)
    assert paid["deliveries"][0]["acknowledged"], paid
    fresh = await Payment.get(id=payment.id)
    assert fresh.state == PaymentState.PAID
    return fresh


async def paid_there_only(
    account: MerchantAccount, player: Player, *, appid: str, amount_fen: int = 777
) -> str:
    """A trade made on the account around memberhub and paid: we have no record of it."""
    out_trade_no = f"XX{secrets.randbelow(10**20):020d}"
    await provider_for(account).prepay(
        PrepayOrder(
            out_trade_no=out_trade_no,
            amount_fen=amount_fen,
            description="elsewhere",
            notify_url=notify_url(account),
            expires_at=clock().now() + timedelta(minutes=30),
            payer=payer_for(account, appid),
        )
    )
    await player.pay(out_trade_no, deliveries=0)
    return out_trade_no


async def paid_here_only(account: MerchantAccount, *, amount_fen: int = 4_200) -> Payment:
    """A payment we hold as paid that the platform never saw."""
    payment = await payments.create_payment(
        brand_id=account.brand_id,
        account=account,
        purpose=PaymentPurpose.POS,
        amount_fen=amount_fen,
        description="never at the platform",
    )
    now = clock().now()
    await Payment.filter(id=payment.id).update(
        state=PaymentState.PAID, paid_at=now, transaction_id=f"T{payment.id:030d}"
    )
    return await Payment.get(id=payment.id)


async def refund_there(payment: Payment, *, amount_fen: int, out_refund_no: str) -> None:
    """A refund asked at the platform (as from the merchant's console): none recorded here."""
    account = await MerchantAccount.get(id=payment.account_id)
    await provider_for(account).refund(
        RefundOrder(
            out_trade_no=payment.out_trade_no,
            out_refund_no=out_refund_no,
            refund_fen=amount_fen,
            total_fen=payment.amount_fen,
            notify_url=notify_url(account),
        )
    )


async def refund_here(
    payment: Payment,
    *,
    amount_fen: int,
    out_refund_no: str,
    state: RefundState = RefundState.SUCCEEDED,
) -> PaymentRefund:
    """A refund recorded here (succeeded unless told), never asked at the platform."""
    now = clock().now()
    return await PaymentRefund.create(
        brand_id=payment.brand_id,
        payment_id=payment.id,
        out_refund_no=out_refund_no,
        amount_fen=amount_fen,
        state=state,
        created_at=now,
        succeeded_at=now if state == RefundState.SUCCEEDED else None,
    )


async def refund_both(
    payment: Payment, player: Player, *, amount_fen: int, out_refund_no: str
) -> PaymentRefund:
    """A refund as the refunds service makes it: recorded, asked, its notification applied."""
    await refund_here(
        payment, amount_fen=amount_fen, out_refund_no=out_refund_no, state=RefundState.PROCESSING
    )
    await refund_there(payment, amount_fen=amount_fen, out_refund_no=out_refund_no)
    answer = await player.http.post(
        f"/payments/{payment.out_trade_no}/refunds/{out_refund_no}/notify", json={}
    )
    assert answer.status_code == 200, answer.text
    refund = await PaymentRefund.get(payment_id=payment.id, out_refund_no=out_refund_no)
    assert refund.state == RefundState.SUCCEEDED, answer.text
    return refund
