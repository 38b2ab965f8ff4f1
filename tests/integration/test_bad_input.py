"""Bad input is refused with a 4xx that names what is wrong, and changes nothing.

Each row below once answered 500 on at least one of the two stacks (PostgreSQL is the stricter:
32-bit `integer` columns, no NUL in text): integers past the id columns in paths, filters and
bodies, text longer than its column or holding NUL, dates that overflow once shifted to UTC,
explicit nulls on PATCH fields that cannot be null, oversized bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tortoise import Tortoise

from api.app import BODY_MAX_BYTES, BODY_MAX_BYTES_BY_ROUTE
from api.core.pagination import encode_cursor
from api.member_center import levels, tags, wallet
from api.member_center.models import MemberRelation, TagKind
from api.org.models import StaffRole, WechatAppKind
from api.org.passwords import hash_password
from sandbox.keys import alipay_app_private_pem, alipay_platform_public_pem
from tests.conftest import _free_port
from tests.factories import (
    PASSWORD,
    make_brand,
    make_member,
    make_staff,
    make_store,
    make_wechat_app,
    member_token,
    staff_token,
)
from tests.integration.test_serve import _wait_until_up
from tests.support.api import Api
from tests.support.player import Player

INT64_PAST = 2**63  # one past the largest 64-bit integer
INT32_PAST = 2**31  # one past PostgreSQL's `integer`
NUL = "a\x00b"
IMPORT_PATH = "/api/v1/admin/store-payment-routes/import"


@dataclass
class Bad:
    """One bad request and the answer it must get."""

    method: str
    path: str
    body: Any = None
    query: dict[str, Any] | None = None
    status: int = 422
    code: str = "request.invalid"
    field: str | None = None  # the field the 422's details must name
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        shown = json.dumps(self.body if self.body is not None else self.query, default=str)
        return f"{self.method} {self.path} {shown[:60]}"


COUPON = {"name": "C", "kind": "cash_off", "value_fen": 100, "total_stock": 10, "valid_days": 7}


def not_found(method: str, path: str, body: Any = None) -> Bad:
    return Bad(method, path, body, status=404, code="resource.not_found")


ROWS = [
    # Ids in paths past the id columns: no such row, in one place for every route.
    not_found("GET", f"/admin/stores/{INT64_PAST}"),
    not_found("GET", f"/admin/stores/{-INT64_PAST - 1}"),
    not_found("PATCH", f"/admin/stores/{INT32_PAST}", {"name": "x"}),
    not_found("GET", f"/admin/staff/{INT64_PAST}"),
    not_found("PATCH", f"/admin/staff/{INT32_PAST}", {"name": "x"}),
    not_found("GET", f"/admin/merchant-accounts/{INT32_PAST}"),
    not_found("PATCH", f"/admin/merchant-accounts/{INT64_PAST}", {"name": "x"}),
    not_found("PATCH", f"/admin/store-payment-routes/{INT64_PAST}", {"status": "disabled"}),
    not_found("PATCH", f"/admin/wechat-apps/{INT64_PAST}", {"name": "x"}),
    not_found("PATCH", f"/admin/alipay-apps/{INT64_PAST}", {"name": "x"}),
    not_found("GET", f"/admin/members/{INT64_PAST}"),
    not_found("GET", f"/admin/members/{INT32_PAST}"),
    not_found("POST", f"/admin/members/{INT64_PAST}/tags", {"tag_ids": ["{tag}"]}),
    not_found("DELETE", f"/admin/members/{{member}}/tags/{INT64_PAST}"),
    not_found("DELETE", f"/admin/members/{INT32_PAST}/tags/{{tag}}"),
    not_found(
        "POST", f"/admin/members/{INT64_PAST}/points-adjustments", {"delta": 1, "reason": "r"}
    ),
    not_found("PATCH", f"/admin/tags/{INT32_PAST}", {"name": "x"}),
    not_found("POST", f"/admin/guides/{INT64_PAST}/reassign", {}),
    not_found("PATCH", f"/admin/levels/{INT64_PAST}", {"name": "x"}),
    not_found("PATCH", f"/admin/wallet-packages/{INT64_PAST}", {"name": "x"}),
    not_found("POST", f"/staff/members/{INT64_PAST}/tags", {"tag_ids": ["{tag}"]}),
    # Platform codes are letters, digits, `-` and `_`: anything else never reaches the platform.
    Bad("POST", "/auth/wxa/login", {"appid": "wx0123456789abcdef", "code": "a b"}, field="code"),
    Bad("POST", "/auth/wxa/login", {"appid": "wx0123456789abcdef", "code": " "}, field="code"),
    Bad(
        "POST",
        "/auth/alipay/login",
        {"app_id": "2021000000000009", "auth_code": "x!"},
        field="auth_code",
    ),
    # Ids in filters.
    Bad("GET", "/admin/staff", query={"store_id": INT64_PAST}, field="store_id"),
    Bad("GET", "/admin/staff", query={"store_id": INT32_PAST}, field="store_id"),
    Bad("GET", "/admin/store-payment-routes", query={"store_id": INT32_PAST}, field="store_id"),
    Bad("GET", "/admin/tags", query={"group_id": INT64_PAST}, field="group_id"),
    Bad("GET", "/admin/members", query={"tag_ids": f"1,{INT64_PAST}"}, field="tag_ids.1"),
    Bad("GET", "/admin/members", query={"level_id": INT32_PAST}, field="level_id"),
    Bad("GET", "/admin/members", query={"store_id": INT64_PAST}, field="store_id"),
    Bad("GET", "/admin/members", query={"guide_id": INT32_PAST}, field="guide_id"),
    # Cursors we could not have issued.
    Bad(
        "GET",
        "/admin/stores",
        query={"cursor": encode_cursor(INT64_PAST)},
        code="request.invalid_cursor",
    ),
    Bad(
        "GET",
        "/admin/staff",
        query={"cursor": encode_cursor(INT32_PAST)},
        code="request.invalid_cursor",
    ),
    Bad(
        "GET",
        "/admin/members",
        query={"cursor": encode_cursor(-INT64_PAST)},
        code="request.invalid_cursor",
    ),
    Bad(
        "GET",
        "/me/points/entries",
        query={"cursor": encode_cursor(INT32_PAST)},
        code="request.invalid_cursor",
    ),
    Bad(
        "GET",
        "/wallet/entries",
        query={"cursor": encode_cursor(INT64_PAST)},
        code="request.invalid_cursor",
    ),
    # Dates that overflow when a day is turned into a UTC instant.
    Bad("GET", "/admin/members", query={"registered_from": "0001-01-01"}, field="registered_from"),
    Bad("GET", "/admin/members", query={"registered_to": "9999-12-31"}, field="registered_to"),
    Bad("GET", "/staff/me/performance", query={"since": "0001-01-01"}, field="since"),
    # Filter text longer than the column it is compared with, or holding NUL.
    Bad("GET", "/admin/stores", query={"city": "x" * 33}, field="city"),
    Bad("GET", "/admin/stores", query={"city": NUL}, field="city"),
    Bad("GET", "/admin/members", query={"q": "1" * 21}, field="q"),
    Bad("GET", "/admin/members", query={"q": NUL}, field="q"),
    # Ids in bodies.
    Bad(
        "POST",
        "/admin/staff",
        {
            "username": "new.one",
            "name": "N",
            "role": "guide",
            "store_id": INT64_PAST,
            "password": "p" * 10,
        },
        field="store_id",
    ),
    Bad("PATCH", "/admin/staff/{guide}", {"store_id": INT32_PAST}, field="store_id"),
    Bad(
        "POST",
        "/admin/store-payment-routes",
        {"store_id": "{store}", "provider": "alipay", "account_id": INT64_PAST},
        field="account_id",
    ),
    Bad(
        "POST",
        "/admin/store-payment-routes",
        {"store_id": INT32_PAST, "provider": "alipay", "account_id": "{account}"},
        field="store_id",
    ),
    Bad(
        "PATCH",
        "/admin/store-payment-routes/{route}",
        {"account_id": INT32_PAST},
        field="account_id",
    ),
    Bad("POST", "/admin/members/{member}/tags", {"tag_ids": [INT64_PAST]}, field="tag_ids.0"),
    Bad("POST", "/staff/members/{member}/tags", {"tag_ids": [INT32_PAST]}, field="tag_ids.0"),
    Bad("POST", "/admin/tags", {"name": "new", "group_id": INT64_PAST}, field="group_id"),
    Bad("PATCH", "/admin/tags/{tag}", {"group_id": INT32_PAST}, field="group_id"),
    Bad("POST", "/admin/guides/{guide}/reassign", {"to_guide_id": INT64_PAST}, field="to_guide_id"),
    # Numbers past the column, and past any sensible business value.
    Bad(
        "POST",
        "/admin/levels",
        {"name": "L9", "rank": 9, "growth_threshold": INT32_PAST},
        field="growth_threshold",
    ),
    Bad(
        "PATCH", "/admin/levels/{level}", {"growth_threshold": INT64_PAST}, field="growth_threshold"
    ),
    # Text longer than its column.
    Bad("PATCH", "/me", {"avatar_url": "https://img.example.com/" + "a" * 500}, field="avatar_url"),
    # Explicit null on a PATCH field that cannot be null.
    Bad("PATCH", "/admin/stores/{store}", {"name": None}, field="name"),
    Bad("PATCH", "/admin/stores/{store}", {"city": None}, field="city"),
    Bad("PATCH", "/admin/stores/{store}", {"status": None}, field="status"),
    Bad("PATCH", "/admin/staff/{guide}", {"name": None}, field="name"),
    Bad("PATCH", "/admin/staff/{guide}", {"role": None}, field="role"),
    Bad("PATCH", "/admin/staff/{guide}", {"status": None}, field="status"),
    Bad(
        "PATCH",
        "/admin/brand",
        {"settings": {"points_frozen_days": None}},
        field="settings.points_frozen_days",
    ),
    Bad("PATCH", "/me", {"birthday": None}, field="birthday"),
    # NUL in text (PostgreSQL refuses it in text and in JSON).
    Bad("PATCH", "/admin/brand", {"name": NUL}, field="name"),
    Bad("POST", "/admin/stores", {"code": "NEW1", "name": "N", "address": NUL}, field="address"),
    Bad("PATCH", "/admin/stores/{store}", {"city": NUL}, field="city"),
    Bad("POST", "/admin/tag-groups", {"name": NUL}, field="name"),
    Bad(
        "POST",
        "/admin/levels",
        {"name": "L9", "rank": 9, "growth_threshold": 9, "benefits": [NUL]},
        field="benefits.0",
    ),
    Bad("POST", "/admin/wallet-packages", {"name": NUL, "pay_fen": 100}, field="name"),
    Bad(
        "POST",
        "/admin/members/{member}/points-adjustments",
        {"delta": 5, "reason": NUL},
        field="reason",
        headers={"idempotency-key": "k1"},
    ),
    Bad("PATCH", "/me", {"nickname": NUL}, field="nickname"),
    Bad(
        "POST",
        "/auth/staff/login",
        {"brand": "{brand_code}", "username": NUL, "password": "p"},
        field="username",
    ),
    Bad(
        "POST",
        "/admin/alipay-apps",
        {
            "app_id": "2021000000000009",
            "name": "A",
            "app_private_key": "{alipay_private_key}",
            "alipay_public_key": "{alipay_public_key}\x00",
        },
        field="alipay_public_key",
    ),
    Bad(
        "POST",
        "/admin/members/{member}/points-adjustments",
        {"delta": 5, "reason": "r"},
        headers={"idempotency-key": NUL},
        code="request.idempotency_key_invalid",
    ),
    # Payments: ids past the columns, amounts past what a payment may be, unknown enums.
    not_found("GET", f"/admin/payments/{INT64_PAST}"),
    Bad("GET", "/admin/payments", query={"store_id": INT64_PAST}, field="store_id"),
    Bad("GET", "/admin/payments", query={"account_id": INT32_PAST}, field="account_id"),
    Bad("GET", "/admin/payments", query={"since": "2026-13-01T00:00:00+08:00"}, field="since"),
    Bad("GET", "/admin/payments", query={"since": "2026-12-01T00:00:00"}, field="since"),
    Bad(
        "POST",
        "/wallet/recharge",
        {"package_id": INT64_PAST, "provider": "wechat"},
        field="package_id",
    ),
    Bad(
        "POST",
        "/wallet/recharge",
        {"amount_fen": INT64_PAST, "provider": "wechat"},
        field="amount_fen",
    ),
    Bad("POST", "/wallet/recharge", {"amount_fen": 1000, "provider": "cash"}, field="provider"),
    Bad("POST", "/wallet/recharge", {"amount_fen": 1000, "provider": "wechat", "x": 1}, field="x"),
    Bad("GET", "/admin/reports/reconciliation", query={"date": "2026-13-01"}, field="date"),
    Bad(
        "GET",
        "/admin/reports/reconciliation",
        query={"date": "2026-05-01", "account_id": INT32_PAST},
        field="account_id",
    ),
    # Coupons: ids past the columns, bounds, NUL, a window that overflows once shifted to UTC.
    not_found("GET", f"/admin/coupon-templates/{INT64_PAST}"),
    not_found("PATCH", f"/admin/coupon-templates/{INT32_PAST}", {"name": "x"}),
    not_found("POST", f"/admin/coupon-templates/{INT32_PAST}/activate"),
    not_found("POST", f"/coupon-templates/{INT64_PAST}/claim"),
    Bad("POST", "/admin/coupon-templates", {**COUPON, "name": NUL}, field="name"),
    Bad(
        "POST",
        "/admin/coupon-templates",
        {**COUPON, "total_stock": INT32_PAST},
        field="total_stock",
    ),
    Bad(
        "POST",
        "/admin/coupon-templates",
        {**COUPON, "store_ids": [INT64_PAST]},
        field="store_ids.0",
    ),
    Bad(
        "POST",
        "/admin/coupon-templates",
        {
            **COUPON,
            "valid_days": None,
            "valid_from": "0001-01-01T00:00:00+14:00",
            "valid_until": "9999-12-31T23:59:59-14:00",
        },
        code="coupon_template.window_invalid",
    ),
    Bad("GET", "/admin/coupon-templates", query={"state": "lost"}, field="state"),
    Bad("GET", "/me/coupons", query={"status": "lost"}, field="status"),
    Bad("GET", "/me/coupons", query={"limit": INT64_PAST}, field="limit"),
    # Refunds: the body is checked before the payment is looked for.
    not_found("POST", f"/admin/payments/{INT64_PAST}/refunds", {"reason": "r"}),
    Bad(
        "POST",
        "/admin/payments/1/refunds",
        {"reason": "r", "amount_fen": INT64_PAST},
        field="amount_fen",
    ),
    Bad(
        "POST",
        "/admin/payments/1/refunds",
        {"reason": "r", "out_refund_no": NUL},
        field="out_refund_no",
    ),
    Bad("POST", "/admin/payments/1/refunds", {"reason": NUL * 30}, field="reason"),
    Bad("POST", "/admin/payments/1/refunds", {"amount_fen": 100}, field="reason"),
]


@dataclass
class World:
    values: dict[str, Any]
    tokens: dict[str, str | None]

    def fill(self, value: Any) -> Any:
        """Placeholders such as "{store}" replaced by the world's ids and texts."""
        if isinstance(value, str):
            whole = value[1:-1] if value.startswith("{") and value.endswith("}") else None
            if whole in self.values:
                return self.values[whole]
            return value.format(**self.values) if "{" in value else value
        if isinstance(value, list):
            return [self.fill(item) for item in value]
        if isinstance(value, dict):
            return {key: self.fill(item) for key, item in value.items()}
        return value

    def token(self, path: str) -> str | None:
        if path.startswith(("/me", "/wallet", "/coupon")):
            return self.tokens["member"]
        if path.startswith("/staff/"):
            return self.tokens["guide"]
        if path.startswith("/auth/"):
            return None
        return self.tokens["hq"]


_HASHES: dict[str, str] = {}


async def _password_hash() -> str:
    if PASSWORD not in _HASHES:
        _HASHES[PASSWORD] = await hash_password(PASSWORD)
    return _HASHES[PASSWORD]


@pytest.fixture
async def world(api: Api) -> World:
    brand = await make_brand()
    store = await make_store(brand=brand)
    # One argon2 hash for every world: hashing is what makes staff slow to create.
    hashed = await _password_hash()
    hq = await make_staff(brand=brand, role=StaffRole.HQ_ADMIN, password_hash=hashed)
    guide = await make_staff(
        brand=brand, role=StaffRole.GUIDE, store=store, guide_code="G1", password_hash=hashed
    )
    member = await make_member(brand=brand, home_store_id=store.id)
    await levels.create_level(brand_id=brand.id, name="L0", rank=0, growth_threshold=0)
    level = await levels.create_level(brand_id=brand.id, name="L1", rank=1, growth_threshold=100)
    group = await tags.create_tag_group(brand_id=brand.id, name="G")
    tag = await tags.create_tag(brand_id=brand.id, name="T", kind=TagKind.GUIDE, group_id=group.id)
    package = await wallet.create_package(brand_id=brand.id, name="P", pay_fen=100, bonus_fen=0)
    hq_token = staff_token(hq)
    account = await api.post(
        "/admin/merchant-accounts",
        {
            "name": "HQ",
            "provider": "wechatpay_v3",
            "mch_id": "1900000001",
            "app_id": "wx0123456789abcdef",
            "secrets": {
                "api_v3_key": "k" * 32,
                "private_key": "-----BEGIN PRIVATE KEY-----\n"
                + "A" * 120
                + "\n-----END PRIVATE KEY-----",
                "cert_serial_no": "5157F09EFDC096DE15EBE81A47057A72",
            },
        },
        token=hq_token,
    )
    route = await api.post(
        "/admin/store-payment-routes",
        {"store_id": store.id, "provider": "wechatpay_v3", "account_id": account.json["id"]},
        token=hq_token,
    )
    assert route.status == 201, (account, route)
    return World(
        values={
            "brand_code": brand.code,
            "store": store.id,
            "guide": guide.id,
            "member": member.id,
            "level": level.id,
            "tag": tag.id,
            "package": package.id,
            "account": account.json["id"],
            "route": route.json["id"],
            "alipay_private_key": alipay_app_private_pem(),
            "alipay_public_key": alipay_platform_public_pem(),
        },
        tokens={"hq": hq_token, "guide": staff_token(guide), "member": member_token(member)},
    )


async def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, to compare before and after."""
    return {
        name: await model.all().order_by("id").values()
        for name, model in sorted(Tortoise.apps["memberhub"].items())
    }


@pytest.mark.parametrize("bad", ROWS, ids=str)
async def test_bad_input_is_refused_and_changes_nothing(api: Api, world: World, bad: Bad) -> None:
    before = await snapshot()

    answer = await api.request(
        bad.method,
        world.fill(bad.path),
        token=world.token(bad.path),
        json_body=world.fill(bad.body),
        params=world.fill(bad.query),
        headers=bad.headers,
    )

    assert (answer.status, answer.error_code) == (bad.status, bad.code), answer
    if bad.field is not None:
        named = {detail["field"] for detail in answer.json["error"]["details"]}
        assert bad.field in named, answer
    assert await snapshot() == before


async def test_null_stays_meaningful_where_it_means_something(api: Api, world: World) -> None:
    # given a guide with a guide code
    token = world.tokens["hq"]

    # when head office takes the guide code away, and the store's position is forgotten
    staff = await api.patch(
        f"/admin/staff/{world.values['guide']}", {"guide_code": None}, token=token
    )
    store = await api.patch(f"/admin/stores/{world.values['store']}", {"lat": None}, token=token)

    # then both are accepted
    assert (staff.status, staff.json["guide_code"]) == (200, None), staff
    assert (store.status, store.json["lat"]) == (200, None), store


async def test_omitted_patch_fields_keep_their_values(api: Api, world: World) -> None:
    token = world.tokens["hq"]
    path = f"/admin/stores/{world.values['store']}"
    before = (await api.get(path, token=token)).json

    answer = await api.patch(path, {"address": "南京西路 1 号"}, token=token)

    assert answer.status == 200, answer
    assert {**before, "address": "南京西路 1 号"} == answer.json


async def test_a_too_long_guide_code_in_a_login_scene_is_ignored(api: Api, player: Player) -> None:
    # given a mini-program and a scene naming a guide code longer than any guide code
    brand = await make_brand()
    wxa = await make_wechat_app(brand=brand, kind=WechatAppKind.MINIPROGRAM)
    code = await player.login_code(wxa.appid)

    # when someone logs in from it
    answer = await api.post(
        "/auth/wxa/login", {"appid": wxa.appid, "code": code["code"], "scene": "g=" + "G" * 20}
    )

    # then the login works and binds nobody
    assert answer.status == 200, answer
    assert await MemberRelation.filter(brand_id=brand.id).count() == 0


async def test_a_request_id_with_control_characters_is_not_echoed(api: Api) -> None:
    answer = await api.get("/healthz", headers={"x-request-id": "abc\x01def"})

    assert answer.status == 200
    assert answer.headers["x-request-id"].isalnum(), answer.headers["x-request-id"]
    assert "abc" not in answer.headers["x-request-id"]


# ---------------------------------------------------------------- body size


async def test_a_body_past_the_json_limit_is_413_before_anything_else(
    api: Api, world: World
) -> None:
    before = await snapshot()
    body = json.dumps({"code": "BIG1", "name": "x" * BODY_MAX_BYTES}).encode()

    anonymous = await api.post("/admin/stores", content=body)
    admin = await api.post("/admin/stores", content=body, token=world.tokens["hq"])

    for answer in (anonymous, admin):
        assert (answer.status, answer.error_code) == (413, "request.too_large"), answer
        assert answer.json["error"]["details"] == {"max_bytes": BODY_MAX_BYTES}
    assert await snapshot() == before


async def test_a_body_just_under_the_limit_is_read(api: Api, world: World) -> None:
    body = json.dumps({"code": "BIG1", "name": "x"}).encode().ljust(BODY_MAX_BYTES, b" ")

    answer = await api.post("/admin/stores", content=body, token=world.tokens["hq"])

    assert answer.status == 201, answer


async def test_a_chunked_body_is_cut_off_at_the_limit(api: Api, world: World) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):  # 4 MiB in 64 KiB chunks, without a Content-Length
            yield b" " * 65536

    response = await api.client.post(
        "/api/v1/admin/stores",
        content=chunks(),
        headers={"Authorization": f"Bearer {world.tokens['hq']}"},
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request.too_large"


async def test_the_route_import_takes_a_larger_csv(api: Api, world: World) -> None:
    limit = BODY_MAX_BYTES_BY_ROUTE["api/v1/admin/store-payment-routes/import"]
    header = b"store_code,provider,account_key\n"
    within = header + b"\n" * (2 * BODY_MAX_BYTES)  # twice what a JSON body may be
    past = header + b"\n" * limit

    read = await api.post(IMPORT_PATH, content=within, token=world.tokens["hq"])
    refused = await api.post(IMPORT_PATH, content=past, token=world.tokens["hq"])

    # read and judged by the import itself (nothing but blank lines to import), not refused
    assert (read.status, read.error_code) == (422, "route_import.invalid"), read
    assert (refused.status, refused.error_code) == (413, "request.too_large"), refused
    assert refused.json["error"]["details"] == {"max_bytes": limit}


async def test_a_route_import_that_is_not_csv_is_refused_with_its_line(
    api: Api, world: World
) -> None:
    # csv refuses a field past its limit (131,072 characters) that the body cap lets through.
    unreadable = b"store_code,provider,account_key\nS1,wechatpay_v3," + b"k" * 200_000 + b"\n"

    answer = await api.post(IMPORT_PATH, content=unreadable, token=world.tokens["hq"])

    assert (answer.status, answer.error_code) == (422, "route_import.invalid"), answer
    assert answer.json["error"]["details"][0]["line"] == 2


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`memberhub serve` on a free port: Sanic's own HTTP/1.1 server, not the ASGI interface."""
    path: Path = tmp_path_factory.mktemp("serve")
    env = {
        **os.environ,
        "MEMBERHUB_ENV": "development",
        "MEMBERHUB_DATABASE_URL": f"sqlite://{path / 'serve.sqlite3'}",
        "MEMBERHUB_ACCESS_LOG": "0",
    }
    env.pop("MEMBERHUB_REDIS_URL", None)
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/healthz", process)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def _exchange(port: int, head: bytes, body: bytes) -> bytes:
    """Send a request head and part of a body, then read whatever the server answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + body)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), timeout=5)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_a_server_refuses_a_declared_100_mb_body_without_reading_it(served: int) -> None:
    # given a request that announces 100 MB and sends only its first kilobyte
    head = (
        b"POST /api/v1/admin/stores HTTP/1.1\r\nHost: memberhub\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"
    )

    # when the server answers (it would wait for the other 99.99 MB to read them)
    answer = await _exchange(served, head, b"{" + b" " * 1023)

    # then it is a 413 in the JSON error envelope, and the connection is closed
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large", answer[:300]
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["error"]["code"] == "request.too_large"


async def test_a_server_cuts_a_chunked_body_off_at_the_limit(served: int) -> None:
    head = (
        b"POST /api/v1/admin/stores HTTP/1.1\r\nHost: memberhub\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
    body = chunk * (BODY_MAX_BYTES // 0x10000 + 2)

    answer = await _exchange(served, head, body)

    assert answer.startswith(b"HTTP/1.1 413 "), answer[:300]
