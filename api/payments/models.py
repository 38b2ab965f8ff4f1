"""Payments, the notifications that move them, and their refunds."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from api.org.models import Brand, MerchantAccount, Store


class PaymentState(StrEnum):
    CREATED = "created"
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    CLOSED = "closed"


class PaymentMethod(StrEnum):
    """How the money arrives: the platform account's provider, or the member's stored value."""

    WECHATPAY_V3 = "wechatpay_v3"
    WECHATPAY_V2 = "wechatpay_v2"
    ALIPAY = "alipay"
    WALLET = "wallet"


class PaymentPurpose(StrEnum):
    """What the money is for; decides what being paid does (see `effects`)."""

    RECHARGE = "recharge"  # stored value: credits the wallet
    POS = "pos"  # a sale at the till: points and growth
    MALL = "mall"  # an online order: points and growth


class Payment(Model):
    """One payment on one merchant account, moved only by guarded updates on `state`."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    # None for stored-value payments, which move no money between accounts.
    account: fields.ForeignKeyNullableRelation[MerchantAccount] = fields.ForeignKeyField(
        "memberhub.MerchantAccount", null=True, related_name=False, on_delete=fields.RESTRICT
    )
    account_id: int | None
    store: fields.ForeignKeyNullableRelation[Store] = fields.ForeignKeyField(
        "memberhub.Store", null=True, related_name=False, on_delete=fields.RESTRICT
    )
    store_id: int | None
    member_id = fields.IntField(null=True)  # known at creation, or found from the payer on paid
    method = fields.CharEnumField(PaymentMethod, max_length=16)
    purpose = fields.CharEnumField(PaymentPurpose, max_length=16)
    # What it pays for, by purpose: {"package_id": 3, "bonus_fen": 500} for a recharge …
    details: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    out_trade_no = fields.CharField(max_length=32)
    amount_fen = fields.BigIntField()
    refunded_fen = fields.BigIntField(default=0)
    description = fields.CharField(max_length=127)
    state = fields.CharEnumField(PaymentState, max_length=20, default=PaymentState.CREATED)
    transaction_id = fields.CharField(max_length=64, null=True)  # the platform's trade id
    payer_kind = fields.CharField(max_length=16, default="")  # "wechat_openid", "alipay_user"
    payer_app_id = fields.CharField(max_length=32, default="")
    payer_id = fields.CharField(max_length=64, default="")
    points_earned = fields.IntField(default=0)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()  # closed at the platform after this if still unpaid
    paid_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    checked_at = fields.DatetimeField(null=True)  # last asked at the platform (recovery)

    class Meta:
        table = "pay_payment"
        unique_together = (("account", "out_trade_no"), ("method", "transaction_id"))
        indexes = (Index(fields=["state", "created_at"]), Index(fields=["brand_id", "id"]))


class DeliveryOutcome(StrEnum):
    APPLIED = "applied"  # this delivery moved the payment (or refund)
    DUPLICATE = "duplicate"  # already applied: acknowledged, nothing changed
    REFUSED = "refused"  # not verified or not consistent with the payment: nothing changed
    FAILED = "failed"  # verified, but applying failed (e.g. the database): answered for a retry


class PaymentDelivery(Model):
    """Every notification delivery received, verified or not: the log head office reads."""

    id = fields.BigIntField(primary_key=True)
    brand_id = fields.IntField(null=True)
    account_key = fields.CharField(max_length=32)
    channel = fields.CharField(max_length=16)  # "wechatpay" | "alipay": the callback path
    payment_id = fields.IntField(null=True)
    out_trade_no = fields.CharField(max_length=64, default="")
    notification_id = fields.CharField(max_length=64, default="")
    kind = fields.CharField(max_length=16, default="")  # "payment" | "refund" when verified
    verified = fields.BooleanField(default=False)
    outcome = fields.CharEnumField(DeliveryOutcome, max_length=16)
    reason = fields.CharField(max_length=255, default="")
    body_sha256 = fields.CharField(max_length=64)
    request_id = fields.CharField(max_length=64, default="")
    received_at = fields.DatetimeField()

    class Meta:
        table = "pay_delivery"
        indexes = (Index(fields=["payment_id"]), Index(fields=["account_key", "id"]))


class RefundState(StrEnum):
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class PaymentRefund(Model):
    """A refund of (part of) a payment, unique by its refund number on the payment."""

    id = fields.IntField(primary_key=True)
    brand_id = fields.IntField()
    # Goes with its payment, which goes only with its brand (nothing else deletes a payment).
    payment: fields.ForeignKeyRelation[Payment] = fields.ForeignKeyField(
        "memberhub.Payment", related_name=False, on_delete=fields.CASCADE
    )
    payment_id: int
    out_refund_no = fields.CharField(max_length=64)
    amount_fen = fields.BigIntField()
    reason = fields.CharField(max_length=80, default="")
    state = fields.CharEnumField(RefundState, max_length=16, default=RefundState.PROCESSING)
    refund_id = fields.CharField(max_length=64, null=True)  # the platform's
    actor = fields.CharField(max_length=64, default="")  # who asked: "staff:12"
    failure = fields.CharField(max_length=64, default="")  # why it failed: the platform's code
    # Claw-back on success: points taken back, points the member had already spent (not owed),
    # growth taken back.
    points_clawed_back = fields.IntField(default=0)
    points_unrecovered = fields.IntField(default=0)
    growth_clawed_back = fields.IntField(default=0)
    # Stored value this refund moved: given back (a wallet payment) or taken out (a recharge).
    wallet_principal_fen = fields.BigIntField(default=0)
    wallet_bonus_fen = fields.BigIntField(default=0)
    checked_at = fields.DatetimeField(null=True)  # last asked at the platform (recovery)
    created_at = fields.DatetimeField()
    succeeded_at = fields.DatetimeField(null=True)

    class Meta:
        table = "pay_refund"
        unique_together = (("payment", "out_refund_no"),)
