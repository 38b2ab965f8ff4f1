"""Franchise onboarding in tests: CSV files of stores, the job followed to its end, and (on the
Redis stack) a saq worker in this process to run the jobs the API queues."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from api.core.queue import Registry, SaqQueue
from api.payments.onboarding import COLUMNS, ONBOARDING_JOB
from config.settings import Settings
from tests.support.api import Answer, Api
from workers.payments import onboard_stores

_stores = itertools.count(1)


def new_sub_mchid() -> str:
    """A sub_mchid no other test uses (the sandbox remembers unknown ones for the whole run)."""
    return f"19{secrets.randbelow(10**8):08d}"


def new_app_auth_token() -> str:
    return f"202612BB{secrets.token_hex(12)}"


def franchise_line(**fields: str) -> dict[str, str]:
    """One franchise store with its own WeChat Pay sub-merchant and Alipay authorisation."""
    number = next(_stores)
    line = {
        "store_code": f"F{number:06d}",
        "name": f"加盟店 {number}",
        "city": "杭州",
        "kind": "franchise",
        "wechat_sub_mchid": new_sub_mchid(),
        "wechat_sub_appid": "",
        "alipay_app_auth_token": new_app_auth_token(),
    }
    return line | fields


def csv_file(lines: Iterable[Mapping[str, str]], columns: Iterable[str] = COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(lines)
    return out.getvalue()


async def post_file(api: Api, token: str, text: str | bytes) -> Answer:
    return await api.request(
        "POST",
        "/admin/payment-onboarding",
        token=token,
        content=text,
        headers={"Content-Type": "text/csv"},
    )


async def follow(
    api: Api, token: str, job_id: int, *, timeout_s: float = 60
) -> tuple[dict[str, Any], list[tuple[str, int]]]:
    """Poll the job until it ends: (its last answer, the (state, checked) pairs seen on the way)."""
    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + timeout_s
    while True:
        answer = await api.get(f"/admin/payment-onboarding/{job_id}", token=token)
        assert answer.status == 200, answer
        job = answer.json
        seen.append((job["state"], job["checked"]))
        if job["state"] in ("done", "failed"):
            return job, seen
        assert time.monotonic() < deadline, f"onboarding {job_id} still {job['state']}"
        await asyncio.sleep(0.05)


async def onboard(api: Api, token: str, text: str, *, timeout_s: float = 60) -> dict[str, Any]:
    """POST the file (202) and follow the job to its end."""
    started = await post_file(api, token, text)
    assert started.status == 202, started
    job, _ = await follow(api, token, started.json["id"], timeout_s=timeout_s)
    return job


@asynccontextmanager
async def onboarding_worker(settings: Settings) -> AsyncIterator[None]:
    """On the Redis stack, a saq worker that runs the onboarding job (and nothing else); the
    in-process queue of the embedded stack runs it in the API's own process."""
    if not settings.redis_url:
        yield
        return
    registry = Registry()
    registry.job(ONBOARDING_JOB, timeout_s=900)(onboard_stores)
    worker = SaqQueue(
        settings.redis_url,
        registry,
        run_worker=True,
        name=settings.queue_name,
        concurrency=4,
        shutdown_grace_s=1,
    )
    await worker.start()
    try:
        yield
    finally:
        await worker.stop()
