"""Cache, locks, one-time codes and rate limits: one port, an in-process and a Redis implementation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, cast

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .clock import Clock
from .errors import Conflict


class Cache(Protocol):
    """What services may ask of the cache. Values are strings; callers encode JSON themselves."""

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str, *, ttl_s: float | None = None) -> None: ...

    async def add(self, key: str, value: str, *, ttl_s: float) -> bool:
        """Set only if absent; True when this call set it (locks, de-duplication)."""
        ...

    async def take(self, key: str) -> str | None:
        """Get and delete in one step, so a one-time code is handed out once."""
        ...

    async def swap(self, key: str, value: str) -> str | None:
        """Replace an existing key's value, keeping its expiry; the old value, None if absent.

        Atomic, so of many callers swapping in the same marker exactly one sees the original.
        """
        ...

    async def swap_within_limit(
        self, limit_key: str, *, limit: int, window_s: float, key: str, value: str
    ) -> tuple[bool, str | None]:
        """Count one attempt against `limit_key`; when within the limit, `swap` `key`.

        Returns (allowed, old value). One round trip: the till's hot path uses it.
        """
        ...

    async def delete(self, key: str) -> bool: ...

    async def incr(self, key: str, *, ttl_s: float) -> int:
        """Increment a counter; the window starts at the first increment and lasts ttl_s."""
        ...

    async def decr(self, key: str) -> None:
        """Take one back from an `incr` counter, keeping its window; an expired one stays gone."""
        ...

    async def ttl(self, key: str) -> float | None:
        """Seconds until the key expires; None when it is absent or has no expiry."""
        ...

    def lock(
        self, key: str, *, ttl_s: float = 10, wait_s: float = 5
    ) -> AbstractAsyncContextManager[None]:
        """Mutual exclusion across processes; raises Conflict `lock.busy` if not had in wait_s."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


def _installed_clock() -> Clock:
    from .ports import clock  # ports builds the caches, so it is imported when first needed

    return clock()


class MemoryCache:
    """In-process cache for the embedded default and tests: one process, no server.

    Entries expire by the clock port (the installed one unless `clock` is given), so a test
    that moves a FrozenClock moves the cache's time with it.
    """

    def __init__(self, clock: Callable[[], Clock] = _installed_clock) -> None:
        self._clock = clock
        self._data: dict[str, tuple[str, float | None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _now(self) -> float:
        return self._clock().now().timestamp()

    def _live(self, key: str) -> str | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires_at = item
        if expires_at is not None and expires_at <= self._now():
            del self._data[key]
            return None
        return value

    def _deadline(self, ttl_s: float | None) -> float | None:
        return None if ttl_s is None else self._now() + ttl_s

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def set(self, key: str, value: str, *, ttl_s: float | None = None) -> None:
        self._data[key] = (value, self._deadline(ttl_s))

    async def add(self, key: str, value: str, *, ttl_s: float) -> bool:
        if self._live(key) is not None:
            return False
        self._data[key] = (value, self._deadline(ttl_s))
        return True

    async def take(self, key: str) -> str | None:
        value = self._live(key)
        self._data.pop(key, None)
        return value

    async def swap(self, key: str, value: str) -> str | None:
        old = self._live(key)
        if old is not None:
            self._data[key] = (value, self._data[key][1])
        return old

    async def delete(self, key: str) -> bool:
        return self._data.pop(key, None) is not None

    async def incr(self, key: str, *, ttl_s: float) -> int:
        current = self._live(key)
        if current is None:
            self._data[key] = ("1", self._deadline(ttl_s))
            return 1
        count = int(current) + 1
        self._data[key] = (str(count), self._data[key][1])
        return count

    async def decr(self, key: str) -> None:
        current = self._live(key)
        if current is not None:
            self._data[key] = (str(int(current) - 1), self._data[key][1])

    async def ttl(self, key: str) -> float | None:
        if self._live(key) is None:
            return None
        expires_at = self._data[key][1]
        return None if expires_at is None else max(0.0, expires_at - self._now())

    @asynccontextmanager
    async def lock(self, key: str, *, ttl_s: float = 10, wait_s: float = 5) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            await asyncio.wait_for(lock.acquire(), timeout=wait_s)
        except TimeoutError as exc:
            raise Conflict("lock.busy", "The resource is busy; try again.") from exc
        try:
            yield
        finally:
            lock.release()

    async def swap_within_limit(
        self, limit_key: str, *, limit: int, window_s: float, key: str, value: str
    ) -> tuple[bool, str | None]:
        if await self.incr(limit_key, ttl_s=window_s) > limit:
            return False, None
        return True, await self.swap(key, value)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._data.clear()


# A command, with its wait for a turn, that takes longer fails with redis-py's TimeoutError.
REDIS_TIMEOUT_S = 5

# Count one more in KEYS[1]; the first count of a window (ARGV[1], in ms) sets its expiry.
_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
"""

# KEYS: the counter. ARGV: window in ms. Returns the count.
_INCR_WITHIN_WINDOW = _COUNT + "return n\n"

# KEYS: the counter. DECR alone would recreate an expired counter at -1, with no expiry.
_DECR_IF_PRESENT = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('DECR', KEYS[1]) end
"""

# KEYS: the rate-limit counter, the key to swap. ARGV: window in ms, limit, new value.
_SWAP_WITHIN_LIMIT = (
    _COUNT
    + """
if n > tonumber(ARGV[2]) then return {0, false} end
local old = redis.call('GET', KEYS[2])
if old then redis.call('SET', KEYS[2], ARGV[3], 'KEEPTTL') end
return {1, old}
"""
)


class TurnPool(ConnectionPool):
    """redis-py 8's pool without its per-checkout lock, metrics, events and unread-data probe.

    Under `BoundedRedis` none of them has work to do (the turns bound the connections, no
    metrics or events are enabled, a cancelled command's connection is dropped), and skipping
    them took the resolve's script call from 131 to 104 µs of CPU. It reuses the pool's private
    lists; tests/core/test_redis_cache.py fails when redis-py changes them.
    """

    async def get_connection(self) -> Any:  # type: ignore[override]
        try:
            connection = self._available_connections.pop()
        except IndexError:
            connection = self.make_connection()
        self._in_use_connections.add(connection)
        try:
            await connection.connect()  # returns at once when connected
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def release(self, connection: Any) -> None:
        self._in_use_connections.discard(connection)
        if connection.should_reconnect():
            await connection.disconnect()
        self._available_connections.append(connection)


class BoundedRedis(Redis):
    """A redis-py client with at most `max_commands` commands in flight, each within a deadline.

    Further commands wait their turn in arrival order; one asyncio timeout covers the wait and
    the round trip. redis-py's own socket timeouts and `BlockingConnectionPool` cost about a
    tenth of the API's CPU on the member-code resolve, so the connections have none: a command
    cancelled at its deadline makes redis-py drop its connection.
    """

    def __init__(self, *, max_commands: int, timeout_s: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._turns = asyncio.Semaphore(max(1, max_commands))
        self._timeout_s = timeout_s

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            async with asyncio.timeout(self._timeout_s), self._turns:
                return await super().execute_command(*args, **options)
        except TimeoutError as exc:
            raise RedisTimeoutError(f"Redis did not answer within {self._timeout_s} s.") from exc


class RedisCache:
    """Redis-backed cache shared by every API and worker process."""

    def __init__(
        self,
        url: str,
        *,
        max_connections: int = 64,
        timeout_s: float = REDIS_TIMEOUT_S,
        prefix: str = "mh:",
    ) -> None:
        # One connection per command in flight (the turns cap them, bench/RESULTS.md sized
        # them); a command whose connection Redis closed is sent once more on a fresh one.
        pool = TurnPool.from_url(
            url,
            decode_responses=True,
            max_connections=2**31,
            socket_timeout=None,
            retry=Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,)),
        )
        self.redis = BoundedRedis(
            connection_pool=pool, max_commands=max_connections, timeout_s=timeout_s
        )
        self._prefix = prefix
        self._swap_script = self.redis.register_script(_SWAP_WITHIN_LIMIT)
        self._incr_script = self.redis.register_script(_INCR_WITHIN_WINDOW)
        self._decr_script = self.redis.register_script(_DECR_IF_PRESENT)
        self._scripts: dict[str, Any] = {}

    def _k(self, key: str) -> str:
        return self._prefix + key

    async def get(self, key: str) -> str | None:
        return cast(str | None, await self.redis.get(self._k(key)))

    async def set(self, key: str, value: str, *, ttl_s: float | None = None) -> None:
        px = None if ttl_s is None else max(1, int(ttl_s * 1000))
        await self.redis.set(self._k(key), value, px=px)

    async def add(self, key: str, value: str, *, ttl_s: float) -> bool:
        return bool(
            await self.redis.set(self._k(key), value, px=max(1, int(ttl_s * 1000)), nx=True)
        )

    async def take(self, key: str) -> str | None:
        return cast(str | None, await self.redis.getdel(self._k(key)))

    async def swap(self, key: str, value: str) -> str | None:
        # SET … XX GET KEEPTTL (Redis ≥ 7): one command, so no other client slips in between.
        old = await self.redis.set(self._k(key), value, xx=True, get=True, keepttl=True)
        return cast(str | None, old)

    async def swap_within_limit(
        self, limit_key: str, *, limit: int, window_s: float, key: str, value: str
    ) -> tuple[bool, str | None]:
        allowed, old = await self._swap_script(
            keys=[self._k(limit_key), self._k(key)],
            args=[max(1, int(window_s * 1000)), limit, value],
        )
        return bool(allowed), cast(str | None, old)

    async def delete(self, key: str) -> bool:
        return bool(await self.redis.delete(self._k(key)))

    async def incr(self, key: str, *, ttl_s: float) -> int:
        count = await self._incr_script(keys=[self._k(key)], args=[max(1, int(ttl_s * 1000))])
        return int(count)

    async def decr(self, key: str) -> None:
        await self._decr_script(keys=[self._k(key)])

    async def ttl(self, key: str) -> float | None:
        ms = int(await self.redis.pttl(self._k(key)))
        return None if ms < 0 else ms / 1000  # -2: absent, -1: no expiry

    @asynccontextmanager
    async def lock(self, key: str, *, ttl_s: float = 10, wait_s: float = 5) -> AsyncIterator[None]:
        lock = self.redis.lock(self._k("lock:" + key), timeout=ttl_s, blocking_timeout=wait_s)
        if not await lock.acquire():
            raise Conflict("lock.busy", "The resource is busy; try again.")
        try:
            yield
        finally:
            await lock.release()

    async def eval_script(self, source: str, *, keys: list[str], args: list[Any]) -> Any:
        """Run a Lua script atomically; its keys are prefixed like every other key.

        Redis only: MemoryCache has no scripts, so callers check for a RedisCache and keep an
        exact path of their own without one. Keys that share a hash tag (`{ct:7}:…`) keep a
        script runnable on Redis Cluster.
        """
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self.redis.register_script(source)
        return await script(keys=[self._k(key) for key in keys], args=args)

    async def keys_matching(self, pattern: str) -> list[str]:
        """Keys matching a glob, without the prefix (SCAN: for maintenance, not hot paths)."""
        found = [key async for key in self.redis.scan_iter(match=self._k(pattern), count=1000)]
        return [key[len(self._prefix) :] for key in found]

    async def get_many(self, keys: list[str]) -> list[str | None]:
        """The values of several keys in one round trip (None where absent)."""
        if not keys:
            return []
        return cast(list[str | None], await self.redis.mget([self._k(key) for key in keys]))

    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    async def close(self) -> None:
        await self.redis.aclose()


def rate_limit_key(name: str) -> str:
    """The cache key that counts the attempts of one rate limit."""
    return "rl:" + name


async def hit_rate_limit(cache: Cache, key: str, *, limit: int, window_s: float) -> bool:
    """Count one attempt; True when the caller is over `limit` attempts in the window."""
    return await cache.incr(rate_limit_key(key), ttl_s=window_s) > limit
