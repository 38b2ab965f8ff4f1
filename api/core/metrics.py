"""Prometheus metrics of every process (API and worker), and how a scrape gathers them.

One API process keeps its samples in memory. Several (`memberhub serve --workers N`) run in
prometheus-client's multiprocess mode: `serve` sets PROMETHEUS_MULTIPROC_DIR for the processes
it starts, each writes its samples to files there, and a scrape answered by any one of them adds
up all of them. What cannot be added up changes shape in that mode: the process collector's
series (CPU, memory, file descriptors, start time) are given for every live API process with a
`pid` label, and the garbage collector's are left out (one process cannot read another's).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

# prometheus-client picks its value store once, at import, from PROMETHEUS_MULTIPROC_DIR.
MULTIPROCESS = bool(getattr(values.ValueClass, "_multiprocess", False))

REGISTRY = CollectorRegistry(auto_describe=True)
if not MULTIPROCESS:
    # The default registry's collectors describe this process (python_info, process_*, python_gc_*).
    for _collector in (PLATFORM_COLLECTOR, PROCESS_COLLECTOR, GC_COLLECTOR):
        REGISTRY.register(_collector)

API_PROCESSES = Gauge(
    "memberhub_api_processes",
    "API processes serving (each counts itself while it runs).",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)

UPSTREAM_CALLS = Counter(
    "memberhub_upstream_calls_total",
    "Calls to WeChat and Alipay, by platform, API and outcome "
    "(ok, invalid_code, refused, bad_signature, unreachable).",
    ["platform", "api", "outcome"],
    registry=REGISTRY,
)
UPSTREAM_LATENCY = Histogram(
    "memberhub_upstream_call_duration_seconds",
    "Time a call to WeChat or Alipay took, by platform and API, whatever its outcome.",
    ["platform", "api"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)

JOBS = Counter(
    "memberhub_jobs_total",
    "Queued and scheduled jobs run, by function and outcome (ok, failed, cancelled).",
    ["function", "outcome"],
    registry=REGISTRY,
)
JOB_LATENCY = Histogram(
    "memberhub_job_duration_seconds",
    "Time a job ran, by function, whatever its outcome.",
    ["function"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 600),
    registry=REGISTRY,
)


def observe_upstream(*, platform: str, api: str, outcome: str, started: float) -> None:
    """Count one platform call that began at `started` (time.perf_counter())."""
    UPSTREAM_CALLS.labels(platform, api, outcome).inc()
    UPSTREAM_LATENCY.labels(platform, api).observe(time.perf_counter() - started)


def observe_job(*, function: str, outcome: str, started: float) -> None:
    """Count one job run that began at `started` (time.perf_counter())."""
    JOBS.labels(function, outcome).inc()
    JOB_LATENCY.labels(function).observe(time.perf_counter() - started)


def _multiprocess_dir() -> Path:
    # prometheus-client's own variable, set by `memberhub serve` for the processes it starts.
    return Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])  # noqa: TID251


def mark_api_process_started() -> None:
    """Count this process among the API processes serving (its pid joins the scrape's)."""
    API_PROCESSES.set(1)


def mark_api_process_stopped() -> None:
    """Take this process out of the live ones (its counters stay in the totals)."""
    API_PROCESSES.set(0)
    if MULTIPROCESS:
        multiprocess.mark_process_dead(os.getpid())


class _ApiProcesses(Collector):
    """process_* of every live API process, labelled with its pid (multiprocess mode)."""

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for pid in _live_pids():
            for family in ProcessCollector(pid=partial(int, pid), registry=None).collect():
                target = merged.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                for sample in family.samples:
                    target.add_sample(sample.name, {**sample.labels, "pid": str(pid)}, sample.value)
        yield from merged.values()


def _live_pids() -> list[int]:
    """Processes that counted themselves in and have not been marked dead (their gauge file)."""
    pids = []
    for path in _multiprocess_dir().glob("gauge_livesum_*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and Path(f"/proc/{pid}").exists():
            pids.append(int(pid))
    return sorted(pids)


class _Scrape(Collector):
    def __init__(self, sources: Iterable[Collector], readings: Iterable[Metric]) -> None:
        self.sources = list(sources)
        self.readings = list(readings)

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source.collect()
        yield from self.readings


def render(readings: Iterable[Metric] = ()) -> bytes:
    """The text exposition: this process's metrics, or every API process's in multiprocess mode,
    followed by `readings` (values read at scrape time, the same whichever process answers)."""
    sources: list[Collector]
    if MULTIPROCESS:
        sources = [
            multiprocess.MultiProcessCollector(None, path=str(_multiprocess_dir())),
            PlatformCollector(registry=None),
            _ApiProcesses(),
        ]
    else:
        sources = [REGISTRY]
    return generate_latest(_Scrape(sources, readings))
