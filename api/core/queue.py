"""The job-queue port: named jobs, schedules, an in-process runner and saq workers on Redis.

Jobs are plain `async def fn(**kwargs)` registered by name with `@job("name")`; schedules are
declared with `schedule("name", every_s=…)` or `schedule("name", cron=…)`. Any process may
`enqueue()` a job by name; only a worker (`memberhub worker`) runs the schedules. Jobs must be
idempotent: a job can run twice (a retry, a schedule firing in two worker processes of the
in-process runner) and must do no harm.

Cron expressions are read in Asia/Shanghai, the brand's local time ("0 3 * * *" is 03:00 in the
shops, not in UTC).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from croniter import croniter

from .clock import SHANGHAI, Clock
from .metrics import observe_job

if TYPE_CHECKING:
    import saq

    from config.settings import Settings

log = logging.getLogger("memberhub.queue")

JobFn = Callable[..., Awaitable[Any]]

DEFAULT_TIMEOUT_S = 300

# saq's sweeper gives up on a job whose worker died once its timeout has passed, and can also
# catch a job in the instant between being taken and being marked active (tobymao/saq#277).
# A job it gives up on is run again while attempts remain; jobs are idempotent, so that is safe.
SAQ_ATTEMPTS = 3
SAQ_RETRY_DELAY_S = 5.0


@dataclass(frozen=True)
class JobSpec:
    """A registered job: its name, its function and how long one run may take."""

    name: str
    fn: JobFn
    timeout_s: int = DEFAULT_TIMEOUT_S


@dataclass(frozen=True)
class Schedule:
    """A job run on a timetable: every `every_s` seconds, or by a cron expression."""

    name: str
    cron: str | None = None
    every_s: int | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.every_s is None):
            raise ValueError(f"schedule {self.name!r}: give exactly one of cron= or every_s=")
        if self.cron is not None and not croniter.is_valid(self.cron):
            raise ValueError(f"schedule {self.name!r}: invalid cron {self.cron!r}")
        if self.every_s is not None and self.every_s <= 0:
            raise ValueError(f"schedule {self.name!r}: every_s must be positive")

    def next_after(self, moment: datetime) -> datetime:
        """The first run time strictly after `moment` (timezone-aware)."""
        if self.every_s is not None:
            return moment + timedelta(seconds=self.every_s)
        assert self.cron is not None
        following: datetime = croniter(self.cron, moment.astimezone(SHANGHAI)).get_next(datetime)
        return following

    def as_cron(self) -> str:
        """The schedule as a cron expression (saq has no intervals); seconds go in a 6th field."""
        if self.cron is not None:
            return self.cron
        assert self.every_s is not None
        if self.every_s < 60 and 60 % self.every_s == 0:
            return f"* * * * * */{self.every_s}"
        if self.every_s % 60 == 0 and 3600 % self.every_s == 0:
            return f"*/{self.every_s // 60} * * * *"
        raise ValueError(
            f"schedule {self.name!r}: every_s={self.every_s} cannot be written as a cron "
            "expression; use a divisor of 60 s or of 60 min, or cron="
        )


class Registry:
    """The jobs and schedules a process knows about."""

    def __init__(self) -> None:
        self.jobs: dict[str, JobSpec] = {}
        self.schedules: dict[str, Schedule] = {}

    def job(self, name: str, *, timeout_s: int = DEFAULT_TIMEOUT_S) -> Callable[[JobFn], JobFn]:
        """Decorator: register `async def fn(**kwargs)` as the job `name`."""

        def register(fn: JobFn) -> JobFn:
            existing = self.jobs.get(name)
            if existing is not None and existing.fn is not fn:
                raise ValueError(f"job {name!r} is already registered to {existing.fn!r}")
            self.jobs[name] = JobSpec(name=name, fn=fn, timeout_s=timeout_s)
            return fn

        return register

    def schedule(
        self, name: str, *, cron: str | None = None, every_s: int | None = None, **kwargs: Any
    ) -> Schedule:
        """Declare that the job `name` runs on a timetable; declaring it again replaces it."""
        declared = Schedule(name=name, cron=cron, every_s=every_s, kwargs=kwargs)
        self.schedules[name] = declared
        return declared

    def spec(self, name: str) -> JobSpec:
        """The registered job `name`; LookupError when there is none."""
        try:
            return self.jobs[name]
        except KeyError:
            raise LookupError(f"no job registered under {name!r}") from None


REGISTRY = Registry()  # the process-wide jobs and schedules (workers/jobs.py fills it)


async def run_measured(spec: JobSpec, call: Awaitable[Any]) -> Any:
    """Await one run of `spec` (`call`), counting it in the job metrics by its outcome."""
    started = time.perf_counter()
    outcome = "failed"
    try:
        result = await call
        outcome = "ok"
        return result
    except asyncio.CancelledError:
        outcome = "cancelled"
        raise
    finally:
        observe_job(function=spec.name, outcome=outcome, started=started)


def job(name: str, *, timeout_s: int = DEFAULT_TIMEOUT_S) -> Callable[[JobFn], JobFn]:
    """Decorator: register a job in the process-wide registry."""
    return REGISTRY.job(name, timeout_s=timeout_s)


def schedule(
    name: str, *, cron: str | None = None, every_s: int | None = None, **kwargs: Any
) -> Schedule:
    """Declare a schedule in the process-wide registry."""
    return REGISTRY.schedule(name, cron=cron, every_s=every_s, **kwargs)


def _schedule_key(name: str) -> str:
    # The same key saq gives unique cron jobs: a schedule never overlaps its previous run.
    return f"cron:{name}"


class Queue(Protocol):
    """What services and workers may ask of the job queue."""

    async def enqueue(self, job_name: str, *, key: str | None = None, **kwargs: Any) -> bool:
        """Queue a run of `job_name(**kwargs)`; False when a job with this `key` is still pending."""
        ...

    async def start(self) -> None:
        """Start running jobs (and schedules, in a worker); returns once running."""
        ...

    async def stop(self) -> None:
        """Stop taking jobs, let running ones finish briefly, release connections."""
        ...

    async def depth(self) -> dict[str, int]:
        """Jobs waiting for a worker (`queued`) and being run (`active`), for monitoring."""
        ...


class LocalQueue:
    """In-process runner: each job runs as an asyncio task of this process (embedded default)."""

    def __init__(
        self,
        registry: Registry | None = None,
        *,
        run_schedules: bool = False,
        clock: Clock | None = None,
        tick_s: float = 1.0,
        shutdown_grace_s: float = 10.0,
    ) -> None:
        self.registry = registry or REGISTRY
        self.run_schedules = run_schedules
        self._clock = clock
        self._tick_s = tick_s
        self._grace_s = shutdown_grace_s
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending_keys: set[str] = set()
        self._scheduler: asyncio.Task[None] | None = None

    def _now(self) -> datetime:
        if self._clock is not None:
            return self._clock.now()
        # Read the installed clock on every tick, so a test that freezes it moves the schedules.
        from .ports import clock

        return clock().now()

    async def enqueue(self, job_name: str, *, key: str | None = None, **kwargs: Any) -> bool:
        spec = self.registry.spec(job_name)
        if key is not None:
            if key in self._pending_keys:
                return False
            self._pending_keys.add(key)
        task = asyncio.create_task(self._run(spec, key, kwargs), name=f"job:{job_name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _run(self, spec: JobSpec, key: str | None, kwargs: dict[str, Any]) -> None:
        try:
            await run_measured(spec, asyncio.wait_for(spec.fn(**kwargs), timeout=spec.timeout_s))
        except Exception:
            # Nobody awaits a queued job; its failure must at least reach the log.
            log.exception("job %s failed", spec.name)
        finally:
            if key is not None:
                self._pending_keys.discard(key)

    async def start(self) -> None:
        if self.run_schedules and self._scheduler is None:
            self._scheduler = asyncio.create_task(self._run_schedules(), name="job-scheduler")

    async def _run_schedules(self) -> None:
        due = {name: s.next_after(self._now()) for name, s in self.registry.schedules.items()}
        while True:
            await asyncio.sleep(self._tick_s)
            now = self._now()
            for name, declared in self.registry.schedules.items():
                if name not in due:  # declared after start
                    due[name] = declared.next_after(now)
                if now >= due[name]:
                    due[name] = declared.next_after(now)
                    await self.enqueue(name, key=_schedule_key(name), **declared.kwargs)

    async def depth(self) -> dict[str, int]:
        # Jobs start as soon as they are queued: none waits, and these are this process's only.
        return {"queued": 0, "active": len(self._tasks)}

    async def join(self) -> None:
        """Wait until every job queued so far has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.cancel()
            await asyncio.gather(self._scheduler, return_exceptions=True)
            self._scheduler = None
        if not self._tasks:
            return
        try:
            await asyncio.wait_for(self.join(), timeout=self._grace_s)
        except TimeoutError:
            log.warning("cancelling %d jobs still running at shutdown", len(self._tasks))
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class SaqQueue:
    """saq on Redis: any process enqueues; `memberhub worker` processes run jobs and schedules."""

    def __init__(
        self,
        url: str,
        registry: Registry | None = None,
        *,
        run_worker: bool = False,
        name: str = "memberhub",
        concurrency: int = 10,
        shutdown_grace_s: int = 10,
        retry_delay_s: float = SAQ_RETRY_DELAY_S,
    ) -> None:
        from saq import Queue as SaqBackend

        self.registry = registry or REGISTRY
        self.run_worker = run_worker
        self.concurrency = concurrency
        # saq waits this long on stop() even when idle (its upkeep loops sleep up to a minute),
        # then cancels what is left; a cancelled job is retried by saq.
        self.shutdown_grace_s = shutdown_grace_s
        self.retry_delay_s = retry_delay_s
        self.saq: saq.Queue = SaqBackend.from_url(url, name=name)
        self._connected = False
        self._worker: saq.Worker | None = None
        self._worker_task: asyncio.Task[None] | None = None

    async def _connect(self) -> None:
        if not self._connected:
            await self.saq.connect()
            self._connected = True

    async def enqueue(self, job_name: str, *, key: str | None = None, **kwargs: Any) -> bool:
        await self._connect()
        known = self.registry.jobs.get(job_name)
        # Arguments go in `kwargs=` explicitly: saq would take a job argument named like a Job
        # field (`key`, `timeout`, `retries` …) as that field.
        options: dict[str, Any] = {
            "kwargs": kwargs,
            "timeout": known.timeout_s if known else DEFAULT_TIMEOUT_S,
            "retries": SAQ_ATTEMPTS,
            "retry_delay": self.retry_delay_s,
            "retry_backoff": True,
        }
        if key is not None:
            options["key"] = key
        return await self.saq.enqueue(job_name, **options) is not None

    def _saq_function(self, spec: JobSpec) -> Callable[..., Awaitable[Any]]:
        async def run(ctx: dict[str, Any], **kwargs: Any) -> Any:
            return await run_measured(spec, spec.fn(**kwargs))

        # saq names cron jobs by the function's __qualname__; make it the job's name.
        run.__qualname__ = run.__name__ = spec.name
        return run

    async def start(self) -> None:
        await self._connect()
        if not self.run_worker or self._worker is not None:
            return
        from saq import CronJob, Worker

        functions = {name: self._saq_function(spec) for name, spec in self.registry.jobs.items()}
        cron_jobs = [
            CronJob(
                functions[declared.name],
                cron=declared.as_cron(),
                timeout=self.registry.spec(declared.name).timeout_s,
                retries=SAQ_ATTEMPTS,
                kwargs=declared.kwargs or None,
            )
            for declared in self.registry.schedules.values()
        ]
        worker: Worker[Any] = Worker(
            self.saq,
            functions=list(functions.items()),
            cron_jobs=cron_jobs,
            cron_tz=SHANGHAI,
            concurrency=self.concurrency,
            shutdown_grace_period_s=self.shutdown_grace_s,
        )
        # The process (workers.main) owns SIGINT/SIGTERM and calls stop(); saq's own handlers
        # would replace ours and stop only the saq loop.
        worker.SIGNALS = []
        self._worker = worker
        self._worker_task = asyncio.create_task(worker.start(), name="saq-worker")

    async def depth(self) -> dict[str, int]:
        await self._connect()
        return {"queued": await self.saq.count("queued"), "active": await self.saq.count("active")}

    async def stop(self) -> None:
        if self._worker is not None:
            await self._worker.stop()
            if self._worker_task is not None:
                await asyncio.gather(self._worker_task, return_exceptions=True)
            self._worker = None
            self._worker_task = None
        if self._connected:
            await self.saq.disconnect()
            self._connected = False


def build_queue(settings: Settings, *, worker: bool = False) -> Queue:
    """saq when a Redis URL is set, the in-process runner otherwise; `worker` runs jobs/schedules."""
    if settings.redis_url:
        return SaqQueue(
            settings.redis_url,
            run_worker=worker,
            name=settings.queue_name,
            concurrency=settings.worker_concurrency,
            shutdown_grace_s=settings.worker_shutdown_grace_s,
        )
    return LocalQueue(run_schedules=worker, shutdown_grace_s=settings.worker_shutdown_grace_s)
