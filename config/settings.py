"""The one typed settings object. Nothing else in the project reads the environment."""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"
DEV_DATA_KEY = "dev-only-data-key-change-me-0123456789abcdef"
DEV_LOOKUP_KEY = "dev-only-lookup-key-change-me-0123456789abcdef"
DEV_VALUES = frozenset({DEV_SECRET, DEV_DATA_KEY, DEV_LOOKUP_KEY})
MIN_SECRET_LENGTH = 32
MIN_SECRET_DISTINCT = 10


class Settings(BaseSettings):
    """Every setting, with a default that needs nothing installed (see README: Configuration)."""

    # Errors name the setting, never echo the input: the input holds the secrets.
    model_config = SettingsConfigDict(
        env_prefix="MEMBERHUB_", env_file=None, extra="ignore", hide_input_in_errors=True
    )

    env: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    public_base_url: str = ""  # empty: http://<host>:<port>
    # Which proxy headers name the client (Sanic's PROXIES_COUNT and REAL_IP_HEADER); none by
    # default, so a client cannot pick its own address with a header.
    proxies_count: int = Field(default=0, ge=0)
    real_ip_header: str | None = None
    log_level: str = "INFO"
    access_log: bool = True

    database_url: str = "sqlite://var/memberhub.sqlite3"
    database_pool_max: int = 20
    redis_url: str | None = None
    redis_pool_max: int = 64  # commands in flight per process; a request waits for its turn

    secret_key: SecretStr = SecretStr(DEV_SECRET)
    # MEMBERHUB_DATA_KEYS, newest first; MEMBERHUB_DATA_KEY alone is a list of one.
    data_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    data_key: SecretStr | None = None
    # Keys the lookup hashes (phone numbers); does not rotate with the data keys.
    lookup_key: SecretStr = SecretStr(DEV_LOOKUP_KEY)
    jwt_issuer: str = "memberhub"
    jwt_audience: str = "memberhub-api"
    member_token_ttl_s: int = 7 * 24 * 3600
    staff_token_ttl_s: int = 12 * 3600

    staff_login_max_failures: int = 5  # per name and client address
    staff_login_max_failures_per_address: int = 30
    staff_login_window_s: int = 300
    member_code_resolve_per_minute: int = 120  # per staff member, at the till
    # How long each API process may reuse a staff account it has checked (0: ask Redis each time)
    staff_snapshot_local_s: float = Field(default=2.0, ge=0, le=60)

    sandbox: bool = True
    wechat_api_base: str = ""  # empty: the sandbox of this server, http://<host>:<port>/sandbox/…
    alipay_gateway: str = ""
    wechatpay_api_base: str = (
        ""  # empty: this server's sandbox; real: https://api.mch.weixin.qq.com
    )
    # Payments still `created` this long are queried at the platform (the recovery job)
    payment_recover_after_s: int = Field(default=300, ge=10, le=86400)
    # Platform checks of a franchise onboarding in flight at once (WeChat Pay and Alipay limit QPS)
    payment_onboarding_concurrency: int = Field(default=16, ge=1, le=128)
    # The till waits this long for a payer confirming a payment code (USERPAYING), asking the
    # platform every poll seconds, then reverses the trade
    till_code_wait_s: float = Field(default=30, ge=0, le=120)
    till_code_poll_s: float = Field(default=2, gt=0, le=10)
    # Refunds still processing this long are asked about at the platform (recovery).
    refund_recover_after_s: int = Field(default=600, ge=10, le=86400)

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    mail_from: str = "memberhub@localhost"

    outbox_max_attempts: int = 12
    outbox_batch_size: int = 100
    outbox_poll_s: int = 5  # how often the worker's `outbox.deliver` schedule runs
    outbox_lease_s: int = 120  # a claimed row is retried after this if its worker died mid-send
    outbox_backoff_max_s: int = 3600
    # Template and subscribe messages each app may send per second (a count in the shared
    # cache); a sender over it waits for the next second, at most wait seconds, then retries later.
    wechat_send_per_app_per_s: int = Field(default=50, ge=1, le=10_000)
    wechat_send_wait_max_s: float = Field(default=10.0, ge=0, le=120)

    queue_name: str = "memberhub"
    worker_concurrency: int = 10
    worker_shutdown_grace_s: int = 10  # running jobs get this long to finish on SIGTERM
    worker_metrics_port: int | None = None  # the worker's Prometheus metrics (jobs, upstream calls)
    smtp_timeout_s: float = 10.0

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def uses_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://", "asyncpg://"))

    @field_validator("data_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _complete(self) -> Settings:
        if not self.data_keys:
            self.data_keys = [self.data_key or SecretStr(DEV_DATA_KEY)]
        elif self.data_key is not None and self.data_key not in self.data_keys:
            raise ValueError(
                "MEMBERHUB_DATA_KEY is not one of MEMBERHUB_DATA_KEYS: set only MEMBERHUB_DATA_KEYS"
            )
        local = _local_base(self.host, self.port)
        self.public_base_url = (self.public_base_url or local).rstrip("/")
        self.wechat_api_base = self.wechat_api_base or f"{local}/sandbox/wechat"
        self.alipay_gateway = self.alipay_gateway or f"{local}/sandbox/alipay/gateway.do"
        self.wechatpay_api_base = (self.wechatpay_api_base or f"{local}/sandbox/wechatpay").rstrip(
            "/"
        )
        if self.is_production:
            problems = _production_problems(self)
            if problems:
                raise ValueError("; ".join(problems))
        return self


def _local_base(host: str, port: int) -> str:
    """This server as it calls itself: a wildcard listen address is reached on loopback."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _production_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    secrets = [
        ("MEMBERHUB_SECRET_KEY", settings.secret_key.get_secret_value()),
        ("MEMBERHUB_LOOKUP_KEY", settings.lookup_key.get_secret_value()),
    ]
    for position, key in enumerate(settings.data_keys, start=1):
        secrets.append((f"MEMBERHUB_DATA_KEYS (key {position})", key.get_secret_value()))
    for name, value in secrets:
        weakness = secret_weakness(value)
        if weakness:
            problems.append(f"{name} {weakness}")
    secret = settings.secret_key.get_secret_value()
    lookup = settings.lookup_key.get_secret_value()
    data = {key.get_secret_value() for key in settings.data_keys}
    if secret in data:
        problems.append("MEMBERHUB_SECRET_KEY must differ from every data key")
    if lookup in data or lookup == secret:
        problems.append("MEMBERHUB_LOOKUP_KEY must differ from the secret key and every data key")
    if settings.sandbox:
        problems.append("MEMBERHUB_SANDBOX must be 0 in production")
    for name, url in (
        ("MEMBERHUB_PUBLIC_BASE_URL", settings.public_base_url),
        ("MEMBERHUB_WECHAT_API_BASE", settings.wechat_api_base),
        ("MEMBERHUB_ALIPAY_GATEWAY", settings.alipay_gateway),
        ("MEMBERHUB_WECHATPAY_API_BASE", settings.wechatpay_api_base),
    ):
        problem = public_url_problem(url)
        if problem:
            problems.append(f"{name} {problem}")
    return problems


def secret_weakness(value: str) -> str | None:
    """Why a secret is too weak for production, or None.

    The rule is a floor, not a measure of randomness: 32 characters or more, at least 10
    different ones, and not one shorter block repeated (`kkkk…`, `abcdabcd…`).
    """
    if value in DEV_VALUES:
        return "is the development value"
    if len(value) < MIN_SECRET_LENGTH:
        return f"must be {MIN_SECRET_LENGTH}+ characters"
    if len(set(value)) < MIN_SECRET_DISTINCT:
        return f"must have {MIN_SECRET_DISTINCT}+ different characters"
    if any(value[period:] == value[:-period] for period in range(1, len(value) // 2 + 1)):
        return "must not be a block of characters repeated"
    return None


def public_url_problem(url: str) -> str | None:
    """Why a URL cannot be a production platform or callback address, or None.

    Refused: anything but https; `localhost`; literal loopback, private, link-local and other
    non-global addresses; a `/sandbox` path. Names are not resolved.
    """
    parts = urlsplit(url)
    if parts.scheme != "https":
        return "must be an https:// URL"
    host = parts.hostname or ""
    if not host:
        return "must name a host"
    if host == "localhost" or host.endswith(".localhost"):
        return "must not point at this machine"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and not address.is_global:
        return "must not point at a loopback, private or reserved address"
    if "sandbox" in parts.path.lower().split("/"):
        return "must not point at the sandbox"
    return None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()


def override_settings(**values: str) -> Settings:
    """Set settings as the environment would (MEMBERHUB_<NAME>) and read them again.

    The environment carries them to every process this one starts (the server's workers).
    """
    for name, value in values.items():
        os.environ[f"MEMBERHUB_{name.upper()}"] = value
    get_settings.cache_clear()
    return get_settings()
