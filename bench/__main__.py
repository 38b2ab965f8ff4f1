"""memberhub benchmarks: `python -m bench [--stack embedded|postgres|both] [--duration S]`.

For each stack, a fresh database is migrated and seeded, one API process serves on loopback,
and wrk loads each scenario with 64 connections (payment notifications: 50, each request the
signed notification of a payment of its own, see `notifications`). Every figure is printed with
its ratio to the bare JSON route (`bare_json`), measured in the same run on the same stack.

The speed of a shared machine drifts by tens of percent within a minute, so the bare route is
measured right before and right after each scenario (bare, scenario, bare, next scenario,
bare, ...) and the scenario's ratio is against those two runs together. Each scenario is one
run: every start of wrk opens its connections at once and slows the first requests, which
would weigh on the percentiles of a scenario cut into short runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import notifications
from .scenarios import SCENARIOS, Scenario
from .wrk import Figures, require_wrk, run_wrk

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
WARMUP_S = 2
# Fresh member codes seeded per second of a run that burns them: above the few thousand
# resolves a second one process manages here, so no run runs out.
CODES_PER_S = 8_000
# Unpaid payments seeded per second of a notification scenario, per platform: well above the
# notifications a second one process would apply at the goal, so no run sends one twice.
NOTIFICATIONS_PER_S = 1_000
# Between two wrk runs: the server finishes the requests the last run left in flight, so they
# do not slow the first requests of the next.
PAUSE_S = 0.5


@dataclass
class Result:
    scenario: Scenario
    figures: Figures
    baseline: Figures  # the bare route, measured right before and right after this scenario


def services_env(module: str) -> dict[str, str]:
    """The PostgreSQL and Redis the bench `module` runs on: the test servers named in the
    environment; without them, the bench runs again under scripts/test-services' throwaway ones."""
    database = os.environ.get("MEMBERHUB_TEST_DATABASE_URL")
    redis = os.environ.get("MEMBERHUB_TEST_REDIS_URL")
    if not (database and redis):
        command = [str(ROOT / "scripts" / "test-services"), "run", "--", PYTHON, "-m", module]
        raise SystemExit(subprocess.call([*command, *sys.argv[1:]], cwd=ROOT))
    return {"MEMBERHUB_DATABASE_URL": database, "MEMBERHUB_REDIS_URL": redis}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(url: str, *, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server did not become ready at {url}")


@contextmanager
def served(env: dict[str, str], work: Path, port: int) -> Iterator[str]:
    """`python -m bench.server` on `port`, ready: its base URL. On a failure inside, the tail of
    its log goes to stderr; it is stopped on the way out."""
    server_log = work / "server.log"
    server = subprocess.Popen(
        [PYTHON, "-m", "bench.server", "--port", str(port), "--seed-out", str(work / "s.json")],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        # A file, not a pipe: a pipe nobody reads fills up and stalls the server mid-run.
        stderr=server_log.open("wb"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{base}/readyz")
        yield base
    except BaseException:
        sys.stderr.write(server_log.read_text(errors="replace")[-4000:])
        raise
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def run_stack(name: str, env: dict[str, str], *, duration_s: int, connections: int) -> list[Result]:
    """Migrate, seed and serve one stack, then measure every scenario against it."""
    work = Path(tempfile.mkdtemp(prefix=f"memberhub-bench-{name}-"))
    env = os.environ | env | {"MEMBERHUB_ENV": "development", "MEMBERHUB_LOG_LEVEL": "WARNING"}
    env.setdefault("MEMBERHUB_DATABASE_URL", f"sqlite://{work / 'bench.sqlite3'}")
    subprocess.run(
        [PYTHON, "-m", "api.cli", "migrate"], env=env, cwd=ROOT, check=True, capture_output=True
    )

    port = _free_port()
    seed_out = work / "seed.json"
    server_log = work / "server.log"
    selected = [s for s in SCENARIOS if scenario_selected(s.name)]
    codes = CODES_PER_S * (WARMUP_S + duration_s) * sum(s.uses_codes for s in selected)
    platforms = [s.notifications for s in selected if s.notifications]
    payments = NOTIFICATIONS_PER_S * (WARMUP_S + duration_s) if platforms else 0
    bare_s = max(1, duration_s // 2)
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
            "--notifications",
            str(payments),
            "--platforms",
            ",".join(platforms),
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
        codes_used = 0
        notifications_used: dict[str, int] = {}

        def sign(scenario: Scenario, seconds: int) -> tuple[Path, int] | None:
            """The signed notifications one run of the scenario sends: fresh payments each."""
            if not scenario.notifications:
                return None
            seeded = fixtures["notifications"][scenario.notifications]
            start = notifications_used.get(scenario.notifications, 0)
            end = start + NOTIFICATIONS_PER_S * seconds
            notifications_used[scenario.notifications] = end
            numbers = json.loads(Path(seeded["payments"]).read_text())[start:end]
            path = work / f"requests.{scenario.notifications}.{start}"
            return path, notifications.write_requests(scenario.notifications, seeded, numbers, path)

        def load(
            scenario: Scenario, seconds: int, requests: tuple[Path, int] | None = None
        ) -> Figures:
            nonlocal codes_used
            codes_from = codes_used
            if scenario.uses_codes:
                codes_used += CODES_PER_S * seconds  # a code burns on first use: never reuse one
            time.sleep(PAUSE_S)
            figures = run_wrk(
                f"http://127.0.0.1:{port}{scenario.path(fixtures)}",
                method=scenario.method,
                token=scenario.token(fixtures),
                body=scenario.body,
                codes_file=work / "seed.codes" if scenario.uses_codes else None,
                codes_slice=(codes_from, codes_used),
                requests_file=requests[0] if requests else None,
                connections=scenario.connections or connections,
                duration_s=seconds,
            )
            if requests and figures.requests > requests[1]:
                print(
                    f"warning: {scenario.name} answered {figures.requests} requests but had"
                    f" {requests[1]} notifications: some were sent twice",
                    file=sys.stderr,
                )
            return figures

        bare, *others = [s for s in selected if s.available(fixtures)]
        load(bare, WARMUP_S)
        bare_runs = [load(bare, bare_s)]
        results = []
        for scenario in others:
            # Notifications are signed before the warm-up, so the two runs follow each other.
            warmup_requests = sign(scenario, WARMUP_S)
            run_requests = sign(scenario, duration_s)
            # A short unmeasured run first: connection pools fill, caches warm, as in service.
            load(scenario, WARMUP_S, warmup_requests)
            figures = load(scenario, duration_s, run_requests)
            bare_runs.append(load(bare, bare_s))
            results.append(Result(scenario, figures, Figures.merged(bare_runs[-2:])))
        bare_figures = Figures.merged(bare_runs)
        return [Result(bare, bare_figures, bare_figures), *results]
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


def report(stack: str, results: list[Result]) -> None:
    print(f"\n== {stack} ==")
    print(
        f"{'scenario':<24}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>9}"
        f"{'bare req/s':>12}{'vs bare':>10}"
    )
    for result in results:
        figures, baseline = result.figures, result.baseline
        print(
            f"{result.scenario.name:<24}{figures.requests_per_s:>10.0f}{figures.p50_ms:>10.2f}"
            f"{figures.p99_ms:>10.2f}{figures.errors:>9}{baseline.requests_per_s:>12.0f}"
            f"{figures.requests_per_s / baseline.requests_per_s:>10.1%}"
        )
        if result.scenario.goal:
            print(f"{'':<24}goal: {result.scenario.goal}")


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
        f"memberhub bench: {os.cpu_count()} cores, {args.connections} connections, one API"
        f" process, {args.duration}s per scenario, bare_json {args.duration // 2}s before and"
        " after each"
    )
    if any(s.connections for s in SCENARIOS if scenario_selected(s.name)):
        print("payment notifications: 50 connections, each request a new payment's notification")
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
        if scenario_selected("onboarding"):  # a job timed end to end, not a wrk load
            from .onboarding import main as onboarding_bench

            onboarding_bench(["--runs", "3"])


if __name__ == "__main__":
    main()
