"""Stored value as a payment method: spent once, never below zero, all or nothing."""

from __future__ import annotations

import asyncio

import pytest

from api.core.errors import Conflict
from api.member_center import wallet
from api.member_center.models import PointsEntry, WalletEntry
from api.payments import payments
from api.payments.models import Payment, PaymentMethod, PaymentPurpose, PaymentState
from tests.factories import make_brand, make_member


async def _wallet_payment(brand_id: int, member_id: int, amount_fen: int) -> Payment:
    return await payments.create_payment(
        brand_id=brand_id,
        account=None,
        method=PaymentMethod.WALLET,
        purpose=PaymentPurpose.POS,
        amount_fen=amount_fen,
        description="会员储值支付",
        member_id=member_id,
    )


async def _funded_member(amount_fen: int) -> tuple[int, int]:
    brand = await make_brand(settings={"points_frozen_days": 0})
    member = await make_member(brand=brand)
    await wallet.recharge_wallet(
        brand_id=brand.id, member_id=member.id, principal_fen=amount_fen, key="seed"
    )
    return brand.id, member.id


async def test_a_wallet_payment_spends_once_and_earns_points() -> None:
    brand_id, member_id = await _funded_member(10_000)
    payment = await _wallet_payment(brand_id, member_id, 3_000)

    first = await payments.pay_with_wallet(payment)
    again = await payments.pay_with_wallet(payment)

    assert (first.changed, again.changed) == (True, False)
    assert again.payment.state == PaymentState.PAID
    balance = await wallet.wallet_balance(brand_id=brand_id, member_id=member_id)
    assert balance.total_fen == 7_000
    assert await WalletEntry.filter(member_id=member_id, kind="spend").count() == 1
    assert await PointsEntry.filter(member_id=member_id).count() == 1


async def test_twenty_concurrent_tries_to_pay_one_payment_spend_once() -> None:
    brand_id, member_id = await _funded_member(10_000)
    payment = await _wallet_payment(brand_id, member_id, 3_000)

    results = await asyncio.gather(*(payments.pay_with_wallet(payment) for _ in range(20)))

    assert sum(result.changed for result in results) == 1
    balance = await wallet.wallet_balance(brand_id=brand_id, member_id=member_id)
    assert balance.total_fen == 7_000


async def test_twenty_payments_at_once_never_take_the_wallet_below_zero() -> None:
    brand_id, member_id = await _funded_member(10_000)
    bills = [await _wallet_payment(brand_id, member_id, 3_000) for _ in range(20)]

    results = await asyncio.gather(
        *(payments.pay_with_wallet(bill) for bill in bills), return_exceptions=True
    )

    paid = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(paid) == 3 and len(refused) == 17
    assert {r.code for r in refused} <= {"wallet.insufficient", "wallet.busy"}
    balance = await wallet.wallet_balance(brand_id=brand_id, member_id=member_id)
    assert balance.total_fen == 1_000
    assert await Payment.filter(state=PaymentState.PAID).count() == 3
    assert await Payment.filter(state=PaymentState.CREATED).count() == 17


async def test_a_short_wallet_refuses_and_leaves_the_payment_unpaid() -> None:
    brand_id, member_id = await _funded_member(1_000)
    payment = await _wallet_payment(brand_id, member_id, 1_001)

    with pytest.raises(Conflict) as refused:
        await payments.pay_with_wallet(payment)

    assert refused.value.code == "wallet.insufficient"
    assert (await Payment.get(id=payment.id)).state == PaymentState.CREATED
    assert await PointsEntry.all().count() == 0
    balance = await wallet.wallet_balance(brand_id=brand_id, member_id=member_id)
    assert balance.total_fen == 1_000
