"""Mall orders under load: `python -m bench.mall_orders [--runs 3] [--duration S]
[--connections 50]`, on PostgreSQL + Redis (throwaway servers from scripts/test-services when
MEMBERHUB_TEST_DATABASE_URL / _REDIS_URL are not set).

A brand is seeded once, through the services: a member level with its own prices, a product
whose SKUs have plenty of central stock, one SKU with only `SCARCE_STOCK` units, and one member
per request to be sent, each at that level with points and a coupon of their own. Each request
is `POST /api/v1/mall/orders` by another member with another Idempotency-Key: a delivery of
the plentiful SKU priced at the level's price, with the member's coupon and some of their points,
so every request reads the catalogue, prices, takes stock, holds the coupon and spends points.
wrk sends the prepared requests (`wrk_notifications.lua`) with `connections` connections;
`bare_json` is measured right before and after each run, as `python -m bench` does, for the
ratio.

After the runs, `SCARCE_DEMAND` times as many members as the scarce SKU has units order it at
once (their refusals, sold out, are expected there). Then the stock is checked in the database:
for every SKU the units taken from its stock equal the units in orders, and no stock is below
zero; the scarce SKU sold exactly its units. Any difference is oversold and fails the bench.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .__main__ import (
    PAUSE_S,
    PYTHON,
    ROOT,
    WARMUP_S,
    Result,
    _free_port,
    report,
    served,
    services_env,
)
from .scenarios import Scenario
from .wrk import Figures, require_wrk, run_wrk

SCENARIO = Scenario(
    "mall_order_create",
    "POST",
    "/api/v1/mall/orders",
    goal="50 connections: ≥ 2 % of bare_json, p99 < 200 ms, 0 errors, 0 oversold",
)
PATH = "/api/v1/mall/orders"
# Orders prepared per second of a run: well above what one API process creates here (wrk sends
# a file's requests again once it runs out, and a repeat is a cheaper idempotent replay).
ORDERS_PER_S = 250
PLENTY_STOCK = 1_000_000
SCARCE_STOCK = 50
SCARCE_DEMAND = 4  # members ordering the scarce SKU, per unit of its stock
SCARCE_S = 3
POINTS = 2_000  # each member's points
POINTS_PER_ORDER = 500  # used by each order: 5 yuan off at 100 points a yuan
ADDRESS = {"name": "压测", "phone": "13800000000", "city": "上海", "detail": "人民路 1 号"}
SEED_CONCURRENCY = 16


# Seeding (in a process of its own, before the server starts) ------------------------------


async def seed_mall(*, members: int, scarce_members: int) -> dict[str, Any]:
    """The brand, its shelf and its members, through the services (see the module doc)."""
    from api.coupons import templates
    from api.coupons.issuing import issue_coupon
    from api.coupons.models import CouponKind
    from api.coupons.templates import TemplateSpec
    from api.mall import catalogue
    from api.mall.models import Sku
    from api.member_center.identity import member_token
    from api.member_center.models import Level, Member, MemberStatus
    from api.member_center.points import earn_points
    from api.org.models import Brand

    code = f"mall{secrets.token_hex(4)}"
    brand = await Brand.create(code=code, name="商城压测", settings={"points_frozen_days": 0})
    gold = await Level.create(brand_id=brand.id, name="gold", rank=1, discount_pct=90)
    category = await catalogue.create_category(brand_id=brand.id, actor="bench", name="衣服")
    product = await catalogue.create_product(
        brand_id=brand.id,
        actor="bench",
        name="Oxford shirt",
        category_id=category.id,
        on_shelf=True,
        skus=[
            {
                "code": f"PL-{brand.id}",
                "spec": {"size": "M"},
                "list_price_fen": 10_000,
                "member_prices": {gold.id: 8_000},
                "stock": PLENTY_STOCK,
            },
            {
                "code": f"SC-{brand.id}",
                "spec": {"size": "XS"},
                "list_price_fen": 10_000,
                "member_prices": {gold.id: 8_000},
                "stock": SCARCE_STOCK,
            },
        ],
    )
    plenty, scarce = await Sku.filter(product_id=product.id).order_by("id")
    spec = TemplateSpec(
        name="10 off 50",
        kind=CouponKind.CASH_OFF,
        value_fen=1_000,
        threshold_fen=5_000,
        total_stock=members + scarce_members,
        valid_days=7,
        stacks_with_level_discount=True,
    )
    template = await templates.create_template(brand_id=brand.id, actor="bench", spec=spec)
    await templates.change_state(
        brand_id=brand.id, actor="bench", template_id=template.id, action="activate"
    )
    first = (await Member.all().order_by("-id").first() or Member(id=0)).id
    await Member.bulk_create(
        [
            Member(
                brand_id=brand.id,
                member_no=f"M{brand.id}-{n:08d}",
                status=MemberStatus.MEMBER,
                level_id=gold.id,
            )
            for n in range(members + scarce_members)
        ],
        batch_size=1000,
    )
    made = await Member.filter(brand_id=brand.id, id__gt=first).order_by("id")
    gate = asyncio.Semaphore(SEED_CONCURRENCY)

    async def equip(member: Member) -> list[Any]:
        async with gate:
            await earn_points(
                brand_id=brand.id, member_id=member.id, amount=POINTS, key=f"bench:{member.id}"
            )
            issued = await issue_coupon(
                brand_id=brand.id,
                template_id=template.id,
                member_id=member.id,
                source="claim",
                key=f"bench:{member.id}",
            )
            return [member_token(member), issued.coupon.id]

    equipped = await asyncio.gather(*(equip(m) for m in made))
    return {
        "brand_id": brand.id,
        "skus": {"plenty": plenty.id, "scarce": scarce.id},
        "stock": {str(plenty.id): PLENTY_STOCK, str(scarce.id): SCARCE_STOCK},
        "members": equipped[:members],
        "scarce_members": equipped[members:],
    }


async def _seed(*, members: int, scarce_members: int, out: Path) -> None:
    from api.core import ports
    from api.core.db import close_db, init_db
    from config.settings import get_settings

    settings = get_settings()
    await init_db(settings)
    installed = ports.install(ports.build_ports(settings))
    seeded = await seed_mall(members=members, scarce_members=scarce_members)
    out.write_text(json.dumps(seeded))
    await installed.cache.close()
    await close_db()


def write_orders(sku_id: int, members: list[list[Any]], path: Path) -> int:
    """One order request per member (token, coupon id), each with an Idempotency-Key of its
    own, in the file format of `wrk_notifications.lua`; the number written."""
    run = secrets.token_hex(4)
    with path.open("wb") as out:
        for n, (token, coupon_id) in enumerate(members):
            body = json.dumps(
                {
                    "items": [{"sku_id": sku_id, "quantity": 1}],
                    "fulfilment": "delivery",
                    "address": ADDRESS,
                    "coupon_ids": [coupon_id],
                    "points_to_use": POINTS_PER_ORDER,
                },
                ensure_ascii=False,
            ).encode()
            out.write(f"{PATH} 3 {len(body)}\n".encode())
            out.write(f"Authorization: Bearer {token}\n".encode())
            out.write(f"Idempotency-Key: bench-{run}-{n}\n".encode())
            out.write(b"Content-Type: application/json\n")
            out.write(body)
    return len(members)


async def oversold(brand_id: int, stock: dict[str, int]) -> list[str]:
    """Every SKU whose stock does not add up: below zero, or units taken from it that no order
    holds (or orders holding more units than were taken)."""
    from api.mall.models import MallOrderLine, Sku

    problems = []
    for sku_id, initial in stock.items():
        left = (await Sku.get(id=int(sku_id), brand_id=brand_id)).stock
        ordered = sum(
            await MallOrderLine.filter(sku_id=int(sku_id)).values_list("quantity", flat=True)
        )
        if left < 0 or initial - left != ordered:
            problems.append(f"sku {sku_id}: {initial} - {left} left, {ordered} in orders")
    return problems


async def _check(seeded: Path, out: Path) -> None:
    from api.core.db import close_db, init_db
    from api.mall.models import Sku
    from config.settings import get_settings

    await init_db(get_settings())
    plan = json.loads(seeded.read_text())
    problems = await oversold(plan["brand_id"], plan["stock"])
    scarce_left = (await Sku.get(id=plan["skus"]["scarce"])).stock
    out.write_text(json.dumps({"problems": problems, "scarce_left": scarce_left}))
    await close_db()


# Measuring ----------------------------------------------------------------------------------


def run_bench(
    env: dict[str, str], *, runs: int, duration_s: int, connections: int
) -> tuple[list[Result], Figures, dict[str, Any]]:
    """Seed, serve and measure the orders `runs` times, then the scarce SKU, then the stock."""
    work = Path(tempfile.mkdtemp(prefix="memberhub-bench-mall-"))
    env = os.environ | env | {"MEMBERHUB_ENV": "development", "MEMBERHUB_LOG_LEVEL": "WARNING"}
    subprocess.run(
        [PYTHON, "-m", "api.cli", "migrate"], env=env, cwd=ROOT, check=True, capture_output=True
    )
    per_run = ORDERS_PER_S * (WARMUP_S + duration_s)
    seeded = work / "mall.json"
    seed = ["--members", str(per_run * runs), "--scarce", str(SCARCE_STOCK * SCARCE_DEMAND)]
    subprocess.run(
        [PYTHON, "-m", "bench.mall_orders", *seed, "--seed-out", str(seeded)],
        env=env,
        cwd=ROOT,
        check=True,
    )
    plan = json.loads(seeded.read_text())
    members, skus = plan["members"], plan["skus"]
    port = _free_port()
    try:
        with served(env, work, port) as base:
            bare_s = max(1, duration_s // 2)
            used = 0

            def bare(seconds: int) -> Figures:
                time.sleep(PAUSE_S)
                return run_wrk(f"{base}/healthz", connections=64, duration_s=seconds)

            def orders(seconds: int) -> Figures:
                nonlocal used
                requests = work / "orders.txt"
                count = ORDERS_PER_S * seconds
                write_orders(skus["plenty"], members[used : used + count], requests)
                used += count
                time.sleep(PAUSE_S)
                figures = run_wrk(
                    base,
                    requests_file=requests,
                    connections=connections,
                    duration_s=seconds,
                    timeout_s=10,
                )
                if figures.requests > count:
                    print("warning: the run outgrew its prepared orders; repeats were replays")
                return figures

            bare(WARMUP_S)
            results = []
            for _ in range(runs):
                before = bare(bare_s)
                orders(WARMUP_S)
                figures = orders(duration_s)
                after = bare(bare_s)
                results.append(Result(SCENARIO, figures, Figures.merged([before, after])))
            requests = work / "scarce.txt"
            write_orders(skus["scarce"], plan["scarce_members"], requests)
            time.sleep(PAUSE_S)
            scarce = run_wrk(
                base,
                requests_file=requests,
                connections=connections,
                duration_s=SCARCE_S,
                timeout_s=10,
            )
        checked = work / "check.json"
        subprocess.run(
            [PYTHON, "-m", "bench.mall_orders", "--check", str(seeded), "--seed-out", str(checked)],
            env=env,
            cwd=ROOT,
            check=True,
        )
        stock = json.loads(checked.read_text())
        if stock["scarce_left"] != 0:
            stock["problems"].append(f"the scarce SKU kept {stock['scarce_left']} units")
        return results, scarce, stock
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.mall_orders")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--members", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--scarce", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--check", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seed-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.check:
        asyncio.run(_check(args.check, args.seed_out))
        return
    if args.seed_out:
        asyncio.run(_seed(members=args.members, scarce_members=args.scarce, out=args.seed_out))
        return
    require_wrk()
    env = services_env("bench.mall_orders")
    print(
        f"memberhub bench: mall orders with a coupon and points, {os.cpu_count()} cores, "
        f"{args.connections} connections, one API process, PostgreSQL + Redis, "
        f"{args.runs} runs of {args.duration}s"
    )
    results, scarce, stock = run_bench(
        env, runs=args.runs, duration_s=args.duration, connections=args.connections
    )
    report("postgresql + redis", results)
    demand, connections = SCARCE_STOCK * SCARCE_DEMAND, args.connections
    print(
        f"\nscarce SKU: {demand} members ordering its {SCARCE_STOCK} units, {connections} at once "
        f"for {SCARCE_S}s: {scarce.requests} answers, {scarce.errors} of them sold out (wrk sends "
        f"the {demand} requests again when it runs out: a repeat is a replay or another sold out), "
        f"{SCARCE_STOCK - stock['scarce_left']} units sold"
    )
    print(f"oversold: {stock['problems'] or 'none'}")
    if stock["problems"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
