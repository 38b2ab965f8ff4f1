"""The till's pay by payment code under load: `python -m bench.till [--stack embedded|postgres]
[--runs 3] [--duration S] [--connections 50]`.

Each stack is migrated and seeded with the demo brand and enough open orders at its franchise
store (HZ001: WeChat Pay partner mode, micropay with `sub_mch_id`) for every request of every
run. The platform runs as its own sandbox process, as WeChat Pay is another machine's work: for
each run, one fresh WeChat payment code per order is minted there beforehand (codes live five
minutes). wrk then pays the orders with `connections` connections, each request one order with
its own code and Idempotency-Key (`till_request.lua` cycles through the pre-generated lines);
every pay is a real micropay, `apply_trade` and a new member with points. `bare_json` is
measured right before and after each run, as `python -m bench` does, for the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from .__main__ import (
    PAUSE_S,
    PYTHON,
    ROOT,
    WARMUP_S,
    Result,
    _free_port,
    _wait_ready,
    report,
    services_env,
)
from .scenarios import SCENARIOS
from .wrk import LUA, Figures, parse, require_wrk, run_wrk

TILL_LUA = Path(__file__).with_name("till_request.lua")
SCENARIO = next(s for s in SCENARIOS if s.name == "till_pay")
# Orders (and codes) prepared per second of a run: above what one API process pays here
# (a run that used them all up would answer 404s, counted as errors).
REQUESTS_PER_S = 200
STORE_CODE = "HZ001"
AMOUNT_FEN = 3_800
MINT_THREADS = 8


# Seeding (in a process of its own, before the server starts) ------------------------------


async def _seed(count: int, out: Path) -> None:
    from api.core import ports
    from api.core.db import close_db, init_db
    from api.core.ports import build_ports
    from api.org.demo import bootstrap_demo
    from api.org.models import StaffRole, Store
    from api.payments.models import PosOrder
    from config.settings import get_settings

    settings = get_settings()
    await init_db(settings)
    ports.install(build_ports(settings))
    demo = await bootstrap_demo(once=True)
    store = await Store.get(brand_id=demo["brand"]["id"], code=STORE_CODE)
    cashier = next(
        person
        for described in demo["stores"]
        if described["code"] == STORE_CODE
        for person in described["staff"]
        if person["role"] == StaffRole.CASHIER.value
    )
    now = datetime.now(UTC)
    first = (await PosOrder.all().order_by("-id").first() or PosOrder(id=0)).id + 1
    for start in range(0, count, 1000):
        await PosOrder.bulk_create(
            [
                PosOrder(
                    brand_id=store.brand_id,
                    store_id=store.id,
                    staff_id=cashier["id"],
                    amount_fen=AMOUNT_FEN,
                    payable_fen=AMOUNT_FEN,
                    created_at=now,
                )
                for _ in range(min(1000, count - start))
            ]
        )
    ids = await PosOrder.filter(id__gte=first).order_by("id").values_list("id", flat=True)
    out.write_text(json.dumps({"token": cashier["token"], "orders": list(ids)}))
    await close_db()


# Running ------------------------------------------------------------------------------------


@contextmanager
def _sandbox() -> Iterator[str]:
    """The platform as its own process: its base URL."""
    port = _free_port()
    process = subprocess.Popen(
        [PYTHON, "-m", "sandbox", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/sandbox"
        _wait_ready(f"{url}/")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _mint(sandbox: str, count: int) -> list[str]:
    def one(_: int) -> str:
        request = urllib.request.Request(
            f"{sandbox}/payment-codes",
            data=b'{"provider":"wechat"}',
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return str(json.loads(answer.read())["auth_code"])

    with ThreadPoolExecutor(MINT_THREADS) as pool:
        return list(pool.map(one, range(count)))


def _pay(
    url: str, *, token: str, requests: Path, lines: tuple[int, int], connections: int, seconds: int
) -> Figures:
    with tempfile.NamedTemporaryFile(prefix="memberhub-wrk-", suffix=".txt") as out:
        env = os.environ | {
            "WRK_BASE_LUA": str(LUA),
            "WRK_TOKEN": token,
            "WRK_REQUESTS": str(requests),
            "WRK_FROM": str(lines[0]),
            "WRK_TO": str(lines[1]),
            "WRK_THREADS": "2",
            "WRK_REPORT": out.name,
        }
        # A slow answer is measured, not cut off at wrk's 2 s and counted as an error.
        timeout = ["--timeout", "10s"]
        command = [require_wrk(), "-t2", f"-c{connections}", f"-d{seconds}s", *timeout]
        command += ["-s", str(TILL_LUA)]
        subprocess.run([*command, url], env=env, cwd=ROOT, capture_output=True, check=True)
        return parse(Path(out.name).read_text())


def run_stack(
    name: str, env: dict[str, str], *, runs: int, duration_s: int, connections: int
) -> list[Result]:
    """Seed, serve and measure the till `runs` times on one stack."""
    work = Path(tempfile.mkdtemp(prefix=f"memberhub-bench-till-{name}-"))
    per_run = REQUESTS_PER_S * (WARMUP_S + duration_s)
    with _sandbox() as sandbox:
        env = (
            os.environ
            | env
            | {
                "MEMBERHUB_ENV": "development",
                "MEMBERHUB_LOG_LEVEL": "WARNING",
                "MEMBERHUB_WECHATPAY_API_BASE": f"{sandbox}/wechatpay",
                "MEMBERHUB_ALIPAY_GATEWAY": f"{sandbox}/alipay/gateway.do",
                "MEMBERHUB_WECHAT_API_BASE": f"{sandbox}/wechat",
            }
        )
        env.setdefault("MEMBERHUB_DATABASE_URL", f"sqlite://{work / 'bench.sqlite3'}")
        subprocess.run(
            [PYTHON, "-m", "api.cli", "migrate"], env=env, cwd=ROOT, check=True, capture_output=True
        )
        seeded = work / "till.json"
        subprocess.run(
            [PYTHON, "-m", "bench.till", "--seed", str(runs * per_run), "--seed-out", str(seeded)],
            env=env,
            cwd=ROOT,
            check=True,
        )
        fixtures = json.loads(seeded.read_text())
        port = _free_port()
        server_log = work / "server.log"
        server = subprocess.Popen(
            [PYTHON, "-m", "bench.server", "--port", str(port), "--seed-out", str(work / "s.json")],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=server_log.open("wb"),
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(f"{base}/readyz")
            requests = work / "till.requests"
            bare_s = max(1, duration_s // 2)

            def bare(seconds: int) -> Figures:
                time.sleep(PAUSE_S)
                return run_wrk(f"{base}/healthz", connections=64, duration_s=seconds)

            bare(WARMUP_S)
            results = []
            for run in range(runs):
                orders = fixtures["orders"][run * per_run : (run + 1) * per_run]
                codes = _mint(sandbox, len(orders))
                requests.write_text(
                    "".join(f"{o} {c}\n" for o, c in zip(orders, codes, strict=True))
                )
                before = bare(bare_s)
                warm = REQUESTS_PER_S * WARMUP_S
                pay = dict(token=fixtures["token"], requests=requests, connections=connections)
                time.sleep(PAUSE_S)
                _pay(base, lines=(0, warm), seconds=WARMUP_S, **pay)  # type: ignore[arg-type]
                time.sleep(PAUSE_S)
                figures = _pay(base, lines=(warm, per_run), seconds=duration_s, **pay)  # type: ignore[arg-type]
                after = bare(bare_s)
                results.append(Result(SCENARIO, figures, Figures.merged([before, after])))
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


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.till")
    parser.add_argument("--stack", choices=["embedded", "postgres"], default="postgres")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--seed-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed:
        asyncio.run(_seed(args.seed, args.seed_out))
        return
    require_wrk()
    print(
        f"memberhub bench: the till's pay by payment code, {os.cpu_count()} cores, "
        f"{args.connections} connections, one API process, the sandbox in its own process, "
        f"{args.runs} runs of {args.duration}s"
    )
    env: dict[str, str] = {}
    if args.stack == "postgres":
        env = services_env("bench.till")
    results = run_stack(
        args.stack, env, runs=args.runs, duration_s=args.duration, connections=args.connections
    )
    report("postgresql + redis" if args.stack == "postgres" else "embedded", results)


if __name__ == "__main__":
    main()
