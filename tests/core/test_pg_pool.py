"""The PostgreSQL engine hands out pooled connections in the order they were asked for, and what
that leans on in asyncpg and Tortoise still holds."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

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


NEWCOMER_DELAYS = range(5)


async def _order_of_service(pool: Any, newcomer_delay_steps: int) -> list[str]:
    """Who gets the one connection: two callers already waiting, and a newcomer who asks
    `newcomer_delay_steps` loop turns after the connection starts coming back."""
    order: list[str] = []

    async def use(name: str, *, delay_steps: int = 0) -> None:
        for _ in range(delay_steps):
            await asyncio.sleep(0)
        connection = await pool.acquire()
        order.append(name)
        await asyncio.sleep(0)
        await pool.release(connection)

    held = await pool.acquire()
    early = [asyncio.create_task(use(name)) for name in ("first", "second")]
    await asyncio.sleep(0.05)  # both are waiting now
    giving_back = asyncio.create_task(pool.release(held))
    late = asyncio.create_task(use("newcomer", delay_steps=newcomer_delay_steps))
    await asyncio.gather(giving_back, *early, late)
    return order


@pytest.mark.parametrize("newcomer_delay_steps", NEWCOMER_DELAYS)
async def test_a_connection_given_back_goes_to_the_longest_waiter(
    small_pool: asyncpg.Pool, newcomer_delay_steps: int
) -> None:
    order = await _order_of_service(FairPool(small_pool, 1), newcomer_delay_steps)

    assert order == ["first", "second", "newcomer"]


async def test_asyncpg_alone_still_lets_a_newcomer_overtake(small_pool: asyncpg.Pool) -> None:
    # Why FairPool exists. When this fails, asyncpg serves its waiters in order by itself and
    # FairPool (api/core/pg.py) can go.
    orders = [await _order_of_service(small_pool, delay) for delay in NEWCOMER_DELAYS]

    assert any(order[0] != "first" for order in orders), orders


class _CountingPool(FairPool):
    def __init__(self, pool: asyncpg.Pool, size: int) -> None:
        super().__init__(pool, size)
        self.acquired = 0
        self.released = 0

    async def acquire(self) -> Any:
        self.acquired += 1
        return await super().acquire()

    async def release(self, connection: Any) -> None:
        self.released += 1
        await super().release(connection)


async def test_tortoise_takes_every_connection_through_acquire_and_release(
    settings: Settings, database: None
) -> None:
    # FairPool only orders what passes through these two calls: queries, transactions and
    # savepoints must all take their connection there, and give it back.
    if not settings.uses_postgres:
        pytest.skip("SQLite has no pool")
    client = connections.get("default")
    fair = client._pool
    counting = _CountingPool(fair._pool, 2)
    client._pool = counting
    try:
        await client.execute_query("SELECT 1")
        async with in_transaction() as outer:
            await outer.execute_query("SELECT 1")
            async with in_transaction() as inner:  # a savepoint on the same connection
                await inner.execute_query("SELECT 1")
        await asyncio.gather(*(client.execute_query("SELECT 1") for _ in range(4)))
    finally:
        client._pool = fair

    assert counting.acquired == counting.released == 6


async def test_the_application_uses_the_fair_pool(settings: Settings, database: None) -> None:
    if not settings.uses_postgres:
        pytest.skip("SQLite has no pool")
    client = connections.get("default")
    async with client.acquire_connection() as connection:
        assert (await connection.fetchval("SELECT 1")) == 1
    assert isinstance(client._pool, FairPool)
