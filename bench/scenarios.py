"""What the benchmark loads: each scenario names its route, its caller and its goal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    route: str  # may hold {fixture} placeholders filled from the seed
    caller: str | None = None  # which seeded token calls it
    body: str | None = None
    uses_codes: bool = False
    # A payment platform: each request is a fresh payment's signed paid notification from it
    notifications: str = ""
    connections: int | None = None  # open connections, when not the run's (--connections)
    goal: str = ""

    def available(self, fixtures: dict[str, Any]) -> bool:
        if self.notifications:
            return self.notifications in fixtures.get("notifications", {})
        return self.caller is None or bool(fixtures.get("tokens", {}).get(self.caller))

    def token(self, fixtures: dict[str, Any]) -> str | None:
        return fixtures["tokens"][self.caller] if self.caller else None

    def path(self, fixtures: dict[str, Any]) -> str:
        return self.route.format(**fixtures.get("ids", {}))


SCENARIOS = [
    Scenario("bare_json", "GET", "/healthz", goal=""),
    Scenario("readyz", "GET", "/readyz"),
    Scenario("admin_read", "GET", "/api/v1/admin/stores?limit=20", caller="hq_admin"),
    Scenario("me", "GET", "/api/v1/me", caller="member"),
    Scenario(
        "member_code_resolve",
        "POST",
        "/api/v1/pos/member-code/resolve",
        caller="cashier",
        uses_codes=True,  # a fresh code per request: each one burns on first use
        goal=">= 15% of bare_json on PostgreSQL + Redis, p99 < 50 ms, 0 errors",
    ),
    *(
        Scenario(
            f"notify_{platform}",
            "POST",
            f"/callbacks/{channel}",  # each request names its account: /callbacks/{channel}/{key}
            notifications=platform,
            connections=50,  # the figure: notifications arrive 50 at a time
            goal=">= 4% of bare_json on PostgreSQL + Redis, p99 < 500 ms, 0 errors",
        )
        for platform, channel in (
            ("wechatpay_v3", "wechatpay"),
            ("wechatpay_v2", "wechatpay"),
            ("alipay", "alipay"),
        )
    ),
    # Run by `python -m bench.till` (orders and payment codes pre-generated, the sandbox in a
    # process of its own); `python -m bench` skips it, its seed names no till cashier.
    Scenario(
        "till_pay",
        "POST",
        "/api/v1/pos/orders/{order_id}/pay",
        caller="till_cashier",
        goal="50 connections: p99 < 500 ms, 0 errors",
    ),
]
