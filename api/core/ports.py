"""The running process's ports: cache, job queue, clock and platform clients.

Installed once at start-up (API server, worker, CLI or a test) so that services can be called
from any entry point without a request object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .cache import Cache, MemoryCache, RedisCache
from .clock import Clock
from .queue import LocalQueue, Queue, build_queue

if TYPE_CHECKING:
    from config.settings import Settings


@dataclass
class Ports:
    cache: Cache
    clock: Clock = field(default_factory=Clock)
    queue: Queue = field(default_factory=LocalQueue)
    # This process's own short-lived copies of shared entries, for the hottest reads.
    local: MemoryCache = field(default_factory=MemoryCache)


_current: Ports | None = None


def build_ports(settings: Settings, *, worker: bool = False) -> Ports:
    """The ports the settings ask for: Redis-backed when a Redis URL is set, in-process otherwise.

    `worker` is set by the worker process only: its queue runs the jobs and the schedules.
    """
    cache: Cache
    if settings.redis_url:
        cache = RedisCache(settings.redis_url, max_connections=settings.redis_pool_max)
    else:
        cache = MemoryCache()
    return Ports(cache=cache, queue=build_queue(settings, worker=worker))


def install(ports: Ports) -> Ports:
    """Make these the ports services see."""
    global _current
    _current = ports
    return ports


def current() -> Ports:
    """The installed ports; raises if the process has not installed any."""
    if _current is None:
        raise RuntimeError("ports are not installed; call api.core.ports.install() at start-up")
    return _current


def cache() -> Cache:
    return current().cache


def local_cache() -> MemoryCache:
    """The cache of this process alone: what it holds may be stale by its entries' TTL."""
    return current().local


def clock() -> Clock:
    return current().clock


def queue() -> Queue:
    """The installed job queue."""
    return current().queue
