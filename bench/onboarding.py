"""The franchise onboarding benchmark: `python -m bench.onboarding [--stores 2000] [--runs 3]`.

On PostgreSQL + Redis (started by scripts/test-services unless MEMBERHUB_TEST_DATABASE_URL and
MEMBERHUB_TEST_REDIS_URL are set): a fresh database is migrated and given the demo brand, then
the sandbox, one API process and one worker process run on loopback, as in a deployment. Each
run posts a file of new franchise stores (each with its own WeChat Pay sub-merchant and Alipay
authorisation, so every line takes two platform checks) and times it from the POST to `done`,
polling the job as head office would. After the runs, the last file is sent again: every line
is checked again and nothing changes. Goal: 2,000 stores in under 60 s, all or nothing.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GOAL_S = 60.0
COLUMNS = (
    "store_code",
    "name",
    "city",
    "kind",
    "wechat_sub_mchid",
    "wechat_sub_appid",
    "alipay_app_auth_token",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str, *, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing answered at {url}")


def _call(method: str, url: str, token: str, body: bytes | None = None) -> dict[str, Any]:
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "text/csv")
    with urllib.request.urlopen(request, timeout=30) as answer:
        result: dict[str, Any] = json.loads(answer.read())
        return result


def stores_file(count: int, run: int) -> bytes:
    """`count` new franchise stores, each with its own sub-merchant and Alipay authorisation."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for n in range(count):
        writer.writerow(
            (
                f"B{run:02d}{n:05d}",
                f"加盟店 {run}-{n}",
                "杭州",
                "franchise",
                f"17{secrets.randbelow(10**8):08d}",
                "",
                f"202612BB{secrets.token_hex(12)}",
            )
        )
    return out.getvalue().encode()


def onboard(api: str, token: str, data: bytes) -> tuple[float, dict[str, Any]]:
    """POST the file and poll the job until it ends: (seconds, the job)."""
    started = time.perf_counter()
    job = _call("POST", f"{api}/admin/payment-onboarding", token, data)
    while job["state"] not in ("done", "failed"):
        time.sleep(0.2)
        job = _call("GET", f"{api}/admin/payment-onboarding/{job['id']}", token)
    return time.perf_counter() - started, job


def run(*, stores: int, runs: int) -> list[tuple[str, float, dict[str, Any]]]:
    """Start the stack, onboard `runs` files and one repeat; the timings."""
    work = Path(tempfile.mkdtemp(prefix="memberhub-bench-onboarding-"))
    sandbox_port, api_port = _free_port(), _free_port()
    sandbox = f"http://127.0.0.1:{sandbox_port}/sandbox"
    env = os.environ | {
        "MEMBERHUB_ENV": "development",
        "MEMBERHUB_LOG_LEVEL": "WARNING",
        "MEMBERHUB_DATABASE_URL": os.environ["MEMBERHUB_TEST_DATABASE_URL"],
        "MEMBERHUB_REDIS_URL": os.environ["MEMBERHUB_TEST_REDIS_URL"],
        "MEMBERHUB_PORT": str(api_port),
        "MEMBERHUB_PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",
        "MEMBERHUB_WECHATPAY_API_BASE": f"{sandbox}/wechatpay",
        "MEMBERHUB_ALIPAY_GATEWAY": f"{sandbox}/alipay/gateway.do",
        "MEMBERHUB_WECHAT_API_BASE": f"{sandbox}/wechat",
    }
    cli = [PYTHON, "-m", "api.cli"]
    subprocess.run([*cli, "migrate"], env=env, cwd=ROOT, check=True, capture_output=True)
    demo = json.loads(
        subprocess.run(
            [*cli, "bootstrap-demo", "--once"],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    token = demo["hq_admin"]["token"]
    processes = []
    try:
        for name, command in (
            ("sandbox", [PYTHON, "-m", "sandbox", "--port", str(sandbox_port)]),
            ("api", [*cli, "serve", "--port", str(api_port)]),
            ("worker", [*cli, "worker"]),
        ):
            log = (work / f"{name}.log").open("wb")  # a file: a full pipe would stall it
            processes.append(
                (name, subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log))
            )
        _wait(f"{sandbox}/")
        _wait(f"http://127.0.0.1:{api_port}/readyz")
        api = f"http://127.0.0.1:{api_port}/api/v1"
        results = []
        data = b""
        for number in range(1, runs + 1):
            data = stores_file(stores, number)
            seconds, job = onboard(api, token, data)
            results.append((f"run {number}: {stores} new stores", seconds, job))
        seconds, job = onboard(api, token, data)
        results.append((f"the last file again ({stores} unchanged)", seconds, job))
        return results
    except BaseException:
        for name, _ in processes:
            sys.stderr.write(f"--- {name}\n")
            sys.stderr.write((work / f"{name}.log").read_text(errors="replace")[-3000:])
        raise
    finally:
        for _, process in processes:
            process.terminate()
        for _, process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


def report(results: list[tuple[str, float, dict[str, Any]]]) -> None:
    print(f"\n== franchise onboarding, postgresql + redis (goal: < {GOAL_S:.0f} s) ==")
    print(f"{'':<40}{'seconds':>9}{'in job':>8}{'state':>8}  result")
    for label, seconds, job in results:
        started = datetime.fromisoformat(job["started_at"])
        in_job = (datetime.fromisoformat(job["finished_at"]) - started).total_seconds()
        counts = job["result"] if job["state"] == "done" else {"errors": job["errors"][:3]}
        shown = {k: v for k, v in counts.items() if v} if job["state"] == "done" else counts
        print(f"{label:<40}{seconds:>9.1f}{in_job:>8.1f}{job['state']:>8}  {shown}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.onboarding")
    parser.add_argument("--stores", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    if not (
        os.environ.get("MEMBERHUB_TEST_DATABASE_URL") and os.environ.get("MEMBERHUB_TEST_REDIS_URL")
    ):
        command = [str(ROOT / "scripts" / "test-services"), "run", "--", PYTHON, "-m"]
        command += ["bench.onboarding", "--stores", str(args.stores), "--runs", str(args.runs)]
        raise SystemExit(subprocess.call(command, cwd=ROOT))
    print(f"memberhub onboarding bench: {os.cpu_count()} cores, {args.stores} stores per file")
    report(run(stores=args.stores, runs=args.runs))


if __name__ == "__main__":
    main()
