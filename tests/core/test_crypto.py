"""Data keys: values written under an older key still read, rotation moves them all to the newest
key, and lookup hashes (phones) keep matching through it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from api.core import crypto
from api.core.crypto import decrypt, encrypt, lookup_hash
from api.core.errors import Conflict
from api.core.keyrotation import encrypted_columns, rotate_data_key
from api.core.ports import Ports
from api.member_center.models import Member
from api.org.models import AlipayApp, MerchantAccount, PaymentProvider
from config.settings import Settings
from sandbox.keys import alipay_aes_key, alipay_app_private_pem, alipay_platform_public_pem
from tests.factories import make_brand, make_wechat_app
from tests.support.api import Api
from tests.support.player import Player

KEY_A = "data-key-a-7Qm2vX9pLk3wR8tY5uZ1nB4c"
KEY_B = "data-key-b-H6jD0sF3gA9eW2qT7yU5iO1p"
PHONE = "13912345678"

UseKeys = Callable[..., None]


@pytest.fixture
def use_keys(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> UseKeys:
    """Run with these data keys, newest first, as MEMBERHUB_DATA_KEYS would give them."""

    def use(*keys: str, lookup_key: str | None = None) -> None:
        update: dict[str, object] = {"data_keys": [SecretStr(key) for key in keys]}
        if lookup_key is not None:
            update["lookup_key"] = SecretStr(lookup_key)
        configured = settings.model_copy(update=update)
        monkeypatch.setattr(crypto, "get_settings", lambda: configured)

    return use


async def _plain_values() -> dict[str, str]:
    """Every encrypted value in the database, decrypted, by table, column and row."""
    found = {}
    for model, columns in encrypted_columns():
        pk = model._meta.pk_attr
        for row in await model.all().values(pk, *columns):
            for column in columns:
                if row[column] is not None:
                    found[f"{model._meta.db_table}.{column}:{row[pk]}"] = decrypt(row[column])
    return found


def test_a_value_written_under_the_older_key_reads_when_a_newer_key_comes_first(
    use_keys: UseKeys,
) -> None:
    use_keys(KEY_A)
    old = encrypt("app secret")

    use_keys(KEY_B, KEY_A)
    new = encrypt("another secret")

    assert decrypt(old) == "app secret"
    assert decrypt(new) == "another secret"
    use_keys(KEY_B)
    assert decrypt(new) == "another secret"  # written with the newest key
    with pytest.raises(ValueError, match="cannot be decrypted"):
        decrypt(old)


def test_lookup_hashes_do_not_follow_the_data_keys(use_keys: UseKeys) -> None:
    use_keys(KEY_A)
    under_a = lookup_hash(PHONE, purpose="phone")

    use_keys(KEY_B)
    under_b = lookup_hash(PHONE, purpose="phone")
    use_keys(KEY_B, lookup_key="another-lookup-key-0123456789abcdef")
    other_lookup_key = lookup_hash(PHONE, purpose="phone")

    assert under_a == under_b
    assert other_lookup_key != under_a


def test_the_fernet_key_is_derived_with_hkdf_and_differs_from_the_lookup_key(
    use_keys: UseKeys,
) -> None:
    use_keys(KEY_A, lookup_key=KEY_A)
    expected = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"memberhub/v1/encryption"
    ).derive(KEY_A.encode())

    token = encrypt("app secret")

    assert Fernet(base64.urlsafe_b64encode(expected)).decrypt(token.encode()) == b"app secret"
    # The same secret as data key and lookup key still gives two unrelated keys.
    lookup = crypto.derive_key(KEY_A, label=crypto.LOOKUP_LABEL)
    assert lookup != expected
    assert (
        lookup_hash(PHONE, purpose="phone")
        == hmac.new(lookup, f"phone:{PHONE}".encode(), hashlib.sha256).hexdigest()
    )


def test_every_encrypted_column_is_found(database: None) -> None:
    found = {model._meta.db_table: columns for model, columns in encrypted_columns()}

    assert found == {
        "mc_member": ["phone_enc"],
        "org_alipay_app": ["aes_key_enc", "private_key_enc"],
        "org_merchant_account": ["secrets_enc"],
        "org_wechat_app": ["aes_key_enc", "secret_enc", "token_enc"],
        "pay_onboarding_job": ["csv_enc"],
    }


async def test_after_rotation_everything_reads_with_the_new_key_alone_and_phones_still_match(
    api: Api, player: Player, ports: Ports, use_keys: UseKeys
) -> None:
    use_keys(KEY_A)
    brand = await make_brand()
    wxa = await make_wechat_app(
        brand=brand, token_enc=encrypt("push-token"), aes_key_enc=encrypt("encoding-aes-key")
    )
    alipay_app = await AlipayApp.create(
        brand_id=brand.id,
        app_id="2021000000000881",
        name="alipay",
        private_key_enc=encrypt(alipay_app_private_pem()),
        alipay_public_key=alipay_platform_public_pem(),
        aes_key_enc=encrypt(alipay_aes_key("2021000000000881")),
    )
    await MerchantAccount.create(
        brand_id=brand.id,
        key="rotation-test",
        name="head office",
        provider=PaymentProvider.WECHATPAY_V3,
        secrets_enc=encrypt(json.dumps({"api_v3_key": "k" * 32})),
    )
    code = await player.login_code(wxa.appid)
    login = await api.post("/auth/wxa/login", {"appid": wxa.appid, "code": code["code"]})
    bound = await api.post(
        "/auth/wxa/phone",
        {"code": await player.phone_code(wxa.appid, PHONE)},
        token=login.json["token"],
    )
    assert bound.status == 200, bound
    member_id = bound.json["member"]["id"]
    written = await _plain_values()
    assert any(label.startswith("mc_member.phone_enc") for label in written)

    use_keys(KEY_B, KEY_A)
    readable_during_rotation = await _plain_values()
    first = await rotate_data_key(batch_size=2)
    again = await rotate_data_key(batch_size=2)

    use_keys(KEY_B)
    assert readable_during_rotation == written
    assert first.as_dict()["total"] == len(written)
    assert again.as_dict()["total"] == 0
    assert await _plain_values() == written
    # The same phone, now bound through Alipay, finds the member bound under the old key.
    ali_code = await player.alipay_code(alipay_app.app_id)
    ali_login = await api.post(
        "/auth/alipay/login", {"app_id": alipay_app.app_id, "auth_code": ali_code["auth_code"]}
    )
    ali_phone = await player.alipay_phone(alipay_app.app_id, PHONE)
    ali_bound = await api.post("/auth/alipay/phone", ali_phone, token=ali_login.json["token"])
    assert ali_bound.status == 200, ali_bound
    assert ali_bound.json["member"]["id"] == member_id
    assert decrypt((await Member.get(id=member_id)).phone_enc or "") == PHONE


async def test_a_value_no_configured_key_opens_stops_the_rotation_and_names_it(
    ports: Ports, use_keys: UseKeys
) -> None:
    use_keys(KEY_A)
    brand = await make_brand()
    wxa = await make_wechat_app(brand=brand)

    use_keys(KEY_B)
    with pytest.raises(Conflict) as refused:
        await rotate_data_key()

    assert refused.value.code == "data_key.unreadable"
    assert f"org_wechat_app.secret_enc of row {wxa.id}" in refused.value.message


@pytest.mark.stack_independent
def test_the_rotate_data_key_command_rewrites_once_and_leaves_the_old_key_unneeded(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "MEMBERHUB_ENV": "development",
        "MEMBERHUB_DATABASE_URL": f"sqlite://{tmp_path / 'rotate.sqlite3'}",
    }
    env.pop("MEMBERHUB_REDIS_URL", None)

    def memberhub(*args: str, keys: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "api.cli", *args],
            env={**env, "MEMBERHUB_DATA_KEYS": keys},
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert memberhub("migrate", keys=KEY_A).returncode == 0
    assert memberhub("bootstrap-demo", keys=KEY_A).returncode == 0

    first = memberhub("rotate-data-key", "--batch-size", "3", keys=f"{KEY_B},{KEY_A}")
    again = memberhub("rotate-data-key", keys=f"{KEY_B},{KEY_A}")
    new_key_alone = memberhub("rotate-data-key", keys=KEY_B)
    unknown_key = memberhub("rotate-data-key", keys="data-key-c-unknown-0123456789abcdef")

    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["total"] > 0 and report["rewritten"]["org_merchant_account.secrets_enc"] > 0
    assert json.loads(again.stdout)["total"] == 0
    # Every value opens with the newest key alone, or the command would stop on it.
    assert new_key_alone.returncode == 0, new_key_alone.stderr
    assert json.loads(new_key_alone.stdout)["total"] == 0
    assert unknown_key.returncode != 0
    assert "opens with none of MEMBERHUB_DATA_KEYS" in unknown_key.stderr
    for key in (KEY_A, KEY_B):
        assert key not in first.stdout + first.stderr + unknown_key.stderr
