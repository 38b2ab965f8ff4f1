"""The PostgreSQL engine: Tortoise's asyncpg client, its pool handing out connections in turn.

asyncpg's pool lets a caller arriving just as a connection comes back take it ahead of those
already waiting; under load a few requests lost that race again and again (`GET /me`: p50 23 ms,
p99 100-130 ms in bench/). A FIFO semaphore sized to the pool admits callers in arrival order.
tests/core/test_pg_pool.py checks that asyncpg still needs it and that Tortoise still goes
through `acquire()` / `release()`. Configured as the engine `api.core.pg` in `api.core.db`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from tortoise.backends.asyncpg.client import AsyncpgDBClient


class FairPool:
    """An asyncpg pool whose `acquire()` serves callers in the order they asked."""

    def __init__(self, pool: asyncpg.Pool, size: int) -> None:
        self._pool = pool
        # asyncio.Semaphore wakes its waiters in order and lets no newcomer pass them.
        self._turns = asyncio.Semaphore(size)

    async def acquire(self) -> Any:
        await self._turns.acquire()
        try:
            return await self._pool.acquire()
        except BaseException:
            self._turns.release()
            raise

    async def release(self, connection: Any) -> None:
        try:
            await self._pool.release(connection)
        finally:
            self._turns.release()

    def __getattr__(self, name: str) -> Any:
        # close(), terminate(), expire_connections() … as asyncpg has them.
        return getattr(self._pool, name)


class FairAsyncpgDBClient(AsyncpgDBClient):
    async def create_pool(self, **kwargs: Any) -> Any:
        pool = await super().create_pool(**kwargs)
        return FairPool(pool, kwargs["max_size"])


client_class = FairAsyncpgDBClient
