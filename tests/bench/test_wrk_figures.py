"""The benchmark's arithmetic: wrk reports read back, runs added together, percentiles."""

from __future__ import annotations

from collections import Counter

from bench.wrk import Figures, parse


def test_a_report_gives_counts_errors_and_latencies() -> None:
    figures = parse("1000 2000000 0 1 0 3 2\n900 600\n1500 400\n")

    assert figures.requests == 1000
    assert figures.requests_per_s == 500
    assert figures.errors == 6  # read, non-2xx and timeouts together
    assert figures.latency_us == Counter({900: 600, 1500: 400})
    assert figures.p50_ms == 0.9
    assert figures.p99_ms == 1.5


def test_runs_added_together_take_percentiles_over_all_their_requests() -> None:
    fast = Figures(requests=99, duration_s=1, latency_us=Counter({1000: 99}))
    slow = Figures(requests=2, duration_s=1, errors=1, latency_us=Counter({50_000: 2}))

    both = Figures.merged([fast, slow])

    assert both.requests_per_s == 50.5
    assert both.errors == 1
    assert both.p50_ms == 1.0
    # 2 of 101 requests were slow: the 99th percentile is one of them, not an average of runs.
    assert both.p99_ms == 50.0


def test_no_requests_means_no_latency() -> None:
    assert Figures().p99_ms == 0.0
    assert Figures().requests_per_s == 0.0
