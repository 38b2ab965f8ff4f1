"""The flash claim: `python -m bench.coupon_claim [--runs 3] [--claims 10000]
[--stock 1000] [--concurrency 200]`, on PostgreSQL + Redis (throwaway servers from
scripts/test-services when MEMBERHUB_TEST_DATABASE_URL / _REDIS_URL are not set).

Each run is one coupon-center template with `stock` coupons (one per member) and `claims`
members, each claiming it once through `POST /api/v1/coupon-templates/{id}/claim` with their
own member token, `concurrency` requests in flight at any time. The first `stock` claims win;
every later one is a sold-out answer, which `issue_coupon` gives from Redis alone (the route's
member guard still reads the member's row).

wrk cannot tell one answer's latency from another's, so the claims are sent by a small
keep-alive HTTP/1.1 client on uvloop in its own process, which times each request and keeps
its status. Successful claims/s is the winners over the time from the first request to the
last winner's answer; sold-out answers/s the refusals over the time from the first refusal to
the end. `bare_json` is measured with wrk right before and after each run, as `python -m bench`
does, and the ratios are against it; the same client's rate on the bare route is printed too,
so the client's own cost can be seen. Afterwards every run checks, in the database and in
Redis, that exactly `stock` coupons exist and were counted: over-issue fails the bench.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .__main__ import PAUSE_S, PYTHON, ROOT, _free_port, served, services_env
from .wrk import Figures, require_wrk, run_wrk

BARE_S = 5
GOALS = {"claimed": 0.07, "sold_out": 0.15}
SOLD_OUT_P99_MS = 50.0


# Seeding (in a process of its own, before the server starts) ------------------------------


async def _seed(*, runs: int, claims: int, stock: int, out: Path) -> None:
    from api.core import ports
    from api.core.db import close_db, init_db
    from api.core.ports import build_ports
    from api.coupons import templates
    from api.coupons.models import CouponKind
    from api.coupons.templates import TemplateSpec
    from api.member_center.identity import member_token
    from api.member_center.models import Member, MemberStatus
    from api.org.models import Brand
    from config.settings import get_settings

    settings = get_settings()
    await init_db(settings)
    installed = ports.install(build_ports(settings))
    brand = await Brand.create(code=f"flash{int(time.time())}", name="Flash", settings={})
    plan = []
    for run in range(runs):
        spec = TemplateSpec(
            name=f"flash {run}",
            kind=CouponKind.CASH_OFF,
            value_fen=1_000,
            threshold_fen=10_000,
            total_stock=stock,
            valid_days=7,
        )
        template = await templates.create_template(brand_id=brand.id, actor="bench", spec=spec)
        await templates.change_state(
            brand_id=brand.id, actor="bench", template_id=template.id, action="activate"
        )
        first = (await Member.all().order_by("-id").first() or Member(id=0)).id
        await Member.bulk_create(
            [
                Member(brand_id=brand.id, member_no=f"F{run}{n:09d}", status=MemberStatus.MEMBER)
                for n in range(claims)
            ],
            batch_size=1000,
        )
        members = await Member.filter(brand_id=brand.id, id__gt=first).order_by("id")
        plan.append(
            {"template_id": template.id, "tokens": [member_token(m) for m in members[:claims]]}
        )
    out.write_text(json.dumps({"brand_id": brand.id, "runs": plan}))
    await installed.cache.close()
    await close_db()


async def _count(template_ids: list[int], out: Path) -> None:
    """Coupons of each template in the database and in Redis, for the over-issue check."""
    from api.core import ports
    from api.core.db import close_db, init_db
    from api.core.ports import build_ports
    from api.coupons.issuing import issued_key, redis_cache
    from api.coupons.models import Coupon, CouponTemplate
    from config.settings import get_settings

    settings = get_settings()
    await init_db(settings)
    installed = ports.install(build_ports(settings))
    cache = redis_cache()
    counts = {}
    for template_id in template_ids:
        in_redis = await cache.get(issued_key(template_id)) if cache else None
        counts[template_id] = {
            "rows": await Coupon.filter(template_id=template_id).count(),
            "column": (await CouponTemplate.get(id=template_id)).issued,
            "redis": None if in_redis is None else int(in_redis),
        }
    out.write_text(json.dumps(counts))
    await installed.cache.close()
    await close_db()


# The client ---------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    sent_s: float
    done_s: float

    @property
    def latency_ms(self) -> float:
        return (self.done_s - self.sent_s) * 1000


async def _read_answer(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _load(
    port: int, requests: list[bytes], concurrency: int
) -> tuple[list[Answer], float, float]:
    """Send every request once over `concurrency` keep-alive connections; answers in order."""
    answers: list[Answer | None] = [None] * len(requests)
    turn = iter(range(len(requests)))

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for n in turn:
                sent = time.perf_counter()
                writer.write(requests[n])
                status = await _read_answer(reader)
                answers[n] = Answer(status, sent, time.perf_counter())
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return [a for a in answers if a is not None], started, time.perf_counter()


def _claims(template_id: int, tokens: list[str]) -> list[bytes]:
    path = f"/api/v1/coupon-templates/{template_id}/claim"
    return [
        (
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
        for token in tokens
    ]


def _client(spec: Path, out: Path) -> None:
    """The client process: read what to send, send it, write every answer's status and times."""
    import uvloop

    job = json.loads(spec.read_text())
    if job["kind"] == "bare":
        request = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"
        requests = [request] * job["count"]
    else:
        requests = _claims(job["template_id"], job["tokens"])
    answers, started, ended = uvloop.run(_load(job["port"], requests, job["concurrency"]))
    out.write_text(
        json.dumps(
            {
                "started": started,
                "ended": ended,
                "answers": [[a.status, a.sent_s, a.done_s] for a in answers],
            }
        )
    )


def _run_client(work: Path, job: dict[str, object]) -> tuple[list[Answer], float, float]:
    spec, out = work / "client-job.json", work / "client-out.json"
    spec.write_text(json.dumps(job))
    subprocess.run(
        [PYTHON, "-m", "bench.coupon_claim", "--client", str(spec), "--client-out", str(out)],
        cwd=ROOT,
        check=True,
    )
    data = json.loads(out.read_text())
    answers = [Answer(status, sent, done) for status, sent, done in data["answers"]]
    return answers, data["started"], data["ended"]


# Measuring ----------------------------------------------------------------------------------


def _p99(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.99 + 0.5) - 1)]


@dataclass
class Run:
    claimed: int
    sold_out: int
    other: dict[int, int]
    claimed_per_s: float
    sold_out_per_s: float
    claimed_p99_ms: float
    sold_out_p99_ms: float
    bare_per_s: float  # wrk, before and after
    client_bare_per_s: float  # this client on the same route

    @property
    def claimed_ratio(self) -> float:
        return self.claimed_per_s / self.bare_per_s

    @property
    def sold_out_ratio(self) -> float:
        return self.sold_out_per_s / self.bare_per_s


def _measure(answers: list[Answer], started: float) -> dict[str, object]:
    won = [a for a in answers if a.status == 201]
    refused = [a for a in answers if a.status == 409]
    other: dict[int, int] = {}
    for a in answers:
        if a.status not in (201, 409):
            other[a.status] = other.get(a.status, 0) + 1
    last_win = max((a.done_s for a in won), default=started)
    first_refusal = min((a.sent_s for a in refused), default=started)
    end = max((a.done_s for a in answers), default=started)
    return {
        "claimed": len(won),
        "sold_out": len(refused),
        "other": other,
        "claimed_per_s": len(won) / (last_win - started) if won else 0.0,
        "sold_out_per_s": len(refused) / (end - first_refusal) if refused else 0.0,
        "claimed_p99_ms": _p99([a.latency_ms for a in won]),
        "sold_out_p99_ms": _p99([a.latency_ms for a in refused]),
    }


def run_bench(
    env: dict[str, str], *, runs: int, claims: int, stock: int, concurrency: int
) -> tuple[list[Run], list[str]]:
    """Seed, serve and run the flash claim `runs` times; the runs and any over-issue found."""
    work = Path(tempfile.mkdtemp(prefix="memberhub-bench-claim-"))
    env = os.environ | env | {"MEMBERHUB_ENV": "development", "MEMBERHUB_LOG_LEVEL": "WARNING"}
    subprocess.run(
        [PYTHON, "-m", "api.cli", "migrate"], env=env, cwd=ROOT, check=True, capture_output=True
    )
    seeded = work / "claim.json"
    seed = ["--seed", "--runs", str(runs), "--claims", str(claims), "--stock", str(stock)]
    subprocess.run(
        [PYTHON, "-m", "bench.coupon_claim", *seed, "--seed-out", str(seeded)],
        env=env,
        cwd=ROOT,
        check=True,
    )
    plan = json.loads(seeded.read_text())["runs"]
    port = _free_port()
    try:
        with served(env, work, port) as base:

            def bare() -> Figures:
                time.sleep(PAUSE_S)
                return run_wrk(f"{base}/healthz", connections=64, duration_s=BARE_S)

            bare()
            results = []
            for run in plan:
                before = bare()
                time.sleep(PAUSE_S)
                client_bare = _run_client(
                    work,
                    {"kind": "bare", "port": port, "count": claims, "concurrency": concurrency},
                )
                time.sleep(PAUSE_S)
                answers, started, _ = _run_client(
                    work,
                    {
                        "kind": "claim",
                        "port": port,
                        "template_id": run["template_id"],
                        "tokens": run["tokens"],
                        "concurrency": concurrency,
                    },
                )
                after = bare()
                figures = _measure(answers, started)
                _, bare_started, bare_ended = client_bare
                results.append(
                    Run(
                        **figures,  # type: ignore[arg-type]
                        bare_per_s=Figures.merged([before, after]).requests_per_s,
                        client_bare_per_s=claims / (bare_ended - bare_started),
                    )
                )
            counted = work / "counts.json"
            ids = ",".join(str(run["template_id"]) for run in plan)
            count = ["--count", ids, "--seed-out", str(counted)]
            subprocess.run(
                [PYTHON, "-m", "bench.coupon_claim", *count],
                env=env,
                cwd=ROOT,
                check=True,
            )
            problems = [
                f"template {tid}: {c}"
                for tid, c in json.loads(counted.read_text()).items()
                if not (c["rows"] == c["column"] == c["redis"] == stock)
            ]
            problems += [
                f"run {n}: {r.claimed} claimed" for n, r in enumerate(results) if r.claimed != stock
            ]
            return results, problems
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(results: list[Run], problems: list[str], *, claims: int, stock: int) -> None:
    print(
        f"\n{'run':<6}{'claimed/s':>11}{'p99 ms':>9}{'vs bare':>9}{'sold out/s':>12}"
        f"{'p99 ms':>9}{'vs bare':>9}{'bare/s':>9}{'client bare/s':>15}{'other':>8}"
    )
    for n, r in enumerate(results, 1):
        print(
            f"{n:<6}{r.claimed_per_s:>11.0f}{r.claimed_p99_ms:>9.1f}{r.claimed_ratio:>9.1%}"
            f"{r.sold_out_per_s:>12.0f}{r.sold_out_p99_ms:>9.1f}{r.sold_out_ratio:>9.1%}"
            f"{r.bare_per_s:>9.0f}{r.client_bare_per_s:>15.0f}{sum(r.other.values()):>8}"
        )

    def spread(name: str, values: list[float], fmt: str) -> None:
        print(
            f"{name:<22} median {format(statistics.median(values), fmt):>8}   "
            f"min {format(min(values), fmt):>8}   max {format(max(values), fmt):>8}"
        )

    print()
    spread("claimed/s", [r.claimed_per_s for r in results], ".0f")
    spread("claimed vs bare", [r.claimed_ratio for r in results], ".1%")
    spread("claimed p99 ms", [r.claimed_p99_ms for r in results], ".1f")
    spread("sold out/s", [r.sold_out_per_s for r in results], ".0f")
    spread("sold out vs bare", [r.sold_out_ratio for r in results], ".1%")
    spread("sold out p99 ms", [r.sold_out_p99_ms for r in results], ".1f")
    print(
        f"\ngoals: claimed >= {GOALS['claimed']:.0%} of bare_json, sold out >= "
        f"{GOALS['sold_out']:.0%} with p99 < {SOLD_OUT_P99_MS:.0f} ms, 0 over-issue"
    )
    print(f"over-issue: {problems or 'none'} ({claims} claims, {stock} coupons)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.coupon_claim")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--stock", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--seed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--count", default="", help=argparse.SUPPRESS)
    parser.add_argument("--seed-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--client", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--client-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        _client(args.client, args.client_out)
        return
    if args.seed:
        asyncio.run(_seed(runs=args.runs, claims=args.claims, stock=args.stock, out=args.seed_out))
        return
    if args.count:
        asyncio.run(_count([int(t) for t in args.count.split(",")], args.seed_out))
        return
    require_wrk()
    env = services_env("bench.coupon_claim")
    print(
        f"memberhub bench: the flash claim, {os.cpu_count()} cores, {args.claims} claims for "
        f"{args.stock} coupons, {args.concurrency} at once, one API process, PostgreSQL + Redis, "
        f"{args.runs} runs"
    )
    results, problems = run_bench(
        env, runs=args.runs, claims=args.claims, stock=args.stock, concurrency=args.concurrency
    )
    report(results, problems, claims=args.claims, stock=args.stock)
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
