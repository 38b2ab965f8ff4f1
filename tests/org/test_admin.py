"""The head-office admin API: stores, staff, apps, merchant accounts and payment routes."""

from __future__ import annotations

import logging

import pytest

from api.org.demo import bootstrap_demo
from api.org.models import MerchantAccount, StaffRole, Store, StorePaymentRoute
from sandbox.keys import alipay_app_private_pem, alipay_platform_public_pem
from tests.factories import make_brand, make_staff, make_store, staff_token
from tests.support.api import Answer, Api

V3_SECRETS = {
    "api_v3_key": "k" * 32,
    "private_key": "-----BEGIN PRIVATE KEY-----\n" + "A" * 120 + "\n-----END PRIVATE KEY-----",
    "cert_serial_no": "5157F09EFDC096DE15EBE81A47057A72",
}


def wechat_account(**overrides: object) -> dict:
    return {
        "name": "HQ WeChat Pay",
        "provider": "wechatpay_v3",
        "mch_id": "1900000001",
        "app_id": "wx0123456789abcdef",
        "secrets": V3_SECRETS,
        **overrides,
    }


async def _admin(brand=None):  # type: ignore[no-untyped-def]
    brand = brand or await make_brand()
    return brand, staff_token(await make_staff(brand=brand, role=StaffRole.HQ_ADMIN))


async def test_store_lifecycle(api: Api) -> None:
    _, token = await _admin()

    created = await api.post(
        "/admin/stores",
        {
            "code": "SH001",
            "name": "南京西路店",
            "city": "上海",
            "kind": "franchise",
            "lat": "31.229",
            "lng": "121.455",
        },
        token=token,
    )
    store_id = created.json["id"]
    duplicate = await api.post("/admin/stores", {"code": "SH001", "name": "again"}, token=token)
    disabled = await api.patch(f"/admin/stores/{store_id}", {"status": "disabled"}, token=token)
    listed = await api.get("/admin/stores", token=token, params={"status": "disabled"})

    assert created.status == 201, created
    assert created.json["kind"] == "franchise"
    assert (duplicate.status, duplicate.error_code) == (409, "store.code_taken")
    assert disabled.json["status"] == "disabled"
    assert [s["id"] for s in listed.json["items"]] == [store_id]


async def test_store_input_is_validated_and_nothing_is_written(api: Api) -> None:
    _, token = await _admin()

    answer = await api.post(
        "/admin/stores", {"code": "bad code!", "name": "", "lat": 200, "kind": "owned"}, token=token
    )

    assert (answer.status, answer.error_code) == (422, "request.invalid")
    assert {d["field"] for d in answer.json["error"]["details"]} >= {"code", "name", "lat", "kind"}
    assert await Store.all().count() == 0


async def test_lists_are_paged_with_cursors(api: Api) -> None:
    brand, token = await _admin()
    for _ in range(5):
        await make_store(brand=brand)

    first = await api.get("/admin/stores", token=token, params={"limit": 2})
    second = await api.get(
        "/admin/stores", token=token, params={"limit": 2, "cursor": first.json["next_cursor"]}
    )
    third = await api.get(
        "/admin/stores", token=token, params={"limit": 2, "cursor": second.json["next_cursor"]}
    )
    bad = await api.get("/admin/stores", token=token, params={"cursor": "garbage!"})

    ids = [s["id"] for page in (first, second, third) for s in page.json["items"]]
    assert len(ids) == len(set(ids)) == 5
    assert ids == sorted(ids, reverse=True)
    assert third.json["next_cursor"] is None
    assert (bad.status, bad.error_code) == (422, "request.invalid_cursor")


async def test_brand_b_cannot_see_brand_a(api: Api) -> None:
    brand_a, token_a = await _admin()
    _, token_b = await _admin()
    store = await make_store(brand=brand_a)
    staff = await make_staff(brand=brand_a, role=StaffRole.CASHIER, store=store)
    account = (await api.post("/admin/merchant-accounts", wechat_account(), token=token_a)).json

    for path in (
        f"/admin/stores/{store.id}",
        f"/admin/staff/{staff.id}",
        f"/admin/merchant-accounts/{account['id']}",
    ):
        answer = await api.get(path, token=token_b)
        assert answer.status == 404, (path, answer)
    patched = await api.patch(f"/admin/stores/{store.id}", {"name": "mine now"}, token=token_b)
    route = await api.post(
        "/admin/store-payment-routes",
        {"store_id": store.id, "provider": "wechatpay_v3", "account_id": account["id"]},
        token=token_b,
    )
    listed = await api.get("/admin/stores", token=token_b)

    assert patched.status == 404
    assert (route.status, route.error_code) == (422, "route.unknown_store")
    assert listed.json["items"] == []
    assert (await Store.get(id=store.id)).name == store.name


async def test_store_manager_sees_only_their_store(api: Api) -> None:
    brand, _ = await _admin()
    mine, other = await make_store(brand=brand), await make_store(brand=brand)
    manager = await make_staff(brand=brand, role=StaffRole.STORE_MANAGER, store=mine)
    await make_staff(brand=brand, role=StaffRole.CASHIER, store=other)
    token = staff_token(manager)

    stores = await api.get("/admin/stores", token=token)
    foreign = await api.get(f"/admin/stores/{other.id}", token=token)
    staff = await api.get("/admin/staff", token=token)
    hire_here = await api.post(
        "/admin/staff",
        {
            "username": "newguide",
            "name": "New",
            "role": "guide",
            "store_id": mine.id,
            "password": "longenough1",
        },
        token=token,
    )
    hire_there = await api.post(
        "/admin/staff",
        {
            "username": "spy",
            "name": "Spy",
            "role": "guide",
            "store_id": other.id,
            "password": "longenough1",
        },
        token=token,
    )
    hire_admin = await api.post(
        "/admin/staff",
        {"username": "boss", "name": "Boss", "role": "hq_admin", "password": "longenough1"},
        token=token,
    )

    assert [s["id"] for s in stores.json["items"]] == [mine.id]
    assert foreign.status == 404
    assert {s["store_id"] for s in staff.json["items"]} == {mine.id}
    assert hire_here.status == 201
    assert hire_there.status == 403
    assert hire_admin.status == 403


async def test_staff_rules(api: Api) -> None:
    brand, token = await _admin()
    store = await make_store(brand=brand)

    guide_g001 = {
        "name": "G",
        "role": "guide",
        "store_id": store.id,
        "guide_code": "G001",
        "password": "longenough1",
    }

    async def hire(**fields: object) -> Answer:
        return await api.post("/admin/staff", fields, token=token)

    no_store = await hire(username="guide1", name="G", role="guide", password="longenough1")
    guide = await hire(username="guide1", **guide_g001)
    same_code = await hire(username="guide2", **guide_g001)
    short_pw = await hire(
        username="guide3", name="G", role="cashier", store_id=store.id, password="short"
    )

    assert (no_store.status, no_store.error_code) == (422, "staff.store_required")
    assert guide.status == 201 and guide.json["guide_code"] == "G001"
    assert (same_code.status, same_code.error_code) == (409, "staff.taken")
    assert short_pw.status == 422


async def test_wechat_app_validation_and_secrets(api: Api) -> None:
    _, token = await _admin()

    bad = await api.post(
        "/admin/wechat-apps",
        {"kind": "miniprogram", "appid": "wx123", "name": "x", "app_secret": "s"},
        token=token,
    )
    good = await api.post(
        "/admin/wechat-apps",
        {
            "kind": "official_account",
            "appid": "wx0123456789abcdef",
            "name": "OA",
            "app_secret": "a" * 32,
            "push_token": "tok123",
            "encoding_aes_key": "b" * 43,
            "message_mode": "safe",
        },
        token=token,
    )
    again = await api.post(
        "/admin/wechat-apps",
        {"kind": "miniprogram", "appid": "wx0123456789abcdef", "name": "x", "app_secret": "a" * 32},
        token=token,
    )

    assert bad.status == 422
    assert {d["field"] for d in bad.json["error"]["details"]} >= {"appid", "app_secret"}
    assert good.status == 201
    assert good.json["has_push_token"] and good.json["has_encoding_aes_key"]
    assert "a" * 32 not in good.text and "b" * 43 not in good.text
    assert (again.status, again.error_code) == (409, "wechat_app.taken")


async def test_merchant_account_rules(api: Api) -> None:
    _, token = await _admin()

    partner_without_sub = await api.post(
        "/admin/merchant-accounts", wechat_account(mode="partner"), token=token
    )
    missing_keys = await api.post(
        "/admin/merchant-accounts", wechat_account(secrets={"api_v3_key": "k" * 32}), token=token
    )
    isv_without_token = await api.post(
        "/admin/merchant-accounts",
        {
            "name": "Franchise Alipay",
            "provider": "alipay",
            "mode": "isv",
            "app_id": "2021000000000009",
            "secrets": {
                "private_key": alipay_app_private_pem(),
                "alipay_public_key": alipay_platform_public_pem(),
            },
        },
        token=token,
    )
    partner = await api.post(
        "/admin/merchant-accounts",
        wechat_account(mode="partner", sub_mchid="1900000003"),
        token=token,
    )

    assert (partner_without_sub.status, partner_without_sub.error_code) == (
        422,
        "merchant_account.invalid",
    )
    assert "sub_mchid" in {d["field"] for d in partner_without_sub.json["error"]["details"]}
    assert missing_keys.status == 422
    assert isv_without_token.status == 422
    assert partner.status == 201
    assert partner.json["sub_mchid"] == "1900000003"
    assert partner.json["secret_names"] == ["api_v3_key", "cert_serial_no", "private_key"]
    assert partner.json["notify_url"].endswith(f"/callbacks/wechatpay/{partner.json['key']}")
    assert V3_SECRETS["api_v3_key"] not in partner.text
    assert await MerchantAccount.all().count() == 1


async def test_secrets_are_encrypted_at_rest_and_never_logged(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    _, token = await _admin()
    caplog.set_level(logging.DEBUG)

    created = await api.post("/admin/merchant-accounts", wechat_account(), token=token)
    rotated = await api.patch(
        f"/admin/merchant-accounts/{created.json['id']}",
        {"secrets": {"api_v3_key": "z" * 32}},
        token=token,
    )
    listed = await api.get("/admin/merchant-accounts", token=token)

    row = await MerchantAccount.get(id=created.json["id"])
    assert "k" * 32 not in row.secrets_enc and "z" * 32 not in row.secrets_enc
    for text in (created.text, rotated.text, listed.text, caplog.text):
        assert "k" * 32 not in text and "z" * 32 not in text
        assert "PRIVATE KEY" not in text


async def test_routes_point_at_an_account_of_the_same_brand_and_provider(api: Api) -> None:
    brand, token = await _admin()
    _other_brand, other_token = await _admin()
    store = await make_store(brand=brand)
    wechat = (await api.post("/admin/merchant-accounts", wechat_account(), token=token)).json
    foreign = (await api.post("/admin/merchant-accounts", wechat_account(), token=other_token)).json

    wrong_provider = await api.post(
        "/admin/store-payment-routes",
        {"store_id": store.id, "provider": "alipay", "account_id": wechat["id"]},
        token=token,
    )
    foreign_account = await api.post(
        "/admin/store-payment-routes",
        {"store_id": store.id, "provider": "wechatpay_v3", "account_id": foreign["id"]},
        token=token,
    )
    ok = await api.post(
        "/admin/store-payment-routes",
        {"store_id": store.id, "provider": "wechatpay_v3", "account_id": wechat["id"]},
        token=token,
    )
    twice = await api.post(
        "/admin/store-payment-routes",
        {"store_id": store.id, "provider": "wechatpay_v3", "account_id": wechat["id"]},
        token=token,
    )

    assert (wrong_provider.status, wrong_provider.error_code) == (422, "route.provider_mismatch")
    assert (foreign_account.status, foreign_account.error_code) == (422, "route.unknown_account")
    assert ok.status == 201
    assert (twice.status, twice.error_code) == (409, "route.exists")


async def test_a_missing_payment_route_is_not_a_missing_url(api: Api) -> None:
    brand, token = await _admin()
    _, other_token = await _admin()
    store = await make_store(brand=brand)
    wechat = (await api.post("/admin/merchant-accounts", wechat_account(), token=token)).json
    route = await api.post(
        "/admin/store-payment-routes",
        {"store_id": store.id, "provider": "wechatpay_v3", "account_id": wechat["id"]},
        token=token,
    )

    missing = await api.patch(
        "/admin/store-payment-routes/999999", {"status": "disabled"}, token=token
    )
    foreign = await api.patch(
        f"/admin/store-payment-routes/{route.json['id']}", {"status": "disabled"}, token=other_token
    )
    no_such_url = await api.get("/admin/no-such-thing", token=token)

    assert (missing.status, missing.error_code) == (404, "payment_route.not_found")
    assert (foreign.status, foreign.error_code) == (404, "payment_route.not_found")
    assert (no_such_url.status, no_such_url.error_code) == (404, "route.not_found")


async def test_routes_import_from_csv_all_or_nothing(api: Api) -> None:
    brand, token = await _admin()
    s1, s2 = await make_store(brand=brand, code="A1"), await make_store(brand=brand, code="A2")
    wechat = (await api.post("/admin/merchant-accounts", wechat_account(), token=token)).json
    good = f"store_code,provider,account_key\nA1,wechatpay_v3,{wechat['key']}\nA2,wechatpay_v3,{wechat['key']}\n"
    bad = f"store_code,provider,account_key\nA1,wechatpay_v3,{wechat['key']}\nZZ,wechatpay_v3,{wechat['key']}\n"

    refused = await api.request(
        "POST",
        "/admin/store-payment-routes/import",
        token=token,
        content=bad,
        headers={"content-type": "text/csv"},
    )
    assert (refused.status, refused.error_code) == (422, "route_import.invalid")
    assert refused.json["error"]["details"] == [{"line": 3, "message": "unknown store 'ZZ'"}]
    assert await StorePaymentRoute.all().count() == 0

    imported = await api.request(
        "POST",
        "/admin/store-payment-routes/import",
        token=token,
        content=good,
        headers={"content-type": "text/csv"},
    )
    again = await api.request(
        "POST",
        "/admin/store-payment-routes/import",
        token=token,
        content=good,
        headers={"content-type": "text/csv"},
    )

    assert imported.json == {"created": 2, "updated": 0}
    assert again.json == {"created": 0, "updated": 2}
    assert {r.store_id for r in await StorePaymentRoute.all()} == {s1.id, s2.id}


async def test_demo_bootstrap_lets_a_script_act_as_the_admin(api: Api) -> None:
    summary = await bootstrap_demo()
    again = await bootstrap_demo(once=True)

    token = summary["hq_admin"]["token"]
    stores = await api.get("/admin/stores", token=token)
    accounts = await api.get("/admin/merchant-accounts", token=token)
    franchise = next(s for s in summary["stores"] if s["kind"] == "franchise")

    assert stores.status == 200 and len(stores.json["items"]) == 3
    assert len(accounts.json["items"]) == 4
    assert franchise["accounts"]["wechatpay_v3"]["mode"] == "partner"
    assert franchise["accounts"]["wechatpay_v3"]["sub_mchid"]
    assert franchise["accounts"]["alipay"]["mode"] == "isv"
    assert summary["miniprogram"]["appid"].startswith("wx")
    assert summary["official_account"]["appid"].startswith("wx")
    assert again["brand"]["id"] == summary["brand"]["id"]
