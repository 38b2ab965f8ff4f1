"""memberhub benchmarks: `python -m bench [--stack embedded|postgres|both] [--duration S]`.

For each stack, a fresh database is migrated and seeded, one API process serves on loopback,
and wrk loads each scenario with 64 connections. Every figure is printed with its ratio to the
bare JSON route measured in the same run on the same stack.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from .scenarios import SCENARIOS, Scenario
from .wrk import Figures, require_wrk, run_wrk

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
WARMUP_S = 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(url: str, *, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server did not become ready at {url}")


def run_stack(
    name: str, env: dict[str, str], *, duration_s: int, connections: int
) -> list[tuple[Scenario, Figures]]:
    """Migrate, seed and serve one stack, then run every scenario against it."""
    work = Path(tempfile.mkdtemp(prefix=f"memberhub-bench-{name}-"))
    env = os.environ | env | {"MEMBERHUB_ENV": "development", "MEMBERHUB_LOG_LEVEL": "WARNING"}
    env.setdefault("MEMBERHUB_DATABASE_URL", f"sqlite://{work / 'bench.sqlite3'}")
    subprocess.run(
        [PYTHON, "-m", "api.cli", "migrate"], env=env, cwd=ROOT, check=True, capture_output=True
    )

    port = _free_port()
    seed_out = work / "seed.json"
    server_log = work / "server.log"
    codes = max(40_000, duration_s * 10_000)  # half for the measured run, half for the warm-up
    server = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "bench.server",
            "--port",
            str(port),
            "--seed-out",
            str(seed_out),
            "--codes",
            str(codes),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        # A file, not a pipe: a pipe nobody reads fills up and stalls the server mid-run.
        stderr=server_log.open("wb"),
    )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/readyz")
        fixtures = json.loads(seed_out.read_text())
        results = []
        for scenario in SCENARIOS:
            if not scenario.available(fixtures) or not scenario_selected(scenario.name):
                continue

            load = functools.partial(
                run_wrk,
                f"http://127.0.0.1:{port}{scenario.path(fixtures)}",
                method=scenario.method,
                token=scenario.token(fixtures),
                body=scenario.body,
                codes_file=work / "seed.codes" if scenario.uses_codes else None,
                connections=connections,
            )
            # A short unmeasured run first: connection pools fill, caches warm, as in service.
            load(duration_s=WARMUP_S, codes_slice=(codes // 2, codes))
            results.append((scenario, load(duration_s=duration_s, codes_slice=(0, codes // 2))))
        return results
    except BaseException:
        sys.stderr.write(server_log.read_text(errors="replace")[-4000:])
        raise
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)


def scenario_selected(name: str) -> bool:
    only = os.environ.get("MEMBERHUB_BENCH_ONLY", "")
    return not only or name == "bare_json" or name in only.split(",")


def report(stack: str, results: list[tuple[Scenario, Figures]]) -> None:
    base = next((f for s, f in results if s.name == "bare_json"), None)
    print(f"\n== {stack} ==")
    print(f"{'scenario':<24}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>9}{'vs bare':>10}")
    for scenario, figures in results:
        ratio = f"{figures.requests_per_s / base.requests_per_s:.1%}" if base else "-"
        print(
            f"{scenario.name:<24}{figures.requests_per_s:>10.0f}{figures.p50_ms:>10.2f}"
            f"{figures.p99_ms:>10.2f}{figures.errors:>9}{ratio:>10}"
        )
        if scenario.goal:
            print(f"{'':<24}goal: {scenario.goal}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--stack", choices=["embedded", "postgres", "both"], default="both")
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--only", default="", help="comma-separated scenario names (bare_json is always run)"
    )
    args = parser.parse_args()
    if args.only:
        os.environ["MEMBERHUB_BENCH_ONLY"] = args.only
    require_wrk()
    print(
        f"memberhub bench: {os.cpu_count()} cores, {args.connections} connections, {args.duration}s per scenario, one API process"
    )

    if args.stack in ("embedded", "both"):
        report(
            "embedded (SQLite + in-process cache)",
            run_stack("embedded", {}, duration_s=args.duration, connections=args.connections),
        )
    if args.stack in ("postgres", "both"):
        database = os.environ.get("MEMBERHUB_TEST_DATABASE_URL")
        redis = os.environ.get("MEMBERHUB_TEST_REDIS_URL")
        if not (database and redis):
            # Start throwaway servers and run this same command inside them.
            command = [
                str(ROOT / "scripts" / "test-services"),
                "run",
                "--",
                PYTHON,
                "-m",
                "bench",
                "--stack",
                "postgres",
                "--duration",
                str(args.duration),
                "--connections",
                str(args.connections),
            ]
            raise SystemExit(subprocess.call(command, cwd=ROOT))
        env = {"MEMBERHUB_DATABASE_URL": database, "MEMBERHUB_REDIS_URL": redis}
        report(
            "postgresql + redis",
            run_stack("postgres", env, duration_s=args.duration, connections=args.connections),
        )


if __name__ == "__main__":
    main()
