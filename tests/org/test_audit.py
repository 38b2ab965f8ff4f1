"""The audit log: every admin change writes a row carrying its request id."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sanic import Sanic

from api.core import audit
from api.core.models import AuditLog
from api.member_center import levels, tags, wallet
from api.member_center.models import TagKind
from api.org.models import (
    AlipayApp,
    Brand,
    MerchantAccount,
    PaymentProvider,
    Staff,
    StaffRole,
    StorePaymentRoute,
)
from sandbox.keys import alipay_app_private_pem, alipay_platform_public_pem
from tests.factories import make_brand, make_member, make_staff, make_store, make_wechat_app
from tests.factories import staff_token as staff_token_of
from tests.org.test_admin import wechat_account
from tests.support.api import Api

_numbers = itertools.count(1)


@dataclass
class Given:
    api: Api
    brand: Brand
    admin: Staff
    token: str


@dataclass
class Change:
    """One admin write: its path, and the body or CSV to send."""

    path: str
    json: Any = None
    content: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


Prepare = Callable[[Given], Awaitable[Change]]

# (method, route as the router names it) → (audit action, what to send)
CHANGES: dict[tuple[str, str], tuple[str, Prepare]] = {}


def change(method: str, route: str, action: str) -> Callable[[Prepare], Prepare]:
    def register(prepare: Prepare) -> Prepare:
        CHANGES[(method, route)] = (action, prepare)
        return prepare

    return register


async def _account(g: Given) -> MerchantAccount:
    created = await g.api.post("/admin/merchant-accounts", wechat_account(), token=g.token)
    assert created.status == 201, created
    return await MerchantAccount.get(id=created.json["id"])


async def _alipay_app(g: Given) -> AlipayApp:
    return await AlipayApp.create(
        brand_id=g.brand.id,
        app_id=f"20210000{next(_numbers):08d}",
        name="Alipay mini-program",
        private_key_enc="x",
        alipay_public_key=alipay_platform_public_pem(),
    )


@change("PATCH", "/admin/brand", "brand.update")
async def _brand_update(g: Given) -> Change:
    return Change("/admin/brand", {"name": "Renamed brand"})


@change("POST", "/admin/stores", "store.create")
async def _store_create(g: Given) -> Change:
    return Change("/admin/stores", {"code": "NEW1", "name": "New store"})


@change("PATCH", "/admin/stores/<store_id:int>", "store.update")
async def _store_update(g: Given) -> Change:
    store = await make_store(brand=g.brand)
    return Change(f"/admin/stores/{store.id}", {"name": "Renamed store"})


@change("POST", "/admin/staff", "staff.create")
async def _staff_create(g: Given) -> Change:
    store = await make_store(brand=g.brand)
    body = {
        "username": "new.cashier",
        "name": "New cashier",
        "role": "cashier",
        "store_id": store.id,
        "password": "a long enough password",
    }
    return Change("/admin/staff", body)


@change("PATCH", "/admin/staff/<staff_id:int>", "staff.update")
async def _staff_update(g: Given) -> Change:
    store = await make_store(brand=g.brand)
    cashier = await make_staff(brand=g.brand, role=StaffRole.CASHIER, store=store)
    return Change(f"/admin/staff/{cashier.id}", {"name": "Renamed cashier"})


@change("POST", "/admin/wechat-apps", "wechat_app.create")
async def _wechat_app_create(g: Given) -> Change:
    body = {
        "kind": "miniprogram",
        "appid": f"wx{next(_numbers):016x}",
        "name": "Mini-program",
        "app_secret": "a" * 32,
    }
    return Change("/admin/wechat-apps", body)


@change("PATCH", "/admin/wechat-apps/<app_id:int>", "wechat_app.update")
async def _wechat_app_update(g: Given) -> Change:
    app = await make_wechat_app(brand=g.brand)
    return Change(f"/admin/wechat-apps/{app.id}", {"name": "Renamed app"})


@change("POST", "/admin/alipay-apps", "alipay_app.create")
async def _alipay_app_create(g: Given) -> Change:
    body = {
        "app_id": f"20210000{next(_numbers):08d}",
        "name": "Alipay mini-program",
        "app_private_key": alipay_app_private_pem(),
        "alipay_public_key": alipay_platform_public_pem(),
    }
    return Change("/admin/alipay-apps", body)


@change("PATCH", "/admin/alipay-apps/<app_id:int>", "alipay_app.update")
async def _alipay_app_update(g: Given) -> Change:
    app = await _alipay_app(g)
    return Change(f"/admin/alipay-apps/{app.id}", {"name": "Renamed", "status": "disabled"})


@change("POST", "/admin/merchant-accounts", "merchant_account.create")
async def _account_create(g: Given) -> Change:
    return Change("/admin/merchant-accounts", wechat_account())


@change("PATCH", "/admin/merchant-accounts/<account_id:int>", "merchant_account.update")
async def _account_update(g: Given) -> Change:
    account = await _account(g)
    return Change(f"/admin/merchant-accounts/{account.id}", {"name": "Renamed account"})


@change("POST", "/admin/store-payment-routes", "payment_route.create")
async def _route_create(g: Given) -> Change:
    store, account = await make_store(brand=g.brand), await _account(g)
    body = {"store_id": store.id, "provider": "wechatpay_v3", "account_id": account.id}
    return Change("/admin/store-payment-routes", body)


@change("PATCH", "/admin/store-payment-routes/<route_id:int>", "payment_route.update")
async def _route_update(g: Given) -> Change:
    store, account = await make_store(brand=g.brand), await _account(g)
    route = await StorePaymentRoute.create(
        brand_id=g.brand.id,
        store_id=store.id,
        provider=PaymentProvider.WECHATPAY_V3,
        account_id=account.id,
    )
    return Change(f"/admin/store-payment-routes/{route.id}", {"status": "disabled"})


@change("POST", "/admin/store-payment-routes/import", "payment_route.import")
async def _route_import(g: Given) -> Change:
    store, account = await make_store(brand=g.brand), await _account(g)
    csv_text = f"store_code,provider,account_key\n{store.code},wechatpay_v3,{account.key}\n"
    return Change(
        "/admin/store-payment-routes/import",
        content=csv_text,
        headers={"content-type": "text/csv"},
    )


@change("POST", "/admin/members/<member_id:int>/points-adjustments", "points.adjust")
async def _points_adjust(g: Given) -> Change:
    member = await make_member(brand=g.brand)
    return Change(
        f"/admin/members/{member.id}/points-adjustments",
        {"delta": 50, "reason": "goodwill"},
        headers={"idempotency-key": f"adjust-{next(_numbers)}"},
    )


@change("POST", "/admin/members/<member_id:int>/tags", "member.tag")
async def _member_tag(g: Given) -> Change:
    member = await make_member(brand=g.brand)
    tag = await tags.create_tag(brand_id=g.brand.id, name="VIP", kind=TagKind.MANUAL)
    return Change(f"/admin/members/{member.id}/tags", {"tag_ids": [tag.id]})


@change("DELETE", "/admin/members/<member_id:int>/tags/<tag_id:int>", "member.untag")
async def _member_untag(g: Given) -> Change:
    member = await make_member(brand=g.brand)
    tag = await tags.create_tag(brand_id=g.brand.id, name="VIP", kind=TagKind.MANUAL)
    return Change(f"/admin/members/{member.id}/tags/{tag.id}")


@change("POST", "/admin/tag-groups", "tag_group.create")
async def _tag_group_create(g: Given) -> Change:
    return Change("/admin/tag-groups", {"name": "Interests"})


@change("POST", "/admin/tags", "tag.create")
async def _tag_create(g: Given) -> Change:
    return Change("/admin/tags", {"name": "Coffee lover", "kind": "manual"})


@change("PATCH", "/admin/tags/<tag_id:int>", "tag.update")
async def _tag_update(g: Given) -> Change:
    tag = await tags.create_tag(brand_id=g.brand.id, name="VIP", kind=TagKind.MANUAL)
    return Change(f"/admin/tags/{tag.id}", {"active": False})


@change("POST", "/admin/guides/<guide_id:int>/reassign", "guide.reassign_members")
async def _guide_reassign(g: Given) -> Change:
    store = await make_store(brand=g.brand)
    guide = await make_staff(brand=g.brand, role=StaffRole.GUIDE, store=store)
    return Change(f"/admin/guides/{guide.id}/reassign", {})


@change("POST", "/admin/wallet-packages", "wallet_package.create")
async def _package_create(g: Given) -> Change:
    return Change("/admin/wallet-packages", {"name": "Pay 500 get 550", "pay_fen": 50000})


@change("PATCH", "/admin/wallet-packages/<package_id:int>", "wallet_package.update")
async def _package_update(g: Given) -> Change:
    package = await wallet.create_package(brand_id=g.brand.id, name="p", pay_fen=100)
    return Change(f"/admin/wallet-packages/{package.id}", {"active": False})


@change("POST", "/admin/levels", "level.create")
async def _level_create(g: Given) -> Change:
    return Change("/admin/levels", {"name": "Entry", "rank": 0, "growth_threshold": 0})


@change("PATCH", "/admin/levels/<level_id:int>", "level.update")
async def _level_update(g: Given) -> Change:
    level = await levels.create_level(brand_id=g.brand.id, name="e", rank=0, growth_threshold=0)
    return Change(f"/admin/levels/{level.id}", {"name": "Entry"})


async def _given(api: Api) -> Given:
    brand = await make_brand()
    admin = await make_staff(brand=brand, role=StaffRole.HQ_ADMIN)
    return Given(api=api, brand=brand, admin=admin, token=staff_token_of(admin))


async def _send(g: Given, method: str, change: Change, request_id: str) -> Any:
    return await g.api.request(
        method,
        change.path,
        token=g.token,
        json_body=change.json,
        content=change.content,
        headers={"x-request-id": request_id, **change.headers},
    )


def test_every_admin_write_route_is_in_the_table_below(app: Sanic) -> None:
    writes = {
        (method, "/" + route.path.removeprefix("api/v1/"))
        for route in app.router.routes
        if route.path.startswith("api/v1/admin/")
        for method in route.methods
        if method not in {"GET", "HEAD", "OPTIONS"}
    }

    assert writes == set(CHANGES)


@pytest.mark.parametrize(("method", "route"), sorted(CHANGES))
async def test_every_admin_change_writes_an_audit_row_with_its_request_id(
    api: Api, method: str, route: str
) -> None:
    action, prepare = CHANGES[(method, route)]
    g = await _given(api)
    request_id = f"req-{method.lower()}-{next(_numbers)}"

    answer = await _send(g, method, await prepare(g), request_id)

    assert 200 <= answer.status < 300, answer
    assert answer.headers["x-request-id"] == request_id
    rows = await AuditLog.filter(request_id=request_id)
    assert [(r.brand_id, r.actor, r.action) for r in rows] == [
        (g.brand.id, f"staff:{g.admin.id}", action)
    ]
    assert rows[0].target


async def test_a_refused_change_writes_no_row(api: Api) -> None:
    g = await _given(api)
    store = await make_store(brand=g.brand)
    account = await _account(g)
    await StorePaymentRoute.create(
        brand_id=g.brand.id,
        store_id=store.id,
        provider=PaymentProvider.WECHATPAY_V3,
        account_id=account.id,
    )
    body = {"store_id": store.id, "provider": "wechatpay_v3", "account_id": account.id}

    twice = await _send(g, "POST", Change("/admin/store-payment-routes", body), "refused-1")

    assert twice.status == 409
    assert not await AuditLog.filter(request_id="refused-1").exists()


@pytest.mark.usefixtures("ports")
async def test_jobs_and_commands_write_rows_without_a_request_id() -> None:
    brand = await make_brand()

    row = await audit.record(brand_id=brand.id, actor="system", action="x.y", target="store:1")

    assert (await AuditLog.get(id=row.id)).request_id == ""
