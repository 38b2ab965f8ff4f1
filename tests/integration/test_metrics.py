"""/metrics: upstream calls, jobs, the outbox backlog, the queue depth and the process collectors.

Counters are process-wide and keep counting across tests, so each test reads a series before
and after its action. (Several API processes scraped as one: tests/integration/test_multiprocess.py.)
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from api.core import alipay, outbox, wechat
from api.core.errors import BadRequest, UpstreamError
from api.core.models import OutboxMessage, OutboxStatus
from api.core.ports import Ports
from api.core.queue import LocalQueue, Registry, SaqQueue
from config.settings import Settings
from sandbox.keys import (
    alipay_app_private_pem,
    alipay_app_public_pem,
    alipay_platform_public_pem,
    wechat_app_secret,
)
from tests.conftest import _free_port
from tests.support.api import Api
from tests.support.metrics import sample

ROOT = Path(__file__).resolve().parents[2]


async def scrape(api: Api) -> str:
    answer = await api.get("/metrics")
    assert answer.status == 200, answer
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


@pytest.fixture
async def http(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as client:
        yield client


def _wechat_creds() -> wechat.WechatCredentials:
    appid = "wx" + secrets.token_hex(8)
    return wechat.WechatCredentials(appid=appid, secret=wechat_app_secret(appid))


def _alipay_creds(**overrides: str) -> alipay.AlipayCredentials:
    values = {
        "app_id": "2021" + "".join(secrets.choice("0123456789") for _ in range(12)),
        "app_private_key_pem": alipay_app_private_pem(),
        "alipay_public_key_pem": alipay_platform_public_pem(),
        **overrides,
    }
    return alipay.AlipayCredentials(**values)


UPSTREAM = "memberhub_upstream_calls_total"


async def test_wechat_calls_are_counted_by_api_and_outcome(
    api: Api, http: httpx.AsyncClient
) -> None:
    creds = _wechat_creds()
    code = (await http.post("/wechat/login-codes", json={"appid": creds.appid})).json()["code"]
    before = await scrape(api)

    await wechat.code_to_session(creds, code)
    with pytest.raises(BadRequest):
        await wechat.code_to_session(creds, code)
    with pytest.raises(UpstreamError):
        await wechat.code_to_session(
            wechat.WechatCredentials(appid=creds.appid, secret="0" * 32), "any-code"
        )

    after = await scrape(api)
    series = {"platform": "wechat", "api": "sns/jscode2session"}
    for outcome in ("ok", "invalid_code", "refused"):
        grown = sample(after, UPSTREAM, **series, outcome=outcome) - sample(
            before, UPSTREAM, **series, outcome=outcome
        )
        assert grown == 1, outcome
    duration = "memberhub_upstream_call_duration_seconds_count"
    assert sample(after, duration, **series) - sample(before, duration, **series) == 3


async def test_alipay_calls_are_counted_by_method_and_outcome(
    api: Api, http: httpx.AsyncClient
) -> None:
    good = _alipay_creds()
    # The app's own public key in place of Alipay's: the answer's signature cannot verify.
    forged = _alipay_creds(app_id=good.app_id, alipay_public_key_pem=alipay_app_public_pem())
    codes = [
        (await http.post("/alipay/auth-codes", json={"app_id": good.app_id})).json()["auth_code"]
        for _ in range(2)
    ]
    before = await scrape(api)

    await alipay.oauth_token(good, codes[0])
    with pytest.raises(BadRequest):
        await alipay.oauth_token(good, codes[0])
    with pytest.raises(UpstreamError):
        await alipay.oauth_token(forged, codes[1])

    after = await scrape(api)
    series = {"platform": "alipay", "api": "alipay.system.oauth.token"}
    for outcome in ("ok", "invalid_code", "bad_signature"):
        grown = sample(after, UPSTREAM, **series, outcome=outcome) - sample(
            before, UPSTREAM, **series, outcome=outcome
        )
        assert grown == 1, outcome


async def test_jobs_are_counted_by_function_and_outcome(api: Api) -> None:
    registry = Registry()

    @registry.job("metrics.works")
    async def works() -> str:
        return "done"

    @registry.job("metrics.breaks")
    async def breaks() -> None:
        raise RuntimeError("this job fails")

    queue = LocalQueue(registry)
    before = await scrape(api)

    await queue.enqueue("metrics.works")
    await queue.enqueue("metrics.breaks")
    await queue.join()
    # saq's workers run a job through the same wrapper (building it needs no Redis).
    saq_queue = SaqQueue("redis://127.0.0.1:1/0", registry)
    assert await saq_queue._saq_function(registry.spec("metrics.works"))({}) == "done"

    after = await scrape(api)

    def grown(function: str, outcome: str) -> float:
        name = "memberhub_jobs_total"
        labels = {"function": function, "outcome": outcome}
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grown("metrics.works", "ok") == 2
    assert grown("metrics.breaks", "failed") == 1
    assert grown("metrics.works", "failed") == grown("metrics.breaks", "ok") == 0


async def test_the_outbox_backlog_is_read_at_scrape_time(api: Api, ports: Ports) -> None:
    empty = await scrape(api)
    for n in range(3):
        await outbox.enqueue(topic="metrics.test", payload={"n": n})
    dead = await outbox.enqueue(topic="metrics.test", payload={"n": "dead"})
    await OutboxMessage.filter(id=dead.id).update(status=OutboxStatus.DEAD)

    text = await scrape(api)

    name = "memberhub_outbox_messages"
    assert sample(empty, name, status="pending") == sample(empty, name, status="dead") == 0
    assert sample(text, name, status="pending") == 3
    assert sample(text, name, status="dead") == 1


async def test_the_queue_depth_is_read_at_scrape_time(
    api: Api, ports: Ports, settings: Settings
) -> None:
    release = asyncio.Event()
    if settings.redis_url:
        # No worker runs in the test process: what is enqueued waits in saq's queue.
        assert isinstance(ports.queue, SaqQueue)
        await ports.queue.enqueue("metrics.waits")
        expected = {"queued": 1, "active": 0}
    else:
        registry = Registry()

        @registry.job("metrics.waits")
        async def waits() -> None:
            await release.wait()

        ports.queue = LocalQueue(registry)
        await ports.queue.enqueue("metrics.waits")
        expected = {"queued": 0, "active": 1}

    text = await scrape(api)
    release.set()

    for state, count in expected.items():
        assert sample(text, "memberhub_queue_jobs", state=state) == count


async def test_one_process_exposes_its_process_and_gc_collectors(api: Api) -> None:
    text = await scrape(api)

    assert sample(text, "process_resident_memory_bytes") > 0
    assert sample(text, "process_cpu_seconds_total") > 0
    assert sample(text, "python_gc_objects_collected_total", generation="0") >= 0
    assert "python_gc_collections_total" in text
    assert sample(text, "python_info", implementation="CPython") == 1


async def test_the_worker_serves_its_own_metrics(ports: Ports) -> None:
    port = _free_port()
    env = os.environ | {
        "MEMBERHUB_WORKER_METRICS_PORT": str(port),
        "MEMBERHUB_OUTBOX_POLL_S": "1",
        "MEMBERHUB_WORKER_SHUTDOWN_GRACE_S": "1",
    }
    with tempfile.TemporaryFile() as output:
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "api.cli", "worker", cwd=ROOT, env=env, stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            # The outbox is delivered every second: its job runs, and is counted, at once.
            text = await _scrape_until(
                f"http://127.0.0.1:{port}/metrics",
                lambda text: (
                    sample(text, "memberhub_jobs_total", function="outbox.deliver", outcome="ok")
                    >= 1
                ),
            )
            worker.send_signal(signal.SIGTERM)
            returncode = await asyncio.wait_for(worker.wait(), timeout=30)
        finally:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
        output.seek(0)
        log = output.read().decode(errors="replace")

    assert returncode == 0, log
    assert sample(text, "memberhub_job_duration_seconds_count", function="outbox.deliver") >= 1
    assert "# TYPE memberhub_upstream_calls_total counter" in text
    assert sample(text, "process_resident_memory_bytes") > 0


async def _scrape_until(url: str, holds: Callable[[str], bool], *, timeout_s: float = 60) -> str:
    """The first exposition at url for which holds() is true; fails after timeout_s."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    text = ""
    async with httpx.AsyncClient(timeout=2) as client:
        while asyncio.get_running_loop().time() < deadline:
            try:
                answer = await client.get(url)
            except httpx.TransportError:
                pass
            else:
                text = answer.text
                if answer.status_code == 200 and holds(text):
                    return text
            await asyncio.sleep(0.2)
    raise AssertionError(f"{url} did not show what was expected in time: {text[-2000:]}")
