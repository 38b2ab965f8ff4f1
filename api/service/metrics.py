"""/metrics: request counts and latencies by route, and what the API reads at scrape time.

The metrics themselves, and how one scrape sees every API process, are in api/core/metrics.py.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from api.core import metrics as core_metrics
from api.core import outbox, ports

log = logging.getLogger("memberhub.metrics")

REQUESTS = Counter(
    "memberhub_http_requests_total",
    "HTTP requests answered, by method, route and status.",
    ["method", "route", "status"],
    registry=core_metrics.REGISTRY,
)
LATENCY = Histogram(
    "memberhub_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route.",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=core_metrics.REGISTRY,
)


# The labelled series of each (method, route, status) seen, looked up once: `labels()` checks
# and converts its arguments under a lock on every call. Routes are templates, so this stays small.
_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe(*, method: str, route: str, status: int, seconds: float) -> None:
    key = (method, route, status)
    series = _SERIES.get(key)
    if series is None:
        series = _SERIES[key] = (
            REQUESTS.labels(method, route, str(status)),
            LATENCY.labels(method, route),
        )
    count, latency = series
    count.inc()
    latency.observe(seconds)


async def render() -> bytes:
    """The scrape: every metric, then the outbox and the job queue as they stand now."""
    return core_metrics.render(await _readings())


async def _readings() -> list[Metric]:
    """Deployment-wide values read at scrape time: the same whichever process answers, so gather
    them across API instances with max(), not sum(). A source that cannot be read is left out."""
    gauges = [
        await _gauge(
            "memberhub_outbox_messages",
            "Outbox messages waiting to be sent (pending) or given up on (dead).",
            label="status",
            read=outbox.count_undelivered,
        ),
        await _gauge(
            "memberhub_queue_jobs",
            "Jobs in the queue: waiting for a worker (queued) and being run (active).",
            label="state",
            read=lambda: ports.queue().depth(),
        ),
    ]
    return [gauge for gauge in gauges if gauge is not None]


async def _gauge(
    name: str, documentation: str, *, label: str, read: Callable[[], Awaitable[dict[str, int]]]
) -> Metric | None:
    try:
        counts = await read()
    except Exception as exc:
        log.warning("metrics: %s unreadable (%s)", name, type(exc).__name__)
        return None
    gauge = GaugeMetricFamily(name, documentation, labels=[label])
    for value, count in counts.items():
        gauge.add_metric([value], count)
    return gauge
