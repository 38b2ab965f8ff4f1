"""Settings: what production refuses, secrets that never show, addresses derived from the port."""

from __future__ import annotations

import logging
import secrets

import pytest
from pydantic import ValidationError

from config.settings import Settings

pytestmark = pytest.mark.stack_independent

SECRET = "jwt-" + secrets.token_urlsafe(32)
DATA_KEY = "data-" + secrets.token_urlsafe(32)
LOOKUP_KEY = "lookup-" + secrets.token_urlsafe(32)

# What the process needs to start in production; each test below breaks one thing.
PRODUCTION = {
    "env": "production",
    "sandbox": False,
    "secret_key": SECRET,
    "data_keys": DATA_KEY,
    "lookup_key": LOOKUP_KEY,
    "public_base_url": "https://members.example.com",
    "wechat_api_base": "https://api.weixin.qq.com",
    "alipay_gateway": "https://openapi.alipay.com/gateway.do",
    "wechatpay_api_base": "https://api.mch.weixin.qq.com",
}

URL_SETTINGS = {
    "public_base_url": "MEMBERHUB_PUBLIC_BASE_URL",
    "wechat_api_base": "MEMBERHUB_WECHAT_API_BASE",
    "alipay_gateway": "MEMBERHUB_ALIPAY_GATEWAY",
    "wechatpay_api_base": "MEMBERHUB_WECHATPAY_API_BASE",
}


@pytest.fixture(autouse=True)
def _no_addresses_from_the_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    # The suite points these at its sandbox process; here they come from each test alone.
    for name in (
        *URL_SETTINGS.values(),
        "MEMBERHUB_HOST",
        "MEMBERHUB_PORT",
        "MEMBERHUB_DATA_KEY",
        "MEMBERHUB_DATA_KEYS",
    ):
        monkeypatch.delenv(name, raising=False)


def _refusal(**changes: object) -> str:
    with pytest.raises(ValidationError) as refused:
        Settings(**{**PRODUCTION, **changes})
    return str(refused.value)


def test_a_sound_production_configuration_starts() -> None:
    settings = Settings(**PRODUCTION)

    assert settings.is_production
    assert settings.public_base_url == "https://members.example.com"


@pytest.mark.parametrize("field", URL_SETTINGS)
@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:8000/x",
        "https://localhost/x",
        "https://api.localhost/x",
        "https://[::1]/x",
        "https://0.0.0.0/x",
    ],
)
def test_production_refuses_loopback_addresses(field: str, url: str) -> None:
    assert URL_SETTINGS[field] in _refusal(**{field: url})


@pytest.mark.parametrize("field", URL_SETTINGS)
@pytest.mark.parametrize(
    "url",
    [
        "https://10.1.2.3/x",
        "https://192.168.1.20/x",
        "https://172.16.0.9/x",
        "https://169.254.169.254/x",
        "https://[fd00::1]/x",
    ],
)
def test_production_refuses_private_addresses(field: str, url: str) -> None:
    assert URL_SETTINGS[field] in _refusal(**{field: url})


@pytest.mark.parametrize("field", URL_SETTINGS)
def test_production_refuses_sandbox_paths(field: str) -> None:
    message = _refusal(**{field: "https://members.example.com/sandbox/wechat"})

    assert f"{URL_SETTINGS[field]} must not point at the sandbox" in message


@pytest.mark.parametrize("field", URL_SETTINGS)
def test_production_refuses_plain_http(field: str) -> None:
    message = _refusal(**{field: "http://members.example.com"})

    assert f"{URL_SETTINGS[field]} must be an https:// URL" in message


def test_production_refuses_the_addresses_derived_from_host_and_port() -> None:
    unset = {field: "" for field in URL_SETTINGS}

    message = _refusal(**unset)

    for name in URL_SETTINGS.values():
        assert name in message


def test_production_refuses_the_sandbox() -> None:
    assert "MEMBERHUB_SANDBOX must be 0" in _refusal(sandbox=True)


def test_production_refuses_the_secret_key_as_data_key() -> None:
    assert "MEMBERHUB_SECRET_KEY must differ from every data key" in _refusal(data_keys=SECRET)


def test_production_refuses_the_secret_key_among_older_data_keys() -> None:
    message = _refusal(data_keys=f"{DATA_KEY},{SECRET}")

    assert "MEMBERHUB_SECRET_KEY must differ from every data key" in message


def test_production_refuses_a_lookup_key_equal_to_another_secret() -> None:
    assert "MEMBERHUB_LOOKUP_KEY must differ" in _refusal(lookup_key=DATA_KEY)
    assert "MEMBERHUB_LOOKUP_KEY must differ" in _refusal(lookup_key=SECRET)


@pytest.mark.parametrize("field", ["secret_key", "lookup_key", "data_keys"])
def test_production_refuses_development_secrets(field: str) -> None:
    defaults = Settings(env="development")
    value = getattr(defaults, field)
    value = value[0] if isinstance(value, list) else value

    assert "is the development value" in _refusal(**{field: value.get_secret_value()})


@pytest.mark.parametrize("field", ["secret_key", "lookup_key", "data_keys"])
def test_production_refuses_short_secrets(field: str) -> None:
    assert "must be 32+ characters" in _refusal(**{field: secrets.token_hex(15)})


@pytest.mark.parametrize("field", ["secret_key", "lookup_key", "data_keys"])
def test_production_refuses_one_character_repeated(field: str) -> None:
    assert "must have 10+ different characters" in _refusal(**{field: "k" * 64})


@pytest.mark.parametrize("field", ["secret_key", "lookup_key", "data_keys"])
def test_production_refuses_few_different_characters(field: str) -> None:
    assert "must have 10+ different characters" in _refusal(
        **{field: "abcdefghi" * 3 + "ihgfedcba"}
    )


@pytest.mark.parametrize("field", ["secret_key", "lookup_key", "data_keys"])
def test_production_refuses_a_block_repeated(field: str) -> None:
    message = _refusal(**{field: "0123456789abcdef" * 2 + "0123"})

    assert "must not be a block of characters repeated" in message


def test_production_refuses_a_weak_older_data_key() -> None:
    message = _refusal(data_keys=f"{DATA_KEY},{'x' * 40}")

    assert "MEMBERHUB_DATA_KEYS (key 2) must have 10+ different characters" in message


def test_a_refusal_never_shows_the_secrets() -> None:
    message = _refusal(sandbox=True, secret_key="s" * 40)

    for value in (SECRET, DATA_KEY, LOOKUP_KEY, "s" * 40):
        assert value not in message


def test_secrets_do_not_show_in_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(**{**PRODUCTION, "data_keys": f"{DATA_KEY},older-{SECRET[::-1]}"})

    with caplog.at_level(logging.INFO, logger="memberhub.test"):
        logging.getLogger("memberhub.test").info("settings: %s %r", settings, settings)
    shown = caplog.text + repr(settings) + str(settings) + settings.model_dump_json()

    for value in (SECRET, DATA_KEY, LOOKUP_KEY, SECRET[::-1]):
        assert value not in shown
    assert settings.secret_key.get_secret_value() == SECRET


def test_data_keys_are_read_newest_first_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEMBERHUB_DATA_KEYS", "key-b, key-a")

    keys = Settings().data_keys

    assert [key.get_secret_value() for key in keys] == ["key-b", "key-a"]


def test_one_data_key_is_a_list_of_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMBERHUB_DATA_KEY", "key-a")

    keys = Settings().data_keys

    assert [key.get_secret_value() for key in keys] == ["key-a"]


def test_a_data_key_outside_the_list_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMBERHUB_DATA_KEYS", "key-b,key-a")
    monkeypatch.setenv("MEMBERHUB_DATA_KEY", "key-c")

    with pytest.raises(ValidationError, match="MEMBERHUB_DATA_KEY is not one of"):
        Settings()


def test_sandbox_and_public_addresses_follow_the_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMBERHUB_PORT", "8100")

    settings = Settings()

    assert settings.public_base_url == "http://127.0.0.1:8100"
    assert settings.wechat_api_base == "http://127.0.0.1:8100/sandbox/wechat"
    assert settings.alipay_gateway == "http://127.0.0.1:8100/sandbox/alipay/gateway.do"


def test_a_wildcard_host_is_reached_on_loopback() -> None:
    assert Settings(host="0.0.0.0", port=9000).wechat_api_base.startswith("http://127.0.0.1:9000/")
    assert Settings(host="::", port=9000).public_base_url == "http://[::1]:9000"
    assert Settings(host="10.0.0.5", port=9000).public_base_url == "http://10.0.0.5:9000"


def test_addresses_set_explicitly_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMBERHUB_PORT", "8100")
    monkeypatch.setenv("MEMBERHUB_WECHAT_API_BASE", "http://127.0.0.1:9999/sandbox/wechat")
    monkeypatch.setenv("MEMBERHUB_PUBLIC_BASE_URL", "https://members.example.com/")

    settings = Settings()

    assert settings.wechat_api_base == "http://127.0.0.1:9999/sandbox/wechat"
    assert settings.public_base_url == "https://members.example.com"
    assert settings.alipay_gateway == "http://127.0.0.1:8100/sandbox/alipay/gateway.do"
