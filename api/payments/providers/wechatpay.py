"""WeChat Pay: API v3 (wechatpayv3's async client) and API v2 (wechatpy's pay client).

`WechatPayV3` and `WechatPayV2` each speak for one merchant account (direct, or partner with
sp_mchid/sub_mchid). Base URL: `settings.wechatpay_api_base` for v3 and v2 paths alike.

v3 clients are built with the platform public key (+ its id) or the platform certificate, so
they never download certificates; a notification's `Wechatpay-Serial` is matched against the
account's before anything else, its timestamp must be within 5 minutes of `now`, and
`WECHATPAY/SIGNTEST/` probes are refused. Payment codes exist only in API v2: a v3 account
charges them through v2 micropay with its optional `api_key` secret.

Errors (see base.py): network failures, timeouts, 5xx and answers whose signature does not
verify → ProviderUnavailable (`payment.upstream`). The platform saying no → ProviderRefused:
- `payment.already_paid`: prepay or close of a trade already paid;
- `payment.trade_closed`: prepay of a closed or reversed trade;
- `payment.out_trade_no_reused`: the out_trade_no is taken by another order (other amount);
- `payment.not_found`: refund of a trade the platform does not know;
- `payment.not_paid`: refund of a trade that was not paid;
- `payment.refund_exceeds`: refund above what is left to refund;
- `payment.refund_conflict`: the out_refund_no was used with another amount;
- `payment.refund_not_found`: query of a refund the platform does not know;
- `payment.refused`: any other refusal (parameters, merchant configuration, signature).
An account missing a secret a call needs → ProviderInputError `payment_account.incomplete`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import gzip
import hashlib
import hmac
import json
import logging
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar

import httpx
import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from wechatpayv3.async_ import AsyncWeChatPay
from wechatpayv3.async_.type import WeChatPayType
from wechatpy.exceptions import WeChatPayException
from wechatpy.pay import WeChatPay

from api.core.metrics import observe_upstream
from api.core.money import yuan_to_fen
from config.settings import get_settings

from .base import (
    BillLine,
    BillLineKind,
    CodeOrder,
    Merchant,
    Notice,
    NoticeKind,
    NotificationRefused,
    Payer,
    Prepay,
    PrepayOrder,
    ProviderInputError,
    ProviderRefused,
    ProviderUnavailable,
    Refund,
    RefundOrder,
    RefundState,
    Trade,
    TradeState,
)

log = logging.getLogger("memberhub.payments.wechatpay")
# wechatpy logs the v2 string it signs at DEBUG, the merchant's API key included: never let it.
logging.getLogger("wechatpy.pay.utils").setLevel(logging.INFO)

CHINA = timezone(timedelta(hours=8))
TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0
NOTIFICATION_SKEW_S = 300
SIGNTEST_PREFIX = "WECHATPAY/SIGNTEST/"
INCOMPLETE = "payment_account.incomplete"

TRADE_STATES = {
    "SUCCESS": TradeState.PAID,
    "REFUND": TradeState.REFUNDED,
    "NOTPAY": TradeState.NOT_PAID,
    "USERPAYING": TradeState.USERPAYING,
    "CLOSED": TradeState.CLOSED,
    "REVOKED": TradeState.CLOSED,
    "PAYERROR": TradeState.FAILED,
}
REFUND_STATES = {
    "SUCCESS": RefundState.SUCCESS,
    "PROCESSING": RefundState.PROCESSING,
    "ABNORMAL": RefundState.FAILED,
    "CLOSED": RefundState.FAILED,
    "CHANGE": RefundState.FAILED,
    "REFUNDCLOSE": RefundState.FAILED,
}
# v2 micropay: the outcome is not known yet; query until it is (WeChat's own guidance).
V2_PENDING = frozenset({"USERPAYING", "SYSTEMERROR", "BANKERROR"})

T = TypeVar("T")


def _require(secrets_: Mapping[str, str], *names: str) -> list[str]:
    missing = [name for name in names if not secrets_.get(name)]
    if missing:
        raise ProviderInputError(INCOMPLETE, f"The account is missing {', '.join(missing)}.")
    return [secrets_[name] for name in names]


def _paid_at(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=CHINA)


def _v2_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=CHINA)
    except ValueError:
        return None


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(CHINA).isoformat(timespec="seconds")


def _nonce() -> str:
    return secrets.token_hex(16)


def _headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


# --- API v3 --------------------------------------------------------------------------------------


async def _never_download() -> None:
    """Stands in for wechatpayv3's certificate refresh: a serial we do not know stays unknown."""


class WechatPayV3:
    """A WeChat Pay API v3 merchant account (direct or partner)."""

    name = "wechatpay_v3"
    answer = "wechatpay_v3"

    def __init__(self, merchant: Merchant, secrets: Mapping[str, str]) -> None:
        self.merchant = merchant
        self.partner = merchant.mode == "partner"
        self._api_v3_key, private_key, cert_serial_no = _require(
            secrets, "api_v3_key", "private_key", "cert_serial_no"
        )
        public_pem, public_id = (
            secrets.get("platform_public_key"),
            secrets.get("platform_public_key_id"),
        )
        cert_pem = secrets.get("platform_cert")
        certificate = None
        if public_pem and public_id:
            key = serialization.load_pem_public_key(public_pem.encode())
            self._serials = frozenset({public_id})
        elif cert_pem:
            certificate = x509.load_pem_x509_certificate(cert_pem.encode())
            key = certificate.public_key()
            self._serials = frozenset({format(certificate.serial_number, "X")})
        else:
            raise ProviderInputError(
                INCOMPLETE,
                "The account needs platform_public_key + platform_public_key_id or platform_cert.",
            )
        if not isinstance(key, rsa.RSAPublicKey):
            raise ProviderInputError(INCOMPLETE, "The platform key is not an RSA key.")
        self._platform_key = key
        if self.partner and not merchant.sub_mchid:
            raise ProviderInputError(INCOMPLETE, "A partner account needs its sub_mchid.")
        self._client = AsyncWeChatPay(
            wechatpay_type=WeChatPayType.MINIPROG,
            mchid=merchant.mch_id,
            private_key=private_key,
            cert_serial_no=cert_serial_no,
            appid=merchant.app_id,
            apiv3_key=self._api_v3_key,
            partner_mode=self.partner,
            timeout=(CONNECT_TIMEOUT_S, TIMEOUT_S),
            public_key=public_pem if public_pem and public_id else None,
            public_key_id=public_id if public_pem and public_id else None,
        )
        core = self._client._core
        core._gate_way = get_settings().wechatpay_api_base
        if certificate is not None:
            core._certificates = [certificate]
        core._update_certificates = _never_download
        self._http: httpx.AsyncClient | None = None
        self._http_loop: asyncio.AbstractEventLoop | None = None
        self._v2 = (
            WechatPayV2(merchant, {"api_key": secrets["api_key"]})
            if secrets.get("api_key")
            else None
        )

    # -- plumbing --

    def _bind_http(self) -> None:
        """One HTTP connection pool per event loop, shared by every call of this account."""
        loop = asyncio.get_running_loop()
        if self._http is None or self._http_loop is not loop:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
            )
            self._http_loop = loop
        self._client._core._client = self._http

    async def _call(
        self, api: str, call: Callable[[], Awaitable[tuple[int, Any]]]
    ) -> tuple[int, dict[str, Any]]:
        """(status, JSON answer) of one v3 call; ProviderUnavailable when it cannot be trusted."""
        started = time.perf_counter()
        outcome = "error"
        try:
            self._bind_http()
            try:
                status, text = await call()
            except httpx.HTTPError as exc:
                outcome = "unreachable"
                raise ProviderUnavailable(
                    f"WeChat Pay could not be reached ({type(exc).__name__})."
                ) from None
            except Exception as exc:  # wechatpayv3 raises bare Exception on a bad signature
                outcome = "unverified"
                log.warning("wechatpay v3 answer refused", extra={"api": api, "error": str(exc)})
                raise ProviderUnavailable("WeChat Pay's answer could not be verified.") from None
            if status >= 500:
                outcome = "server_error"
                raise ProviderUnavailable(f"WeChat Pay answered HTTP {status}.")
            data: dict[str, Any] = {}
            if text:
                try:
                    parsed = json.loads(text)
                except (ValueError, TypeError):
                    outcome = "unparsable"
                    raise ProviderUnavailable("WeChat Pay's answer is not JSON.") from None
                if not isinstance(parsed, dict):
                    outcome = "unparsable"
                    raise ProviderUnavailable("WeChat Pay's answer is not a JSON object.")
                data = parsed
            outcome = "ok" if status < 300 else "refused"
            return status, data
        finally:
            observe_upstream(platform="wechatpay_v3", api=api, outcome=outcome, started=started)

    @staticmethod
    def _refused(status: int, data: dict[str, Any], code: str = "payment.refused") -> Exception:
        return ProviderRefused(
            code, f"WeChat Pay refused ({status} {data.get('code')}): {data.get('message', '')}"
        )

    def _payer_appid(self) -> tuple[str, str]:
        """(the appid the payer's openid belongs to, its payer field)."""
        if not self.partner:
            return self.merchant.app_id, "openid"
        if self.merchant.sub_appid:
            return self.merchant.sub_appid, "sub_openid"
        return self.merchant.app_id, "sp_openid"

    def _trade(self, data: dict[str, Any]) -> Trade:
        payer_data = data.get("payer") or {}
        payer = None
        if payer_data.get("sub_openid"):
            payer = Payer("wechat_openid", data.get("sub_appid", ""), payer_data["sub_openid"])
        elif payer_data.get("sp_openid"):
            payer = Payer("wechat_openid", data.get("sp_appid", ""), payer_data["sp_openid"])
        elif payer_data.get("openid"):
            payer = Payer("wechat_openid", data.get("appid", ""), payer_data["openid"])
        amount = data.get("amount") or {}
        state = TRADE_STATES.get(data.get("trade_state", ""), TradeState.UNKNOWN)
        return Trade(
            out_trade_no=str(data.get("out_trade_no", "")),
            state=state,
            amount_fen=amount.get("total"),
            transaction_id=data.get("transaction_id") or None,
            payer=payer,
            paid_at=_paid_at(data.get("success_time")),
            message=str(data.get("trade_state_desc", "")) if state == TradeState.FAILED else "",
        )

    @staticmethod
    def _refund(data: dict[str, Any]) -> Refund:
        amount = data.get("amount") or {}
        return Refund(
            out_trade_no=str(data.get("out_trade_no", "")),
            out_refund_no=str(data.get("out_refund_no", "")),
            state=REFUND_STATES.get(
                data.get("status") or data.get("refund_status", ""), RefundState.PROCESSING
            ),
            amount_fen=int(amount.get("refund", 0)),
            refund_id=data.get("refund_id") or None,
            total_fen=amount.get("total"),
        )

    # -- the protocol --

    async def prepay(self, order: PrepayOrder) -> Prepay:
        """JSAPI prepay (direct, or partner with sub_appid + sub_openid when the account has a
        sub_appid); signed `wx.requestPayment` parameters."""
        appid, payer_field = self._payer_appid()
        kwargs: dict[str, Any] = {}
        if self.partner:
            kwargs["sub_mchid"] = self.merchant.sub_mchid
            if self.merchant.sub_appid:
                kwargs["sub_appid"] = self.merchant.sub_appid
        status, data = await self._call(
            "jsapi",
            lambda: self._client.pay(
                description=order.description,
                out_trade_no=order.out_trade_no,
                amount={"total": order.amount_fen, "currency": "CNY"},
                payer={payer_field: order.payer.value},
                time_expire=_rfc3339(order.expires_at),
                attach=order.attach or None,
                notify_url=order.notify_url,
                pay_type=WeChatPayType.MINIPROG,
                **kwargs,
            ),
        )
        if status != 200 or not data.get("prepay_id"):
            code = {
                "ORDERPAID": "payment.already_paid",
                "ORDER_CLOSED": "payment.trade_closed",
                "ORDERCLOSED": "payment.trade_closed",
            }.get(str(data.get("code")), "payment.refused")
            if code == "payment.refused" and "重复" in str(data.get("message", "")):
                code = "payment.out_trade_no_reused"
            raise self._refused(status, data, code)
        prepay_id = str(data["prepay_id"])
        timestamp, nonce = str(int(time.time())), _nonce()
        package = f"prepay_id={prepay_id}"
        pay_sign = self._client.sign([appid, timestamp, nonce, package])
        return Prepay(
            client_params={
                "appId": appid,
                "timeStamp": timestamp,
                "nonceStr": nonce,
                "package": package,
                "signType": "RSA",
                "paySign": pay_sign,
            },
            platform_ref=prepay_id,
        )

    def _code_client(self) -> WechatPayV2:
        if self._v2 is None:
            raise ProviderInputError(
                INCOMPLETE, "Payment codes need the account's API v2 key (api_key)."
            )
        return self._v2

    async def pay_with_code(self, order: CodeOrder) -> Trade:
        """Payment codes exist only in API v2: micropay with the account's api_key."""
        return await self._code_client().pay_with_code(order)

    async def query(self, out_trade_no: str) -> Trade:
        kwargs = {"sub_mchid": self.merchant.sub_mchid} if self.partner else {}
        status, data = await self._call(
            "query", lambda: self._client.query(out_trade_no=out_trade_no, **kwargs)
        )
        if status == 404:
            return Trade(out_trade_no=out_trade_no, state=TradeState.UNKNOWN)
        if status != 200:
            raise self._refused(status, data)
        return self._trade(data)

    async def close(self, out_trade_no: str) -> None:
        kwargs = {"sub_mchid": self.merchant.sub_mchid} if self.partner else {}
        status, data = await self._call(
            "close", lambda: self._client.close(out_trade_no=out_trade_no, **kwargs)
        )
        if status in (200, 204, 404):
            return
        if data.get("code") == "ORDERPAID":
            raise self._refused(status, data, "payment.already_paid")
        raise self._refused(status, data)

    async def reverse(self, out_trade_no: str) -> None:
        """Payment-code trades only (they are v2 trades): v2 reverse with the api_key."""
        await self._code_client().reverse(out_trade_no)

    async def refund(self, order: RefundOrder) -> Refund:
        kwargs: dict[str, Any] = {"sub_mchid": self.merchant.sub_mchid} if self.partner else {}
        status, data = await self._call(
            "refund",
            lambda: self._client.refund(
                out_refund_no=order.out_refund_no,
                amount={"refund": order.refund_fen, "total": order.total_fen, "currency": "CNY"},
                out_trade_no=order.out_trade_no,
                reason=order.reason or None,
                notify_url=order.notify_url or None,
                **kwargs,
            ),
        )
        if status == 200:
            return self._refund(data)
        code = {
            "RESOURCE_NOT_EXISTS": "payment.not_found",
            "TRADE_STATE_ERROR": "payment.not_paid",
            "NOT_ENOUGH": "payment.refund_exceeds",
        }.get(str(data.get("code")), "payment.refused")
        if code == "payment.refused" and "退款单号重复" in str(data.get("message", "")):
            code = "payment.refund_conflict"
        raise self._refused(status, data, code)

    async def query_refund(self, *, out_trade_no: str, out_refund_no: str) -> Refund:
        kwargs = {"sub_mchid": self.merchant.sub_mchid} if self.partner else {}
        status, data = await self._call(
            "refund_query",
            lambda: self._client.query_refund(out_refund_no=out_refund_no, **kwargs),
        )
        if status == 404:
            raise self._refused(status, data, "payment.refund_not_found")
        if status != 200:
            raise self._refused(status, data)
        return self._refund(data)

    def parse_notification(
        self, headers: Mapping[str, str], body: bytes, *, now: datetime
    ) -> Notice:
        """Verify (serial, SIGNTEST, timestamp, RSA signature) and decrypt a v3 notification."""
        h = _headers(headers)
        serial = h.get("wechatpay-serial", "")
        if serial not in self._serials:
            raise NotificationRefused("unknown_serial", serial[:80])
        signature = h.get("wechatpay-signature", "")
        if signature.startswith(SIGNTEST_PREFIX):
            raise NotificationRefused("signtest")
        try:
            stamp = int(h.get("wechatpay-timestamp", ""))
        except ValueError:
            raise NotificationRefused("malformed", "no Wechatpay-Timestamp") from None
        if abs(now.timestamp() - stamp) > NOTIFICATION_SKEW_S:
            raise NotificationRefused("stale", f"timestamp {stamp}")
        nonce = h.get("wechatpay-nonce", "")
        try:
            text = body.decode("utf-8")
            self._platform_key.verify(
                base64.b64decode(signature, validate=True),
                f"{stamp}\n{nonce}\n{text}\n".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, binascii.Error, ValueError, UnicodeDecodeError):
            raise NotificationRefused("bad_signature") from None
        try:
            envelope = json.loads(text)
            resource = envelope["resource"]
            plain = AESGCM(self._api_v3_key.encode()).decrypt(
                str(resource["nonce"]).encode(),
                base64.b64decode(resource["ciphertext"]),
                str(resource.get("associated_data") or "").encode(),
            )
            data = json.loads(plain)
            notification_id = str(envelope["id"])
            event_type = str(envelope["event_type"])
        except InvalidTag:
            raise NotificationRefused(
                "malformed", "the resource does not decrypt with this account's APIv3 key"
            ) from None
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise NotificationRefused("malformed") from None
        if not isinstance(data, dict):
            raise NotificationRefused("malformed")
        if event_type.startswith("REFUND."):
            self._check_merchant(data, refund=True)
            return Notice(NoticeKind.REFUND, notification_id, refund=self._refund(data))
        if event_type != "TRANSACTION.SUCCESS":
            raise NotificationRefused("malformed", f"event_type {event_type}")
        self._check_merchant(data, refund=False)
        trade = self._trade(data)
        if trade.state != TradeState.PAID:
            raise NotificationRefused("not_paid", str(data.get("trade_state")))
        return Notice(NoticeKind.PAYMENT, notification_id, trade=trade)

    def _check_merchant(self, data: dict[str, Any], *, refund: bool) -> None:
        m = self.merchant
        if self.partner:
            expected = {"sp_mchid": m.mch_id, "sub_mchid": m.sub_mchid}
            if not refund:
                expected["sp_appid"] = m.app_id
                if m.sub_appid or data.get("sub_appid"):
                    expected["sub_appid"] = m.sub_appid
        else:
            expected = {"mchid": m.mch_id}
            if not refund:
                expected["appid"] = m.app_id
        for key, value in expected.items():
            if data.get(key) != value:
                raise NotificationRefused("merchant_mismatch", f"{key} {data.get(key)!r}")


# --- API v2 --------------------------------------------------------------------------------------


def v2_sign(params: Mapping[str, str], key: str, sign_type: str = "MD5") -> str:
    """API v2's signature: non-empty params but sign, sorted, k=v&…&key=KEY; MD5 or HMAC."""
    text = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign" and params[k])
    text += f"&key={key}"
    if sign_type == "HMAC-SHA256":
        return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest().upper()
    return hashlib.md5(text.encode()).hexdigest().upper()


def _flat_xml(body: bytes, root: str = "xml") -> dict[str, str]:
    """A flat XML document's children as a dict; ValueError when it is not one."""
    try:
        element = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ValueError("not XML") from exc
    if element.tag != root:
        raise ValueError(f"root is {element.tag}")
    return {child.tag: (child.text or "") for child in element}


def _ecb_decrypt(req_info: str, api_key: str) -> bytes:
    key = hashlib.md5(api_key.encode()).hexdigest().encode()
    decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()
    padded = decryptor.update(base64.b64decode(req_info)) + decryptor.finalize()
    unpadder = sym_padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


class WechatPayV2:
    """A WeChat Pay API v2 merchant account: JSAPI via unifiedorder, payment codes (micropay),
    XML notifications signed MD5 or HMAC-SHA256 (`sign_type` secret, MD5 by default)."""

    name = "wechatpay_v2"
    answer = "wechatpay_v2"

    def __init__(self, merchant: Merchant, secrets: Mapping[str, str]) -> None:
        self.merchant = merchant
        self.partner = merchant.mode == "partner"
        (self._api_key,) = _require(secrets, "api_key")
        self.sign_type = secrets.get("sign_type") or "MD5"
        if self.sign_type not in ("MD5", "HMAC-SHA256"):
            raise ProviderInputError(INCOMPLETE, "sign_type must be MD5 or HMAC-SHA256.")
        if self.partner and not merchant.sub_mchid:
            raise ProviderInputError(INCOMPLETE, "A partner account needs its sub_mchid.")
        self._client = WeChatPay(
            appid=merchant.app_id,
            api_key=self._api_key,
            mch_id=merchant.mch_id,
            sub_mch_id=merchant.sub_mchid or None,
            sub_appid=merchant.sub_appid or None,
            timeout=(CONNECT_TIMEOUT_S, TIMEOUT_S),
        )
        self._client.API_BASE_URL = get_settings().wechatpay_api_base + "/"

    async def _call(self, api: str, call: Callable[[], T]) -> T | WeChatPayException:
        """Run a wechatpy call in a thread: its answer (signature checked), or the platform's
        refusal as the exception; ProviderUnavailable when it cannot be reached or trusted."""
        started = time.perf_counter()
        outcome = "error"
        try:
            try:
                result = await asyncio.to_thread(call)
            except WeChatPayException as exc:
                response = getattr(exc, "response", None)
                status = getattr(response, "status_code", 200)
                if exc.return_code is None or status >= 500:
                    outcome = "server_error"
                    raise ProviderUnavailable(f"WeChat Pay answered HTTP {status}.") from None
                outcome = "refused"
                return exc
            except requests.RequestException as exc:
                outcome = "unreachable"
                raise ProviderUnavailable(
                    f"WeChat Pay could not be reached ({type(exc).__name__})."
                ) from None
            if not isinstance(result, dict):
                outcome = "unparsable"
                raise ProviderUnavailable("WeChat Pay's answer is not XML.")
            if not self._signed_by_platform(result):
                outcome = "unverified"
                raise ProviderUnavailable("WeChat Pay's answer could not be verified.")
            outcome = "ok"
            return result
        finally:
            observe_upstream(platform="wechatpay_v2", api=api, outcome=outcome, started=started)

    def _signed_by_platform(self, data: Mapping[str, Any]) -> bool:
        sign = str(data.get("sign") or "")
        fields = {k: str(v) for k, v in data.items() if k != "sign" and v is not None}
        return any(
            hmac.compare_digest(sign, v2_sign(fields, self._api_key, sign_type))
            for sign_type in ("MD5", "HMAC-SHA256")
        )

    @staticmethod
    def _refused(exc: WeChatPayException, code: str = "payment.refused") -> ProviderRefused:
        return ProviderRefused(
            code,
            f"WeChat Pay refused ({exc.return_code}/{exc.errcode}): "
            f"{exc.errmsg or exc.return_msg or ''}",
        )

    def _trade(self, data: Mapping[str, Any], state: TradeState) -> Trade:
        payer = None
        if data.get("sub_openid") and self.merchant.sub_appid:
            payer = Payer("wechat_openid", self.merchant.sub_appid, str(data["sub_openid"]))
        elif data.get("openid"):
            payer = Payer("wechat_openid", self.merchant.app_id, str(data["openid"]))
        total = data.get("total_fee")
        return Trade(
            out_trade_no=str(data.get("out_trade_no", "")),
            state=state,
            amount_fen=int(total) if total not in (None, "") else None,
            transaction_id=str(data.get("transaction_id") or "") or None,
            payer=payer,
            paid_at=_v2_time(data.get("time_end")) if state == TradeState.PAID else None,
        )

    async def prepay(self, order: PrepayOrder) -> Prepay:
        """unifiedorder JSAPI; `wx.requestPayment` parameters signed with the v2 key."""
        openid_kwargs = (
            {"sub_user_id": order.payer.value}
            if self.partner and self.merchant.sub_appid
            else {"user_id": order.payer.value}
        )
        result = await self._call(
            "unifiedorder",
            lambda: self._client.order.create(
                trade_type="JSAPI",
                body=order.description,
                total_fee=order.amount_fen,
                notify_url=order.notify_url,
                client_ip=order.client_ip,
                out_trade_no=order.out_trade_no,
                attach=order.attach or None,
                time_expire=order.expires_at.astimezone(CHINA),
                sign_type=self.sign_type,
                **openid_kwargs,
            ),
        )
        if isinstance(result, WeChatPayException):
            code = {
                "ORDERPAID": "payment.already_paid",
                "ORDERCLOSED": "payment.trade_closed",
                "OUT_TRADE_NO_USED": "payment.out_trade_no_reused",
                "INVALID_REQUEST": "payment.out_trade_no_reused",
            }.get(str(result.errcode), "payment.refused")
            raise self._refused(result, code)
        prepay_id = str(result["prepay_id"])
        appid = (
            self.merchant.sub_appid
            if self.partner and self.merchant.sub_appid
            else self.merchant.app_id
        )
        params = {
            "appId": appid,
            "timeStamp": str(int(time.time())),
            "nonceStr": _nonce(),
            "package": f"prepay_id={prepay_id}",
            "signType": self.sign_type,
        }
        params["paySign"] = v2_sign(params, self._api_key, self.sign_type)
        return Prepay(client_params=params, platform_ref=prepay_id)

    async def pay_with_code(self, order: CodeOrder) -> Trade:
        """micropay, always with the till's client_ip (wechatpy would otherwise look it up)."""
        result = await self._call(
            "micropay",
            lambda: self._client.micropay.create(
                body=order.description,
                total_fee=order.amount_fen,
                auth_code=order.auth_code,
                client_ip=order.client_ip,
                out_trade_no=order.out_trade_no,
                device_info=order.store_code or None,
            ),
        )
        if isinstance(result, WeChatPayException):
            if result.return_code != "SUCCESS":
                raise self._refused(result)
            if result.errcode in V2_PENDING:
                return Trade(
                    out_trade_no=order.out_trade_no,
                    state=TradeState.USERPAYING,
                    amount_fen=order.amount_fen,
                    message=str(result.errmsg or ""),
                )
            if result.errcode == "OUT_TRADE_NO_USED":
                raise self._refused(result, "payment.out_trade_no_reused")
            return Trade(
                out_trade_no=order.out_trade_no,
                state=TradeState.FAILED,
                amount_fen=order.amount_fen,
                message=f"{result.errcode}: {result.errmsg or ''}",
            )
        return self._trade(result, TradeState.PAID)

    async def query(self, out_trade_no: str) -> Trade:
        result = await self._call(
            "orderquery", lambda: self._client.order.query(out_trade_no=out_trade_no)
        )
        if isinstance(result, WeChatPayException):
            if result.errcode == "ORDERNOTEXIST":
                return Trade(out_trade_no=out_trade_no, state=TradeState.UNKNOWN)
            raise self._refused(result)
        state = TRADE_STATES.get(str(result.get("trade_state")), TradeState.UNKNOWN)
        trade = self._trade(result, state)
        if state == TradeState.FAILED:
            return Trade(
                out_trade_no=trade.out_trade_no,
                state=state,
                amount_fen=trade.amount_fen,
                transaction_id=trade.transaction_id,
                payer=trade.payer,
                message=str(result.get("trade_state_desc", "")),
            )
        if state == TradeState.REFUNDED:
            return Trade(
                out_trade_no=trade.out_trade_no,
                state=state,
                amount_fen=trade.amount_fen,
                transaction_id=trade.transaction_id,
                payer=trade.payer,
                paid_at=_v2_time(result.get("time_end")),
            )
        return trade

    async def close(self, out_trade_no: str) -> None:
        result = await self._call("closeorder", lambda: self._client.order.close(out_trade_no))
        if isinstance(result, WeChatPayException):
            if result.errcode in ("ORDERNOTEXIST", "ORDERCLOSED"):
                return
            if result.errcode == "ORDERPAID":
                raise self._refused(result, "payment.already_paid")
            raise self._refused(result)

    async def reverse(self, out_trade_no: str) -> None:
        result = await self._call(
            "reverse", lambda: self._client.order.reverse(out_trade_no=out_trade_no)
        )
        if isinstance(result, WeChatPayException) and result.errcode != "ORDERNOTEXIST":
            raise self._refused(result)

    async def refund(self, order: RefundOrder) -> Refund:
        result = await self._call(
            "refund",
            lambda: self._client.refund.apply(
                total_fee=order.total_fen,
                refund_fee=order.refund_fen,
                out_refund_no=order.out_refund_no,
                out_trade_no=order.out_trade_no,
                refund_desc=order.reason or None,
                notify_url=order.notify_url or None,
            ),
        )
        if isinstance(result, WeChatPayException):
            code = {
                "ORDERNOTEXIST": "payment.not_found",
                "TRADE_STATE_ERROR": "payment.not_paid",
                "NOTENOUGH": "payment.refund_exceeds",
                "INVALID_REQUEST": "payment.refund_conflict",
            }.get(str(result.errcode), "payment.refused")
            raise self._refused(result, code)
        return Refund(
            out_trade_no=order.out_trade_no,
            out_refund_no=str(result.get("out_refund_no", order.out_refund_no)),
            state=RefundState.PROCESSING,
            amount_fen=int(result.get("refund_fee", order.refund_fen)),
            refund_id=str(result.get("refund_id") or "") or None,
            total_fen=int(result.get("total_fee", order.total_fen)),
        )

    async def query_refund(self, *, out_trade_no: str, out_refund_no: str) -> Refund:
        result = await self._call(
            "refundquery",
            lambda: self._client.refund.query(
                out_refund_no=out_refund_no, out_trade_no=out_trade_no
            ),
        )
        if isinstance(result, WeChatPayException):
            if result.errcode == "REFUNDNOTEXIST":
                raise self._refused(result, "payment.refund_not_found")
            raise self._refused(result)
        count = int(result.get("refund_count") or 0)
        for index in range(count):
            if result.get(f"out_refund_no_{index}") == out_refund_no:
                return Refund(
                    out_trade_no=out_trade_no,
                    out_refund_no=out_refund_no,
                    state=REFUND_STATES.get(
                        str(result.get(f"refund_status_{index}")), RefundState.PROCESSING
                    ),
                    amount_fen=int(result.get(f"refund_fee_{index}") or 0),
                    refund_id=str(result.get(f"refund_id_{index}") or "") or None,
                    total_fen=int(result.get("total_fee") or 0) or None,
                )
        raise ProviderRefused("payment.refund_not_found", "WeChat Pay does not know this refund.")

    def parse_notification(
        self, headers: Mapping[str, str], body: bytes, *, now: datetime
    ) -> Notice:
        """Verify a v2 XML notification (payment: signature; refund: req_info decrypts)."""
        try:
            data = _flat_xml(body)
        except ValueError:
            raise NotificationRefused("malformed", "not XML") from None
        if data.get("req_info"):
            return self._refund_notice(data)
        sign_type = data.get("sign_type") or "MD5"
        if sign_type not in ("MD5", "HMAC-SHA256"):
            raise NotificationRefused("bad_signature", f"sign_type {sign_type}")
        expected = v2_sign(data, self._api_key, sign_type)
        if not hmac.compare_digest(data.get("sign", ""), expected):
            raise NotificationRefused("bad_signature")
        self._check_merchant(data, payment=True)
        if data.get("return_code") != "SUCCESS" or data.get("result_code") != "SUCCESS":
            raise NotificationRefused("not_paid", str(data.get("err_code", "")))
        if not data.get("transaction_id") or not data.get("total_fee", "").isdigit():
            raise NotificationRefused("malformed")
        trade = self._trade(data, TradeState.PAID)
        return Notice(NoticeKind.PAYMENT, trade.transaction_id or "", trade=trade)

    def _check_merchant(self, data: Mapping[str, str], *, payment: bool) -> None:
        m = self.merchant
        expected = {"mch_id": m.mch_id, "sub_mch_id": m.sub_mchid if self.partner else ""}
        if payment:
            expected["appid"] = m.app_id
            if m.sub_appid or data.get("sub_appid"):
                expected["sub_appid"] = m.sub_appid
        for key, value in expected.items():
            if (data.get(key) or "") != value:
                raise NotificationRefused("merchant_mismatch", f"{key} {data.get(key)!r}")

    def _refund_notice(self, data: Mapping[str, str]) -> Notice:
        self._check_merchant(data, payment=False)
        try:
            inner = _flat_xml(_ecb_decrypt(data["req_info"], self._api_key), root="root")
            refund = Refund(
                out_trade_no=inner["out_trade_no"],
                out_refund_no=inner["out_refund_no"],
                state=REFUND_STATES.get(inner.get("refund_status", ""), RefundState.PROCESSING),
                amount_fen=int(inner["refund_fee"]),
                refund_id=inner.get("refund_id") or None,
                total_fen=int(inner["total_fee"]) if inner.get("total_fee") else None,
            )
        except (ValueError, KeyError, binascii.Error):
            raise NotificationRefused(
                "malformed", "req_info does not decrypt with this account's key"
            ) from None
        return Notice(NoticeKind.REFUND, refund.refund_id or refund.out_refund_no, refund=refund)


# --- bills ---------------------------------------------------------------------------------------

# Columns of the trade bill (ALL) read by name; v2 bills call the sub-merchant column 子商户号.
BILL_TIME = "交易时间"
BILL_MCH_ID = "商户号"
BILL_SUB_MCH_IDS = ("特约商户号", "子商户号")
BILL_TRANSACTION_ID = "微信订单号"
BILL_OUT_TRADE_NO = "商户订单号"
BILL_TRADE_STATE = "交易状态"
BILL_TOTAL = ("订单金额", "应结订单金额")
BILL_OUT_REFUND_NO = "商户退款单号"
BILL_REFUND = ("申请退款金额", "退款金额")
BILL_REFUND_STATE = "退款状态"
BILL_SUMMARY_HEAD = "总交易单数"
BILL_TRADE_STATES = {"SUCCESS": TradeState.PAID, "REVOKED": TradeState.CLOSED}


def _bill_fields(line: str) -> list[str]:
    """A bill line's fields: each is prefixed with a backtick, so `,`` splits even a product
    name holding a comma."""
    line = line.strip()
    if line.startswith("`"):
        return [field.strip() for field in line[1:].split(",`")]
    return [field.strip() for field in line.split(",")]


def parse_tradebill(text: str, *, mch_id: str, sub_mchid: str = "") -> list[BillLine]:
    """The lines of a WeChat Pay trade bill (ALL, API v3 or v2) that belong to this merchant.

    A direct merchant's lines are those without a sub-merchant; a partner account's, those of
    its sub_mchid. Amounts are converted from yuan exactly. Raises ValueError when the bill is
    not one: no header, a column missing, an amount or time that does not parse, or a summary
    whose line count disagrees with the lines read.
    """
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    if not lines:
        raise ValueError("empty bill")
    header = _bill_fields(lines[0])
    index = {name: position for position, name in enumerate(header)}

    def column(*names: str) -> int:
        for name in names:
            if name in index:
                return index[name]
        raise ValueError(f"the bill has no column {names[0]}")

    at, mch, sub = column(BILL_TIME), column(BILL_MCH_ID), column(*BILL_SUB_MCH_IDS)
    transaction, out_trade_no = column(BILL_TRANSACTION_ID), column(BILL_OUT_TRADE_NO)
    trade_state, total = column(BILL_TRADE_STATE), column(*BILL_TOTAL)
    out_refund_no, refund = column(BILL_OUT_REFUND_NO), column(*BILL_REFUND)
    refund_state = column(BILL_REFUND_STATE)
    body = lines[1:]
    summary_at = next(
        (n for n, line in enumerate(body) if line.lstrip("`").startswith(BILL_SUMMARY_HEAD)), None
    )
    if summary_at is None or summary_at + 1 >= len(body):
        raise ValueError("the bill has no summary")
    rows = body[:summary_at]
    declared = _bill_fields(body[summary_at + 1])[0]
    if not declared.isdigit() or int(declared) != len(rows):
        raise ValueError(f"the summary counts {declared} lines, the bill has {len(rows)}")
    result = []
    for row in rows:
        fields = _bill_fields(row)
        if len(fields) < len(header):
            raise ValueError(f"a bill line has {len(fields)} fields, not {len(header)}")
        if fields[mch] != mch_id or fields[sub] not in ((sub_mchid,) if sub_mchid else ("", "0")):
            continue
        moment = datetime.strptime(fields[at], "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA)
        if fields[trade_state] == "REFUND":
            result.append(
                BillLine(
                    out_trade_no=fields[out_trade_no],
                    transaction_id=fields[transaction],
                    kind=BillLineKind.REFUND,
                    out_refund_no=fields[out_refund_no],
                    amount_fen=yuan_to_fen(fields[refund]),
                    state=REFUND_STATES.get(fields[refund_state], RefundState.PROCESSING).value,
                    time=moment,
                )
            )
            continue
        state = BILL_TRADE_STATES.get(fields[trade_state])
        if state is None:
            raise ValueError(f"a bill line has trade state {fields[trade_state]!r}")
        result.append(
            BillLine(
                out_trade_no=fields[out_trade_no],
                transaction_id=fields[transaction],
                kind=BillLineKind.PAYMENT,
                out_refund_no="",
                amount_fen=yuan_to_fen(fields[total]),
                state=state.value,
                time=moment,
            )
        )
    return result


def _bill_text(content: bytes) -> str:
    if content[:2] == b"\x1f\x8b":
        content = gzip.decompress(content)
    return content.decode("utf-8-sig")


async def download_bill(provider: WechatPayV3 | WechatPayV2, day: date) -> list[BillLine]:
    """The account's trade bill of `day` (China time), read into lines.

    v3: `GET /v3/bill/tradebill?bill_date=&bill_type=ALL` (partner: `&sub_mchid=`), then the
    signed download of its `download_url` (which must be on the configured gateway), checked
    against the SHA1 `hash_value`. v2: `POST /pay/downloadbill`. A day without trades
    (NO_STATEMENT_EXIST, v2 "No Bill Exist") is an empty bill. A bill not ready yet
    (STATEMENT_CREATING), unreachable, failing its hash or not parsing → ProviderUnavailable;
    any other refusal → ProviderRefused `payment.refused`.
    """
    m = provider.merchant
    sub_mchid = m.sub_mchid if provider.partner else ""
    if isinstance(provider, WechatPayV2):
        content = await _v2_bill(provider, day)
    else:
        content = await _v3_bill(provider, day)
    if content is None:
        return []
    try:
        return parse_tradebill(_bill_text(content), mch_id=m.mch_id, sub_mchid=sub_mchid)
    except (ValueError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise ProviderUnavailable(f"WeChat Pay's bill could not be read: {exc}") from None


async def _v3_bill(provider: WechatPayV3, day: date) -> bytes | None:
    core = provider._client._core
    path = f"/v3/bill/tradebill?bill_date={day.isoformat()}&bill_type=ALL"
    if provider.partner:
        path += f"&sub_mchid={provider.merchant.sub_mchid}"
    status, data = await provider._call("tradebill", lambda: core.request(path))
    if status != 200:
        if data.get("code") == "NO_STATEMENT_EXIST":
            return None
        if data.get("code") == "STATEMENT_CREATING":
            raise ProviderUnavailable("WeChat Pay is still making the bill.")
        raise provider._refused(status, data)
    url, gateway = str(data.get("download_url") or ""), str(core._gate_way)
    if not url.startswith(gateway + "/"):
        raise ProviderUnavailable("WeChat Pay's bill is not on its gateway.")
    started = time.perf_counter()
    outcome = "error"
    try:
        provider._bind_http()
        try:
            status, content = await core.request(url[len(gateway) :], skip_verify=True)
        except httpx.HTTPError as exc:
            outcome = "unreachable"
            raise ProviderUnavailable(
                f"WeChat Pay could not be reached ({type(exc).__name__})."
            ) from None
        if status != 200 or not isinstance(content, bytes):
            outcome = "refused"
            raise ProviderUnavailable(f"WeChat Pay answered HTTP {status} for the bill.")
        expected = str(data.get("hash_value") or "").lower()
        digests = {hashlib.sha1(content).hexdigest()}
        if content[:2] == b"\x1f\x8b":
            with contextlib.suppress(OSError, EOFError):
                digests.add(hashlib.sha1(gzip.decompress(content)).hexdigest())
        if str(data.get("hash_type", "SHA1")).upper() != "SHA1" or expected not in digests:
            outcome = "unverified"
            raise ProviderUnavailable("WeChat Pay's bill does not match its hash.")
        outcome = "ok"
        return content
    finally:
        observe_upstream(
            platform="wechatpay_v3", api="billdownload", outcome=outcome, started=started
        )


async def _v2_bill(provider: WechatPayV2, day: date) -> bytes | None:
    client = provider._client
    started = time.perf_counter()
    outcome = "error"
    try:
        try:
            result = await asyncio.to_thread(
                client.tools.download_bill, day.strftime("%Y%m%d"), "ALL"
            )
        except WeChatPayException as exc:
            message = f"{exc.return_msg or ''} {exc.errmsg or ''}"
            if exc.return_code is not None and "No Bill Exist" in message:
                outcome = "ok"
                return None
            outcome = "refused" if exc.return_code is not None else "server_error"
            if exc.return_code is None:
                raise ProviderUnavailable("WeChat Pay could not give the bill.") from None
            raise WechatPayV2._refused(exc) from None
        except requests.RequestException as exc:
            outcome = "unreachable"
            raise ProviderUnavailable(
                f"WeChat Pay could not be reached ({type(exc).__name__})."
            ) from None
        if not isinstance(result, str):
            outcome = "unparsable"
            raise ProviderUnavailable("WeChat Pay's bill is not text.")
        outcome = "ok"
        return result.encode("utf-8")
    finally:
        observe_upstream(
            platform="wechatpay_v2", api="downloadbill", outcome=outcome, started=started
        )


# --- service provider: checking a sub-merchant -------------------------------------------------


async def check_sub_merchant(service_provider: WechatPayV3, sub_mchid: str) -> str | None:
    """Whether WeChat Pay knows `sub_mchid` as a sub-merchant of this service provider (its
    settlement account, /v3/apply4sub/sub_merchants/{sub_mchid}/settlement): None when it does
    and the account passed its verification, else why not, in words. ProviderUnavailable when
    WeChat Pay cannot say (network, 5xx, an answer that does not verify)."""
    status, data = await service_provider._call(
        "sub_merchant_settlement",
        lambda: service_provider._client.applyment_settlement_query(sub_mchid),
    )
    if status == 200:
        if data.get("verify_result") in (None, "", "VERIFY_SUCCESS", "VERIFYING"):
            return None
        reason = data.get("verify_fail_reason") or data.get("verify_result")
        return f"the sub-merchant's settlement account failed verification ({reason})"
    if status == 404:
        return f"WeChat Pay knows no sub-merchant {sub_mchid} under this service provider"
    return f"WeChat Pay refused the sub-merchant ({status} {data.get('code')}): " + str(
        data.get("message", "")
    )
