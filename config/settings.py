"""The one typed settings object. Nothing else in the project reads the environment."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"
DEV_DATA_KEY = "dev-only-data-key-change-me-0123456789abcdef"
MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    """Every setting, with a default that needs nothing installed (see README: Configuration)."""

    model_config = SettingsConfigDict(env_prefix="MEMBERHUB_", env_file=None, extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    public_base_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"
    access_log: bool = True

    database_url: str = "sqlite://var/memberhub.sqlite3"
    database_pool_max: int = 20
    redis_url: str | None = None
    redis_pool_max: int = 64  # commands in flight per process; a request waits for its turn

    secret_key: str = DEV_SECRET
    data_key: str = DEV_DATA_KEY
    jwt_issuer: str = "memberhub"
    jwt_audience: str = "memberhub-api"
    member_token_ttl_s: int = 7 * 24 * 3600
    staff_token_ttl_s: int = 12 * 3600

    staff_login_max_failures: int = 5
    staff_login_window_s: int = 300
    member_code_resolve_per_minute: int = 120  # per staff member, at the till
    # How long each API process may reuse a staff account it has checked (0: ask Redis each time)
    staff_snapshot_local_s: float = Field(default=2.0, ge=0, le=60)

    sandbox: bool = True
    wechat_api_base: str = "http://127.0.0.1:8000/sandbox/wechat"
    alipay_gateway: str = "http://127.0.0.1:8000/sandbox/alipay/gateway.do"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    mail_from: str = "memberhub@localhost"

    outbox_max_attempts: int = 12
    outbox_batch_size: int = 100
    outbox_poll_s: int = 5  # how often the worker's `outbox.deliver` schedule runs
    outbox_lease_s: int = 120  # a claimed row is retried after this if its worker died mid-send
    outbox_backoff_max_s: int = 3600

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

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if not self.is_production:
            return self
        problems = []
        for name in ("secret_key", "data_key"):
            value = getattr(self, name)
            if value in (DEV_SECRET, DEV_DATA_KEY) or len(value) < MIN_SECRET_LENGTH:
                problems.append(f"MEMBERHUB_{name.upper()} must be a real secret of 32+ characters")
        if self.sandbox:
            problems.append("MEMBERHUB_SANDBOX must be 0 in production")
        if problems:
            raise ValueError("; ".join(problems))
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
