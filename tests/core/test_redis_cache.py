"""The cache's Redis client: a bounded number of commands at once, the rest in line, each with a
deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from api.core.cache import BoundedRedis, RedisCache
from config.settings import Settings

QUEUE = "mh:test:bounded"


@pytest.fixture
async def bounded(settings: Settings) -> AsyncIterator[Callable[..., BoundedRedis]]:
    if not settings.redis_url:
        pytest.skip("needs Redis: set MEMBERHUB_TEST_REDIS_URL")
    made: list[BoundedRedis] = []

    def make(*, max_commands: int, timeout_s: float = 5) -> BoundedRedis:
        """The client of a `RedisCache`, built as the application builds it."""
        client = RedisCache(
            settings.redis_url, max_connections=max_commands, timeout_s=timeout_s
        ).redis
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
    pops = [asyncio.create_task(client.blpop([QUEUE], timeout=2)) for _ in range(4)]
    await asyncio.sleep(0.1)

    assert len(client.connection_pool._in_use_connections) == 2
    async with Redis.from_url(settings.redis_url, decode_responses=True) as other:
        await other.rpush(QUEUE, "a", "b", "c", "d")
    values = [value for _, value in await asyncio.gather(*pops)]

    # The two running commands took "a" and "b"; the two that waited ran next, in arrival order.
    assert sorted(values[:2]) == ["a", "b"]
    assert values[2:] == ["c", "d"]
    assert len(client.connection_pool._available_connections) == 2


async def test_a_command_past_its_deadline_fails_and_the_next_one_gets_its_own_answer(
    bounded: Callable[..., BoundedRedis], settings: Settings
) -> None:
    client = bounded(max_commands=1, timeout_s=0.2)
    with pytest.raises(RedisTimeoutError):
        await client.blpop([QUEUE], timeout=0)  # blocks until something is pushed

    # The abandoned BLPOP must not answer anyone: its connection was dropped.
    async with Redis.from_url(settings.redis_url, decode_responses=True) as other:
        await other.rpush(QUEUE, "late")
        await other.set("mh:test:other", "mine")
    assert await client.get("mh:test:other") == "mine"
    assert await client.lpop(QUEUE) == "late"
    await client.delete("mh:test:other")


async def test_connections_the_server_closed_are_replaced(
    bounded: Callable[..., BoundedRedis], settings: Settings
) -> None:
    client = bounded(max_commands=4)
    await asyncio.gather(*(client.set(f"mh:test:k{i}", str(i)) for i in range(4)))
    idle = list(client.connection_pool._available_connections)
    assert idle

    # As after a Redis restart or an idle timeout: every connection of the pool is closed.
    async with Redis.from_url(settings.redis_url, decode_responses=True) as other:
        await other.client_kill_filter(_type="normal", skipme=True)

    values = await asyncio.gather(*(client.get(f"mh:test:k{i}") for i in range(4)))
    assert values == ["0", "1", "2", "3"]
    await client.delete(*(f"mh:test:k{i}" for i in range(4)))
