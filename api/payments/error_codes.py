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


class ReconciliationErrorCode(StrEnum):
    ACCOUNT_NOT_FOUND = "merchant_account.not_found"  # not an account of this brand
    FUTURE_DAY = "reconciliation.future_day"  # a day whose bill cannot exist yet


class OnboardingErrorCode(StrEnum):
    NOT_FOUND = "payment_onboarding.not_found"
    UNREADABLE = "payment_onboarding.unreadable"  # not UTF-8 text, or not CSV
    BAD_HEADER = "payment_onboarding.bad_header"
    EMPTY = "payment_onboarding.empty"
    TOO_MANY_LINES = "payment_onboarding.too_many_lines"
    NO_SERVICE_PROVIDER = "payment_onboarding.no_service_provider"


class PosOrderErrorCode(StrEnum):
    NOT_FOUND = "pos_order.not_found"
    ITEMS_MISMATCH = "pos_order.items_mismatch"  # the items do not add up to amount_fen
    STORE_DISABLED = "pos_order.store_disabled"
    ALREADY_PAID = "pos_order.already_paid"
    PAYING = "pos_order.paying"  # another attempt is charging it, or awaits the member
    CANCELLED = "pos_order.cancelled"
    NOT_OPEN = "pos_order.not_open"  # only an open order can be cancelled
    INVALID_CODE = "pos_order.invalid_code"  # not a code of the method's shape
    PAYMENT_FAILED = "pos_order.payment_failed"  # the platform declined the payment code
    PAYER_TIMEOUT = "pos_order.payer_timeout"  # the payer did not confirm: reversed
    CONFIRMATION_EXPIRED = "payment.confirmation_expired"
    IDLE = "pos_order.idle"  # left unpaid past the brand's payment timeout: cancelled


class RefundErrorCode(StrEnum):
    NOT_PAID = "refund.not_paid"  # the payment was never paid (created or closed)
    EXCEEDS = "refund.exceeds"  # more than what is left of the payment (paid − refunded)
    NUMBER_REUSED = "refund.number_reused"  # this refund number already names another refund
    FAILED = "refund.failed"  # the refund under this number failed: use a new number
    WALLET_SPENT = "refund.wallet_spent"  # a recharge whose stored value was already spent
    INVALID_AMOUNT = "refund.invalid_amount"
    INVALID_NUMBER = "refund.invalid_number"
    INVALID_REASON = "refund.invalid_reason"
