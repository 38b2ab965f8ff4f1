"""Payment notifications from WeChat Pay and Alipay, one URL per merchant account.

Each route reads the raw body (the signature covers those bytes), hands it to
`notifications.receive_notification` with the account key of its URL, and answers in the
platform's own format: acknowledged only once the notification is applied or known to be a
duplicate; refused with the platform's failure answer; an error answer when applying failed, so
that the platform delivers again.
"""

from __future__ import annotations

from sanic import HTTPResponse, Request

from api.payments import notifications
from api.web.callbacks import (
    ALIPAY,
    WECHATPAY_V2,
    WECHATPAY_V3,
    ProviderAnswer,
    answer_as,
    callback_blueprint,
)
from api.web.http import doc

ACCOUNT_KEY_DOC = "The merchant account's key: its `notify_url` ends with it"
ANSWERS = {answer.name: answer for answer in (WECHATPAY_V3, WECHATPAY_V2, ALIPAY)}

wechatpay_bp = callback_blueprint(
    "payments_wechatpay",
    url_prefix="/callbacks/wechatpay",
    answer=WECHATPAY_V3,
    alternatives=(WECHATPAY_V2,),
)
alipay_bp = callback_blueprint("payments_alipay", url_prefix="/callbacks/alipay", answer=ALIPAY)


async def _receive(request: Request, channel: str, account_key: str) -> HTTPResponse:
    account = await notifications.find_account(channel=channel, account_key=account_key)
    answer: ProviderAnswer = ANSWERS[notifications.answer_of(channel=channel, account=account)]
    answer_as(request, answer)
    received = await notifications.receive_notification(
        channel=channel,
        account_key=account_key,
        account=account,
        headers={name.lower(): value for name, value in request.headers.items()},
        body=request.body,
    )
    if received.ok:
        return answer.ok()
    status = 404 if received.reason == "unknown_account" else 400
    return answer.fail(status, received.reason)


@wechatpay_bp.post("/<account_key:str>")
@doc(
    summary="WeChat Pay payment and refund notifications for one merchant account (API v3 "
    "JSON, or v2 XML for v2 accounts)",
    tag="callbacks",
    errors=(400, 404),
    secured=None,
    params={"account_key": ACCOUNT_KEY_DOC},
    description="Verified with that account's platform key only. Answers 204 (v3) or the "
    "SUCCESS XML (v2) once applied or a duplicate; 4xx with a FAIL body when refused; 5xx when "
    "applying failed, so that WeChat Pay delivers again.",
)
async def receive_wechatpay_notification(request: Request, account_key: str) -> HTTPResponse:
    return await _receive(request, "wechatpay", account_key)


@alipay_bp.post("/<account_key:str>")
@doc(
    summary="Alipay asynchronous notifications for one merchant account",
    tag="callbacks",
    errors=(400, 404),
    secured=None,
    params={"account_key": ACCOUNT_KEY_DOC},
    description="RSA2-verified with that account's Alipay public key; app_id, seller_id, "
    "out_trade_no and total_amount must be the payment's. Answers `success` once applied or a "
    "duplicate, `fail` otherwise (Alipay delivers again).",
)
async def receive_alipay_notification(request: Request, account_key: str) -> HTTPResponse:
    return await _receive(request, "alipay", account_key)
