"""Prometheus metrics: request counts and latencies by route."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "memberhub_http_requests_total",
    "HTTP requests answered, by method, route and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "memberhub_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route.",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
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


def render() -> bytes:
    return generate_latest(REGISTRY)
