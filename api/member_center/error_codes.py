"""The error codes the member center answers with, one enum per prefix.

They are part of the HTTP contract (clients switch on them), so a value never changes once
published. Each member is a `str`, so it goes wherever a code string does.
"""

from __future__ import annotations

from enum import StrEnum


class MemberErrorCode(StrEnum):
    NOT_FOUND = "member.not_found"
    MERGED = "member.merged"
    BUSY = "member.busy"
    BIRTHDAY_REQUIRED = "member.birthday_required"
    BIRTHDAY_INVALID = "member.birthday_invalid"
    BIRTHDAY_LOCKED = "member.birthday_locked"


class PointsErrorCode(StrEnum):
    INVALID_AMOUNT = "points.invalid_amount"
    INVALID_KEY = "points.invalid_key"
    INVALID_FROZEN_DAYS = "points.invalid_frozen_days"
    REASON_REQUIRED = "points.reason_required"
    INSUFFICIENT = "points.insufficient"
    KEY_REUSED = "points.key_reused"
    CONCURRENT_CHANGE = "points.concurrent_change"


class WalletErrorCode(StrEnum):
    INVALID_AMOUNT = "wallet.invalid_amount"
    INVALID_KEY = "wallet.invalid_key"
    INSUFFICIENT = "wallet.insufficient"
    KEY_REUSED = "wallet.key_reused"
    BUSY = "wallet.busy"
    CONCURRENT_CHANGE = "wallet.concurrent_change"
    EMPTY = "wallet.empty"
    SPEND_NOT_FOUND = "wallet.spend_not_found"
    ALREADY_REFUNDED = "wallet.already_refunded"
    REFUND_EXCEEDS_SPEND = "wallet.refund_exceeds_spend"


class WalletPackageErrorCode(StrEnum):
    NOT_FOUND = "wallet_package.not_found"
    INVALID_NAME = "wallet_package.invalid_name"


class GrowthErrorCode(StrEnum):
    INVALID_AMOUNT = "growth.invalid_amount"
    INVALID_KEY = "growth.invalid_key"
    KEY_REUSED = "growth.key_reused"


class LevelErrorCode(StrEnum):
    NOT_FOUND = "level.not_found"
    RANK_TAKEN = "level.rank_taken"
    ENTRY_LEVEL_MISSING = "level.entry_level_missing"
    ENTRY_LEVEL_REQUIRED = "level.entry_level_required"
    THRESHOLD_ORDER = "level.threshold_order"
    INVALID_THRESHOLD = "level.invalid_threshold"
    INVALID_NAME = "level.invalid_name"
    INVALID_BENEFITS = "level.invalid_benefits"
    INVALID_RANK = "level.invalid_rank"
    INVALID_GROWTH_THRESHOLD = "level.invalid_growth_threshold"
    INVALID_POINTS_RATE_PCT = "level.invalid_points_rate_pct"
    INVALID_DISCOUNT_PCT = "level.invalid_discount_pct"


class MemberCodeErrorCode(StrEnum):
    NOT_FOUND = "member_code.not_found"
    USED = "member_code.used"
    EXPIRED = "member_code.expired"
    RATE_LIMITED = "member_code.rate_limited"


class TagErrorCode(StrEnum):
    NOT_FOUND = "tag.not_found"
    NAME_TAKEN = "tag.name_taken"
    UNKNOWN = "tag.unknown"
    UNKNOWN_GROUP = "tag.unknown_group"
    KIND_RESERVED = "tag.kind_reserved"
    KIND_NOT_ALLOWED = "tag.kind_not_allowed"


class TagGroupErrorCode(StrEnum):
    NAME_TAKEN = "tag_group.name_taken"


class RelationErrorCode(StrEnum):
    NO_GUIDE_CODE = "relation.no_guide_code"


class GuideErrorCode(StrEnum):
    NOT_FOUND = "guide.not_found"
    NOT_A_GUIDE = "guide.not_a_guide"
    INACTIVE = "guide.inactive"
    NO_STORE = "guide.no_store"
    SAME_GUIDE = "guide.same_guide"


class PerformanceErrorCode(StrEnum):
    NO_SUBJECT = "performance.no_subject"


# Codes of the apps and platforms a sign-in names, raised while signing a member in.
class SignInErrorCode(StrEnum):
    WECHAT_APP_NOT_FOUND = "wechat_app.not_found"
    ALIPAY_APP_NOT_FOUND = "alipay_app.not_found"
    ALIPAY_NO_USER = "alipay.no_user"
    ALIPAY_NO_AES_KEY = "alipay.no_aes_key"
    APPID_REQUIRED = "auth.appid_required"
    APP_ID_REQUIRED = "auth.app_id_required"
    MEMBER_GONE = "auth.member_gone"


class RequestErrorCode(StrEnum):
    INVALID = "request.invalid"
    NAIVE_DATETIME = "request.naive_datetime"


class BrandErrorCode(StrEnum):
    NOT_FOUND = "brand.not_found"
