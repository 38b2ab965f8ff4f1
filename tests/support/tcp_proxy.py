"""A round-robin TCP proxy on loopback, as a load balancer in front of several API processes.

Each accepted connection goes to the next backend in turn, whole: every request on it goes to
the same backend, as with an L4 balancer. A backend that refuses the connection (its process is
down) is not skipped: the client's connection is closed without an answer, as a balancer that
has not yet noticed the failure does, and the client must retry. The proxy runs its own event
loop in a thread, so whatever the test blocks on, connections keep flowing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

CHUNK = 65536


@dataclass
class ProxyCounts:
    """What the proxy saw, by backend port (read from the test's thread; ints only)."""

    connections: Counter[int] = field(default_factory=Counter)
    refused: Counter[int] = field(default_factory=Counter)  # backend down: client cut off
    # A request was sent on, and the backend closed the connection without a byte of answer
    # (its process died with the request under way).
    unanswered: Counter[int] = field(default_factory=Counter)
    # Connections whose first request line is `POST <prefix>…` (see `RoundRobinProxy`).
    matched: Counter[int] = field(default_factory=Counter)

    @property
    def matched_total(self) -> int:
        return sum(self.matched.values())


class RoundRobinProxy:
    """Listens on 127.0.0.1:<port> and hands connections to `backends` (ports) in turn.

    `count_prefix` (a path prefix such as b"/callbacks/") counts the connections whose first
    request is a POST to it, so that a test can act when a storm is under way.
    """

    def __init__(self, backends: list[int], *, count_prefix: bytes = b"/callbacks/") -> None:
        self.backends = backends
        self.counts = ProxyCounts()
        self._turn = itertools.cycle(range(len(backends)))
        self._marker = b"POST " + count_prefix
        self._tasks: set[asyncio.Task[None]] = set()

    @contextlib.contextmanager
    def running(self) -> Iterator[int]:
        """Serve in a thread of its own; yields the port it listens on."""
        started: list[tuple[asyncio.AbstractEventLoop, asyncio.Event, int] | BaseException] = []
        ready = threading.Event()
        thread = threading.Thread(
            target=asyncio.run, args=(self._serve(started, ready),), name="proxy", daemon=True
        )
        thread.start()
        ready.wait(timeout=10)
        assert started, "the proxy did not start"
        if isinstance(started[0], BaseException):
            raise started[0]
        loop, stop, port = started[0]
        try:
            yield port
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(timeout=10)

    async def _serve(
        self,
        started: list[tuple[asyncio.AbstractEventLoop, asyncio.Event, int] | BaseException],
        ready: threading.Event,
    ) -> None:
        stop = asyncio.Event()
        try:
            server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
        except OSError as exc:
            started.append(exc)
            ready.set()
            return
        started.append((asyncio.get_running_loop(), stop, server.sockets[0].getsockname()[1]))
        ready.set()
        async with server:
            await stop.wait()
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        backend = self.backends[next(self._turn)]
        self.counts.connections[backend] += 1
        try:
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", backend)
            except OSError:
                self.counts.refused[backend] += 1
                return
            try:
                first = await reader.read(CHUNK)
                if first.startswith(self._marker):
                    self.counts.matched[backend] += 1
                if first:
                    up_writer.write(first)
                    _, answered = await asyncio.gather(
                        _pipe(reader, up_writer), _pipe(up_reader, writer)
                    )
                    if not answered:
                        self.counts.unanswered[backend] += 1
            finally:
                up_writer.close()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
    """Copy until the reader's end, then half-close the writer so the other side sees the end;
    the number of bytes copied."""
    copied = 0
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            copied += len(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        # One side was cut off (a process killed): cut the other off too.
        writer.transport.abort()
    return copied
