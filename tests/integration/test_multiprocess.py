"""`memberhub serve --workers 2` on PostgreSQL + Redis, as the README's scale-out section runs it.

Each test starts the real command against a database and a Redis database of its own: the
demo's journeys succeed whichever process serves each request (and the sandbox the processes
mount), one scrape of /metrics counts the requests of both, and SIGTERM ends every process with
status 0, also while they are still starting.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import redis

from tests.conftest import _free_port
from tests.support.metrics import sample
from tests.support.serve_process import ServeProcess, run_command, serve_process

DATABASE_URL = os.environ.get("MEMBERHUB_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("MEMBERHUB_TEST_REDIS_URL")

pytestmark = pytest.mark.skipif(
    not (DATABASE_URL and REDIS_URL),
    reason="several API processes need PostgreSQL and Redis: set MEMBERHUB_TEST_DATABASE_URL "
    "and MEMBERHUB_TEST_REDIS_URL (make test-services)",
)

# Requests each journey makes (directly, or the API on its own behalf to the sandbox it mounts).
JOURNEY_PATHS = (
    "/sandbox/wechat/login-codes",
    "/api/v1/auth/wxa/login",
    "/sandbox/wechat/sns/jscode2session",
    "/sandbox/wechat/phone-codes",
    "/api/v1/auth/wxa/phone",
    "/sandbox/wechat/wxa/business/getuserphonenumber",
    "/api/v1/me/code",
    "/api/v1/pos/member-code/resolve",
)
JOURNEYS_AT_ONCE = 3
MAX_ROUNDS = 20
STOP_TIMEOUT_S = 20
# Processes asked to stop while starting finish starting first: allow for a loaded machine.
START_AND_STOP_TIMEOUT_S = 180
TROUBLE = ("Traceback", "Event loop stopped", "Experienced exception", "Killing")


@pytest.fixture(scope="module")
async def services() -> AsyncIterator[dict[str, str]]:
    """A PostgreSQL database and a Redis database for this module alone, migrated and with the
    demo brand; the suite's own tables and keys are not touched."""
    assert DATABASE_URL and REDIS_URL
    name = f"memberhub_mp_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(DATABASE_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    redis_url = _other_redis_db(REDIS_URL)
    shared = redis.Redis.from_url(redis_url)
    shared.flushdb()
    env = _env(database_url=_with_database(DATABASE_URL, name), redis_url=redis_url, port=0)
    try:
        await asyncio.to_thread(run_command, "migrate", env=env)
        demo = await asyncio.to_thread(run_command, "bootstrap-demo", env=env)
        yield {"database_url": env["MEMBERHUB_DATABASE_URL"], "redis_url": redis_url, "demo": demo}
    finally:
        shared.flushdb()
        shared.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _other_redis_db(url: str) -> str:
    parts = urlsplit(url)
    db = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(db + 1) % 16}"))


def _env(*, database_url: str, redis_url: str, port: int) -> dict[str, str]:
    """What `serve` runs with: the environment without the suite's settings, then this module's.
    The platform URLs point at the sandbox this very server mounts."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MEMBERHUB_", "PROMETHEUS_"))
    }
    base = f"http://127.0.0.1:{port}"
    return env | {
        "MEMBERHUB_ENV": "development",
        "MEMBERHUB_DATABASE_URL": database_url,
        "MEMBERHUB_REDIS_URL": redis_url,
        "MEMBERHUB_SANDBOX": "1",
        "MEMBERHUB_PUBLIC_BASE_URL": base,
        "MEMBERHUB_WECHAT_API_BASE": f"{base}/sandbox/wechat",
        "MEMBERHUB_ALIPAY_GATEWAY": f"{base}/sandbox/alipay/gateway.do",
        "MEMBERHUB_WECHATPAY_API_BASE": f"{base}/sandbox/wechatpay",
        "MEMBERHUB_ACCESS_LOG": "1",
        "MEMBERHUB_LOG_LEVEL": "INFO",
    }


def _serve_env(services: dict[str, str], port: int) -> dict[str, str]:
    return _env(database_url=services["database_url"], redis_url=services["redis_url"], port=port)


class Client:
    """Calls the server on a new connection each time (so that either process may accept it),
    with a request id of our own that the access log repeats."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def call(
        self, method: str, path: str, *, token: str | None = None, body: Any = None
    ) -> tuple[str, httpx.Response]:
        request_id = secrets.token_hex(12)
        headers = {"X-Request-ID": request_id, "Connection": "close"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        answer = await self.http.request(method, path, json=body, headers=headers)
        assert answer.status_code == 200, f"{method} {path}: {answer.status_code} {answer.text}"
        return request_id, answer

    async def call_json(self, method: str, path: str, **kwargs: Any) -> tuple[str, Any]:
        request_id, answer = await self.call(method, path, **kwargs)
        return request_id, answer.json()


async def _journey(client: Client, demo: dict[str, Any], number: int) -> list[str]:
    """A mini-program login, the phone binding, the member code resolved at the till."""
    appid = demo["miniprogram"]["appid"]
    ids = []
    request_id, code = await client.call_json(
        "POST", "/sandbox/wechat/login-codes", body={"appid": appid}
    )
    ids.append(request_id)
    request_id, login = await client.call_json(
        "POST", "/api/v1/auth/wxa/login", body={"appid": appid, "code": code["code"]}
    )
    ids.append(request_id)
    phone = f"139{number:08d}"
    request_id, phone_code = await client.call_json(
        "POST", "/sandbox/wechat/phone-codes", body={"appid": appid, "phone": phone}
    )
    ids.append(request_id)
    request_id, bound = await client.call_json(
        "POST", "/api/v1/auth/wxa/phone", token=login["token"], body={"code": phone_code["code"]}
    )
    ids.append(request_id)
    assert bound["is_member"] is True
    request_id, member_code = await client.call_json("GET", "/api/v1/me/code", token=bound["token"])
    ids.append(request_id)
    request_id, member = await client.call_json(
        "POST",
        "/api/v1/pos/member-code/resolve",
        token=demo["hq_admin"]["token"],
        body={"code": member_code["code"]},
    )
    ids.append(request_id)
    assert member["phone_masked"].endswith(phone[-4:]) and phone not in json.dumps(member)
    return ids


def _counts_by_path(log: dict[str, dict[str, Any]]) -> dict[str, Counter[int]]:
    """path → how many of its requests each process answered."""
    counts: dict[str, Counter[int]] = defaultdict(Counter)
    for entry in log.values():
        counts[entry["path"]][entry["pid"]] += 1
    return counts


async def test_two_processes_serve_the_journeys_one_scrape_and_stop_on_sigterm(
    services: dict[str, Any],
) -> None:
    demo = json.loads(services["demo"])
    port = _free_port()
    with serve_process(port=port, workers=2, env=_serve_env(services, port)) as server:
        await asyncio.to_thread(server.wait_until_up)
        await _wait_for_api_processes(server, 2)
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as http:
            client = Client(http)

            # Given journeys until every step has been answered by both processes
            ours: list[str] = []
            journeys = 0
            for _ in range(MAX_ROUNDS):
                rounds = await asyncio.gather(
                    *(_journey(client, demo, journeys + n) for n in range(JOURNEYS_AT_ONCE))
                )
                journeys += JOURNEYS_AT_ONCE
                ours += [request_id for ids in rounds for request_id in ids]
                counts = _counts_by_path(server.access_log())
                if all(len(counts[path]) == 2 for path in JOURNEY_PATHS):
                    break
            log = server.access_log()
            pids = {entry["pid"] for entry in log.values()}
            assert len(pids) == 2, pids
            counts = _counts_by_path(log)
            assert all(len(counts[path]) == 2 for path in JOURNEY_PATHS), (journeys, counts)
            assert set(ours) <= set(log)

            # When /metrics is scraped until both processes have answered a scrape
            scraped_by: set[int] = set()
            for _ in range(60):
                request_id, answer = await client.call("GET", "/metrics")
                text = answer.text
                scraped_by.add(server.access_log()[request_id]["pid"])
                # Then every scrape counts the requests of both processes
                logins = sample(
                    text,
                    "memberhub_http_requests_total",
                    method="POST",
                    route="api/v1/auth/wxa/login",
                    status="200",
                )
                assert logins == journeys
                code2session = sample(
                    text,
                    "memberhub_upstream_calls_total",
                    platform="wechat",
                    api="sns/jscode2session",
                    outcome="ok",
                )
                assert code2session == journeys
                assert sample(text, "memberhub_api_processes") == 2
                for pid in pids:
                    assert sample(text, "process_resident_memory_bytes", pid=str(pid)) > 0
                if scraped_by == pids:
                    break
            assert scraped_by == pids

        # When the process group gets SIGTERM, as systemd sends it
        returncode = await asyncio.to_thread(
            server.stop, signal.SIGTERM, group=True, timeout_s=STOP_TIMEOUT_S
        )

        # Then every process ends, with status 0 and nothing alarming in the output
        output = server.output()
        assert returncode == 0, output[-4000:]
        assert not [word for word in TROUBLE if word in output], output[-4000:]
        await asyncio.to_thread(server.wait_group_gone)
        assert _metrics_dirs_of(server.process.pid) == []


async def test_sigterm_while_the_processes_start_ends_them_all_with_status_0(
    services: dict[str, Any],
) -> None:
    port = _free_port()
    with serve_process(port=port, workers=2, env=_serve_env(services, port)) as server:
        # Given a server past its first steps: multiprocessing's helpers are running
        await asyncio.to_thread(_wait_for_children, server, 2)

        # When the main process gets SIGTERM before the API processes have started
        returncode = await asyncio.to_thread(
            server.stop, signal.SIGTERM, timeout_s=START_AND_STOP_TIMEOUT_S
        )

        # Then they start, stop, and everything ends with status 0
        output = server.output()
        assert returncode == 0, output[-4000:]
        assert not [word for word in TROUBLE if word in output], output[-4000:]
        await asyncio.to_thread(server.wait_group_gone)


async def _wait_for_api_processes(server: ServeProcess, count: int) -> None:
    """Wait until `count` API processes serve (the first answers while the next still starts)."""
    deadline = time.monotonic() + START_AND_STOP_TIMEOUT_S
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        while sample((await http.get("/metrics")).text, "memberhub_api_processes") < count:
            assert time.monotonic() < deadline, f"not {count} API processes:\n{server.output()}"
            await asyncio.sleep(0.2)


def _metrics_dirs_of(pid: int) -> list[Path]:
    """The metrics directories `serve` with this pid made (removed when it stops)."""
    return list(Path(tempfile.gettempdir()).glob(f"memberhub-metrics-{pid}-*"))


def _wait_for_children(server: ServeProcess, count: int, *, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while len(server.children()) < count:
        assert server.process.poll() is None, server.output()
        assert time.monotonic() < deadline, "serve started no processes"
        time.sleep(0.05)
