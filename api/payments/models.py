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


# Reconciliation ---------------------------------------------------------------------------------


class ReconciliationState(StrEnum):
    MATCHED = "matched"  # the bill and our books agree
    DIFFERENCES = "differences"  # at least one difference is listed
    FAILED = "failed"  # the bill could not be had or read: compared nothing (see error)


class DifferenceKind(StrEnum):
    MISSING_HERE = "missing_here"  # in the bill, unknown here
    MISSING_THERE = "missing_there"  # paid or refunded here, not in the bill
    AMOUNT_MISMATCH = "amount_mismatch"  # on both sides, other amounts
    STATUS_MISMATCH = "status_mismatch"  # on both sides, other states (e.g. paid there only)


class ReconciliationRun(Model):
    """One merchant account's bill of one day compared with our payments and refunds.

    Unique per account and day: a rerun replaces the counts and the differences.
    """

    id = fields.IntField(primary_key=True)
    brand_id = fields.IntField()
    # Runs are derived from the account's bills: they go with the account (and its brand).
    account: fields.ForeignKeyRelation[MerchantAccount] = fields.ForeignKeyField(
        "memberhub.MerchantAccount", related_name=False, on_delete=fields.CASCADE
    )
    account_id: int
    day = fields.DateField()  # the bill's day, China time
    state = fields.CharEnumField(ReconciliationState, max_length=16)
    error = fields.CharField(max_length=255, default="")
    payments_ours = fields.IntField(default=0)
    payments_theirs = fields.IntField(default=0)
    refunds_ours = fields.IntField(default=0)
    refunds_theirs = fields.IntField(default=0)
    paid_ours_fen = fields.BigIntField(default=0)
    paid_theirs_fen = fields.BigIntField(default=0)
    refunded_ours_fen = fields.BigIntField(default=0)
    refunded_theirs_fen = fields.BigIntField(default=0)
    differences = fields.IntField(default=0)
    reconciled_at = fields.DatetimeField()

    class Meta:
        table = "pay_reconciliation_run"
        unique_together = (("account", "day"),)
        indexes = (Index(fields=["brand_id", "day"]),)


class ReconciliationDifference(Model):
    """One line on which a bill and our books disagree, with what each side says."""

    id = fields.IntField(primary_key=True)
    run: fields.ForeignKeyRelation[ReconciliationRun] = fields.ForeignKeyField(
        "memberhub.ReconciliationRun", related_name=False, on_delete=fields.CASCADE
    )
    run_id: int
    kind = fields.CharEnumField(DifferenceKind, max_length=16)
    line_kind = fields.CharField(max_length=8)  # "payment" | "refund"
    out_trade_no = fields.CharField(max_length=64)
    out_refund_no = fields.CharField(max_length=64, default="")
    transaction_id = fields.CharField(max_length=64, default="")
    payment_id = fields.IntField(null=True)  # ours, when we have it
    ours_amount_fen = fields.BigIntField(null=True)
    theirs_amount_fen = fields.BigIntField(null=True)
    ours_state = fields.CharField(max_length=20, default="")
    theirs_state = fields.CharField(max_length=20, default="")

    class Meta:
        table = "pay_reconciliation_difference"
        indexes = (Index(fields=["run_id", "id"]),)


class OnboardingState(StrEnum):
    QUEUED = "queued"
    CHECKING = "checking"  # lines validated, accounts being checked with the platforms
    WRITING = "writing"  # every line good: stores, accounts and routes being written
    DONE = "done"
    FAILED = "failed"


class OnboardingJob(Model):
    """A bulk onboarding of franchise stores from one CSV file, all or nothing."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    actor = fields.CharField(max_length=64)
    state = fields.CharEnumField(OnboardingState, max_length=16, default=OnboardingState.QUEUED)
    # The file as sent (it holds app_auth_tokens), encrypted, dropped once the job has ended.
    csv_enc = fields.TextField(null=True)
    # The service-provider accounts whose ids and keys the franchisee accounts are made from.
    wechat_account_id = fields.IntField(null=True)
    alipay_account_id = fields.IntField(null=True)
    total = fields.IntField(default=0)  # data lines in the file
    checked = fields.IntField(default=0)  # lines validated and checked with the platforms
    written = fields.IntField(default=0)  # lines written (all of them, at once, or none)
    errors: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    result: fields.JSONField[dict[str, int]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField()
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "pay_onboarding_job"
        indexes = (Index(fields=["brand_id", "id"]),)


class PosOrderState(StrEnum):
    OPEN = "open"  # priced, waiting to be paid (again, after a failed attempt)
    PAYING = "paying"  # one pay attempt is charging it
    PENDING_CONFIRMATION = "pending_confirmation"  # a member-code payment awaits the member
    PAID = "paid"
    CANCELLED = "cancelled"


class PosOrder(Model):
    """A sale rung up at a store's till, priced once and paid by one attempt at a time.

    Its state moves only by guarded updates on (state, attempt): of any number of concurrent
    pay requests one claims the order (open to paying, attempt + 1) and the others are refused.
    """

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    store: fields.ForeignKeyRelation[Store] = fields.ForeignKeyField(
        "memberhub.Store", related_name=False, on_delete=fields.RESTRICT
    )
    store_id: int
    staff_id = fields.IntField()  # who rang it up
    member_id = fields.IntField(null=True)  # from the member code scanned, or the payer
    items: fields.JSONField[list[Any]] = fields.JSONField(default=list)
    amount_fen = fields.BigIntField()  # the list price
    discount_pct = fields.IntField(default=100)  # the member's level discount applied
    discount_fen = fields.BigIntField(default=0)  # level and coupon discounts together
    payable_fen = fields.BigIntField()
    state = fields.CharEnumField(PosOrderState, max_length=24, default=PosOrderState.OPEN)
    method = fields.CharField(max_length=16, default="")  # of the current or last attempt
    attempt = fields.IntField(default=0)
    attempt_key = fields.CharField(max_length=100, default="")  # its Idempotency-Key
    attempt_started_at = fields.DatetimeField(null=True)
    payment_id = fields.IntField(null=True)  # the current or last attempt's payment
    last_error = fields.CharField(max_length=64, default="")  # why the last attempt failed
    created_at = fields.DatetimeField()
    paid_at = fields.DatetimeField(null=True)

    class Meta:
        table = "pos_order"
        indexes = (
            Index(fields=["brand_id", "id"]),
            Index(fields=["payment_id"]),
            Index(fields=["state", "attempt_started_at"]),
        )
