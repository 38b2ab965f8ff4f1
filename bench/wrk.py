"""Run wrk against one route and read its figures (requests/s, p99, errors)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).with_name("wrk_request.lua")


@dataclass
class Figures:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx answers plus socket errors


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
    connections: int = 64,
    threads: int = 2,
    duration_s: int = 10,
) -> Figures:
    """Load one URL with `connections` open connections for `duration_s` seconds."""
    env = {
        "WRK_METHOD": method,
        "WRK_TOKEN": token or "",
        "WRK_BODY": body or "",
        "WRK_THREADS": str(threads),
    }
    if codes_file is not None:
        env["WRK_CODES"] = str(codes_file)
        env["WRK_CODES_FROM"], env["WRK_CODES_TO"] = (str(n) for n in codes_slice)
    command = [
        require_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration_s}s",
        "--latency",
        "-s",
        str(LUA),
        url,
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return parse(result.stdout)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse(output: str) -> Figures:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx:
        errors += int(non2xx.group(1))
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sockets:
        errors += sum(int(n) for n in sockets.groups())
    return Figures(requests_per_s=rps, p50_ms=p50, p99_ms=p99, requests=total, errors=errors)
