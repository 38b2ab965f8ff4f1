"""A notification storm while an API process dies: every payment is still applied exactly once.

Two `memberhub serve` processes behind a round-robin TCP proxy (the load balancer) and two
`memberhub worker` processes share one PostgreSQL database and one Redis database of their own.
The sandbox runs as a process of its own, plays WeChat Pay and Alipay, and posts its
notifications to the proxy, so they are spread over both API processes. One API process is
killed with SIGKILL while the storm is under way — requests it was applying die with it, and new
connections sent its way are cut off until it is back — then started again. A few members pay
while it is down with a single delivery each, so that some notifications reach memberhub only
through the sandbox's re-deliveries on the platforms' retry schedule (scaled down); a few others
pay but their notification is held back, so that only the workers' recovery job, asking the
platform, can find their money.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import redis

from api.core.queue import SaqQueue
from tests.conftest import _free_port
from tests.support.sandbox_server import run_sandbox
from tests.support.serve_process import ServeProcess, run_command, serve_process
from tests.support.tcp_proxy import RoundRobinProxy
from tests.support.worker_process import WorkerProcess, worker_process
from workers.payments import PAYMENTS_RECOVER

DATABASE_URL = os.environ.get("MEMBERHUB_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("MEMBERHUB_TEST_REDIS_URL")

pytestmark = pytest.mark.skipif(
    not (DATABASE_URL and REDIS_URL),
    reason="two API processes and two workers need PostgreSQL and Redis: set "
    "MEMBERHUB_TEST_DATABASE_URL and MEMBERHUB_TEST_REDIS_URL (make test-services)",
)

MEMBERS = 60  # whose payments make the storm
DELIVERIES = 3  # each of the storm's notifications delivered this many times at once
LATE = 8  # members who pay while an API process is down, with a single delivery each
LOST = 4  # members whose notification comes only an hour after they paid
LOST_PAY = {"delay_s": 3600}
RECOVER_AFTER_S = 10
# WeChat Pay's first re-deliveries come 15 s apart, Alipay's 4 min: here 0.15 s and 2.4 s.
RETRY_SCALE = 0.01
# The storm is under way once this many notification connections reached the proxy.
KILL_AFTER = MEMBERS // 2  # of the first half's MEMBERS // 2 * DELIVERIES
DOWN_S = 1.0  # how long the killed process stays down before it is started again
SETTLE_TIMEOUT_S = 60  # for the retries and the recovery job to finish
START_TIMEOUT_S = 90
LOGIN_CONCURRENCY = 8


@pytest.fixture(scope="module")
async def services() -> AsyncIterator[dict[str, str]]:
    """A PostgreSQL database and a Redis database for this module alone."""
    assert DATABASE_URL and REDIS_URL
    name = f"memberhub_fault_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(DATABASE_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    redis_url = _other_redis_db(REDIS_URL, 2)
    shared = redis.Redis.from_url(redis_url)
    shared.flushdb()
    try:
        yield {"database_url": _with_database(DATABASE_URL, name), "redis_url": redis_url}
    finally:
        shared.flushdb()
        shared.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _other_redis_db(url: str, offset: int) -> str:
    parts = urlsplit(url)
    db = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(db + offset) % 16}"))


def _env(services: dict[str, str], *, sandbox_url: str, public_url: str) -> dict[str, str]:
    """The environment of every memberhub process: the suite's own settings left out, the
    platforms at the sandbox process, the platforms' callbacks at the proxy."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MEMBERHUB_", "PROMETHEUS_"))
    }
    return env | {
        "MEMBERHUB_ENV": "development",
        "MEMBERHUB_DATABASE_URL": services["database_url"],
        "MEMBERHUB_REDIS_URL": services["redis_url"],
        "MEMBERHUB_SANDBOX": "0",
        "MEMBERHUB_PUBLIC_BASE_URL": public_url,
        "MEMBERHUB_WECHAT_API_BASE": f"{sandbox_url}/wechat",
        "MEMBERHUB_ALIPAY_GATEWAY": f"{sandbox_url}/alipay/gateway.do",
        "MEMBERHUB_WECHATPAY_API_BASE": f"{sandbox_url}/wechatpay",
        "MEMBERHUB_PAYMENT_RECOVER_AFTER_S": str(RECOVER_AFTER_S),
        "MEMBERHUB_OUTBOX_POLL_S": "1",
        "MEMBERHUB_ACCESS_LOG": "0",
        "MEMBERHUB_LOG_LEVEL": "WARNING",
    }


async def _sign_in_and_recharge(
    api: httpx.AsyncClient, sandbox: httpx.AsyncClient, demo: dict[str, Any], number: int
) -> dict[str, Any]:
    """A new member signs in through a mini-program (WeChat, or Alipay for odd numbers) and
    starts a recharge of an amount of their own through that platform."""
    if number % 2:
        code = await _ok(
            sandbox.post("/alipay/auth-codes", json={"app_id": demo["alipay"]["app_id"]})
        )
        login = await _ok(
            api.post(
                "/api/v1/auth/alipay/login",
                json={"app_id": demo["alipay"]["app_id"], "auth_code": code["auth_code"]},
            )
        )
        channel = "alipay"
    else:
        appid = demo["miniprogram"]["appid"]
        code = await _ok(sandbox.post("/wechat/login-codes", json={"appid": appid}))
        login = await _ok(
            api.post("/api/v1/auth/wxa/login", json={"appid": appid, "code": code["code"]})
        )
        channel = "wechat"
    amount_fen = 10_000 + 7 * number
    recharge = await _ok(
        api.post(
            "/api/v1/wallet/recharge",
            json={"amount_fen": amount_fen, "provider": channel},
            headers={"Authorization": f"Bearer {login['token']}"},
        ),
        status=201,
    )
    assert recharge["amount_fen"] == amount_fen
    return recharge


async def _ok(call: Any, *, status: int = 200) -> Any:
    answer: httpx.Response = await call
    assert answer.status_code == status, f"{answer.request.url}: {answer.status_code} {answer.text}"
    return answer.json()


async def _wait_up(server: ServeProcess) -> None:
    await asyncio.to_thread(server.wait_until_up, timeout_s=START_TIMEOUT_S)


async def test_a_storm_with_an_api_process_killed_applies_every_payment_once(
    services: dict[str, str],
) -> None:
    port_a, port_b = _free_port(), _free_port()
    proxy = RoundRobinProxy([port_a, port_b])
    with (
        run_sandbox(_free_port()) as sandbox_url,
        proxy.running() as proxy_port,
        contextlib.ExitStack() as processes,
    ):
        env = _env(services, sandbox_url=sandbox_url, public_url=f"http://127.0.0.1:{proxy_port}")
        await asyncio.to_thread(run_command, "migrate", env=env)
        demo = await asyncio.to_thread(_bootstrap_demo, env)

        # Given two API processes behind the proxy and two workers, on one database and Redis
        api_a = processes.enter_context(serve_process(port=port_a, workers=1, env=env))
        api_b = processes.enter_context(serve_process(port=port_b, workers=1, env=env))
        workers = [processes.enter_context(worker_process(env=env)) for _ in range(2)]
        await asyncio.gather(_wait_up(api_a), _wait_up(api_b))

        limits = httpx.Limits(max_keepalive_connections=0)
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy_port}", timeout=30) as api,
            httpx.AsyncClient(base_url=sandbox_url, timeout=60, limits=limits) as sandbox,
        ):
            gate = asyncio.Semaphore(LOGIN_CONCURRENCY)

            async def start(number: int) -> dict[str, Any]:
                async with gate:
                    return await _sign_in_and_recharge(api, sandbox, demo, number)

            # And members who each started a recharge through the proxy, half of them through
            # WeChat Pay, half through Alipay: a few whose notification will never come (the
            # recovery job must find their money), then the storm's, then a few late payers
            lost = await asyncio.gather(*(start(n) for n in range(LOST)))
            lost_created = time.monotonic()
            recharges = await asyncio.gather(*(start(n) for n in range(LOST, LOST + MEMBERS)))
            late = await asyncio.gather(
                *(start(n) for n in range(LOST + MEMBERS, LOST + MEMBERS + LATE))
            )
            every = [*lost, *recharges, *late]

            # When the platform takes the lost ones' money and delays their notification by an
            # hour
            for recharge in lost:
                await _ok(sandbox.post(f"/payments/{recharge['out_trade_no']}/pay", json=LOST_PAY))

            # And it pays the storm's, each notification delivered 3 times concurrently: the
            # first half at once; API process A is killed by its pid while those are under way;
            # then the late payers pay one after the other with a single delivery each, and the
            # second half at once, while A is down; A is started again
            first, second = recharges[: MEMBERS // 2], recharges[MEMBERS // 2 :]
            before = proxy.counts.matched_total
            storm = [_pay(sandbox, r, DELIVERIES) for r in first]
            killed_after = await _wait_for_notifications(proxy, before + KILL_AFTER, storm)
            os.kill(api_a.process.pid, signal.SIGKILL)
            api_a.process.wait()
            late_paid = [await _pay(sandbox, r, 1) for r in late]
            storm += [_pay(sandbox, r, DELIVERIES) for r in second]
            await asyncio.sleep(DOWN_S)
            api_a = processes.enter_context(serve_process(port=port_a, workers=1, env=env))
            paid = [*await asyncio.gather(*storm), *late_paid]
            await _wait_up(api_a)

            # And the sandbox's retries have finished, and the workers ran the recovery job
            # (scheduled every minute; enqueued here once the lost payments are old enough, so
            # that the test need not wait for the minute to turn)
            trades = await _wait_until_acknowledged(sandbox, [*recharges, *late])
            await asyncio.sleep(max(0.0, lost_created + RECOVER_AFTER_S + 1 - time.monotonic()))
            await _enqueue_recovery(services["redis_url"])
            await _wait_until_none_created(services["database_url"], len(every))
            trades += await asyncio.gather(
                *(_ok(sandbox.get(f"/payments/{r['out_trade_no']}")) for r in lost)
            )

        # Then the kill hit the storm: requests under way on A died with it, connections sent
        # to A while it was down were cut off, and the sandbox delivered those again
        assert proxy.counts.unanswered[port_a] > 0, (killed_after, proxy.counts)
        assert proxy.counts.refused[port_a] > 0, proxy.counts
        unacknowledged = {
            a["out_trade_no"] for a in paid if not any(d["acknowledged"] for d in a["deliveries"])
        }
        retried = {
            t["out_trade_no"] for t in trades if any(d.get("retry") for d in t["deliveries"])
        }
        assert unacknowledged and unacknowledged <= retried, (unacknowledged, retried)
        # And the lost payments' money was found by asking the platform, not by a notification
        assert all(not t["deliveries"] for t in trades[-LOST:])
        assert all(w.alive() for w in workers), [w.output()[-2000:] for w in workers]

        # And every payment is paid exactly once, with the platform's transaction id
        await _check_ledgers(services["database_url"], every, trades, api_a, api_b, workers)


def _bootstrap_demo(env: dict[str, str]) -> dict[str, Any]:
    return dict(json.loads(run_command("bootstrap-demo", env=env)))


def _pay(
    sandbox: httpx.AsyncClient, recharge: dict[str, Any], deliveries: int
) -> asyncio.Task[Any]:
    """The member pays at the sandbox, which delivers the notification `deliveries` times at
    once, and again on the platform's schedule until one delivery is acknowledged."""
    return asyncio.create_task(
        _ok(
            sandbox.post(
                f"/payments/{recharge['out_trade_no']}/pay",
                json={"deliveries": deliveries, "retry_scale": RETRY_SCALE},
            )
        )
    )


async def _enqueue_recovery(redis_url: str) -> None:
    """Put `payments.recover` on the workers' queue, as its schedule does every minute."""
    queue = SaqQueue(redis_url)
    try:
        assert await queue.enqueue(PAYMENTS_RECOVER)
    finally:
        await queue.stop()


async def _wait_until_none_created(database_url: str, count: int) -> None:
    """Wait until all `count` payments exist and none is still `created`."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    db = await asyncpg.connect(database_url)
    try:
        while True:
            states = dict(await db.fetch("SELECT state, count(*) FROM pay_payment GROUP BY state"))
            if sum(states.values()) == count and not states.get("created"):
                return
            assert time.monotonic() < deadline, f"payments by state: {states}"
            await asyncio.sleep(0.5)
    finally:
        await db.close()


async def _wait_for_notifications(
    proxy: RoundRobinProxy, count: int, storm: list[asyncio.Task[Any]]
) -> int:
    """Wait until `count` notification connections reached the proxy; how many did."""
    deadline = time.monotonic() + 30
    while proxy.counts.matched_total < count:
        assert time.monotonic() < deadline, f"the storm did not start: {proxy.counts}"
        done = [task for task in storm if task.done()]
        for task in done:
            task.result()  # a pay call that failed: its error, now
        await asyncio.sleep(0.005)
    return proxy.counts.matched_total


async def _wait_until_acknowledged(
    sandbox: httpx.AsyncClient, recharges: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The trades once each has an acknowledged delivery: the sandbox retries no more."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        trades = await asyncio.gather(
            *(_ok(sandbox.get(f"/payments/{r['out_trade_no']}")) for r in recharges)
        )
        waiting = [
            t["out_trade_no"] for t in trades if not any(d["acknowledged"] for d in t["deliveries"])
        ]
        if not waiting:
            return list(trades)
        assert time.monotonic() < deadline, f"never acknowledged: {waiting}"
        await asyncio.sleep(0.5)


async def _check_ledgers(
    database_url: str,
    recharges: list[dict[str, Any]],
    trades: list[dict[str, Any]],
    api_a: ServeProcess,
    api_b: ServeProcess,
    workers: list[WorkerProcess],
) -> None:
    db = await asyncpg.connect(database_url)
    try:
        payments = {
            row["id"]: row
            for row in await db.fetch(
                "SELECT id, out_trade_no, state, amount_fen, transaction_id, member_id"
                " FROM pay_payment"
            )
        }
        entries = await db.fetch(
            "SELECT member_id, key, kind, principal_delta_fen, bonus_delta_fen FROM mc_wallet_entry"
        )
        members = {
            row["id"]: row
            for row in await db.fetch(
                "SELECT id, status, wallet_principal_fen, wallet_bonus_fen FROM mc_member"
            )
        }
        welcomes = await db.fetch("SELECT payload FROM core_outbox WHERE topic = 'member.welcome'")
        deliveries = await db.fetch(
            "SELECT payment_id, outcome, reason FROM pay_delivery WHERE payment_id IS NOT NULL"
        )
    finally:
        await db.close()

    outputs = [api_a.output(), api_b.output(), *(w.output() for w in workers)]
    logs = "\n".join(output[-3000:] for output in outputs)
    by_trade = {t["out_trade_no"]: t for t in trades}
    assert len(payments) == len(recharges)
    assert [p for p in payments.values() if p["state"] != "paid"] == [], logs
    for recharge in recharges:
        payment = payments[recharge["payment_id"]]
        assert payment["transaction_id"] == by_trade[payment["out_trade_no"]]["transaction_id"]

    # One wallet entry per payment, for its amount, on its member
    keys = sorted(e["key"] for e in entries)
    assert keys == sorted(f"payment:{p}" for p in payments), logs
    for entry in entries:
        payment = payments[int(entry["key"].split(":")[1])]
        assert (entry["member_id"], entry["kind"]) == (payment["member_id"], "recharge")
        assert (entry["principal_delta_fen"], entry["bonus_delta_fen"]) == (
            payment["amount_fen"],
            0,
        )

    # Every member's balance is the sum of their entries; each joined and was welcomed once
    payers = {p["member_id"] for p in payments.values()}
    assert len(payers) == len(recharges)
    for member_id in payers:
        member = members[member_id]
        mine = [e for e in entries if e["member_id"] == member_id]
        assert member["wallet_principal_fen"] == sum(e["principal_delta_fen"] for e in mine)
        assert member["wallet_bonus_fen"] == sum(e["bonus_delta_fen"] for e in mine)
        assert member["status"] == "member"
    welcomed = sorted(json.loads(w["payload"])["member_id"] for w in welcomes)
    assert welcomed == sorted(payers)

    # And no delivery was applied twice, none refused
    applied: dict[int, int] = {}
    for delivery in deliveries:
        assert delivery["outcome"] != "refused", (delivery["reason"], logs)
        if delivery["outcome"] == "applied":
            applied[delivery["payment_id"]] = applied.get(delivery["payment_id"], 0) + 1
    assert all(count == 1 for count in applied.values()), applied
