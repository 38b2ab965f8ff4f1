"""The audit log: every admin change writes a row carrying its request id; head office reads them."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sanic import Sanic

from api.core import audit
from api.core.models import AuditLog
from api.core.pagination import encode_cursor
from api.coupons import points_mall
from api.coupons import templates as coupon_templates
from api.coupons.models import CouponKind, MallItemKind
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
    WechatAppKind,
)
from api.payments import payments
from api.payments.models import PaymentMethod, PaymentPurpose
from api.wechat_callbacks import auto_replies
from api.wechat_callbacks import menus as wechat_menus
from api.wechat_callbacks.models import MatchKind, MenuKind
from sandbox.keys import alipay_app_private_pem, alipay_platform_public_pem
from tests.factories import make_brand, make_member, make_staff, make_store, make_wechat_app
from tests.factories import member_token as member_token_of
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


async def _partner_account(g: Given) -> MerchantAccount:
    """The brand's WeChat Pay service-provider account, which onboards franchisees."""
    created = await g.api.post(
        "/admin/merchant-accounts",
        wechat_account(mode="partner", sub_mchid="1900000003"),
        token=g.token,
    )
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


@change("POST", "/admin/payment-onboarding", "payment_onboarding.submit")
async def _payment_onboarding(g: Given) -> Change:
    await _partner_account(g)
    csv_text = (
        "store_code,name,city,kind,wechat_sub_mchid\nHZ900,Franchise,杭州,franchise,1900000901\n"
    )
    return Change(
        "/admin/payment-onboarding", content=csv_text, headers={"content-type": "text/csv"}
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


_COUPON = {
    "name": "10 off",
    "kind": "cash_off",
    "value_fen": 1000,
    "total_stock": 10,
    "valid_days": 7,
}


async def _coupon_template(g: Given, *actions: str) -> int:
    template = await coupon_templates.create_template(
        brand_id=g.brand.id,
        actor="staff:test",
        spec=coupon_templates.TemplateSpec(
            name="t", kind=CouponKind.GIFT, total_stock=5, valid_days=7
        ),
    )
    for action in actions:
        await coupon_templates.change_state(
            brand_id=g.brand.id, actor="staff:test", template_id=template.id, action=action
        )
    return template.id


@change("POST", "/admin/coupon-templates", "coupon_template.create")
async def _coupon_template_create(g: Given) -> Change:
    return Change("/admin/coupon-templates", _COUPON)


@change("PATCH", "/admin/coupon-templates/<template_id:int>", "coupon_template.update")
async def _coupon_template_update(g: Given) -> Change:
    return Change(f"/admin/coupon-templates/{await _coupon_template(g)}", {"name": "new"})


@change("POST", "/admin/coupon-templates/<template_id:int>/activate", "coupon_template.activate")
async def _coupon_template_activate(g: Given) -> Change:
    return Change(f"/admin/coupon-templates/{await _coupon_template(g)}/activate")


@change("POST", "/admin/coupon-templates/<template_id:int>/pause", "coupon_template.pause")
async def _coupon_template_pause(g: Given) -> Change:
    return Change(f"/admin/coupon-templates/{await _coupon_template(g, 'activate')}/pause")


@change("POST", "/admin/coupon-templates/<template_id:int>/end", "coupon_template.end")
async def _coupon_template_end(g: Given) -> Change:
    return Change(f"/admin/coupon-templates/{await _coupon_template(g, 'activate')}/end")


@change("POST", "/admin/coupon-templates/<template_id:int>/issue", "coupon_issue.start")
async def _coupon_issue_start(g: Given) -> Change:
    member = await make_member(brand=g.brand)
    template_id = await _coupon_template(g, "activate")
    return Change(f"/admin/coupon-templates/{template_id}/issue", {"member_ids": [member.id]})


@change("POST", "/admin/payments/<payment_id:int>/refunds", "payment.refund")
async def _payment_refund(g: Given) -> Change:
    member = await make_member(brand=g.brand)
    await wallet.recharge_wallet(
        brand_id=g.brand.id, member_id=member.id, principal_fen=1_000, key="seed"
    )
    payment = await payments.create_payment(
        brand_id=g.brand.id,
        account=None,
        method=PaymentMethod.WALLET,
        purpose=PaymentPurpose.POS,
        amount_fen=500,
        description="stored value",
        member_id=member.id,
    )
    await payments.pay_with_wallet(payment)
    return Change(f"/admin/payments/{payment.id}/refunds", {"reason": "returned"})


@change("POST", "/admin/points-mall/items", "points_mall_item.create")
async def _points_mall_item_create(g: Given) -> Change:
    return Change("/admin/points-mall/items", {"kind": "gift", "name": "mug", "points_price": 1})


@change("PATCH", "/admin/points-mall/items/<item_id:int>", "points_mall_item.update")
async def _points_mall_item_update(g: Given) -> Change:
    item = await points_mall.create_item(
        brand_id=g.brand.id, actor="staff:test", kind=MallItemKind.GIFT, name="mug", points_price=1
    )
    return Change(f"/admin/points-mall/items/{item.id}", {"on_shelf": True, "stock_delta": 2})


@change("POST", "/admin/wechat-auto-replies", "wechat_auto_reply.create")
async def _wechat_auto_reply_create(g: Given) -> Change:
    return Change("/admin/wechat-auto-replies", {"keyword": "会员", "reply_text": "hi"})


async def _auto_reply(g: Given) -> int:
    reply = await auto_replies.create_auto_reply(
        brand_id=g.brand.id,
        actor="staff:test",
        keyword="会员",
        match=MatchKind.EXACT,
        reply_text="hi",
        active=True,
    )
    return reply.id


@change("PATCH", "/admin/wechat-auto-replies/<reply_id:int>", "wechat_auto_reply.update")
async def _wechat_auto_reply_update(g: Given) -> Change:
    return Change(f"/admin/wechat-auto-replies/{await _auto_reply(g)}", {"active": False})


@change("DELETE", "/admin/wechat-auto-replies/<reply_id:int>", "wechat_auto_reply.delete")
async def _wechat_auto_reply_delete(g: Given) -> Change:
    return Change(f"/admin/wechat-auto-replies/{await _auto_reply(g)}")


@change("POST", "/admin/stores/<store_id:int>/qrcodes", "wechat_qrcode.create")
async def _store_qrcode(g: Given) -> Change:
    await make_wechat_app(brand=g.brand)
    store = await make_store(brand=g.brand)
    return Change(f"/admin/stores/{store.id}/qrcodes", {"kind": "miniprogram"})


@change("POST", "/admin/staff/<staff_id:int>/qrcodes", "wechat_qrcode.create")
async def _guide_qrcode(g: Given) -> Change:
    await make_wechat_app(brand=g.brand)
    store = await make_store(brand=g.brand)
    guide = await make_staff(brand=g.brand, role=StaffRole.GUIDE, store=store, guide_code="G1")
    return Change(f"/admin/staff/{guide.id}/qrcodes", {"kind": "miniprogram"})


async def _official_account(g: Given) -> str:
    app = await make_wechat_app(brand=g.brand, kind=WechatAppKind.OFFICIAL_ACCOUNT)
    return app.appid


async def _guide(g: Given) -> Staff:
    store = await make_store(brand=g.brand)
    return await make_staff(brand=g.brand, role=StaffRole.GUIDE, store=store)


@change("POST", "/admin/staff/<staff_id:int>/wechat-invite", "staff.wechat_invite")
async def _staff_wechat_invite(g: Given) -> Change:
    await _official_account(g)
    return Change(f"/admin/staff/{(await _guide(g)).id}/wechat-invite", {})


@change("DELETE", "/admin/staff/<staff_id:int>/wechat-binding", "staff.wechat_unbind")
async def _staff_wechat_unbind(g: Given) -> Change:
    return Change(f"/admin/staff/{(await _guide(g)).id}/wechat-binding")


CONSUMER_MENU = [{"type": "click", "name": "会员", "key": "member"}]


@change("PUT", "/admin/wechat-menus/<appid:str>/consumer", "wechat_menu.save")
async def _wechat_consumer_menu_save(g: Given) -> Change:
    appid = await _official_account(g)
    return Change(f"/admin/wechat-menus/{appid}/consumer", {"button": CONSUMER_MENU})


@change("PUT", "/admin/wechat-menus/<appid:str>/staff", "wechat_menu.save")
async def _wechat_staff_menu_save(g: Given) -> Change:
    appid = await _official_account(g)
    return Change(f"/admin/wechat-menus/{appid}/staff", {"button": CONSUMER_MENU})


@change("POST", "/admin/wechat-menus/<appid:str>/publish", "wechat_menu.publish")
async def _wechat_menu_publish(g: Given) -> Change:
    appid = await _official_account(g)
    await wechat_menus.save_menu(
        brand_id=g.brand.id,
        actor="staff:test",
        appid=appid,
        kind=MenuKind.CONSUMER,
        buttons=CONSUMER_MENU,
    )
    return Change(f"/admin/wechat-menus/{appid}/publish")


async def _mall_product(g: Given) -> int:
    from api.mall import catalogue

    product = await catalogue.create_product(
        brand_id=g.brand.id,
        actor="staff:test",
        name="shirt",
        skus=[{"code": f"A{next(_numbers)}", "list_price_fen": 100}],
    )
    return product.id


@change("POST", "/admin/categories", "category.create")
async def _category_create(g: Given) -> Change:
    return Change("/admin/categories", {"name": "衣服"})


@change("PATCH", "/admin/categories/<category_id:int>", "category.update")
async def _category_update(g: Given) -> Change:
    from api.mall import catalogue

    category = await catalogue.create_category(brand_id=g.brand.id, actor="staff:test", name="a")
    return Change(f"/admin/categories/{category.id}", {"name": "b"})


@change("POST", "/admin/products", "product.create")
async def _product_create(g: Given) -> Change:
    return Change("/admin/products", {"name": "shirt"})


@change("PATCH", "/admin/products/<product_id:int>", "product.update")
async def _product_update(g: Given) -> Change:
    return Change(f"/admin/products/{await _mall_product(g)}", {"on_shelf": True})


@change("POST", "/admin/products/<product_id:int>/skus", "sku.create")
async def _sku_create(g: Given) -> Change:
    return Change(
        f"/admin/products/{await _mall_product(g)}/skus", {"code": "B1", "list_price_fen": 100}
    )


@change("PATCH", "/admin/skus/<sku_id:int>", "sku.update")
async def _sku_update(g: Given) -> Change:
    from api.mall.models import Sku

    sku = await Sku.get(product_id=await _mall_product(g))
    return Change(f"/admin/skus/{sku.id}", {"stock_delta": 3})


@change("POST", "/admin/products/import", "product.import")
async def _product_import(g: Given) -> Change:
    csv_text = "product_name,category,sku_code,size,colour,list_price_fen,stock,image_url\n"
    return Change("/admin/products/import", content=csv_text + "Tee,,T-1,S,,100,1,\n")


async def _mall_refund_request(g: Given) -> int:
    from api.mall import after_sale, catalogue, orders, paying
    from api.mall.models import Fulfilment

    product = await catalogue.create_product(
        brand_id=g.brand.id,
        actor="staff:test",
        name="shirt",
        on_shelf=True,
        skus=[{"code": f"R{next(_numbers)}", "list_price_fen": 100, "stock": 1}],
    )
    from api.mall.models import Sku

    sku = await Sku.get(product_id=product.id)
    member = await make_member(brand=g.brand)
    await wallet.recharge_wallet(
        brand_id=g.brand.id, member_id=member.id, principal_fen=10_000, key="seed"
    )
    order = await orders.create_order(
        brand_id=g.brand.id,
        member_id=member.id,
        request_key="k",
        request=orders.OrderRequest(
            fulfilment=Fulfilment.DELIVERY, items=[(sku.id, 1)], address={"detail": "x"}
        ),
    )
    await paying.pay_order(
        brand_id=g.brand.id,
        member_id=member.id,
        order_id=order.id,
        provider="wallet",
        client_ip="127.0.0.1",
    )
    refund = await after_sale.request_refund(
        brand_id=g.brand.id, member_id=member.id, order_id=order.id, reason="x"
    )
    return refund.id


@change("POST", "/admin/mall-refunds/<refund_id:int>/approve", "payment.refund")
async def _mall_refund_approve(g: Given) -> Change:
    return Change(f"/admin/mall-refunds/{await _mall_refund_request(g)}/approve")


@change("POST", "/admin/mall-refunds/<refund_id:int>/reject", "mall_refund.reject")
async def _mall_refund_reject(g: Given) -> Change:
    return Change(f"/admin/mall-refunds/{await _mall_refund_request(g)}/reject")


@change("POST", "/admin/mall-orders/<order_id:int>/advance", "mall_order.shipped")
async def _mall_order_advance(g: Given) -> Change:
    from api.mall.models import MallRefund

    order_id = (await MallRefund.get(id=await _mall_refund_request(g))).order_id
    body = {"to": "shipped", "carrier": "SF", "tracking_no": "SF1"}
    return Change(f"/admin/mall-orders/{order_id}/advance", body)


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
@pytest.mark.usefixtures("sandbox_url")  # some changes call WeChat (a QR code, a menu)
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


async def test_the_head_office_reads_the_changes_it_made(api: Api) -> None:
    g = await _given(api)
    store = await make_store(brand=g.brand)

    changed = await _send(
        g, "PATCH", Change(f"/admin/stores/{store.id}", {"name": "New name"}), "trace-7f3a"
    )
    listed = await api.get("/admin/audit", token=g.token, params={"target": f"store:{store.id}"})

    assert changed.status == 200
    assert listed.status == 200, listed
    [entry] = listed.json["items"]
    assert entry["action"] == "store.update"
    assert entry["actor"] == f"staff:{g.admin.id}"
    assert entry["request_id"] == "trace-7f3a"
    assert entry["details"]  # what changed, as the service put it
    assert datetime.fromisoformat(entry["created_at"]).tzinfo is not None


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


async def _row(brand: Brand | None, action: str, actor: str, target: str, at: datetime) -> int:
    row = await audit.record(
        brand_id=brand.id if brand else None, actor=actor, action=action, target=target
    )
    await AuditLog.filter(id=row.id).update(created_at=at)
    return row.id


async def test_the_list_filters_by_action_actor_target_and_time(api: Api) -> None:
    g = await _given(api)
    other = await make_brand()
    now = datetime.now(UTC).replace(microsecond=0)
    r1 = await _row(g.brand, "store.update", "staff:1", "store:1", now - timedelta(days=3))
    r2 = await _row(g.brand, "store.update", "staff:2", "store:2", now - timedelta(days=2))
    r3 = await _row(g.brand, "staff.create", "staff:1", "staff:9", now - timedelta(days=1))
    await _row(other, "store.update", "staff:1", "store:1", now - timedelta(days=2))
    await _row(None, "store.update", "system", "store:1", now - timedelta(days=2))

    async def ids(**params: str) -> list[int]:
        answer = await api.get("/admin/audit", token=g.token, params=params)
        assert answer.status == 200, answer
        return [item["id"] for item in answer.json["items"]]

    day_2 = now - timedelta(days=2)
    assert await ids() == [r3, r2, r1]
    assert await ids(action="store.update") == [r2, r1]
    assert await ids(actor="staff:1") == [r3, r1]
    assert await ids(target="store:2") == [r2]
    assert await ids(since=day_2.isoformat()) == [r3, r2]
    assert await ids(until=day_2.isoformat()) == [r1]
    assert await ids(since=day_2.isoformat(), until=(now - timedelta(days=1)).isoformat()) == [r2]
    assert await ids(action="store.update", actor="staff:1") == [r1]
    assert await ids(action="store.delete") == []


async def test_the_list_is_paged_with_cursors(api: Api) -> None:
    g = await _given(api)
    now = datetime.now(UTC)
    made = [await _row(g.brand, "tag.create", "staff:1", f"tag:{n}", now) for n in range(5)]

    pages, cursor = [], None
    for _ in range(3):
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        answer = await api.get("/admin/audit", token=g.token, params=params)
        pages.append([item["id"] for item in answer.json["items"]])
        cursor = answer.json["next_cursor"]
    bad = await api.get("/admin/audit", token=g.token, params={"cursor": "garbage!"})

    assert pages == [made[4:2:-1], made[2:0:-1], made[:1]]
    assert cursor is None
    assert (bad.status, bad.error_code) == (422, "request.invalid_cursor")


async def test_filters_are_validated(api: Api) -> None:
    g = await _given(api)

    naive = await api.get("/admin/audit", token=g.token, params={"since": "2026-01-01T00:00:00"})
    too_big = await api.get("/admin/audit", token=g.token, params={"limit": "500"})
    too_long = await api.get("/admin/audit", token=g.token, params={"target": "x" * 200})

    for answer in (naive, too_big, too_long):
        assert (answer.status, answer.error_code) == (422, "request.invalid"), answer


async def test_another_brands_rows_never_show(api: Api) -> None:
    g = await _given(api)
    other = await _given(api)
    theirs = await _row(other.brand, "store.update", "staff:1", "store:1", datetime.now(UTC))
    mine = await _row(g.brand, "store.update", "staff:1", "store:1", datetime.now(UTC))

    seen = await api.get("/admin/audit", token=g.token)
    by_target = await api.get("/admin/audit", token=g.token, params={"target": "store:1"})
    past_mine = await api.get("/admin/audit", token=g.token, params={"cursor": encode_cursor(mine)})

    assert theirs < mine
    assert [item["id"] for item in seen.json["items"]] == [mine]
    assert [item["id"] for item in by_target.json["items"]] == [mine]
    assert past_mine.json == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("role", [StaffRole.STORE_MANAGER, StaffRole.CASHIER, StaffRole.GUIDE])
async def test_only_the_head_office_reads_the_audit_log(api: Api, role: StaffRole) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    staff = await make_staff(brand=brand, role=role, store=store)
    member = await make_member(brand=brand)

    as_staff = await api.get("/admin/audit", token=staff_token_of(staff))
    as_member = await api.get("/admin/audit", token=member_token_of(member))
    anonymous = await api.get("/admin/audit")

    assert (as_staff.status, as_staff.error_code) == (403, "auth.role_forbidden")
    assert as_member.status == 403
    assert anonymous.status == 401


async def test_the_audit_list_has_a_documented_output_schema(api: Api) -> None:
    spec = (await api.get("/docs/openapi.json")).json

    operation = spec["paths"]["/api/v1/admin/audit"]["get"]
    schemas = spec["components"]["schemas"]

    def resolved(schema: dict[str, Any]) -> dict[str, Any]:
        return schemas[schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema

    page = resolved(operation["responses"]["200"]["content"]["application/json"]["schema"])
    entry = resolved(page["properties"]["items"]["items"])
    assert {"items", "next_cursor"} <= set(page["properties"])
    assert {"id", "actor", "action", "target", "details", "request_id", "created_at"} <= set(
        entry["properties"]
    )
    assert {"401", "403", "422"} <= set(operation["responses"])


@pytest.mark.usefixtures("ports")
async def test_jobs_and_commands_write_rows_without_a_request_id() -> None:
    brand = await make_brand()

    row = await audit.record(brand_id=brand.id, actor="system", action="x.y", target="store:1")

    assert (await AuditLog.get(id=row.id)).request_id == ""
