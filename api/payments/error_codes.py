"""The payments domain's error codes: dotted, stable, part of the HTTP contract (docs/api.md)."""

from __future__ import annotations

from enum import StrEnum


class PaymentErrorCode(StrEnum):
    NOT_FOUND = "payment.not_found"
    INVALID_AMOUNT = "payment.invalid_amount"
    NO_PAYER = "payment.no_payer"  # the member has no identity the platform can charge
    ACCOUNT_DISABLED = "payment.account_disabled"
    ALREADY_PAID = "payment.already_paid"
    CLOSED = "payment.closed"
    NOT_WALLET = "payment.not_wallet"
    UPSTREAM = "payment.upstream"


class RechargeErrorCode(StrEnum):
    INVALID = "recharge.invalid"  # neither or both of package_id and amount_fen
    PACKAGE_NOT_FOUND = "wallet_package.not_found"
    AMOUNT_OUT_OF_RANGE = "recharge.amount_out_of_range"


class RefundErrorCode(StrEnum):
    NOT_PAID = "refund.not_paid"  # the payment was never paid (created or closed)
    EXCEEDS = "refund.exceeds"  # more than what is left of the payment (paid − refunded)
    NUMBER_REUSED = "refund.number_reused"  # this refund number already names another refund
    FAILED = "refund.failed"  # the refund under this number failed: use a new number
    WALLET_SPENT = "refund.wallet_spent"  # a recharge whose stored value was already spent
    INVALID_AMOUNT = "refund.invalid_amount"
    INVALID_NUMBER = "refund.invalid_number"
    INVALID_REASON = "refund.invalid_reason"
