"""The Redis client of the cache runs a bounded number of commands at once, the rest in line."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from api.core.cache import BoundedRedis
from config.settings import Settings

QUEUE = "mh:test:bounded"


@pytest.fixture
async def bounded(settings: Settings) -> AsyncIterator[Callable[..., BoundedRedis]]:
    if not settings.redis_url:
        pytest.skip("needs Redis: set MEMBERHUB_TEST_REDIS_URL")
    made: list[BoundedRedis] = []

    def make(*, max_commands: int, wait_s: float = 5) -> BoundedRedis:
        pool = ConnectionPool.from_url(settings.redis_url, decode_responses=True)
        client = BoundedRedis(connection_pool=pool, max_commands=max_commands, wait_s=wait_s)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.delete(QUEUE)
        await client.aclose()


async def test_commands_beyond_the_bound_wait_and_then_run_in_order(
    bounded: Callable[..., BoundedRedis], settings: Settings
) -> None:
    client = bounded(max_commands=2)
    pops = [asyncio.create_task(client.blpop([QUEUE], timeout=5)) for _ in range(4)]
    await asyncio.sleep(0.1)

    assert len(client.connection_pool._in_use_connections) == 2
    async with Redis.from_url(settings.redis_url, decode_responses=True) as other:
        await other.rpush(QUEUE, "a", "b", "c", "d")
    values = [value for _, value in await asyncio.gather(*pops)]

    # The two running commands took "a" and "b"; the two that waited ran next, in arrival order.
    assert sorted(values[:2]) == ["a", "b"]
    assert values[2:] == ["c", "d"]
    assert len(client.connection_pool._available_connections) == 2


async def test_a_command_that_finds_no_turn_in_time_is_refused(
    bounded: Callable[..., BoundedRedis],
) -> None:
    client = bounded(max_commands=1, wait_s=0.1)
    busy = asyncio.create_task(client.blpop([QUEUE], timeout=1))
    await asyncio.sleep(0.05)

    with pytest.raises(RedisConnectionError):
        await client.get(QUEUE)
    await busy
    assert await client.get(QUEUE) is None
