"""The org domain's error codes: dotted, stable, part of the HTTP contract (docs/api.md)."""

from __future__ import annotations

from enum import StrEnum


class AuthErrorCode(StrEnum):
    BAD_CREDENTIALS = "auth.bad_credentials"
    TOO_MANY_ATTEMPTS = "auth.too_many_attempts"
    STAFF_INACTIVE = "auth.staff_inactive"
    TOKEN_REVOKED = "auth.token_revoked"
    ROLE_FORBIDDEN = "auth.role_forbidden"


class BrandErrorCode(StrEnum):
    NOT_FOUND = "brand.not_found"
    CODE_TAKEN = "brand.code_taken"


class StoreErrorCode(StrEnum):
    NOT_FOUND = "store.not_found"
    CODE_TAKEN = "store.code_taken"
    OUT_OF_SCOPE_CHANGE = "auth.role_forbidden"


class StaffErrorCode(StrEnum):
    NOT_FOUND = "staff.not_found"
    TAKEN = "staff.taken"
    STORE_NOT_ALLOWED = "staff.store_not_allowed"
    STORE_REQUIRED = "staff.store_required"
    UNKNOWN_STORE = "staff.unknown_store"
    GUIDE_CODE_FOR_GUIDES = "staff.guide_code_for_guides"
    CANNOT_DISABLE_SELF = "staff.cannot_disable_self"
    LAST_HQ_ADMIN = "staff.last_hq_admin"
    OUT_OF_SCOPE = "auth.role_forbidden"


class WechatAppErrorCode(StrEnum):
    NOT_FOUND = "wechat_app.not_found"
    TAKEN = "wechat_app.taken"


class AlipayAppErrorCode(StrEnum):
    NOT_FOUND = "alipay_app.not_found"
    TAKEN = "alipay_app.taken"


class MerchantAccountErrorCode(StrEnum):
    NOT_FOUND = "merchant_account.not_found"
    INVALID = "merchant_account.invalid"
    NO_HEAD_OFFICE = "merchant_account.no_head_office"


class PaymentRouteErrorCode(StrEnum):
    NOT_FOUND = "payment_route.not_found"
    EXISTS = "route.exists"
    UNKNOWN_STORE = "route.unknown_store"
    UNKNOWN_ACCOUNT = "route.unknown_account"
    PROVIDER_MISMATCH = "route.provider_mismatch"
    ACCOUNT_DISABLED = "route.account_disabled"
    ROUTED_ACCOUNT_DISABLED = "payment_route.account_disabled"
    IMPORT_BAD_HEADER = "route_import.bad_header"
    IMPORT_INVALID = "route_import.invalid"
