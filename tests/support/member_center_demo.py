"""A real `memberhub serve` with the sandbox and a demo-like brand, for the client page tests.

The brand is `memberhub bootstrap-demo`'s, completed through the admin API as head office
would: a level ladder, coupon templates in the coupon center, a points-mall item, a recharge
package and the mall's shelf (tests/support/mall_demo.py). Everything runs on the embedded
stack (a SQLite file, the in-process cache).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import _free_port
from tests.support.mall_demo import complete_mall
from tests.support.serve_process import ServeProcess, run_command, serve_process

LEVELS = (
    {"name": "普卡会员", "rank": 0, "growth_threshold": 0, "benefits": ["生日赠饮"]},
    {"name": "银卡会员", "rank": 1, "growth_threshold": 1000, "discount_pct": 95,
     "benefits": ["生日赠饮", "95 折"]},
    {"name": "金卡会员", "rank": 2, "growth_threshold": 5000, "discount_pct": 90,
     "benefits": ["生日赠饮", "9 折", "免运费"], "free_delivery": True},
)  # fmt: skip
CENTER_COUPON = {
    "name": "新品满减券", "kind": "cash_off", "value_fen": 1000, "threshold_fen": 5000,
    "total_stock": 500, "per_member_limit": 1, "valid_days": 30,
}  # fmt: skip
MALL_COUPON = {
    "name": "积分兑换 5 元券", "kind": "cash_off", "value_fen": 500, "threshold_fen": 0,
    "total_stock": 500, "per_member_limit": 5, "valid_days": 30,
}  # fmt: skip
PACKAGE = {"name": "充 100 送 10", "pay_fen": 10000, "bonus_fen": 1000}


def serve_env(tmp: Path, port: int) -> dict[str, str]:
    """The environment of `serve` on the embedded stack, its sandbox at its own address."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MEMBERHUB_", "PROMETHEUS_"))
    }
    base = f"http://127.0.0.1:{port}"
    return env | {
        "MEMBERHUB_ENV": "development",
        "MEMBERHUB_DATABASE_URL": f"sqlite://{tmp / 'memberhub.sqlite3'}",
        "MEMBERHUB_SANDBOX": "1",
        "MEMBERHUB_HOST": "127.0.0.1",
        "MEMBERHUB_PORT": str(port),
        "MEMBERHUB_PUBLIC_BASE_URL": base,
        "MEMBERHUB_ACCESS_LOG": "0",
        "MEMBERHUB_LOG_LEVEL": "WARNING",
    }


def _check(answer: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert answer.status_code == status, f"{answer.request.url}: {answer.status_code} {answer.text}"
    data: dict[str, Any] = answer.json()
    return data


def complete_demo(url: str, demo: dict[str, Any]) -> dict[str, Any]:
    """Head office adds levels, coupons, a points-mall item and a package; what was added."""
    headers = {"Authorization": f"Bearer {demo['hq_admin']['token']}"}
    with httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=30) as http:
        for level in LEVELS:
            _check(http.post("/admin/levels", json=level), 201)
        templates = {}
        for spec in (CENTER_COUPON, MALL_COUPON):
            template = _check(http.post("/admin/coupon-templates", json=spec), 201)
            _check(http.post(f"/admin/coupon-templates/{template['id']}/activate"))
            templates[spec["name"]] = template["id"]
        item = {
            "kind": "coupon",
            "name": MALL_COUPON["name"],
            "points_price": 100,
            "description": "100 积分兑换一张 5 元无门槛券",
            "template_id": templates[MALL_COUPON["name"]],
            "on_shelf": True,
        }
        _check(http.post("/admin/points-mall/items", json=item), 201)
        _check(http.post("/admin/wallet-packages", json=PACKAGE), 201)
    return {"templates": templates}


def _wait_until_serving(server: ServeProcess, *, timeout_s: float = 120) -> None:
    """Wait for /healthz, which reads no database, with a patient client: on SQLite a readiness
    probe given up mid-query (a client timing out on a loaded machine) can wedge the process's
    database connection, and every later request with it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert server.process.poll() is None, f"serve exited while starting:\n{server.output()}"
        try:
            if httpx.get(f"{server.url}/healthz", timeout=timeout_s).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.3)
    raise AssertionError(f"serve did not answer within {timeout_s} s:\n{server.output()}")


@contextlib.contextmanager
def member_center_server(tmp: Path) -> Iterator[tuple[ServeProcess, dict[str, Any]]]:
    """`memberhub serve` (one process) over a fresh database holding the completed demo brand;
    the server and the demo's description (bootstrap-demo's JSON and what was added)."""
    port = _free_port()
    env = serve_env(tmp, port)
    run_command("migrate", env=env)
    demo = json.loads(run_command("bootstrap-demo", env=env))
    with serve_process(port=port, workers=1, env=env) as server:
        _wait_until_serving(server)
        demo.update(complete_demo(server.url, demo))
        demo.update(complete_mall(server.url, demo))
        yield server, demo
