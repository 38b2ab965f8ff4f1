"""Staff sign-in under attack: failures counted per name and client address and per address, the
Retry-After of a refusal, and which proxy headers may name the client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sanic import Sanic

from api.app import create_app
from api.core.ports import Ports
from api.org.staff_auth import client_network
from config.settings import Settings
from tests.factories import PASSWORD, make_brand, make_staff
from tests.support.api import Api

LOGIN = "/auth/staff/login"


@asynccontextmanager
async def client_at(app: Sanic, address: str) -> AsyncIterator[Api]:
    """A client whose connections come from `address`."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://memberhub.test") as http:
        yield Api(http)


def attempt(username: str = "alice", password: str = "guess-guess") -> dict[str, str]:
    return {"brand": "acme", "username": username, "password": password}


async def test_failures_from_one_address_do_not_lock_the_name_out_from_another(
    app: Sanic, settings: Settings
) -> None:
    await make_staff(brand=await make_brand(code="acme"), username="alice")

    async with client_at(app, "203.0.113.7") as attacker, client_at(app, "198.51.100.2") as alice:
        failures = [
            (await attacker.post(LOGIN, attempt())).status
            for _ in range(settings.staff_login_max_failures)
        ]
        refused = await attacker.post(LOGIN, attempt(password=PASSWORD))
        owner = await alice.post(LOGIN, attempt(password=PASSWORD))
        other_name = await attacker.post(LOGIN, attempt("bob"))

    assert failures == [401] * settings.staff_login_max_failures
    assert (refused.status, refused.error_code) == (429, "auth.too_many_attempts")
    assert 0 < int(refused.headers["retry-after"]) <= settings.staff_login_window_s
    assert owner.status == 200, owner
    assert (other_name.status, other_name.error_code) == (401, "auth.bad_credentials")


async def test_an_address_trying_many_names_is_refused_for_every_name(
    app: Sanic, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "staff_login_max_failures_per_address", 8)
    await make_staff(brand=await make_brand(code="acme"), username="alice")
    limit = settings.staff_login_max_failures_per_address
    assert limit > settings.staff_login_max_failures

    async with client_at(app, "203.0.113.7") as sprayer, client_at(app, "198.51.100.2") as alice:
        failures = [(await sprayer.post(LOGIN, attempt(f"name{n}"))).status for n in range(limit)]
        refused = await sprayer.post(LOGIN, attempt(password=PASSWORD))
        owner = await alice.post(LOGIN, attempt(password=PASSWORD))

    assert failures == [401] * limit
    assert (refused.status, refused.error_code) == (429, "auth.too_many_attempts")
    assert int(refused.headers["retry-after"]) > 0
    assert owner.status == 200


async def test_a_successful_sign_in_is_not_counted_against_its_address(
    app: Sanic, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "staff_login_max_failures_per_address", 8)
    await make_staff(brand=await make_brand(code="acme"), username="alice")
    limit = settings.staff_login_max_failures_per_address

    async with client_at(app, "203.0.113.7") as shop:
        failures = [(await shop.post(LOGIN, attempt(f"n{n}"))).status for n in range(limit - 1)]
        signed_in = await shop.post(LOGIN, attempt(password=PASSWORD))
        last_allowed = await shop.post(LOGIN, attempt("typo"))
        over = await shop.post(LOGIN, attempt("typo"))

    assert failures == [401] * (limit - 1)
    assert signed_in.status == 200
    assert last_allowed.status == 401
    assert over.status == 429


async def test_parallel_attempts_cannot_slip_under_the_limit(api: Api, settings: Settings) -> None:
    await make_staff(brand=await make_brand(code="acme"), username="alice")

    answers = await asyncio.gather(*(api.post(LOGIN, attempt()) for _ in range(20)))

    statuses = sorted(a.status for a in answers)
    limit = settings.staff_login_max_failures
    assert statuses == [401] * limit + [429] * (20 - limit)


async def test_retry_after_is_the_time_left_in_the_window(
    api: Api, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "staff_login_window_s", 60)
    await make_staff(brand=await make_brand(code="acme"), username="alice")
    for _ in range(settings.staff_login_max_failures):
        assert (await api.post(LOGIN, attempt())).status == 401

    at_once = await api.post(LOGIN, attempt(password=PASSWORD))
    await asyncio.sleep(1.1)
    later = await api.post(LOGIN, attempt(password=PASSWORD))

    assert at_once.status == later.status == 429
    assert 0 < int(later.headers["retry-after"]) < int(at_once.headers["retry-after"]) <= 60


async def test_the_name_is_free_again_once_the_window_has_passed(
    api: Api, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "staff_login_window_s", 2)
    monkeypatch.setattr(settings, "staff_login_max_failures", 1)
    await make_staff(brand=await make_brand(code="acme"), username="alice")
    assert (await api.post(LOGIN, attempt())).status == 401

    refused = await api.post(LOGIN, attempt(password=PASSWORD))
    await asyncio.sleep(int(refused.headers["retry-after"]) + 0.1)
    after_the_window = await api.post(LOGIN, attempt(password=PASSWORD))

    assert refused.status == 429
    assert after_the_window.status == 200, after_the_window


async def test_proxy_headers_are_ignored_unless_a_proxy_is_trusted(
    app: Sanic, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_staff(brand=await make_brand(code="acme"), username="alice")
    limit = settings.staff_login_max_failures

    async with client_at(app, "10.0.0.5") as via_proxy:
        spoofed = [
            await via_proxy.post(LOGIN, attempt(), headers={"x-forwarded-for": f"192.0.2.{n}"})
            for n in range(limit + 1)
        ]
        monkeypatch.setitem(app.config, "PROXIES_COUNT", 1)
        proxied = await via_proxy.post(
            LOGIN, attempt(password=PASSWORD), headers={"x-forwarded-for": "192.0.2.200"}
        )

    assert [a.status for a in spoofed] == [401] * limit + [429]
    assert proxied.status == 200


async def test_the_trusted_proxy_settings_reach_the_web_server(
    settings: Settings, ports: Ports
) -> None:
    proxied = settings.model_copy(update={"proxies_count": 2, "real_ip_header": "X-Real-IP"})

    app = create_app(proxied, ports=ports, manage_db=False, name="memberhub-proxied")

    assert (app.config.PROXIES_COUNT, app.config.REAL_IP_HEADER) == (2, "X-Real-IP")


@pytest.mark.parametrize(
    ("address", "counted_as"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("[2001:db8:1:2:ffff::1]", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("", "unknown"),
        ("/run/memberhub.sock", "/run/memberhub.sock"),
    ],
)
def test_failures_are_counted_per_ipv4_address_or_ipv6_network(
    address: str, counted_as: str
) -> None:
    assert client_network(address) == counted_as
