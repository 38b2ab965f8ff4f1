"""The error codes the coupon domain answers with, one enum per prefix.

They are part of the HTTP contract (clients switch on them), so a value never changes once
published. Each member is a `str`, so it goes wherever a code string does.
"""

from __future__ import annotations

from enum import StrEnum


class CouponTemplateErrorCode(StrEnum):
    NOT_FOUND = "coupon_template.not_found"
    VALUE_REQUIRED = "coupon_template.value_required"
    PERCENT_REQUIRED = "coupon_template.percent_required"
    VALUE_NOT_ALLOWED = "coupon_template.value_not_allowed"
    VALIDITY_REQUIRED = "coupon_template.validity_required"
    WINDOW_INVALID = "coupon_template.window_invalid"
    LIMIT_INVALID = "coupon_template.limit_invalid"
    STORE_NOT_FOUND = "coupon_template.store_not_found"
    NOT_DRAFT = "coupon_template.not_draft"
    INVALID_TRANSITION = "coupon_template.invalid_transition"


class CouponErrorCode(StrEnum):
    NOT_FOUND = "coupon.not_found"
    TEMPLATE_NOT_ACTIVE = "coupon.template_not_active"
    OUT_OF_STOCK = "coupon.out_of_stock"
    LIMIT_REACHED = "coupon.limit_reached"
    DAILY_LIMIT_REACHED = "coupon.daily_limit_reached"
    KEY_REUSED = "coupon.key_reused"
    INVALID_KEY = "coupon.invalid_key"
    INVALID_SOURCE = "coupon.invalid_source"
    ISSUE_IN_PROGRESS = "coupon.issue_in_progress"
    NOT_AVAILABLE = "coupon.not_available"
    EXPIRED = "coupon.expired"
    NOT_STARTED = "coupon.not_started"
    ALREADY_USED = "coupon.already_used"
    LOCKED_BY_ANOTHER_ORDER = "coupon.locked_by_another_order"
    NOT_LOCKED = "coupon.not_locked"
    NOT_VALID_IN_STORE = "coupon.not_valid_in_store"
    CHANNEL_NOT_ALLOWED = "coupon.channel_not_allowed"
    BELOW_THRESHOLD = "coupon.below_threshold"
    DOES_NOT_STACK = "coupon.does_not_stack"
    MEMBER_REQUIRED = "coupon.member_required"
    LISTED_TWICE = "coupon.listed_twice"
