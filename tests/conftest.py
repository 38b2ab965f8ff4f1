"""Test set-up: one database per run (SQLite file, or PostgreSQL when MEMBERHUB_TEST_DATABASE_URL
is set), emptied after every test; the sandbox as a real process on loopback; a fresh app per test.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from collections import defaultdict
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
# The app under test also listens here (`live_url`), where the sandbox delivers notifications.
APP_PORT = _free_port()

# Settings are read once from the environment; set the test values before anything reads them.
os.environ.update(
    {
        "MEMBERHUB_ENV": "test",
        "MEMBERHUB_DATABASE_URL": os.environ.get("MEMBERHUB_TEST_DATABASE_URL")
        or f"sqlite://{_TMP / 'test.sqlite3'}",
        "MEMBERHUB_SANDBOX": "1",
        "MEMBERHUB_WECHAT_API_BASE": f"{SANDBOX_URL}/wechat",
        "MEMBERHUB_ALIPAY_GATEWAY": f"{SANDBOX_URL}/alipay/gateway.do",
        "MEMBERHUB_WECHATPAY_API_BASE": f"{SANDBOX_URL}/wechatpay",
        "MEMBERHUB_PUBLIC_BASE_URL": f"http://127.0.0.1:{APP_PORT}",
    }
)
if os.environ.get("MEMBERHUB_TEST_REDIS_URL"):
    os.environ["MEMBERHUB_REDIS_URL"] = os.environ["MEMBERHUB_TEST_REDIS_URL"]
else:
    os.environ.pop("MEMBERHUB_REDIS_URL", None)

from sanic import Sanic  # noqa: E402
from tortoise import Tortoise, connections  # noqa: E402
from tortoise.exceptions import OperationalError  # noqa: E402

from api.app import create_app  # noqa: E402
from api.core import ports as ports_module  # noqa: E402
from api.core.clock import FrozenClock  # noqa: E402
from api.core.db import close_db, init_db  # noqa: E402
from api.core.ports import Ports, build_ports  # noqa: E402
from api.member_center.models import (  # noqa: E402
    GrowthEntry,
    Member,
    PointsEntry,
    PointsLot,
    WalletEntry,
)
from config.settings import Settings, get_settings  # noqa: E402

from .support.api import TLS, Api, serve_asgi  # noqa: E402
from .support.player import Player  # noqa: E402

get_settings.cache_clear()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PostgreSQL + Redis suite leaves out the tests that would run exactly as they do in
    the embedded suite (marked `stack_independent`): the same work twice buys nothing."""
    if not os.environ.get("MEMBERHUB_TEST_DATABASE_URL"):
        return
    kept = [item for item in items if item.get_closest_marker("stack_independent") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


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

    with run_sandbox(port=SANDBOX_PORT, app_url=f"http://127.0.0.1:{APP_PORT}") as url:
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
        # DELETE, not TRUNCATE: a test leaves a few rows in a few tables, and TRUNCATE costs
        # about half a second for the lot, rows or not. The foreign keys' triggers are off
        # meanwhile, so the order does not matter; that takes a superuser (the throwaway
        # cluster's), anyone else gets the TRUNCATE.
        deletes = "".join(f'DELETE FROM "{table}";' for table in tables)
        try:
            await conn.execute_script(
                f"SET session_replication_role = replica;{deletes}"
                "SET session_replication_role = DEFAULT;"
            )
        except OperationalError:
            quoted = ", ".join(f'"{table}"' for table in tables)
            await conn.execute_script(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
    else:
        # Rows that RESTRICT their parent's deletion (a payment's refunds) would stop the
        # cascade from the brand: the foreign keys are off while everything goes.
        deletes = "".join(f'DELETE FROM "{table}";' for table in tables)
        await conn.execute_script(f"PRAGMA foreign_keys = OFF;{deletes}PRAGMA foreign_keys = ON;")


async def _ledgers_off_their_balances() -> list[str]:
    """Members whose points, stored-value or growth ledger does not sum to the balance column."""
    totals: dict[tuple[str, int], int] = defaultdict(int)
    for member_id, delta in await PointsEntry.all().values_list("member_id", "delta"):
        totals["points", member_id] += delta
    for member_id, remaining in await PointsLot.all().values_list("member_id", "remaining"):
        totals["points lots", member_id] += remaining
    for member_id, principal, bonus in await WalletEntry.all().values_list(
        "member_id", "principal_delta_fen", "bonus_delta_fen"
    ):
        totals["wallet principal", member_id] += principal
        totals["wallet bonus", member_id] += bonus
    for member_id, delta in await GrowthEntry.all().values_list("member_id", "delta"):
        totals["growth", member_id] += delta
    off = []
    for member in await Member.all().order_by("id"):
        for ledger, balance in (
            ("points", member.points_balance),
            ("points lots", member.points_balance),
            ("wallet principal", member.wallet_principal_fen),
            ("wallet bonus", member.wallet_bonus_fen),
            ("growth", member.growth),
        ):
            if totals[ledger, member.id] != balance:
                off.append(
                    f"member {member.id}: {ledger} ledger {totals[ledger, member.id]}, balance {balance}"
                )
    return off


@pytest.fixture
async def ports(settings: Settings, database: None) -> AsyncIterator[Ports]:
    """Fresh ports for each test; the database and cache are emptied afterwards.

    Before emptying, every member's ledgers must still sum to their balances, whatever the test
    did through the services.
    """
    installed = ports_module.install(build_ports(settings))
    yield installed
    off = await _ledgers_off_their_balances()
    await _empty_tables()
    if settings.redis_url:
        await installed.cache.redis.flushdb()  # type: ignore[attr-defined]
    await installed.cache.close()
    assert not off, "ledgers that do not sum to their balances:\n" + "\n".join(off)


@pytest.fixture
def clock(ports: Ports) -> FrozenClock:
    """Freeze the services' clock at the current time; tests move it with advance()."""
    frozen = FrozenClock()
    ports.clock = frozen
    return frozen


@pytest.fixture(scope="session")
async def served_app(settings: Settings, database: None) -> AsyncIterator[Sanic]:
    """One application for the whole run, started once through the ASGI lifespan.

    Building and starting a Sanic app compiles its router, which costs about a second; the
    per-test state lives in the ports and the database, which every test gets fresh.
    """
    application = create_app(settings, ports=build_ports(settings), manage_db=False)
    async with serve_asgi(application):
        yield application


@pytest.fixture(scope="session")
async def _listening(served_app: Sanic) -> AsyncIterator[str]:
    from .support.live import serve_http

    async with serve_http(served_app, APP_PORT) as url:
        yield url


@pytest.fixture
def live_url(_listening: str, app: Sanic) -> str:
    """The app of this test on a real port: the public base URL the sandbox calls back."""
    return _listening


@pytest.fixture
def app(served_app: Sanic, ports: Ports) -> Sanic:
    served_app.ctx.ports = ports
    return served_app


@pytest.fixture
async def api(app: Sanic) -> AsyncIterator[Api]:
    async with Api.over(app) as client:
        yield client


@pytest.fixture
async def player(sandbox_url: str) -> AsyncIterator[Player]:
    """The sandbox's player routes: login codes, phone codes, Alipay auth codes, sent messages."""
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10, verify=TLS) as http:
        yield Player(http)


class _LeakWatch(logging.Handler):
    """Reads every log line the suite produces, looking for what must never be logged."""

    PATTERNS = ("session_key", "PRIVATE KEY", "secret=", "password=", "&key=")
    # Our code, the web server and the platform SDKs at DEBUG; the ORM's SQL echo stays out.
    LOGGERS = ("memberhub", "sanic", "urllib3", "requests", "wechatpy", "alipay")

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.leaks: list[str] = []
        self.lines = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.lines += 1
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is not our concern here
            return
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        for pattern in self.PATTERNS:
            if pattern in text:
                self.leaks.append(f"{record.name}: {text[:200]}")


@pytest.fixture(scope="session", autouse=True)
def no_secrets_in_logs() -> Iterator[None]:
    """Fail the run if any log line of any test carried a secret or a session_key."""
    watch = _LeakWatch()
    root = logging.getLogger()
    root.addHandler(watch)
    previous = {name: logging.getLogger(name).level for name in watch.LOGGERS}
    for name in watch.LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield
    root.removeHandler(watch)
    for name, level in previous.items():
        logging.getLogger(name).setLevel(level)
    assert not watch.leaks, "secrets reached the logs:\n" + "\n".join(watch.leaks[:20])
