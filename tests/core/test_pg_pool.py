"""The PostgreSQL engine hands out pooled connections in the order they were asked for."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from tortoise import connections

from api.core.db import _db_url, _keep_session
from api.core.pg import FairPool
from config.settings import Settings


@pytest.fixture
async def small_pool(settings: Settings) -> asyncpg.Pool:
    if not settings.uses_postgres:
        pytest.skip("the pool is PostgreSQL's: set MEMBERHUB_TEST_DATABASE_URL")
    pool = await asyncpg.create_pool(
        _db_url(settings.database_url), min_size=1, max_size=1, reset=_keep_session
    )
    yield pool
    await pool.close()


@pytest.mark.parametrize("newcomer_delay_steps", range(5))
async def test_a_connection_given_back_goes_to_the_longest_waiter(
    small_pool: asyncpg.Pool, newcomer_delay_steps: int
) -> None:
    fair = FairPool(small_pool, 1)
    order: list[str] = []

    async def use(name: str, *, delay_steps: int = 0) -> None:
        for _ in range(delay_steps):
            await asyncio.sleep(0)
        connection = await fair.acquire()
        order.append(name)
        await asyncio.sleep(0)
        await fair.release(connection)

    held = await fair.acquire()
    early = [asyncio.create_task(use(name)) for name in ("first", "second")]
    await asyncio.sleep(0.05)  # both are waiting now

    # A newcomer asking around the instant the connection comes back waits its turn. With one
    # of these delays, asyncpg's own pool hands it the connection and sends "first" to the back.
    giving_back = asyncio.create_task(fair.release(held))
    late = asyncio.create_task(use("newcomer", delay_steps=newcomer_delay_steps))
    await asyncio.gather(giving_back, *early, late)

    assert order == ["first", "second", "newcomer"]


async def test_the_application_uses_the_fair_pool(settings: Settings, database: None) -> None:
    if not settings.uses_postgres:
        pytest.skip("SQLite has no pool")
    client = connections.get("default")
    async with client.acquire_connection() as connection:
        assert (await connection.fetchval("SELECT 1")) == 1
    assert isinstance(client._pool, FairPool)
