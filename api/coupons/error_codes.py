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
    STORE_MANAGERS_NOT_ALLOWED = "coupon_template.store_managers_not_allowed"
    STORES_REQUIRED = "coupon_template.stores_required"
    STORE_OUT_OF_SCOPE = "coupon_template.store_out_of_scope"


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
    NOT_VALID_FOR_PRODUCTS = "coupon.not_valid_for_products"  # no line of its products


class CouponIssueErrorCode(StrEnum):
    NOT_FOUND = "coupon_issue.not_found"
    TARGET_INVALID = "coupon_issue.target_invalid"  # neither or both of member_ids and tag_id


class PointsMallErrorCode(StrEnum):
    ITEM_NOT_FOUND = "points_mall.item_not_found"
    TEMPLATE_REQUIRED = "points_mall.template_required"
    TEMPLATE_NOT_ALLOWED = "points_mall.template_not_allowed"
    STOCK_NOT_ALLOWED = "points_mall.stock_not_allowed"
    STOCK_BELOW_ZERO = "points_mall.stock_below_zero"
    OFF_SHELF = "points_mall.off_shelf"
    OUT_OF_STOCK = "points_mall.out_of_stock"
    LIMIT_REACHED = "points_mall.limit_reached"
    STORE_REQUIRED = "points_mall.store_required"
    STORE_NOT_ALLOWED = "points_mall.store_not_allowed"
    STORE_NOT_FOUND = "points_mall.store_not_found"
    KEY_REUSED = "points_mall.key_reused"
    COUPON_NOT_ISSUED = "points_mall.coupon_not_issued"
    EXCHANGE_NOT_FOUND = "points_mall.exchange_not_found"
    NOT_CANCELLABLE = "points_mall.not_cancellable"
    ALREADY_COLLECTED = "points_mall.already_collected"
    PICKUP_NOT_FOUND = "points_mall.pickup_not_found"
    WRONG_STORE = "points_mall.wrong_store"
    EXCHANGE_CANCELLED = "points_mall.exchange_cancelled"
