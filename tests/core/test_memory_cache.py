"""The in-process cache keeps time by the clock port: expiry and rate windows move with it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.core.cache import MemoryCache, hit_rate_limit
from api.core.clock import FrozenClock

pytestmark = pytest.mark.stack_independent


@pytest.fixture
def frozen() -> FrozenClock:
    return FrozenClock(datetime(2025, 3, 1, tzinfo=UTC))


@pytest.fixture
def cache(frozen: FrozenClock) -> MemoryCache:
    return MemoryCache(clock=lambda: frozen)


async def test_an_entry_lives_until_the_clock_passes_its_ttl(
    cache: MemoryCache, frozen: FrozenClock
) -> None:
    await cache.set("k", "v", ttl_s=10)

    frozen.advance(seconds=9.9)
    assert await cache.get("k") == "v"
    frozen.advance(seconds=0.1)
    assert await cache.get("k") is None
    assert await cache.add("k", "again", ttl_s=10)  # the slot is free once expired


async def test_a_rate_window_starts_again_when_the_clock_has_moved_past_it(
    cache: MemoryCache, frozen: FrozenClock
) -> None:
    assert [await hit_rate_limit(cache, "login", limit=2, window_s=60) for _ in range(3)] == [
        False,
        False,
        True,
    ]

    frozen.advance(seconds=60)

    assert not await hit_rate_limit(cache, "login", limit=2, window_s=60)


@pytest.mark.usefixtures("ports")
async def test_without_a_clock_it_reads_the_installed_clock_port(clock: FrozenClock) -> None:
    cache = MemoryCache()
    await cache.set("k", "v", ttl_s=5)

    clock.advance(seconds=5)

    assert await cache.get("k") is None
