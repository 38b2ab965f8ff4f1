"""WeChat Pay as the sandbox plays it, under the same paths as api.mch.weixin.qq.com.

API v3 (JSON): every request's `Authorization: WECHATPAY2-SHA256-RSA2048 …` is verified with
the demo merchant key (401 SIGN_ERROR otherwise); every answer is signed with the platform key
(Wechatpay-Serial/Timestamp/Nonce/Signature). The serial is the platform public key id when
the request named it in `Wechatpay-Serial`, else the platform certificate's serial: a merchant
configured with either can verify. Notifications are v3 JSON whose resource is AES-256-GCM
encrypted with the APIv3 key of the mchid (sp_mchid in partner mode).

API v2 (XML, MD5 or HMAC-SHA256 with the mchid's v2 key): unifiedorder (JSAPI), micropay
(payment codes from POST /sandbox/payment-codes), orderquery, reverse, closeorder, refund,
refundquery; notifications in XML signed the way the trade was created.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import re
import secrets
import string
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sanic import Blueprint, HTTPResponse, Request
from sanic.response import json as json_response
from sanic.response import raw

from . import payments
from .keys import (
    WECHATPAY_PUBLIC_KEY_ID,
    aes_gcm_encrypt,
    rsa2_sign,
    rsa2_verify,
    wechatpay_api_key,
    wechatpay_api_v3_key,
    wechatpay_merchant_public_pem,
    wechatpay_platform_cert_pem,
    wechatpay_platform_cert_serial,
    wechatpay_platform_private_pem,
)
from .payments import (
    CHINA,
    CLOSED,
    NOTPAY,
    PAID_STATES,
    PAYERROR,
    REVOKED,
    SUCCESS,
    USERPAYING,
    SandboxTrade,
)
from .player import bad_player_request, player_body, route_state
from .state import SandboxState

RETRY_SCHEDULE_S = (
    15.0, 15.0, 30.0, 180.0, 600.0, 1200.0, 1800.0, 1800.0, 1800.0,
    3600.0, 10800.0, 10800.0, 10800.0, 21600.0, 21600.0,
)  # fmt: skip
CLOCK_SKEW_S = 300
SUB_MCHID = re.compile(r"^\d{10}$")
TRADE_STATE_DESC = {
    NOTPAY: "未支付",
    USERPAYING: "用户支付中",
    SUCCESS: "支付成功",
    CLOSED: "已关闭",
    REVOKED: "已撤销",
    PAYERROR: "支付失败",
    "REFUND": "转入退款",
}
FOREIGN_APPID = "wx00000000000f0e1a"
OTHER_MCHID = "1900000999"
STALE_S = 600


def _nonce(length: int = 32) -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(length))


def _china_time(iso_utc: str) -> str:
    """RFC 3339 in China time, as WeChat writes it: 2024-05-20T13:29:35+08:00."""
    return payments.parse_iso(iso_utc).astimezone(CHINA).isoformat(timespec="seconds")


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _serial_for(request: Request) -> str:
    asked = request.headers.get("Wechatpay-Serial", "")
    return (
        WECHATPAY_PUBLIC_KEY_ID
        if asked == WECHATPAY_PUBLIC_KEY_ID
        else wechatpay_platform_cert_serial()
    )


def v3_signature_headers(
    body: str,
    *,
    serial: str = WECHATPAY_PUBLIC_KEY_ID,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The platform's signature headers over body (what an answer or notification carries)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or _nonce()
    return {
        "Wechatpay-Serial": serial,
        "Wechatpay-Timestamp": stamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": rsa2_sign(
            f"{stamp}\n{nonce}\n{body}\n", wechatpay_platform_private_pem()
        ),
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }


def _v3_answer(request: Request, status: int, payload: dict[str, Any] | None) -> HTTPResponse:
    body = "" if payload is None else _compact(payload)
    headers = v3_signature_headers(body, serial=_serial_for(request))
    headers["Request-ID"] = str(uuid.uuid4())
    return raw(
        body.encode(),
        status=status,
        headers=headers,
        content_type="application/json; charset=utf-8",
    )


def _v3_error(request: Request, status: int, code: str, message: str) -> HTTPResponse:
    return _v3_answer(request, status, {"code": code, "message": message})


_AUTH = re.compile(r'(\w+)="([^"]*)"')


def _authorized_mchid(request: Request) -> str | None:
    """The mchid of a correctly signed v3 request (merchant key, timestamp within 5 min)."""
    header = request.headers.get("Authorization", "")
    scheme, _, rest = header.partition(" ")
    if scheme != "WECHATPAY2-SHA256-RSA2048":
        return None
    fields = dict(_AUTH.findall(rest))
    try:
        stamp = int(fields.get("timestamp", ""))
    except ValueError:
        return None
    if abs(time.time() - stamp) > CLOCK_SKEW_S:
        return None
    path = request.path[request.path.find("/v3/") :]
    if request.query_string:
        path += "?" + request.query_string
    body = (request.body or b"").decode("utf-8", errors="replace")
    message = f"{request.method}\n{path}\n{stamp}\n{fields.get('nonce_str', '')}\n{body}\n"
    if not rsa2_verify(message, fields.get("signature", ""), wechatpay_merchant_public_pem()):
        return None
    return fields.get("mchid") or None


V3Handler = Callable[..., Awaitable[HTTPResponse]]


def _v3(handler: V3Handler) -> V3Handler:
    """Verify the request's signature, then call handler(request, mchid, **path args)."""

    async def verified(request: Request, **kwargs: Any) -> HTTPResponse:
        mchid = _authorized_mchid(request)
        if mchid is None:
            return _v3_error(request, 401, "SIGN_ERROR", "签名错误")
        return await handler(request, mchid, **kwargs)

    verified.__name__ = handler.__name__
    return verified


def _json_body(request: Request) -> dict[str, Any] | None:
    try:
        data = json.loads(request.body or b"")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


# --- trades as v3 shows them ---------------------------------------------------------------------


def _v3_transaction(trade: SandboxTrade) -> dict[str, Any]:
    """The transaction resource (query answer and notification plaintext)."""
    resource: dict[str, Any] = {}
    if trade.partner:
        resource.update(sp_appid=trade.appid, sp_mchid=trade.mchid, sub_mchid=trade.sub_mchid)
        if trade.sub_appid:
            resource["sub_appid"] = trade.sub_appid
    else:
        resource.update(appid=trade.appid, mchid=trade.mchid)
    resource.update(
        out_trade_no=trade.out_trade_no,
        trade_type=trade.extra.get("trade_type", "JSAPI"),
        trade_state=trade.state,
        trade_state_desc=TRADE_STATE_DESC.get(trade.state, trade.state),
        attach=trade.extra.get("attach", ""),
    )
    if trade.transaction_id and trade.state != NOTPAY:
        resource["transaction_id"] = trade.transaction_id
    if trade.state in PAID_STATES or trade.extra.get("was_paid"):
        resource["bank_type"] = "OTHERS"
        resource["success_time"] = _china_time(trade.paid_at)
    if trade.payer:
        resource["payer"] = dict(trade.payer)
    resource["amount"] = {
        "total": trade.amount_fen,
        "payer_total": trade.amount_fen if trade.state in PAID_STATES else 0,
        "currency": "CNY",
        "payer_currency": "CNY",
    }
    return resource


def _v3_refund(trade: SandboxTrade, refund: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "refund_id": refund["refund_id"],
        "out_refund_no": refund["out_refund_no"],
        "transaction_id": trade.transaction_id,
        "out_trade_no": trade.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "create_time": _china_time(refund["created_at"]),
        "status": refund["state"],
        "funds_account": "AVAILABLE",
        "amount": {
            "total": refund["total_fen"],
            "refund": refund["amount_fen"],
            "payer_total": refund["total_fen"],
            "payer_refund": refund["amount_fen"],
            "settlement_refund": refund["amount_fen"],
            "settlement_total": refund["total_fen"],
            "discount_refund": 0,
            "currency": "CNY",
        },
    }
    if refund.get("success_at"):
        answer["success_time"] = _china_time(refund["success_at"])
    if trade.partner:
        answer["sub_mchid"] = trade.sub_mchid
    return answer


def _belongs(trade: SandboxTrade, mchid: str, sub_mchid: str | None) -> bool:
    if trade.platform not in ("wechatpay_v3", "wechatpay_v2") or trade.mchid != mchid:
        return False
    return (sub_mchid or "") == trade.sub_mchid


# --- v3 endpoints --------------------------------------------------------------------------------


async def _v3_create(
    request: Request, mchid: str, data: dict[str, Any], trade: SandboxTrade
) -> HTTPResponse:
    state = route_state(request)
    prepay_id = "wx" + datetime.now(CHINA).strftime("%d%H%M%S") + _nonce(24).lower()
    trade.extra.update(prepay_id=prepay_id, trade_type="JSAPI", serial=_serial_for(request))
    if data.get("attach"):
        trade.extra["attach"] = str(data["attach"])
    recorded, created = await payments.create_trade(state, trade)
    if not created:
        if recorded.mchid != trade.mchid or recorded.sub_mchid != trade.sub_mchid:
            return _v3_error(request, 400, "INVALID_REQUEST", "201 商户订单号重复")
        if recorded.state in PAID_STATES:
            return _v3_error(request, 400, "ORDERPAID", "该订单已支付")
        if recorded.state in (CLOSED, REVOKED):
            return _v3_error(request, 400, "ORDER_CLOSED", "订单已关闭")
        if (
            recorded.amount_fen != trade.amount_fen
            or recorded.description != trade.description
            or recorded.payer != trade.payer
        ):
            return _v3_error(request, 400, "INVALID_REQUEST", "201 商户订单号重复")
        prepay_id = recorded.extra.get("prepay_id", prepay_id)
    return _v3_answer(request, 200, {"prepay_id": prepay_id})


def _amount(data: dict[str, Any]) -> int | None:
    amount = data.get("amount")
    total = amount.get("total") if isinstance(amount, dict) else None
    if isinstance(total, bool) or not isinstance(total, int) or total <= 0:
        return None
    return total


def _common_order(data: dict[str, Any]) -> str | None:
    """What is wrong with a jsapi order's common fields, or None."""
    for key in ("description", "out_trade_no", "notify_url"):
        if not isinstance(data.get(key), str) or not data[key]:
            return f"缺少参数{key}"
    if not re.fullmatch(r"[0-9A-Za-z_\-|*]{6,32}", data["out_trade_no"]):
        return "out_trade_no 格式错误"
    if _amount(data) is None:
        return "amount.total 格式错误"
    if not str(data["notify_url"]).startswith(("http://", "https://")):
        return "notify_url 格式错误"
    return None


@_v3
async def v3_jsapi(request: Request, mchid: str) -> HTTPResponse:
    """POST /v3/pay/transactions/jsapi: a direct merchant's JSAPI / mini-program prepay."""
    data = _json_body(request)
    if data is None:
        return _v3_error(request, 400, "PARAM_ERROR", "请求体格式错误")
    problem = _common_order(data)
    payer: dict[str, Any] = data["payer"] if isinstance(data.get("payer"), dict) else {}
    if problem is None and not payer.get("openid"):
        problem = "缺少参数payer.openid"
    if problem is None and not isinstance(data.get("appid"), str):
        problem = "缺少参数appid"
    if problem is not None:
        return _v3_error(request, 400, "PARAM_ERROR", problem)
    if data.get("mchid") != mchid:
        return _v3_error(request, 400, "PARAM_ERROR", "mchid与请求头中的商户号不一致")
    trade = SandboxTrade(
        platform="wechatpay_v3",
        out_trade_no=data["out_trade_no"],
        amount_fen=_amount(data) or 0,
        description=data["description"],
        notify_url=data["notify_url"],
        mchid=mchid,
        appid=data["appid"],
        payer={"openid": str(payer["openid"])},
    )
    return await _v3_create(request, mchid, data, trade)


@_v3
async def v3_partner_jsapi(request: Request, mchid: str) -> HTTPResponse:
    """POST /v3/pay/partner/transactions/jsapi: a service provider's prepay for a sub-merchant."""
    data = _json_body(request)
    if data is None:
        return _v3_error(request, 400, "PARAM_ERROR", "请求体格式错误")
    problem = _common_order(data)
    payer: dict[str, Any] = data["payer"] if isinstance(data.get("payer"), dict) else {}
    for key in ("sp_appid", "sub_mchid"):
        if problem is None and not (isinstance(data.get(key), str) and data[key]):
            problem = f"缺少参数{key}"
    if problem is None and not (payer.get("sp_openid") or payer.get("sub_openid")):
        problem = "缺少参数payer.sp_openid或payer.sub_openid"
    if problem is None and payer.get("sub_openid") and not data.get("sub_appid"):
        problem = "sub_openid需要与sub_appid一起传入"
    if problem is not None:
        return _v3_error(request, 400, "PARAM_ERROR", problem)
    if data.get("sp_mchid") != mchid:
        return _v3_error(request, 400, "PARAM_ERROR", "sp_mchid与请求头中的商户号不一致")
    key = "sub_openid" if payer.get("sub_openid") else "sp_openid"
    trade = SandboxTrade(
        platform="wechatpay_v3",
        out_trade_no=data["out_trade_no"],
        amount_fen=_amount(data) or 0,
        description=data["description"],
        notify_url=data["notify_url"],
        mchid=mchid,
        sub_mchid=data["sub_mchid"],
        appid=data["sp_appid"],
        sub_appid=str(data.get("sub_appid") or ""),
        payer={key: str(payer[key])},
    )
    return await _v3_create(request, mchid, data, trade)


async def _v3_trade(
    request: Request, mchid: str, out_trade_no: str, sub_mchid: str | None
) -> SandboxTrade | HTTPResponse:
    trade = await payments.load_trade(route_state(request), out_trade_no)
    if trade is None or not _belongs(trade, mchid, sub_mchid):
        return _v3_error(request, 404, "ORDER_NOT_EXIST", "订单不存在")
    return trade


@_v3
async def v3_query(request: Request, mchid: str, out_trade_no: str) -> HTTPResponse:
    """GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid="""
    if request.args.get("mchid") != mchid:
        return _v3_error(request, 400, "PARAM_ERROR", "mchid与请求头中的商户号不一致")
    trade = await _v3_trade(request, mchid, out_trade_no, None)
    if isinstance(trade, HTTPResponse):
        return trade
    return _v3_answer(request, 200, _v3_transaction(trade))


@_v3
async def v3_partner_query(request: Request, mchid: str, out_trade_no: str) -> HTTPResponse:
    """GET /v3/pay/partner/transactions/out-trade-no/{out_trade_no}?sp_mchid=&sub_mchid="""
    if request.args.get("sp_mchid") != mchid or not request.args.get("sub_mchid"):
        return _v3_error(request, 400, "PARAM_ERROR", "sp_mchid或sub_mchid不正确")
    trade = await _v3_trade(request, mchid, out_trade_no, request.args.get("sub_mchid"))
    if isinstance(trade, HTTPResponse):
        return trade
    return _v3_answer(request, 200, _v3_transaction(trade))


async def _v3_close(
    request: Request, mchid: str, out_trade_no: str, sub_mchid: str | None
) -> HTTPResponse:
    trade = await _v3_trade(request, mchid, out_trade_no, sub_mchid)
    if isinstance(trade, HTTPResponse):
        return trade
    closed = await payments.close_trade(route_state(request), out_trade_no)
    assert closed is not None
    if closed.state in PAID_STATES:
        return _v3_error(request, 400, "ORDERPAID", "订单已支付")
    return _v3_answer(request, 204, None)


@_v3
async def v3_close(request: Request, mchid: str, out_trade_no: str) -> HTTPResponse:
    """POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close {mchid} → 204."""
    data = _json_body(request) or {}
    if data.get("mchid") != mchid:
        return _v3_error(request, 400, "PARAM_ERROR", "mchid与请求头中的商户号不一致")
    return await _v3_close(request, mchid, out_trade_no, None)


@_v3
async def v3_partner_close(request: Request, mchid: str, out_trade_no: str) -> HTTPResponse:
    """POST /v3/pay/partner/transactions/out-trade-no/{out_trade_no}/close {sp_mchid, sub_mchid}."""
    data = _json_body(request) or {}
    if data.get("sp_mchid") != mchid or not data.get("sub_mchid"):
        return _v3_error(request, 400, "PARAM_ERROR", "sp_mchid或sub_mchid不正确")
    return await _v3_close(request, mchid, out_trade_no, str(data["sub_mchid"]))


REFUND_REFUSALS = {
    "not_found": (404, "RESOURCE_NOT_EXISTS", "订单不存在"),
    "not_paid": (403, "TRADE_STATE_ERROR", "订单状态不正确"),
    "amount_mismatch": (400, "INVALID_REQUEST", "退款单号重复，且退款金额不一致"),
    "exceeds": (403, "NOT_ENOUGH", "申请退款金额超过订单可退金额"),
}


@_v3
async def v3_refund(request: Request, mchid: str) -> HTTPResponse:
    """POST /v3/refund/domestic/refunds: refund a paid trade (PROCESSING; SUCCESS once the
    refund notification was delivered through the player route, or on a later query)."""
    state = route_state(request)
    data = _json_body(request)
    if data is None or not data.get("out_refund_no") or not data.get("out_trade_no"):
        return _v3_error(request, 400, "PARAM_ERROR", "缺少参数out_trade_no或out_refund_no")
    amount: dict[str, Any] = data["amount"] if isinstance(data.get("amount"), dict) else {}
    refund_fen, total_fen = amount.get("refund"), amount.get("total")
    if not isinstance(refund_fen, int) or not isinstance(total_fen, int):
        return _v3_error(request, 400, "PARAM_ERROR", "amount格式错误")
    trade = await _v3_trade(request, mchid, str(data["out_trade_no"]), data.get("sub_mchid"))
    if isinstance(trade, HTTPResponse):
        return _v3_error(request, 404, "RESOURCE_NOT_EXISTS", "订单不存在")
    if total_fen != trade.amount_fen:
        return _v3_error(request, 400, "PARAM_ERROR", "订单金额或退款金额与之前请求不一致")
    outcome = await payments.add_refund(
        state,
        trade.out_trade_no,
        out_refund_no=str(data["out_refund_no"]),
        amount_fen=refund_fen,
        reason=str(data.get("reason") or ""),
        notify_url=str(data.get("notify_url") or ""),
    )
    if isinstance(outcome, str):
        status, code, message = REFUND_REFUSALS[outcome]
        return _v3_error(request, status, code, message)
    refunded, refund = outcome
    await state.set_flag(f"wx-refund:{mchid}:{refund['out_refund_no']}", refunded.out_trade_no)
    return _v3_answer(request, 200, _v3_refund(refunded, refund))


@_v3
async def v3_refund_query(request: Request, mchid: str, out_refund_no: str) -> HTTPResponse:
    """GET /v3/refund/domestic/refunds/{out_refund_no}[?sub_mchid=]: the refund (a PROCESSING
    one is done by the time it is queried)."""
    state = route_state(request)
    out_trade_no = await state.flag(f"wx-refund:{mchid}:{out_refund_no}")
    trade = None
    if out_trade_no:
        trade = await _v3_trade(request, mchid, out_trade_no, request.args.get("sub_mchid"))
    if trade is None or isinstance(trade, HTTPResponse):
        return _v3_error(request, 404, "RESOURCE_NOT_EXISTS", "退款单不存在")
    settled = await payments.settle_refund(state, trade.out_trade_no, out_refund_no)
    assert settled is not None
    return _v3_answer(request, 200, _v3_refund(*settled))


@_v3
async def v3_certificates(request: Request, mchid: str) -> HTTPResponse:
    """GET /v3/certificates: the platform certificate, encrypted with the APIv3 key."""
    nonce = _nonce(12)
    cert = wechatpay_platform_cert_pem()
    return _v3_answer(
        request,
        200,
        {
            "data": [
                {
                    "serial_no": wechatpay_platform_cert_serial(),
                    "effective_time": "2024-01-01T08:00:00+08:00",
                    "expire_time": "2044-01-01T08:00:00+08:00",
                    "encrypt_certificate": {
                        "algorithm": "AEAD_AES_256_GCM",
                        "nonce": nonce,
                        "associated_data": "certificate",
                        "ciphertext": aes_gcm_encrypt(
                            cert, wechatpay_api_v3_key(mchid), nonce, "certificate"
                        ),
                    },
                }
            ]
        },
    )


@_v3
async def v3_tradebill(request: Request, mchid: str) -> HTTPResponse:
    """GET /v3/bill/tradebill?bill_date=&bill_type=&tar_type=&sub_mchid=: where to download."""
    try:
        day = date.fromisoformat(request.args.get("bill_date", ""))
    except ValueError:
        return _v3_error(request, 400, "PARAM_ERROR", "bill_date格式错误")
    if day >= datetime.now(CHINA).date() + timedelta(days=1):
        return _v3_error(request, 400, "NO_STATEMENT_EXIST", "账单日期不能是未来")
    token = _nonce(40)
    spec = {
        "mchid": mchid,
        "sub_mchid": request.args.get("sub_mchid") or None,
        "day": day.isoformat(),
        "gzip": request.args.get("tar_type") == "GZIP",
    }
    state = route_state(request)
    await state.set_flag(f"wx-bill:{token}", spec)
    content = await _bill_bytes(state, spec)
    base = request.url[: request.url.find("/v3/")]
    return _v3_answer(
        request,
        200,
        {
            "hash_type": "SHA1",
            "hash_value": hashlib.sha1(content).hexdigest(),
            "download_url": f"{base}/v3/billdownload/file?token={token}",
        },
    )


async def _bill_bytes(state: SandboxState, spec: dict[str, Any]) -> bytes:
    trades = [
        t
        for t in await payments.account_trades(state, ("wechatpay_v3", "wechatpay_v2"))
        if t.mchid == spec["mchid"]
        and (spec["sub_mchid"] is None or t.sub_mchid == spec["sub_mchid"])
    ]
    _, content = tradebill(trades, date.fromisoformat(spec["day"]))
    return gzip.compress(content, mtime=0) if spec["gzip"] else content


@_v3
async def v3_billdownload(request: Request, mchid: str) -> HTTPResponse:
    """GET /v3/billdownload/file?token=: the bill (gzip when tar_type was GZIP)."""
    state = route_state(request)
    spec = await state.flag(f"wx-bill:{request.args.get('token', '')}")
    if spec is None or spec["mchid"] != mchid:
        return _v3_error(request, 404, "RESOURCE_NOT_EXISTS", "账单不存在")
    content = await _bill_bytes(state, spec)
    return raw(content, content_type="application/octet-stream")


@_v3
async def v3_settlement(request: Request, mchid: str, sub_mchid: str) -> HTTPResponse:
    """GET /v3/apply4sub/sub_merchants/{sub_mchid}/settlement: the sub-merchant's account."""
    if not SUB_MCHID.match(sub_mchid):
        return _v3_error(request, 400, "PARAM_ERROR", "sub_mchid格式错误")
    if await route_state(request).flag(f"wx-unknown-sub:{sub_mchid}"):
        return _v3_error(request, 404, "RESOURCE_NOT_EXISTS", "子商户不存在")
    return _v3_answer(
        request,
        200,
        {
            "account_type": "ACCOUNT_TYPE_BUSINESS",
            "account_bank": "工商银行",
            "bank_name": "",
            "bank_branch_id": "",
            "account_number": "62*************78",
            "verify_result": "VERIFY_SUCCESS",
            "verify_fail_reason": "",
        },
    )


async def player_unknown_sub_merchant(request: Request) -> HTTPResponse:
    """POST /sub-merchants/unknown {sub_mchid}: the settlement query answers 404 for it."""
    sub_mchid = player_body(request).get("sub_mchid")
    if not isinstance(sub_mchid, str) or not SUB_MCHID.match(sub_mchid):
        return bad_player_request("sub_mchid must be 10 digits")
    await route_state(request).set_flag(f"wx-unknown-sub:{sub_mchid}", True)
    return json_response({"sub_mchid": sub_mchid, "known": False})


# --- v2 --------------------------------------------------------------------------------------


def v2_sign(params: dict[str, str], key: str, sign_type: str = "MD5") -> str:
    """API v2's signature: non-empty params but sign, sorted, k=v&…&key=KEY; MD5 or HMAC."""
    text = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign" and params[k])
    text += f"&key={key}"
    if sign_type == "HMAC-SHA256":
        return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest().upper()
    return hashlib.md5(text.encode()).hexdigest().upper()


def v2_xml(params: dict[str, str]) -> bytes:
    parts = ["<xml>"]
    for key, value in params.items():
        parts.append(f"<{key}><![CDATA[{value}]]></{key}>")
    parts.append("</xml>")
    return "".join(parts).encode()


def parse_v2_xml(body: bytes) -> dict[str, str] | None:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    if root.tag != "xml":
        return None
    return {child.tag: (child.text or "") for child in root}


def _v2_time(iso_utc: str) -> str:
    return payments.parse_iso(iso_utc).astimezone(CHINA).strftime("%Y%m%d%H%M%S")


def _v2_answer(
    request_params: dict[str, str], fields: dict[str, str], *, sign_type: str = "MD5"
) -> HTTPResponse:
    """A v2 answer: return_code SUCCESS, the merchant's ids, fields, signed like the request."""
    mch_id = request_params.get("mch_id", "")
    params = {"return_code": "SUCCESS", "return_msg": "OK"}
    for key in ("appid", "mch_id", "sub_appid", "sub_mch_id"):
        if request_params.get(key):
            params[key] = request_params[key]
    params["nonce_str"] = _nonce(16)
    params.update({k: v for k, v in fields.items() if v != ""})
    params["sign"] = v2_sign(params, wechatpay_api_key(mch_id), sign_type)
    return raw(v2_xml(params), content_type="text/xml; charset=utf-8")


def _v2_fail(request_params: dict[str, str], err_code: str, err_code_des: str) -> HTTPResponse:
    return _v2_answer(
        request_params,
        {"result_code": "FAIL", "err_code": err_code, "err_code_des": err_code_des},
        sign_type=request_params.get("sign_type") or "MD5",
    )


def _v2_return_fail(message: str) -> HTTPResponse:
    return raw(
        v2_xml({"return_code": "FAIL", "return_msg": message}),
        content_type="text/xml; charset=utf-8",
    )


V2Handler = Callable[[Request, dict[str, str]], Awaitable[HTTPResponse]]


def _v2(handler: V2Handler) -> Callable[[Request], Awaitable[HTTPResponse]]:
    """Parse and verify a v2 request (its sign_type, the mch_id's v2 key) before handler."""

    async def verified(request: Request) -> HTTPResponse:
        params = parse_v2_xml(request.body or b"")
        if params is None:
            return _v2_return_fail("XML格式错误")
        if not params.get("mch_id"):
            return _v2_return_fail("缺少参数mch_id")
        sign_type = params.get("sign_type") or "MD5"
        if sign_type not in ("MD5", "HMAC-SHA256"):
            return _v2_return_fail("签名类型错误")
        expected = v2_sign(params, wechatpay_api_key(params["mch_id"]), sign_type)
        if not hmac.compare_digest(params.get("sign", ""), expected):
            return _v2_return_fail("签名错误")
        return await handler(request, params)

    verified.__name__ = handler.__name__
    return verified


def _v2_trade_fields(trade: SandboxTrade) -> dict[str, str]:
    fields = {
        "result_code": "SUCCESS",
        "openid": trade.payer.get("openid") or trade.payer.get("sp_openid", ""),
        "sub_openid": trade.payer.get("sub_openid", ""),
        "is_subscribe": "N",
        "trade_type": trade.extra.get("trade_type", "JSAPI"),
        "bank_type": "OTHERS",
        "total_fee": str(trade.amount_fen),
        "cash_fee": str(trade.amount_fen),
        "fee_type": "CNY",
        "transaction_id": trade.transaction_id,
        "out_trade_no": trade.out_trade_no,
        "attach": trade.extra.get("attach", ""),
        "time_end": _v2_time(trade.paid_at) if trade.paid_at else "",
    }
    return fields


async def _v2_load(
    request: Request, params: dict[str, str], out_trade_no: str
) -> SandboxTrade | None:
    trade = await payments.load_trade(route_state(request), out_trade_no)
    if trade is None or not _belongs(trade, params["mch_id"], params.get("sub_mch_id")):
        return None
    return trade


@_v2
async def v2_unifiedorder(request: Request, params: dict[str, str]) -> HTTPResponse:
    """POST /pay/unifiedorder (JSAPI): the prepay_id; the trade remembers the sign_type."""
    for key in ("appid", "body", "out_trade_no", "total_fee", "notify_url", "spbill_create_ip"):
        if not params.get(key):
            return _v2_return_fail(f"缺少参数{key}")
    if params.get("trade_type") != "JSAPI":
        return _v2_fail(params, "PARAM_ERROR", "trade_type只支持JSAPI")
    openid_key = "sub_openid" if params.get("sub_openid") else "openid"
    if not params.get(openid_key):
        return _v2_fail(params, "PARAM_ERROR", "JSAPI支付必须传openid")
    if not params["total_fee"].isdigit() or int(params["total_fee"]) <= 0:
        return _v2_fail(params, "PARAM_ERROR", "total_fee格式错误")
    sign_type = params.get("sign_type") or "MD5"
    prepay_id = "wx" + datetime.now(CHINA).strftime("%d%H%M%S") + _nonce(24).lower()
    trade = SandboxTrade(
        platform="wechatpay_v2",
        out_trade_no=params["out_trade_no"],
        amount_fen=int(params["total_fee"]),
        description=params["body"],
        notify_url=params["notify_url"],
        mchid=params["mch_id"],
        sub_mchid=params.get("sub_mch_id", ""),
        appid=params["appid"],
        sub_appid=params.get("sub_appid", ""),
        payer={openid_key: params[openid_key]},
        extra={"prepay_id": prepay_id, "trade_type": "JSAPI", "sign_type": sign_type},
    )
    if params.get("attach"):
        trade.extra["attach"] = params["attach"]
    recorded, created = await payments.create_trade(route_state(request), trade)
    if not created:
        if recorded.state in PAID_STATES:
            return _v2_fail(params, "ORDERPAID", "该订单已支付")
        if recorded.state in (CLOSED, REVOKED):
            return _v2_fail(params, "ORDERCLOSED", "该订单已关闭")
        if recorded.amount_fen != trade.amount_fen or recorded.mchid != trade.mchid:
            return _v2_fail(params, "INVALID_REQUEST", "201 商户订单号重复")
        prepay_id = recorded.extra.get("prepay_id", prepay_id)
    return _v2_answer(
        params,
        {"result_code": "SUCCESS", "trade_type": "JSAPI", "prepay_id": prepay_id},
        sign_type=sign_type,
    )


def _micropay_answer(params: dict[str, str], trade: SandboxTrade) -> HTTPResponse:
    if trade.state in PAID_STATES:
        return _v2_answer(params, _v2_trade_fields(trade))
    if trade.state == USERPAYING:
        return _v2_fail(params, "USERPAYING", "需要用户输入支付密码")
    if trade.state == PAYERROR:
        return _v2_fail(params, "NOTENOUGH", "余额不足")
    return _v2_fail(params, "ORDERCLOSED", "订单已关闭")


@_v2
async def v2_micropay(request: Request, params: dict[str, str]) -> HTTPResponse:
    """POST /pay/micropay: charge a payment code (its behaviour decides the outcome)."""
    for key in ("appid", "body", "out_trade_no", "total_fee", "auth_code", "spbill_create_ip"):
        if not params.get(key):
            return _v2_return_fail(f"缺少参数{key}")
    if not params["total_fee"].isdigit() or int(params["total_fee"]) <= 0:
        return _v2_fail(params, "PARAM_ERROR", "total_fee格式错误")
    state = route_state(request)
    existing = await payments.load_trade(state, params["out_trade_no"])
    if existing is not None:
        if existing.extra.get("auth_code") != params["auth_code"]:
            return _v2_fail(params, "OUT_TRADE_NO_USED", "商户订单号重复")
        return _micropay_answer(params, existing)
    code = await payments.take_payment_code(state, params["auth_code"], "wechat")
    if code is None:
        return _v2_fail(params, "AUTH_CODE_INVALID", "付款码无效，请重新扫码")
    trade = SandboxTrade(
        platform="wechatpay_v2",
        out_trade_no=params["out_trade_no"],
        amount_fen=int(params["total_fee"]),
        description=params["body"],
        mchid=params["mch_id"],
        sub_mchid=params.get("sub_mch_id", ""),
        appid=params["appid"],
        sub_appid=params.get("sub_appid", ""),
        extra={"trade_type": "MICROPAY", "auth_code": params["auth_code"], "sign_type": "MD5"},
    )
    trade = await payments.charge_with_code(state, trade, code)
    return _micropay_answer(params, trade)


@_v2
async def v2_orderquery(request: Request, params: dict[str, str]) -> HTTPResponse:
    """POST /pay/orderquery: the trade's state (trade_state)."""
    trade = await _v2_load(request, params, params.get("out_trade_no", ""))
    if trade is None:
        return _v2_fail(params, "ORDERNOTEXIST", "此交易订单号不存在")
    fields = _v2_trade_fields(trade)
    fields["trade_state"] = trade.state
    fields["trade_state_desc"] = TRADE_STATE_DESC.get(trade.state, trade.state)
    if trade.state not in PAID_STATES:
        for key in ("time_end", "bank_type", "cash_fee"):
            fields.pop(key, None)
        if trade.state == NOTPAY:
            fields.pop("transaction_id", None)
    return _v2_answer(params, fields)


@_v2
async def v2_reverse(request: Request, params: dict[str, str]) -> HTTPResponse:
    """POST /secapi/pay/reverse: cancel a payment-code trade (REVOKED), paid or not."""
    trade = await _v2_load(request, params, params.get("out_trade_no", ""))
    if trade is None:
        return _v2_fail(params, "ORDERNOTEXIST", "订单不存在")
    await payments.cancel_trade(route_state(request), trade.out_trade_no)
    return _v2_answer(params, {"result_code": "SUCCESS", "recall": "N"})


@_v2
async def v2_closeorder(request: Request, params: dict[str, str]) -> HTTPResponse:
    """POST /pay/closeorder: close an unpaid trade."""
    trade = await _v2_load(request, params, params.get("out_trade_no", ""))
    if trade is None:
        return _v2_fail(params, "ORDERNOTEXIST", "订单不存在")
    closed = await payments.close_trade(route_state(request), trade.out_trade_no)
    assert closed is not None
    if closed.state in PAID_STATES:
        return _v2_fail(params, "ORDERPAID", "订单已支付，不能发起关单")
    return _v2_answer(params, {"result_code": "SUCCESS"})


V2_REFUND_REFUSALS = {
    "not_found": ("ORDERNOTEXIST", "订单不存在"),
    "not_paid": ("TRADE_STATE_ERROR", "订单状态错误"),
    "amount_mismatch": ("INVALID_REQUEST", "退款单号重复，且退款金额不一致"),
    "exceeds": ("NOTENOUGH", "退款金额大于可退金额"),
}


def _v2_refund_fields(trade: SandboxTrade, refund: dict[str, Any]) -> dict[str, str]:
    return {
        "result_code": "SUCCESS",
        "transaction_id": trade.transaction_id,
        "out_trade_no": trade.out_trade_no,
        "out_refund_no": refund["out_refund_no"],
        "refund_id": refund["refund_id"],
        "refund_fee": str(refund["amount_fen"]),
        "total_fee": str(refund["total_fen"]),
        "cash_fee": str(refund["total_fen"]),
    }


@_v2
async def v2_refund(request: Request, params: dict[str, str]) -> HTTPResponse:
    """POST /secapi/pay/refund: refund a paid trade."""
    for key in ("out_refund_no", "total_fee", "refund_fee"):
        if not params.get(key):
            return _v2_return_fail(f"缺少参数{key}")
    trade = await _v2_load(request, params, params.get("out_trade_no", ""))
    if trade is None:
        return _v2_fail(params, "ORDERNOTEXIST", "订单不存在")
    if not params["refund_fee"].isdigit() or params["total_fee"] != str(trade.amount_fen):
        return _v2_fail(params, "PARAM_ERROR", "订单金额或退款金额与之前请求不一致")
    outcome = await payments.add_refund(
        route_state(request),
        trade.out_trade_no,
        out_refund_no=params["out_refund_no"],
        amount_fen=int(params["refund_fee"]),
        reason=params.get("refund_desc", ""),
        notify_url=params.get("notify_url", ""),
    )
    if isinstance(outcome, str):
        return _v2_fail(params, *V2_REFUND_REFUSALS[outcome])
    return _v2_answer(params, _v2_refund_fields(*outcome))


@_v2
async def v2_refundquery(request: Request, params: dict[str, str]) -> HTTPResponse:
    """POST /pay/refundquery: the trade's refunds (PROCESSING ones are done when queried)."""
    trade = await _v2_load(request, params, params.get("out_trade_no", ""))
    if trade is None:
        return _v2_fail(params, "REFUNDNOTEXIST", "退款订单查询失败")
    wanted = params.get("out_refund_no")
    refunds = [r for r in trade.refunds if not wanted or r["out_refund_no"] == wanted]
    if not refunds:
        return _v2_fail(params, "REFUNDNOTEXIST", "退款订单查询失败")
    state = route_state(request)
    fields = {
        "result_code": "SUCCESS",
        "transaction_id": trade.transaction_id,
        "out_trade_no": trade.out_trade_no,
        "total_fee": str(trade.amount_fen),
        "cash_fee": str(trade.amount_fen),
        "refund_count": str(len(refunds)),
    }
    for index, refund in enumerate(refunds):
        settled = await payments.settle_refund(state, trade.out_trade_no, refund["out_refund_no"])
        refund = settled[1] if settled else refund
        fields.update(
            {
                f"out_refund_no_{index}": refund["out_refund_no"],
                f"refund_id_{index}": refund["refund_id"],
                f"refund_fee_{index}": str(refund["amount_fen"]),
                f"refund_status_{index}": refund["state"],
                f"refund_success_time_{index}": (
                    payments.parse_iso(refund["success_at"])
                    .astimezone(CHINA)
                    .strftime("%Y-%m-%d %H:%M:%S")
                    if refund.get("success_at")
                    else ""
                ),
            }
        )
    return _v2_answer(params, fields)


def aes_ecb_encrypt(plain: str, api_key: str) -> str:
    """v2 refund notifications' req_info: AES-256-ECB, key md5(api_key) hex, PKCS#7, base64."""
    key = hashlib.md5(api_key.encode()).hexdigest().encode()
    padder = sym_padding.PKCS7(128).padder()
    data = padder.update(plain.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode()


# --- the bill ------------------------------------------------------------------------------------

BILL_HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
    "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
)
BILL_SUMMARY = (
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)
FEE_RATE = "0.60%"


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _fee(fen: int) -> int:
    return (fen * 6 + 500) // 1000


def _china_day(iso_utc: str) -> date:
    return payments.parse_iso(iso_utc).astimezone(CHINA).date()


def tradebill(trades: list[SandboxTrade], day: date) -> tuple[str, bytes]:
    """The v3 trade bill (ALL) of day: backtick-prefixed CSV fields, then the summary lines."""
    rows: list[list[str]] = []
    paid_total = refund_total = fee_total = 0
    for trade in trades:
        openid = next(iter(trade.payer.values()), "")
        common = [
            trade.appid,
            trade.mchid,
            trade.sub_mchid or "0",
            "",
            trade.transaction_id,
            trade.out_trade_no,
            openid,
            trade.extra.get("trade_type", "JSAPI"),
        ]
        was_paid = trade.state in PAID_STATES or trade.extra.get("was_paid")
        if trade.paid_at and was_paid and _china_day(trade.paid_at) == day:
            fee = _fee(trade.amount_fen)
            paid_total += trade.amount_fen
            fee_total += fee
            rows.append(
                [
                    payments.parse_iso(trade.paid_at)
                    .astimezone(CHINA)
                    .strftime("%Y-%m-%d %H:%M:%S"),
                    *common,
                    "SUCCESS",
                    "OTHERS",
                    "CNY",
                    _yuan(trade.amount_fen),
                    "0.00",
                    "0",
                    "0",
                    "0.00",
                    "0.00",
                    "",
                    "",
                    trade.description,
                    trade.extra.get("attach", ""),
                    _yuan(fee),
                    FEE_RATE,
                    _yuan(trade.amount_fen),
                    "0.00",
                    "",
                ]
            )
        for refund in trade.refunds:
            if _china_day(refund["created_at"]) != day:
                continue
            fee = -_fee(refund["amount_fen"])
            refund_total += refund["amount_fen"]
            fee_total += fee
            rows.append(
                [
                    payments.parse_iso(refund["created_at"])
                    .astimezone(CHINA)
                    .strftime("%Y-%m-%d %H:%M:%S"),
                    *common,
                    "REFUND",
                    "OTHERS",
                    "CNY",
                    "0.00",
                    "0.00",
                    refund["refund_id"],
                    refund["out_refund_no"],
                    _yuan(refund["amount_fen"]),
                    "0.00",
                    "ORIGINAL",
                    refund["state"],
                    trade.description,
                    trade.extra.get("attach", ""),
                    _yuan(fee),
                    FEE_RATE,
                    "0.00",
                    _yuan(refund["amount_fen"]),
                    "",
                ]
            )
    rows.sort(key=lambda row: row[0])
    lines = [BILL_HEADER]
    lines += [",".join("`" + field.replace(",", " ") for field in row) for row in rows]
    lines.append(BILL_SUMMARY)
    summary = [
        str(len(rows)),
        _yuan(paid_total),
        _yuan(refund_total),
        "0.00",
        _yuan(fee_total),
        _yuan(paid_total),
        _yuan(refund_total),
    ]
    lines.append(",".join("`" + value for value in summary))
    return "text/csv; charset=utf-8", ("\r\n".join(lines) + "\r\n").encode()


# --- the platforms (notifications) -----------------------------------------------------------


def _encrypted(plain: dict[str, Any], key: str, original_type: str) -> dict[str, str]:
    nonce = _nonce(12)
    return {
        "original_type": original_type,
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": aes_gcm_encrypt(_compact(plain), key, nonce, original_type),
        "associated_data": original_type,
        "nonce": nonce,
    }


@dataclass(frozen=True)
class WechatPayV3Platform:
    """v3 notifications: JSON, resource AES-GCM encrypted, headers signed by the platform."""

    name: str = "wechatpay_v3"
    retry_schedule_s: tuple[float, ...] = RETRY_SCHEDULE_S

    def _envelope(
        self,
        trade: SandboxTrade,
        resource: dict[str, Any],
        *,
        event_type: str,
        original_type: str,
        summary: str,
        key_mchid: str | None = None,
        notification_id: str,
    ) -> str:
        key = wechatpay_api_v3_key(key_mchid or trade.mchid)
        return _compact(
            {
                "id": notification_id,
                "create_time": datetime.now(CHINA).isoformat(timespec="seconds"),
                "resource_type": "encrypt-resource",
                "event_type": event_type,
                "summary": summary,
                "resource": _encrypted(resource, key, original_type),
            }
        )

    def _paid_body(
        self, trade: SandboxTrade, resource: dict[str, Any] | None = None, **kwargs: Any
    ) -> str:
        return self._envelope(
            trade,
            resource if resource is not None else _v3_transaction(trade),
            event_type="TRANSACTION.SUCCESS",
            original_type="transaction",
            summary="支付成功",
            notification_id=str(uuid.uuid5(uuid.NAMESPACE_URL, "pay:" + trade.transaction_id)),
            **kwargs,
        )

    def _signed(
        self, trade: SandboxTrade, body: str, **kwargs: Any
    ) -> tuple[dict[str, str], bytes]:
        serial = trade.extra.get("serial") or WECHATPAY_PUBLIC_KEY_ID
        headers = v3_signature_headers(body, serial=serial, **kwargs)
        headers["Content-Type"] = "application/json"
        return headers, body.encode()

    def paid_notification(self, trade: SandboxTrade) -> tuple[dict[str, str], bytes]:
        return self._signed(trade, self._paid_body(trade))

    def refund_notification(
        self, trade: SandboxTrade, refund: dict[str, Any]
    ) -> tuple[dict[str, str], bytes]:
        resource: dict[str, Any] = {}
        if trade.partner:
            resource.update(sp_mchid=trade.mchid, sub_mchid=trade.sub_mchid)
        else:
            resource["mchid"] = trade.mchid
        resource.update(
            out_trade_no=trade.out_trade_no,
            transaction_id=trade.transaction_id,
            out_refund_no=refund["out_refund_no"],
            refund_id=refund["refund_id"],
            refund_status=refund["state"],
            success_time=_china_time(refund.get("success_at") or refund["created_at"]),
            user_received_account="支付用户零钱",
            amount={
                "total": refund["total_fen"],
                "refund": refund["amount_fen"],
                "payer_total": refund["total_fen"],
                "payer_refund": refund["amount_fen"],
            },
        )
        body = self._envelope(
            trade,
            resource,
            event_type="REFUND.SUCCESS",
            original_type="refund",
            summary="退款成功",
            notification_id=str(uuid.uuid5(uuid.NAMESPACE_URL, "refund:" + refund["refund_id"])),
        )
        return self._signed(trade, body)

    def forged_notification(self, trade: SandboxTrade, kind: str) -> tuple[dict[str, str], bytes]:
        if not trade.transaction_id:
            raise ValueError("the trade has not been paid: pay it first")
        if kind == "bad_signature":
            headers, body = self.paid_notification(trade)
            other = self._paid_body(trade)
            headers["Wechatpay-Signature"] = v3_signature_headers(other)["Wechatpay-Signature"]
            return headers, body
        if kind == "signtest":
            headers, body = self.paid_notification(trade)
            headers["Wechatpay-Signature"] = (
                "WECHATPAY/SIGNTEST/" + base64.b64encode(secrets.token_bytes(64)).decode()
            )
            return headers, body
        if kind == "stale":
            return self._signed(trade, self._paid_body(trade), timestamp=int(time.time()) - STALE_S)
        if kind == "replay":
            last = trade.extra.get("last_notification")
            if not last:
                raise ValueError("nothing was delivered for this trade yet")
            old_body: str = last["body"]
            stamp = int(last["headers"]["Wechatpay-Timestamp"]) - STALE_S
            return self._signed(
                trade, old_body, timestamp=stamp, nonce=last["headers"]["Wechatpay-Nonce"]
            )
        if kind == "unknown_serial":
            text = self._paid_body(trade)
            headers = v3_signature_headers(
                text, serial="PUB_KEY_ID_0000000000000000000000000000009999"
            )
            headers["Content-Type"] = "application/json"
            return headers, text.encode()
        if kind == "other_account":
            resource = _v3_transaction(trade)
            if trade.partner:
                resource["sp_mchid"] = OTHER_MCHID
            else:
                resource["mchid"] = OTHER_MCHID
            return self._signed(trade, self._paid_body(trade, resource, key_mchid=OTHER_MCHID))
        if kind == "tampered_amount":
            headers, _ = self.paid_notification(trade)
            resource = _v3_transaction(trade)
            resource["amount"]["total"] += 1
            resource["amount"]["payer_total"] += 1
            return headers, self._paid_body(trade, resource).encode()
        if kind == "foreign_appid":
            resource = _v3_transaction(trade)
            field = (
                "appid" if not trade.partner else ("sub_appid" if trade.sub_appid else "sp_appid")
            )
            resource[field] = FOREIGN_APPID
            return self._signed(trade, self._paid_body(trade, resource))
        raise ValueError(f"WeChat Pay v3 has no forgery {kind!r}")

    def acknowledged(self, status: int, body: bytes) -> bool:
        return 200 <= status < 300

    def bill(self, trades: list[SandboxTrade], day: date) -> tuple[str, bytes]:
        return tradebill(trades, day)


@dataclass(frozen=True)
class WechatPayV2Platform:
    """v2 notifications: XML signed MD5 or HMAC-SHA256 (as the trade was created); refunds
    carry req_info encrypted AES-256-ECB."""

    name: str = "wechatpay_v2"
    retry_schedule_s: tuple[float, ...] = RETRY_SCHEDULE_S

    def _paid_params(self, trade: SandboxTrade) -> dict[str, str]:
        params = {"return_code": "SUCCESS", "appid": trade.appid, "mch_id": trade.mchid}
        if trade.partner:
            params["sub_mch_id"] = trade.sub_mchid
            if trade.sub_appid:
                params["sub_appid"] = trade.sub_appid
        params["nonce_str"] = _nonce(16)
        params.update({k: v for k, v in _v2_trade_fields(trade).items() if v})
        sign_type = trade.extra.get("sign_type", "MD5")
        if sign_type != "MD5":
            params["sign_type"] = sign_type
        return params

    def _signed(
        self, trade: SandboxTrade, params: dict[str, str], key_mchid: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        sign_type = trade.extra.get("sign_type", "MD5")
        params = dict(params)
        params["sign"] = v2_sign(params, wechatpay_api_key(key_mchid or trade.mchid), sign_type)
        return {"Content-Type": "text/xml"}, v2_xml(params)

    def paid_notification(self, trade: SandboxTrade) -> tuple[dict[str, str], bytes]:
        return self._signed(trade, self._paid_params(trade))

    def refund_notification(
        self, trade: SandboxTrade, refund: dict[str, Any]
    ) -> tuple[dict[str, str], bytes]:
        success_at = refund.get("success_at") or refund["created_at"]
        inner = {
            "transaction_id": trade.transaction_id,
            "out_trade_no": trade.out_trade_no,
            "refund_id": refund["refund_id"],
            "out_refund_no": refund["out_refund_no"],
            "total_fee": str(refund["total_fen"]),
            "refund_fee": str(refund["amount_fen"]),
            "settlement_refund_fee": str(refund["amount_fen"]),
            "refund_status": refund["state"],
            "success_time": payments.parse_iso(success_at)
            .astimezone(CHINA)
            .strftime("%Y-%m-%d %H:%M:%S"),
            "refund_recv_accout": "支付用户零钱",
            "refund_account": "REFUND_SOURCE_RECHARGE_FUNDS",
            "refund_request_source": "API",
        }
        plain = "<root>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in inner.items())
        plain += "</root>"
        params = {"return_code": "SUCCESS", "appid": trade.appid, "mch_id": trade.mchid}
        if trade.partner:
            params["sub_mch_id"] = trade.sub_mchid
            if trade.sub_appid:
                params["sub_appid"] = trade.sub_appid
        params["nonce_str"] = _nonce(16)
        params["req_info"] = aes_ecb_encrypt(plain, wechatpay_api_key(trade.mchid))
        return {"Content-Type": "text/xml"}, v2_xml(params)

    def forged_notification(self, trade: SandboxTrade, kind: str) -> tuple[dict[str, str], bytes]:
        if not trade.transaction_id:
            raise ValueError("the trade has not been paid: pay it first")
        params = self._paid_params(trade)
        if kind == "bad_signature":
            headers, body = self._signed(trade, params)
            return headers, re.sub(rb"<sign><!\[CDATA\[\w+", b"<sign><![CDATA[" + b"0" * 32, body)
        if kind == "other_account":
            params["mch_id"] = OTHER_MCHID
            return self._signed(trade, params, key_mchid=OTHER_MCHID)
        if kind == "tampered_amount":
            headers, body = self._signed(trade, params)
            total = str(trade.amount_fen).encode()
            more = str(trade.amount_fen + 1).encode()
            return headers, body.replace(
                b"<total_fee><![CDATA[" + total, b"<total_fee><![CDATA[" + more
            )
        if kind == "foreign_appid":
            params["sub_appid" if trade.sub_appid else "appid"] = FOREIGN_APPID
            return self._signed(trade, params)
        raise ValueError(f"WeChat Pay v2 has no forgery {kind!r}")

    def acknowledged(self, status: int, body: bytes) -> bool:
        return 200 <= status < 300

    def bill(self, trades: list[SandboxTrade], day: date) -> tuple[str, bytes]:
        return tradebill(trades, day)


WECHATPAY_V3 = WechatPayV3Platform()
WECHATPAY_V2 = WechatPayV2Platform()


def create_wechatpay_blueprint(name: str, state: SandboxState) -> Blueprint:
    """WeChat Pay's v3 and v2 APIs and its player route, as a fresh blueprint named name."""
    bp = Blueprint(name, url_prefix="/wechatpay")
    trade_path = "/v3/pay/transactions/out-trade-no/<out_trade_no:str>"
    partner_path = "/v3/pay/partner/transactions/out-trade-no/<out_trade_no:str>"
    routes: list[tuple[Any, str, list[str]]] = [
        (v3_jsapi, "/v3/pay/transactions/jsapi", ["POST"]),
        (v3_partner_jsapi, "/v3/pay/partner/transactions/jsapi", ["POST"]),
        (v3_query, trade_path, ["GET"]),
        (v3_partner_query, partner_path, ["GET"]),
        (v3_close, trade_path + "/close", ["POST"]),
        (v3_partner_close, partner_path + "/close", ["POST"]),
        (v3_refund, "/v3/refund/domestic/refunds", ["POST"]),
        (v3_refund_query, "/v3/refund/domestic/refunds/<out_refund_no:str>", ["GET"]),
        (v3_certificates, "/v3/certificates", ["GET"]),
        (v3_tradebill, "/v3/bill/tradebill", ["GET"]),
        (v3_billdownload, "/v3/billdownload/file", ["GET"]),
        (v3_settlement, "/v3/apply4sub/sub_merchants/<sub_mchid:str>/settlement", ["GET"]),
        (v2_unifiedorder, "/pay/unifiedorder", ["POST"]),
        (v2_micropay, "/pay/micropay", ["POST"]),
        (v2_orderquery, "/pay/orderquery", ["POST"]),
        (v2_reverse, "/secapi/pay/reverse", ["POST"]),
        (v2_closeorder, "/pay/closeorder", ["POST"]),
        (v2_refund, "/secapi/pay/refund", ["POST"]),
        (v2_refundquery, "/pay/refundquery", ["POST"]),
        (v2_downloadbill, "/pay/downloadbill", ["POST"]),
        (player_unknown_sub_merchant, "/sub-merchants/unknown", ["POST"]),
    ]
    for handler, uri, methods in routes:
        bp.add_route(handler, uri, methods=methods, name=handler.__name__, ctx_sandbox=state)
    return bp


@_v2
async def v2_downloadbill(request: Request, params: dict[str, str]) -> HTTPResponse:
    """POST /pay/downloadbill {bill_date yyyyMMdd, bill_type ALL}: the merchant's (or, with
    sub_mch_id, the sub-merchant's) trade bill as text, or FAIL `No Bill Exist` when the day
    has no line."""
    try:
        day = datetime.strptime(params.get("bill_date", ""), "%Y%m%d").date()
    except ValueError:
        return _v2_return_fail("invalid bill_date")
    if params.get("bill_type", "ALL") != "ALL":
        return _v2_return_fail("invalid bill_type")
    trades = [
        t
        for t in await payments.account_trades(
            route_state(request), ("wechatpay_v3", "wechatpay_v2")
        )
        if _belongs(t, params["mch_id"], params.get("sub_mch_id"))
    ]
    content_type, content = tradebill(trades, day)
    if len(content.splitlines()) <= 3:  # the header and the summary: no line that day
        return _v2_return_fail("No Bill Exist")
    return raw(content, content_type=content_type)
