"""Encryption at rest for secrets and personal data, and keyed lookup hashes.

Each key of MEMBERHUB_DATA_KEYS (newest first) gives a Fernet key through HKDF-SHA256. New
values are encrypted with the newest key; a stored value decrypts with any of them
(cryptography's MultiFernet). `memberhub rotate-data-key` rewrites every stored value with the
newest key, after which the older keys can be dropped.

Lookup hashes are keyed by MEMBERHUB_LOOKUP_KEY, through HKDF with a label of their own. They do
not change when the data keys rotate: a phone number hashed years ago is still found.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from config.settings import get_settings

ENCRYPTION_LABEL = b"memberhub/v1/encryption"
LOOKUP_LABEL = b"memberhub/v1/lookup-hash"


def derive_key(secret: str, *, label: bytes) -> bytes:
    """32 bytes for one use (`label`) of a configured secret; other labels give unrelated bytes."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret.encode())


@lru_cache(maxsize=4)
def _ciphers(keys: tuple[str, ...]) -> tuple[Fernet, MultiFernet]:
    fernets = [
        Fernet(base64.urlsafe_b64encode(derive_key(key, label=ENCRYPTION_LABEL))) for key in keys
    ]
    return fernets[0], MultiFernet(fernets)


def _configured() -> tuple[Fernet, MultiFernet]:
    return _ciphers(tuple(key.get_secret_value() for key in get_settings().data_keys))


@lru_cache(maxsize=4)
def _lookup_key(secret: str) -> bytes:
    return derive_key(secret, label=LOOKUP_LABEL)


def encrypt(plain: str) -> str:
    """Encrypt a secret or personal datum for storage, with the newest data key."""
    newest, _ = _configured()
    return newest.encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    """Decrypt what `encrypt` stored; raises ValueError when no configured key opens it."""
    _, every = _configured()
    try:
        return every.decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("stored secret cannot be decrypted with the configured data keys") from exc


def reencrypt(token: str) -> str | None:
    """The token encrypted again with the newest data key, or None if it already is."""
    newest, every = _configured()
    try:
        newest.decrypt(token.encode())
        return None
    except InvalidToken:
        pass
    try:
        plain = every.decrypt(token.encode())
    except InvalidToken as exc:
        raise ValueError("stored secret cannot be decrypted with the configured data keys") from exc
    return newest.encrypt(plain).decode()


def lookup_hash(value: str, *, purpose: str) -> str:
    """A keyed hash to find a row by an encrypted value (a phone) without storing it in clear."""
    key = _lookup_key(get_settings().lookup_key.get_secret_value())
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()
