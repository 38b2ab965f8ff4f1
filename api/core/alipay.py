"""Alipay's open API for memberhub: an async facade over python-alipay-sdk (sync, urllib).

The gateway is `settings.alipay_gateway`: the sandbox by default, openapi.alipay.com for real.
The SDK signs each request with the merchant app's private key and verifies the answer's
RSA2 signature with the Alipay public key; an answer that fails verification is refused.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import textwrap
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.error import URLError

from alipay import AliPay, ISVAliPay
from alipay.exceptions import AliPayException, AliPayValidationError
from alipay.utils import AliPayConfig
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from config.settings import get_settings

from .errors import BadRequest, UpstreamError
from .metrics import observe_upstream

log = logging.getLogger(__name__)

TIMEOUT_S = 10
# Alipay's sub_codes for an auth code that is wrong, used or expired: the user must re-authorise.
INVALID_CODE_SUB_CODES = frozenset({"isv.code-invalid", "isv.code-expired", "isv.code-used"})


@dataclass(frozen=True)
class AlipayCredentials:
    """One Alipay app: its id, its private key, Alipay's public key, and the ISV token if any.

    Keys may be PEM or the bare base64 the Alipay console shows; app_auth_token is set when
    memberhub calls on behalf of a franchisee's app (ISV mode).
    """

    app_id: str
    app_private_key_pem: str = field(repr=False)
    alipay_public_key_pem: str = field(repr=False)
    app_auth_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class AlipayUser:
    """Who an auth code belongs to: user_id (2088…) and, for newer apps, open_id."""

    user_id: str | None
    open_id: str | None


def pem_wrap(key: str, label: str) -> str:
    """The key PEM-wrapped: the SDK refuses the console's bare base64."""
    key = key.strip()
    if key.startswith("-----BEGIN"):
        return key
    body = "\n".join(textwrap.wrap("".join(key.split()), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


def build_client(
    creds: AlipayCredentials, gateway: str, *, timeout_s: float = TIMEOUT_S
) -> AliPay | ISVAliPay:
    """A new SDK client for these credentials: `ISVAliPay` bound to the token in ISV mode.

    Raises ValueError when a key cannot be parsed (the SDK parses them here).
    """
    options: dict[str, Any] = {
        "appid": creds.app_id,
        "app_private_key_string": pem_wrap(creds.app_private_key_pem, "PRIVATE KEY"),
        "alipay_public_key_string": pem_wrap(creds.alipay_public_key_pem, "PUBLIC KEY"),
        "sign_type": "RSA2",
    }
    if creds.app_auth_token:
        client: AliPay | ISVAliPay = ISVAliPay(app_auth_token=creds.app_auth_token, **options)
    else:
        client = AliPay(**options)
    # The SDK picks its gateway from `debug`; ISVAliPay also ignores `config`: set both here.
    client._gateway = gateway
    client._config = AliPayConfig(timeout=timeout_s)
    return client


@lru_cache(maxsize=64)
def _client(creds: AlipayCredentials, gateway: str) -> AliPay | ISVAliPay:
    """The SDK client for these credentials (key parsing is not free; clients are reusable)."""
    return build_client(creds, gateway)


def error_fields(exc: AliPayException) -> tuple[str | None, str | None]:
    """(code, sub_code) of a refused call; the SDK keeps Alipay's raw answer as the message."""
    code = getattr(exc, "_AliPayException__code", None)
    raw = getattr(exc, "_AliPayException__message", None)
    try:
        answer = json.loads(raw) if isinstance(raw, str) else {}
    except ValueError:
        answer = {}
    node = next((v for v in answer.values() if isinstance(v, dict) and "code" in v), {})
    return (str(code) if code is not None else None), node.get("sub_code")


def _server_api(creds: AlipayCredentials, method: str, **params: Any) -> dict[str, Any]:
    """One signed gateway call, its answer verified; raises the SDK's exceptions."""
    client = _client(creds, get_settings().alipay_gateway)
    result = client.server_api(method, **params)
    if not isinstance(result, dict):
        raise ValueError("answer is not an object")
    return result


async def _call(creds: AlipayCredentials, method: str, **params: Any) -> dict[str, Any]:
    """Run a gateway call in a thread and count it in the upstream metrics; turn the SDK's and
    urllib's errors into domain errors."""
    started = time.perf_counter()
    outcome = "error"
    try:
        try:
            result = await asyncio.to_thread(_server_api, creds, method, **params)
        except AliPayValidationError:
            outcome = "bad_signature"
            log.warning("alipay answer failed verification", extra={"app_id": creds.app_id})
            raise UpstreamError(
                "alipay.upstream", "Alipay's answer failed signature verification."
            ) from None
        except AliPayException as exc:
            code, sub_code = error_fields(exc)
            if sub_code in INVALID_CODE_SUB_CODES:
                outcome = "invalid_code"
                raise BadRequest(
                    "alipay.invalid_code",
                    "The Alipay auth code is invalid, expired or already used.",
                ) from None
            outcome = "refused"
            log.warning(
                "alipay refused",
                extra={"app_id": creds.app_id, "code": code, "sub_code": sub_code},
            )
            raise UpstreamError(
                "alipay.upstream", f"Alipay answered code {code}, sub_code {sub_code}."
            ) from None
        except (URLError, OSError, ValueError, TypeError) as exc:
            # ValueError also covers keys the SDK cannot parse; no key material goes in the message.
            outcome = "unreachable"
            log.warning(
                "alipay unreachable", extra={"app_id": creds.app_id, "error": type(exc).__name__}
            )
            raise UpstreamError(
                "alipay.upstream",
                f"Alipay could not be reached or understood ({type(exc).__name__}).",
            ) from None
        # An error can also come inside the method's own node, signed like a success.
        if result.get("code") not in (None, "10000"):
            sub_code = result.get("sub_code")
            if sub_code in INVALID_CODE_SUB_CODES:
                outcome = "invalid_code"
                raise BadRequest(
                    "alipay.invalid_code",
                    "The Alipay auth code is invalid, expired or already used.",
                )
            outcome = "refused"
            raise UpstreamError(
                "alipay.upstream",
                f"Alipay answered code {result.get('code')}, sub_code {sub_code}.",
            )
        outcome = "ok"
        return result
    finally:
        observe_upstream(platform="alipay", api=method, outcome=outcome, started=started)


async def oauth_token(creds: AlipayCredentials, auth_code: str) -> AlipayUser:
    """Exchange a mini-program my.getAuthCode() code for the user's user_id / open_id."""
    result = await _call(
        creds, "alipay.system.oauth.token", grant_type="authorization_code", code=auth_code
    )
    user_id, open_id = result.get("user_id") or None, result.get("open_id") or None
    if user_id is None and open_id is None:
        raise UpstreamError("alipay.upstream", "Alipay's answer named no user.")
    return AlipayUser(user_id=user_id, open_id=open_id)


def decrypt_phone(creds: AlipayCredentials, *, aes_key: str, response: str, sign: str) -> str:
    """The phone number in my.getPhoneNumber()'s answer: Alipay's signature checked first.

    Alipay signs the quoted ciphertext with RSA2 and encrypts the content with the app's AES key
    (AES-CBC, zero IV, PKCS#5 padding).
    """
    public_key = serialization.load_pem_public_key(
        pem_wrap(creds.alipay_public_key_pem, "PUBLIC KEY").encode()
    )
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise UpstreamError("alipay.bad_key", "The configured Alipay public key is not RSA.")
    try:
        public_key.verify(
            base64.b64decode(sign, validate=True),
            f'"{response}"'.encode(),
            asym_padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError) as exc:
        raise BadRequest(
            "alipay.bad_signature", "The phone answer is not signed by Alipay."
        ) from exc
    try:
        decryptor = Cipher(
            algorithms.AES(base64.b64decode(aes_key)), modes.CBC(bytes(16))
        ).decryptor()
        padded = decryptor.update(base64.b64decode(response, validate=True)) + decryptor.finalize()
        unpadder = sym_padding.PKCS7(128).unpadder()
        content = json.loads(unpadder.update(padded) + unpadder.finalize())
    except ValueError as exc:
        raise BadRequest(
            "alipay.bad_phone_response", "The phone answer cannot be decrypted with this app's key."
        ) from exc
    if not isinstance(content, dict) or content.get("code") != "10000" or not content.get("mobile"):
        raise BadRequest("alipay.phone_refused", "Alipay did not hand over a phone number.")
    return str(content["mobile"])
