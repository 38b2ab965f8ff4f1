"""Encryption at rest for secrets and personal data, and keyed lookup hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken

from config.settings import get_settings


@lru_cache(maxsize=4)
def _fernet(data_key: str) -> Fernet:
    # Fernet wants 32 url-safe base64 bytes; derive them so any long passphrase works as a key.
    raw = hashlib.sha256(("memberhub-enc:" + data_key).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(raw))


def encrypt(plain: str) -> str:
    """Encrypt a secret or personal datum for storage."""
    return _fernet(get_settings().data_key).encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    """Decrypt what `encrypt` stored; raises ValueError when the key does not match."""
    try:
        return _fernet(get_settings().data_key).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("stored secret cannot be decrypted with the configured data key") from exc


def lookup_hash(value: str, *, purpose: str) -> str:
    """A keyed hash to find a row by an encrypted value (a phone) without storing it in clear."""
    key = hashlib.sha256(("memberhub-hash:" + get_settings().data_key).encode()).digest()
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()
