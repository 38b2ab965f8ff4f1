"""Run wrk against one route and read back every latency it recorded.

wrk's Lua `done()` hook (`wrk_request.lua`) writes the run's counts and its whole latency
histogram to a file, so that runs of the same route can be added together and their
percentiles taken over all their requests.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

LUA = Path(__file__).with_name("wrk_request.lua")
NOTIFICATIONS_LUA = Path(__file__).with_name("wrk_notifications.lua")


@dataclass
class Figures:
    """What one or more wrk runs of the same route measured."""

    requests: int = 0
    duration_s: float = 0.0
    errors: int = 0  # non-2xx/3xx answers plus socket errors
    latency_us: Counter[int] = field(default_factory=Counter)  # latency in µs -> requests

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(50)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(99)

    def percentile_ms(self, p: float) -> float:
        """The smallest latency that `p` % of the recorded requests did not exceed."""
        total = sum(self.latency_us.values())
        if not total:
            return 0.0
        rank = p / 100 * total
        seen = 0
        for value, count in sorted(self.latency_us.items()):
            seen += count
            if seen >= rank:
                return value / 1000
        return max(self.latency_us) / 1000

    @classmethod
    def merged(cls, runs: Iterable[Figures]) -> Figures:
        total = cls()
        for run in runs:
            total.requests += run.requests
            total.duration_s += run.duration_s
            total.errors += run.errors
            total.latency_us.update(run.latency_us)
        return total


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (make bench does this)")
    return path


def run_wrk(
    url: str,
    *,
    method: str = "GET",
    token: str | None = None,
    body: str | None = None,
    codes_file: Path | None = None,
    codes_slice: tuple[int, int] = (0, 1_000_000_000),
    requests_file: Path | None = None,
    connections: int = 64,
    threads: int = 2,
    duration_s: int = 10,
    timeout_s: int | None = None,
) -> Figures:
    """Load one URL with `connections` open connections for `duration_s` seconds.

    With `requests_file` (see `notifications.write_requests`), the requests are the file's,
    each sent once (to its own path on the URL's server) until the file runs out. With
    `timeout_s`, an answer slower than wrk's default 2 s is measured instead of cut off."""
    with tempfile.NamedTemporaryFile(prefix="memberhub-wrk-", suffix=".txt") as report:
        env = {
            "WRK_METHOD": method,
            "WRK_TOKEN": token or "",
            "WRK_BODY": body or "",
            "WRK_THREADS": str(threads),
            "WRK_REPORT": report.name,
        }
        if codes_file is not None:
            env["WRK_CODES"] = str(codes_file)
            env["WRK_CODES_FROM"], env["WRK_CODES_TO"] = (str(n) for n in codes_slice)
        if requests_file is not None:
            env["WRK_REQUESTS"] = str(requests_file)
        command = [
            require_wrk(),
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration_s}s",
            *(("--timeout", f"{timeout_s}s") if timeout_s else ()),
            "-s",
            str(LUA if requests_file is None else NOTIFICATIONS_LUA),
            url,
        ]
        subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        return parse(Path(report.name).read_text())


def parse(report: str) -> Figures:
    """Read the report `wrk_request.lua` writes: a line of counts, then `latency count` lines."""
    lines = report.splitlines()
    requests, duration_us, *errors = (int(n) for n in lines[0].split())
    latency: Counter[int] = Counter()
    for line in lines[1:]:
        value, count = line.split()
        latency[int(value)] += int(count)
    return Figures(
        requests=requests, duration_s=duration_us / 1e6, errors=sum(errors), latency_us=latency
    )
