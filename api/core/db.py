"""Tortoise ORM configuration: one app label, every domain's models, native migrations."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tortoise.backends.sqlite.executor  # noqa: F401  (registers the adapter replaced below)
from tortoise import Tortoise

from config.settings import Settings, get_settings

MODEL_MODULES = [
    "api.core.models",
    "api.org.models",
    "api.member_center.models",
    "api.payments.models",
    "api.coupons.models",
    "api.wechat_callbacks.models",
    "api.mall.models",
]


def _sqlite_datetime(value: datetime) -> str:
    """A datetime as SQLite stores it: text, so an aware one is written in UTC. Kept with its
    own offset (China time from a platform or a client), it would compare as text against UTC
    bounds and fall on the wrong side of them."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.isoformat(" ")


# Tortoise's SQLite backend registers `isoformat(" ")` for datetimes on import; this replaces it.
sqlite3.register_adapter(datetime, _sqlite_datetime)


def _db_url(url: str) -> str:
    # Tortoise names the asyncpg backend "postgres"; accept the other usual spellings too.
    for prefix in ("postgresql://", "asyncpg://"):
        if url.startswith(prefix):
            return "postgres://" + url[len(prefix) :]
    return url


def tortoise_config(settings: Settings | None = None) -> dict[str, Any]:
    """The Tortoise config dict for these settings (also what the `tortoise` CLI reads)."""
    settings = settings or get_settings()
    url = _db_url(settings.database_url)
    connection: dict[str, Any] | str = url
    if settings.uses_postgres:
        connection = {
            "engine": "api.core.pg",
            "credentials": _pg_credentials(url)
            | {"minsize": 1, "maxsize": settings.database_pool_max, "reset": _keep_session},
        }
    return {
        "connections": {"default": connection},
        "apps": {
            "memberhub": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "api.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def _keep_session(connection: Any) -> None:
    """Return a connection to the pool as it is.

    asyncpg's default reset sends `RESET ALL; UNLISTEN *; CLOSE ALL; SELECT
    pg_advisory_unlock_all()` on every release, one more round trip per query. memberhub sets
    no session state, listens to nothing, keeps no cursors and takes no advisory locks; an
    open transaction is still rolled back by asyncpg before this is called.
    """


def _pg_credentials(url: str) -> dict[str, Any]:
    from tortoise.backends.base.config_generator import expand_db_url

    return expand_db_url(url)["credentials"]


async def init_db(settings: Settings | None = None) -> None:
    """Open the ORM's connections (idempotent)."""
    if Tortoise._inited:
        return
    settings = settings or get_settings()
    prepare_database_path(settings)
    # Handlers run in tasks the server creates, not in the task that opened the database.
    await Tortoise.init(config=tortoise_config(settings), _enable_global_fallback=True)


def prepare_database_path(settings: Settings) -> None:
    """Create the folder of a SQLite database file (`var/` by default)."""
    if settings.database_url.startswith("sqlite://") and ":memory:" not in settings.database_url:
        Path(settings.database_url.removeprefix("sqlite://")).parent.mkdir(
            parents=True, exist_ok=True
        )


async def close_db() -> None:
    await Tortoise.close_connections()


def __getattr__(name: str) -> Any:
    # `tortoise -c api.core.db.TORTOISE_ORM makemigrations` reads the config from the settings.
    if name == "TORTOISE_ORM":
        return tortoise_config()
    raise AttributeError(name)
