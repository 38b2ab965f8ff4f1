"""The job-queue port: registry, schedules, the in-process runner and saq on Redis."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from saq.job import Status

from api.core import ports as ports_module
from api.core.clock import FrozenClock
from api.core.ports import Ports, build_ports
from api.core.queue import LocalQueue, Registry, SaqQueue, Schedule, build_queue
from config.settings import Settings


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], *, timeout_s: float = 5.0
) -> None:
    """Wait until `check()` holds (it may be a coroutine function); fail after timeout_s."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await _holds(check):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def _holds(check: Callable[[], bool | Awaitable[bool]]) -> bool:
    result = check()
    return await result if inspect.isawaitable(result) else result


def recording_registry() -> tuple[Registry, list[dict[str, Any]]]:
    registry = Registry()
    runs: list[dict[str, Any]] = []

    @registry.job("test.record")
    async def record(**kwargs: Any) -> None:
        runs.append(kwargs)

    return registry, runs


async def test_local_queue_runs_an_enqueued_job() -> None:
    registry, runs = recording_registry()
    queue = LocalQueue(registry)

    assert await queue.enqueue("test.record", member_id=3, key_like="x") is True
    await queue.join()

    assert runs == [{"member_id": 3, "key_like": "x"}]


async def test_local_queue_refuses_a_duplicate_key_while_the_first_is_pending() -> None:
    registry = Registry()
    release = asyncio.Event()
    runs: list[int] = []

    @registry.job("test.slow")
    async def slow(n: int) -> None:
        await release.wait()
        runs.append(n)

    queue = LocalQueue(registry)
    assert await queue.enqueue("test.slow", key="member:3", n=1) is True
    assert await queue.enqueue("test.slow", key="member:3", n=2) is False
    assert await queue.enqueue("test.slow", key="member:4", n=3) is True
    release.set()
    await queue.join()
    assert await queue.enqueue("test.slow", key="member:3", n=4) is True  # done: a new run
    await queue.join()

    assert sorted(runs) == [1, 3, 4]


async def test_local_queue_refuses_an_unknown_job() -> None:
    with pytest.raises(LookupError):
        await LocalQueue(Registry()).enqueue("no.such.job")


async def test_a_failing_job_is_logged_and_the_queue_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry, runs = recording_registry()

    @registry.job("test.fail")
    async def fail() -> None:
        raise RuntimeError("boom")

    queue = LocalQueue(registry)
    await queue.enqueue("test.fail")
    await queue.enqueue("test.record", n=1)
    await queue.join()

    assert runs == [{"n": 1}]
    assert any("test.fail" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_local_queue_runs_a_scheduled_job_when_its_time_comes() -> None:
    registry, runs = recording_registry()
    registry.schedule("test.record", every_s=60, source="schedule")
    clock = FrozenClock(datetime(2025, 1, 1, tzinfo=UTC))
    queue = LocalQueue(registry, run_schedules=True, clock=clock, tick_s=0.005)
    await queue.start()
    try:
        await asyncio.sleep(0.05)
        assert runs == []  # the first run is one interval after start

        clock.advance(seconds=60)
        await eventually(lambda: len(runs) == 1)
        await asyncio.sleep(0.05)
        assert len(runs) == 1  # once per interval, not once per tick

        clock.advance(seconds=60)
        await eventually(lambda: len(runs) == 2)
    finally:
        await queue.stop()

    assert runs == [{"source": "schedule"}, {"source": "schedule"}]


async def test_schedules_only_run_in_a_worker() -> None:
    registry, runs = recording_registry()
    registry.schedule("test.record", every_s=1)
    clock = FrozenClock()
    queue = LocalQueue(registry, clock=clock, tick_s=0.005)  # an API process
    await queue.start()
    clock.advance(seconds=10)
    await asyncio.sleep(0.05)
    await queue.stop()

    assert runs == []


async def test_local_schedules_follow_the_installed_clock(ports: Ports) -> None:
    registry, runs = recording_registry()
    registry.schedule("test.record", every_s=30)
    frozen = FrozenClock()
    ports.clock = frozen
    queue = LocalQueue(registry, run_schedules=True, tick_s=0.005)
    await queue.start()
    try:
        await asyncio.sleep(0.02)
        frozen.advance(seconds=30)
        await eventually(lambda: len(runs) == 1)
    finally:
        await queue.stop()

    assert len(runs) == 1


def test_cron_schedules_are_read_in_shanghai_time() -> None:
    nightly = Schedule(name="points.expire", cron="0 3 * * *")

    following = nightly.next_after(datetime(2025, 1, 1, 12, 0, tzinfo=UTC))  # 20:00 in Shanghai

    assert following.astimezone(UTC) == datetime(2025, 1, 1, 19, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("every_s", "cron"),
    [(5, "* * * * * */5"), (1, "* * * * * */1"), (300, "*/5 * * * *"), (3600, "*/60 * * * *")],
)
def test_intervals_become_cron_for_saq(every_s: int, cron: str) -> None:
    assert Schedule(name="x", every_s=every_s).as_cron() == cron


def test_bad_schedules_are_refused() -> None:
    with pytest.raises(ValueError):
        Schedule(name="x")
    with pytest.raises(ValueError):
        Schedule(name="x", cron="not a cron")
    with pytest.raises(ValueError):
        Schedule(name="x", every_s=7).as_cron()


def test_a_job_name_cannot_be_taken_twice() -> None:
    registry = Registry()

    @registry.job("x")
    async def first() -> None: ...

    with pytest.raises(ValueError):

        @registry.job("x")
        async def second() -> None: ...


async def test_ports_carry_the_queue_the_settings_ask_for(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = build_ports(settings)
    monkeypatch.setattr(ports_module, "_current", built)

    assert ports_module.queue() is built.queue
    if settings.redis_url:
        assert isinstance(built.queue, SaqQueue) and not built.queue.run_worker
        assert isinstance(build_queue(settings, worker=True), SaqQueue)
    else:
        assert isinstance(built.queue, LocalQueue) and not built.queue.run_schedules
        assert build_ports(settings, worker=True).queue.run_schedules  # type: ignore[attr-defined]
    await built.cache.close()


@pytest.fixture
async def saq_queue(
    settings: Settings, ports: Ports
) -> Any:  # the `ports` fixture flushes Redis afterwards
    if not settings.redis_url:
        pytest.skip("saq needs Redis: set MEMBERHUB_TEST_REDIS_URL")
    registry = Registry()
    state: dict[str, Any] = {"runs": [], "flaky": [], "release": asyncio.Event()}

    @registry.job("test.record", timeout_s=30)
    async def record(**kwargs: Any) -> None:
        state["runs"].append(kwargs)

    @registry.job("test.flaky", timeout_s=30)
    async def flaky(n: int) -> None:
        state["flaky"].append(n)
        if len(state["flaky"]) == 1:
            raise RuntimeError("the first attempt fails")

    @registry.job("test.blocked", timeout_s=30)
    async def blocked(n: int) -> None:
        await state["release"].wait()
        state["runs"].append({"blocked": n})

    registry.schedule("test.record", every_s=1, source="cron")
    queue = SaqQueue(
        settings.redis_url,
        registry,
        run_worker=True,
        name=f"t-{uuid.uuid4().hex}",
        shutdown_grace_s=1,
        retry_delay_s=0.1,
    )
    yield queue, state
    state["release"].set()
    await queue.stop()


async def test_saq_queue_processes_enqueued_and_scheduled_jobs(saq_queue: Any) -> None:
    queue, state = saq_queue
    runs = state["runs"]
    await queue.start()

    # `key` and `timeout` are job arguments here, not saq job options.
    assert await queue.enqueue("test.record", member_id=3, timeout=1) is True
    await eventually(lambda: {"member_id": 3, "timeout": 1} in runs, timeout_s=10)
    await eventually(lambda: {"source": "cron"} in runs, timeout_s=10)


async def test_saq_queue_runs_a_failed_job_again(saq_queue: Any) -> None:
    queue, state = saq_queue
    await queue.start()

    assert await queue.enqueue("test.flaky", n=7) is True
    await eventually(lambda: state["flaky"] == [7, 7], timeout_s=10)


async def test_saq_queue_refuses_a_duplicate_key_while_pending(
    saq_queue: Any, settings: Settings
) -> None:
    worker, state = saq_queue
    # An API process: enqueues by name, knows no job functions, runs nothing.
    assert settings.redis_url
    producer = SaqQueue(settings.redis_url, Registry(), name=worker.saq.name)
    await worker.start()
    await producer.start()
    try:
        assert await producer.enqueue("test.blocked", key="member:3", n=1) is True
        assert await producer.enqueue("test.blocked", key="member:3", n=2) is False
        state["release"].set()
        await eventually(lambda: {"blocked": 1} in state["runs"], timeout_s=10)

        # saq marks the job complete only after the function has returned.
        async def completed() -> bool:
            job = await producer.saq.job("member:3")
            return job is None or job.status == Status.COMPLETE

        await eventually(completed, timeout_s=20)

        assert await producer.enqueue("test.blocked", key="member:3", n=3) is True
        await eventually(lambda: {"blocked": 3} in state["runs"], timeout_s=10)
        assert {"blocked": 2} not in state["runs"]
    finally:
        await producer.stop()
