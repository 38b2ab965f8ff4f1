"""The error codes WeChat callbacks and the auto-reply admin answer with, one enum per prefix.

They are part of the HTTP contract (clients switch on them), so a value never changes once
published. Callback refusals reach WeChat as a status and a short text, never as the envelope.
"""

from __future__ import annotations

from enum import StrEnum


class CallbackErrorCode(StrEnum):
    UNKNOWN_APP = "wechat_callback.unknown_app"
    BAD_SIGNATURE = "wechat_callback.bad_signature"
    STALE = "wechat_callback.stale"
    UNDECRYPTABLE = "wechat_callback.undecryptable"
    MALFORMED = "wechat_callback.malformed"


class AutoReplyErrorCode(StrEnum):
    NOT_FOUND = "wechat_auto_reply.not_found"
    KEYWORD_TAKEN = "wechat_auto_reply.keyword_taken"


class QrCodeErrorCode(StrEnum):
    NOT_FOUND = "wechat_qrcode.not_found"
    NO_APP = "wechat_qrcode.no_app"  # the brand has no active app of the kind asked for
    UNKNOWN_APP = "wechat_qrcode.unknown_app"  # the appid named is not an active app of the kind


class StaffWechatErrorCode(StrEnum):
    NO_OFFICIAL_ACCOUNT = "wechat_staff.no_official_account"
    STAFF_INACTIVE = "wechat_staff.staff_inactive"


class MenuErrorCode(StrEnum):
    NO_CONSUMER_MENU = "wechat_menu.no_consumer_menu"
    BUSY = "wechat_menu.busy"
