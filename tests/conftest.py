"""Test set-up: one database per run (SQLite file, or PostgreSQL when MEMBERHUB_TEST_DATABASE_URL
is set), emptied after every test; the sandbox as a real process on loopback; a fresh app per test.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

_TMP = Path(tempfile.mkdtemp(prefix="memberhub-test-"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SANDBOX_PORT = _free_port()
SANDBOX_URL = f"http://127.0.0.1:{SANDBOX_PORT}/sandbox"

# Settings are read once from the environment; set the test values before anything reads them.
os.environ.update(
    {
        "MEMBERHUB_ENV": "test",
        "MEMBERHUB_DATABASE_URL": os.environ.get("MEMBERHUB_TEST_DATABASE_URL")
        or f"sqlite://{_TMP / 'test.sqlite3'}",
        "MEMBERHUB_SANDBOX": "1",
        "MEMBERHUB_WECHAT_API_BASE": f"{SANDBOX_URL}/wechat",
        "MEMBERHUB_ALIPAY_GATEWAY": f"{SANDBOX_URL}/alipay/gateway.do",
        "MEMBERHUB_PUBLIC_BASE_URL": "http://127.0.0.1:8000",
    }
)
if os.environ.get("MEMBERHUB_TEST_REDIS_URL"):
    os.environ["MEMBERHUB_REDIS_URL"] = os.environ["MEMBERHUB_TEST_REDIS_URL"]
else:
    os.environ.pop("MEMBERHUB_REDIS_URL", None)

from tortoise import Tortoise, connections  # noqa: E402

from api.app import create_app  # noqa: E402
from api.core import ports as ports_module  # noqa: E402
from api.core.clock import FrozenClock  # noqa: E402
from api.core.db import close_db, init_db  # noqa: E402
from api.core.ports import Ports, build_ports  # noqa: E402
from config.settings import Settings, get_settings  # noqa: E402

from .support.api import Api  # noqa: E402
from .support.player import Player  # noqa: E402

get_settings.cache_clear()


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = get_settings()
    database = "postgresql" if settings.uses_postgres else "sqlite"
    return [f"memberhub: database={database} cache={'redis' if settings.redis_url else 'memory'}"]


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def sandbox_url() -> Iterator[str]:
    """The WeChat/Alipay sandbox as its own process on loopback, for the whole run."""
    from .support.sandbox_server import run_sandbox

    with run_sandbox(port=SANDBOX_PORT) as url:
        yield url


@pytest.fixture(scope="session")
async def database(settings: Settings) -> AsyncIterator[None]:
    await init_db(settings)
    await Tortoise.generate_schemas(safe=True)
    yield
    await close_db()


async def _empty_tables() -> None:
    conn = connections.get("default")
    tables = [model._meta.db_table for model in Tortoise.apps["memberhub"].values()]
    if get_settings().uses_postgres:
        quoted = ", ".join(f'"{table}"' for table in tables)
        await conn.execute_script(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
    else:
        await conn.execute_script("".join(f'DELETE FROM "{table}";' for table in tables))


@pytest.fixture
async def ports(settings: Settings, database: None) -> AsyncIterator[Ports]:
    """Fresh ports for each test; the database and cache are emptied afterwards."""
    installed = ports_module.install(build_ports(settings))
    yield installed
    await _empty_tables()
    if settings.redis_url:
        await installed.cache.redis.flushdb()  # type: ignore[attr-defined]
    await installed.cache.close()


@pytest.fixture
def clock(ports: Ports) -> FrozenClock:
    """Freeze the services' clock at the current time; tests move it with advance()."""
    frozen = FrozenClock()
    ports.clock = frozen
    return frozen


@pytest.fixture
def app(settings: Settings, ports: Ports):  # type: ignore[no-untyped-def]
    return create_app(settings, ports=ports, manage_db=False)


@pytest.fixture
def api(app) -> Api:  # type: ignore[no-untyped-def]
    return Api(app)


@pytest.fixture
async def player(sandbox_url: str) -> AsyncIterator[Player]:
    """The sandbox's player routes: login codes, phone codes, Alipay auth codes, sent messages."""
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as http:
        yield Player(http)
