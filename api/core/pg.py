"""The PostgreSQL engine: Tortoise's asyncpg client with connections handed out in turn.

asyncpg's pool keeps its idle connections in an `asyncio.LifoQueue`. When a connection comes
back, the longest waiter is woken, but a request arriving in that instant takes the connection
first and the woken waiter goes to the back of the line. Under load (64 requests sharing 20
connections in the benchmark) a few requests lost that race again and again: `GET /me` had a
median of 23 ms and a p99 of 100-130 ms. Here a FIFO semaphore sized to the pool admits the
callers in arrival order, so a connection is always free when one is admitted.

Configured as the engine `api.core.pg` in `api.core.db.tortoise_config`.
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
