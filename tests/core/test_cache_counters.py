"""The cache's counters: a count taken back keeps its window, and the time left is known.

Runs against the installed cache: in-process on the embedded suite, Redis on the services one.
"""

from __future__ import annotations

import asyncio

from api.core.ports import Ports


async def test_a_count_taken_back_keeps_the_window_and_never_outlives_it(ports: Ports) -> None:
    cache = ports.cache
    await cache.incr("c", ttl_s=0.5)
    await cache.incr("c", ttl_s=0.5)

    await cache.decr("c")
    after_decr = await cache.get("c")
    await asyncio.sleep(0.6)
    await cache.decr("c")  # expired: stays gone, rather than coming back at -1 for ever

    assert after_decr == "1"
    assert await cache.get("c") is None
    assert await cache.ttl("c") is None
    assert await cache.incr("c", ttl_s=10) == 1


async def test_ttl_is_the_time_left_before_a_key_expires(ports: Ports) -> None:
    cache = ports.cache
    await cache.incr("counted", ttl_s=30)
    await cache.set("kept", "x")

    left = await cache.ttl("counted")

    assert left is not None and 29 < left <= 30
    assert await cache.ttl("kept") is None
    assert await cache.ttl("absent") is None
