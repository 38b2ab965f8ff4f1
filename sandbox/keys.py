"""The sandbox's secrets: WeChat app secrets and WeChat Pay keys by derivation, fixed Alipay and
WeChat Pay key pairs (and the WeChat Pay platform certificate) as PEM files.

Everything here is public test material. Nothing in it may ever be configured in production.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from functools import cache, lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# Not a secret: anyone may derive any sandbox appid's secret, which is the point.
SANDBOX_SEED = b"memberhub-sandbox-seed-v1"
WECHAT_APPID = re.compile(r"^wx[0-9a-f]{16}$")

_KEY_DIR = Path(__file__).resolve().parent / "keys"


def is_wechat_appid(appid: str) -> bool:
    """Whether appid has the shape of a real one: `wx` and 16 lowercase hex digits."""
    return bool(WECHAT_APPID.match(appid or ""))


def wechat_app_secret(appid: str) -> str:
    """The AppSecret the sandbox accepts for appid (32 hex characters, like WeChat's)."""
    return hmac.new(SANDBOX_SEED, appid.encode(), hashlib.sha256).hexdigest()[:32]


def alipay_aes_key(app_id: str) -> str:
    """The content-encryption (AES) key the sandbox uses for app_id: base64 of 16 bytes."""
    raw = hmac.new(SANDBOX_SEED, b"alipay-aes:" + app_id.encode(), hashlib.sha256).digest()[:16]
    return base64.b64encode(raw).decode()


def aes_cbc_encrypt(plain: str, key_b64: str) -> str:
    """Alipay's content encryption: AES-CBC, zero IV, PKCS#5 padding, base64 out."""
    padder = sym_padding.PKCS7(128).padder()
    data = padder.update(plain.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(base64.b64decode(key_b64)), modes.CBC(bytes(16))).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode()


@cache
def _read(name: str) -> str:
    return (_KEY_DIR / name).read_text(encoding="ascii")


def alipay_platform_private_pem() -> str:
    """The "Alipay" side's private key: the sandbox signs its gateway answers with it."""
    return _read("alipay_platform_private.pem")


def alipay_platform_public_pem() -> str:
    """The "Alipay public key" a merchant configures to verify the sandbox's answers."""
    return _read("alipay_platform_public.pem")


def alipay_app_private_pem() -> str:
    """The demo merchant app's private key: memberhub signs its requests with it."""
    return _read("alipay_app_private.pem")


def alipay_app_public_pem() -> str:
    """The demo merchant app's public key: the sandbox verifies requests with it by default."""
    return _read("alipay_app_public.pem")


@cache
def _private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@lru_cache(maxsize=64)
def _public_key(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def rsa2_sign(message: str, private_key_pem: str) -> str:
    """SHA256withRSA (Alipay's RSA2) over the UTF-8 message, base64 without newlines."""
    signature = _private_key(private_key_pem).sign(
        message.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    return base64.b64encode(signature).decode()


def rsa2_verify(message: str, signature_b64: str, public_key_pem: str) -> bool:
    """Whether signature_b64 is a valid RSA2 signature of message under public_key_pem."""
    try:
        signature = base64.b64decode(signature_b64, validate=False)
        _public_key(public_key_pem).verify(
            signature, message.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def alipay_seller_id(app_id: str, app_auth_token: str | None = None) -> str:
    """The seller id (merchant PID, "2088" and 12 digits) the sandbox gives app_id's trades.

    In ISV mode each franchisee's app_auth_token has a seller id of its own.
    """
    material = f"alipay-seller:{app_id}:{app_auth_token or ''}".encode()
    digest = hmac.new(SANDBOX_SEED, material, hashlib.sha256).digest()
    return f"2088{int.from_bytes(digest[:8], 'big') % 10**12:012d}"


# --- WeChat Pay -----------------------------------------------------------------------------

WECHATPAY_PUBLIC_KEY_ID = "PUB_KEY_ID_0000000000000000000000000000000001"
# The demo merchants' API certificate serial (the sandbox takes any; it checks the key).
WECHATPAY_MERCHANT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"


def wechatpay_platform_private_pem() -> str:
    """The "WeChat Pay" side's private key: the sandbox signs v3 answers and notifications."""
    return _read("wechatpay_platform_private.pem")


def wechatpay_platform_public_pem() -> str:
    """The platform public key a merchant configures, under id `WECHATPAY_PUBLIC_KEY_ID`."""
    return _read("wechatpay_platform_public.pem")


def wechatpay_platform_cert_pem() -> str:
    """A self-signed certificate of the platform key, for merchants verifying by certificate."""
    return _read("wechatpay_platform_cert.pem")


@cache
def wechatpay_platform_cert_serial() -> str:
    """The platform certificate's serial number, upper-case hex (Wechatpay-Serial)."""
    cert = x509.load_pem_x509_certificate(wechatpay_platform_cert_pem().encode())
    return format(cert.serial_number, "X")


def wechatpay_merchant_private_pem() -> str:
    """The demo merchants' API private key: memberhub signs v3 requests with it."""
    return _read("wechatpay_merchant_private.pem")


def wechatpay_merchant_public_pem() -> str:
    """The demo merchants' API public key: the sandbox verifies every v3 request with it."""
    return _read("wechatpay_merchant_public.pem")


def wechatpay_api_v3_key(mchid: str) -> str:
    """The APIv3 key of mchid (32 characters): notification resources are encrypted with it."""
    return hmac.new(SANDBOX_SEED, b"wechatpay-v3:" + mchid.encode(), hashlib.sha256).hexdigest()[
        :32
    ]


def wechatpay_api_key(mchid: str) -> str:
    """The API v2 key of mchid (32 characters): v2 XML is signed with it."""
    return hmac.new(SANDBOX_SEED, b"wechatpay-v2:" + mchid.encode(), hashlib.sha256).hexdigest()[
        :32
    ]


def aes_gcm_encrypt(plain: str, key: str, nonce: str, associated_data: str) -> str:
    """WeChat Pay v3's AEAD_AES_256_GCM: the UTF-8 key and nonce as given, base64 out."""
    sealed = AESGCM(key.encode()).encrypt(nonce.encode(), plain.encode(), associated_data.encode())
    return base64.b64encode(sealed).decode()
