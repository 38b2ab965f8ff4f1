"""WeChat's push URL for official accounts and mini-programs, one URL per appid.

Every answer is text, as WeChat reads it: the `echostr` of a URL check, `success` or a passive
reply (XML, encrypted when the push was) for a push, and a non-2xx status with a short text for
a refusal, so nothing WeChat did not send is acted on.
"""

from __future__ import annotations

from sanic import HTTPResponse, Request

from api.web.callbacks import ProviderAnswer, callback_blueprint
from api.web.http import Raw, doc
from api.wechat_callbacks import receive

WECHAT = ProviderAnswer(
    name="wechat",
    media_type="text/plain",
    ok_status=200,
    ok_body=b"success",
    fail_body=lambda message: message.encode(),
    ok_schema={"type": "string", "description": "`success`, or a passive reply (XML)"},
    fail_schema={"type": "string", "description": "why the delivery was refused"},
)

APPID_DOC = "The official account's or mini-program's appid"

bp = callback_blueprint("wechat_callbacks", url_prefix="/callbacks/wechat", answer=WECHAT)


def _args(request: Request) -> dict[str, str]:
    return {name: str(request.args.get(name, ""))[:512] for name in request.args}


@bp.get("/<appid:str>")
@doc(
    summary="WeChat's server URL check for an app's push URL",
    tag="callbacks",
    response=Raw("text/plain", "the `echostr` WeChat sent"),
    errors=(403, 404),
    secured=None,
    params={"appid": APPID_DOC},
    description="`signature` (SHA-1 of the app's push token, `timestamp` and `nonce`) must "
    "verify and the timestamp be within 5 minutes; then the `echostr` is answered as is.",
)
async def verify_wechat_url(request: Request, appid: str) -> HTTPResponse:
    echostr = await receive.check_url(appid=appid, args=_args(request))
    return HTTPResponse(echostr, status=200, content_type="text/plain; charset=utf-8")


@bp.post("/<appid:str>")
@doc(
    summary="Official-account and mini-program message push (plain, compatible or safe mode)",
    tag="callbacks",
    body=Raw("text/xml", "the pushed message (XML; JSON for mini-programs configured so)"),
    response=Raw("text/plain", "`success`, or a passive reply (XML, encrypted in safe mode)"),
    errors=(400, 403, 404),
    secured=None,
    params={"appid": APPID_DOC},
    description="Verified by `signature`, and by `msg_signature` and decryption when "
    "`encrypt_type=aes` (the only way a safe-mode app accepts). A push WeChat delivers again "
    "(same `MsgId`, or same sender, `CreateTime` and event) is handled once and answered the "
    "same. Unknown message types are answered `success`.",
)
async def receive_wechat_push(request: Request, appid: str) -> HTTPResponse:
    answer = await receive.receive_push(appid=appid, args=_args(request), body=request.body)
    content_type = "text/plain" if answer == receive.SUCCESS else "application/xml"
    return HTTPResponse(answer, status=200, content_type=f"{content_type}; charset=utf-8")
