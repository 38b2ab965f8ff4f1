"""The cache's Redis client: a bounded number of commands at once, the rest in line, each with a
deadline; and what TurnPool and BoundedRedis lean on in redis-py still holds."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable, MutableSet
from typing import Any

import pytest
import redis
from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from api.core import cache as cache_module
from api.core.cache import BoundedRedis, RedisCache, TurnPool
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


# ---------------------------------------------------------------- what redis-py must keep doing


def test_turn_pool_replaces_methods_redis_py_8_still_has_in_that_shape() -> None:
    # TurnPool overrides get_connection and release and fills the pool's own private lists, so
    # every method it inherits (disconnect, reset, aclose) still sees its connections.
    assert redis.__version__.split(".")[0] == "8", (
        "TurnPool (api/core/cache.py) was written against redis-py 8's ConnectionPool: "
        "check its get_connection / release against this version, then this line"
    )
    for name in ("get_connection", "release"):
        assert inspect.iscoroutinefunction(getattr(ConnectionPool, name)), name
    assert list(inspect.signature(ConnectionPool.release).parameters) == ["self", "connection"]

    pool = TurnPool.from_url("redis://127.0.0.1:9/0", max_connections=4)
    assert isinstance(pool._available_connections, list)
    assert isinstance(pool._in_use_connections, MutableSet)
    connection = pool.make_connection()
    assert inspect.iscoroutinefunction(connection.connect)
    assert inspect.iscoroutinefunction(connection.disconnect)
    assert connection.should_reconnect() is False


class _CountingPool(TurnPool):
    checked_out = 0
    checked_in = 0

    async def get_connection(self) -> Any:  # type: ignore[override]
        type(self).checked_out += 1
        return await super().get_connection()

    async def release(self, connection: Any) -> None:
        type(self).checked_in += 1
        await super().release(connection)


async def test_every_command_of_the_cache_passes_a_turn_and_the_turn_pool(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # BoundedRedis bounds execute_command and TurnPool hands out the connections: redis-py must
    # route plain commands, scripts and its lock through both, one checkout per command.
    if not settings.redis_url:
        pytest.skip("needs Redis: set MEMBERHUB_TEST_REDIS_URL")
    monkeypatch.setattr(cache_module, "TurnPool", _CountingPool)
    monkeypatch.setattr(_CountingPool, "checked_out", 0)
    monkeypatch.setattr(_CountingPool, "checked_in", 0)
    commands = 0
    execute_command = BoundedRedis.execute_command

    async def counted(self: BoundedRedis, *args: Any, **options: Any) -> Any:
        nonlocal commands
        commands += 1
        return await execute_command(self, *args, **options)

    monkeypatch.setattr(BoundedRedis, "execute_command", counted)
    cache = RedisCache(settings.redis_url, max_connections=4)
    try:
        await cache.set("contract", "a", ttl_s=60)
        await cache.swap("contract", "b")
        await cache.swap_within_limit(
            "contract-rl", limit=5, window_s=60, key="contract", value="c"
        )
        await cache.incr("contract-n", ttl_s=60)
        async with cache.lock("contract-lock", ttl_s=5, wait_s=1):
            pass
        await cache.take("contract")
        pool = cache.redis.connection_pool

        assert commands >= 7
        assert _CountingPool.checked_out == _CountingPool.checked_in == commands
        assert not pool._in_use_connections
        idle = list(pool._available_connections)
        assert idle and all(connection.is_connected for connection in idle)

        # An inherited method finds the connections TurnPool put back.
        await pool.disconnect()
        assert not any(connection.is_connected for connection in idle)
    finally:
        await cache.redis.delete(*(f"mh:{key}" for key in ("contract-rl", "contract-n")))
        await cache.close()
