"""Head office onboards franchise stores from one CSV file: every account is checked with its
platform first, then stores, franchisee accounts and routes are written at once, or nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from api.core.models import AuditLog
from api.org.models import (
    AccountMode,
    MerchantAccount,
    PaymentProvider,
    StaffRole,
    Status,
    Store,
    StoreKind,
    StorePaymentRoute,
)
from api.payments import onboarding
from api.payments.models import OnboardingJob
from config.settings import Settings
from sandbox import keys
from tests.factories import make_brand, make_staff, make_store, staff_token
from tests.support.api import Api
from tests.support.player import Player

from .chain import Chain, alipay_payment, make_chain, wechat_payment
from .onboarding_support import (
    csv_file,
    follow,
    franchise_line,
    new_app_auth_token,
    new_sub_mchid,
    onboard,
    onboarding_worker,
    post_file,
)

pytestmark = pytest.mark.usefixtures("sandbox_url", "live_url", "_worker")


@pytest.fixture
async def _worker(settings: Settings, app: object) -> AsyncIterator[None]:
    async with onboarding_worker(settings):
        yield


async def _admin(chain: Chain) -> str:
    return staff_token(await make_staff(brand=chain.brand, role=StaffRole.HQ_ADMIN))


async def _snapshot(brand_id: int) -> tuple[list[tuple[object, ...]], ...]:
    """Every store, account and route of the brand, as comparable tuples."""
    stores = (
        await Store.filter(brand_id=brand_id)
        .order_by("id")
        .values_list("id", "code", "name", "city", "kind", "status")
    )
    accounts = (
        await MerchantAccount.filter(brand_id=brand_id)
        .order_by("id")
        .values_list(
            "id", "key", "mode", "mch_id", "app_id", "sub_mchid", "sub_appid", "secrets_enc"
        )
    )
    routes = (
        await StorePaymentRoute.filter(brand_id=brand_id)
        .order_by("id")
        .values_list("id", "store_id", "provider", "account_id", "status")
    )
    return stores, accounts, routes


async def _route(store_code: str, brand_id: int, provider: PaymentProvider) -> StorePaymentRoute:
    store = await Store.get(brand_id=brand_id, code=store_code)
    return await StorePaymentRoute.get(store_id=store.id, provider=provider).prefetch_related(
        "account"
    )


async def test_a_small_file_onboards_stores_accounts_and_routes_where_payments_then_land(
    api: Api, player: Player
) -> None:
    chain = await make_chain()
    other = await make_chain()
    token = await _admin(chain)
    both = franchise_line()
    wechat_only = franchise_line(alipay_app_auth_token="", wechat_sub_appid="wx00000000000abcde")
    direct = franchise_line(kind="direct", wechat_sub_mchid="", alipay_app_auth_token="")
    # The other brand has a store with the same code: it is another brand's store.
    await make_store(brand=other.brand, code=both["store_code"], name="not theirs")
    other_before = await _snapshot(other.brand.id)

    job = await onboard(api, token, csv_file([both, wechat_only, direct]))

    assert job["state"] == "done", job
    assert (job["total"], job["checked"], job["written"], job["errors"]) == (3, 3, 3, [])
    assert {k: v for k, v in job["result"].items() if not k.endswith("_ms")} == {
        "stores_created": 3,
        "stores_updated": 0,
        "stores_unchanged": 0,
        "wechat_accounts_created": 2,
        "wechat_accounts_updated": 0,
        "alipay_accounts_created": 1,
        "alipay_accounts_updated": 0,
        "routes_created": 3,
        "routes_repointed": 0,
        "routes_unchanged": 0,
        "routes_disabled": 0,
    }
    stores = {s.code: s for s in await Store.filter(brand_id=chain.brand.id)}
    assert stores[both["store_code"]].kind is StoreKind.FRANCHISE
    assert (
        stores[both["store_code"]].name == both["name"]
        and stores[both["store_code"]].city == "杭州"
    )
    assert stores[direct["store_code"]].kind is StoreKind.DIRECT
    wechat_route = await _route(both["store_code"], chain.brand.id, PaymentProvider.WECHATPAY_V3)
    sp = chain.franchise_wechat  # the brand's first partner-mode account: the service provider
    assert wechat_route.account.mode is AccountMode.PARTNER
    assert (wechat_route.account.mch_id, wechat_route.account.app_id) == (sp.mch_id, sp.app_id)
    assert wechat_route.account.sub_mchid == both["wechat_sub_mchid"]
    alipay_route = await _route(both["store_code"], chain.brand.id, PaymentProvider.ALIPAY)
    token_ = both["alipay_app_auth_token"]
    assert alipay_route.account.mode is AccountMode.ISV
    assert alipay_route.account.app_id == chain.hq_alipay.app_id
    assert alipay_route.account.mch_id == keys.alipay_seller_id(chain.hq_alipay.app_id, token_)
    sub_app = await _route(wechat_only["store_code"], chain.brand.id, PaymentProvider.WECHATPAY_V3)
    assert sub_app.account.sub_appid == "wx00000000000abcde"
    assert not await StorePaymentRoute.exists(store_id=stores[direct["store_code"]].id)
    assert not await StorePaymentRoute.exists(
        store_id=stores[wechat_only["store_code"]].id, provider=PaymentProvider.ALIPAY
    )
    # A payment at the new store is made on, and charged through, the franchisee's accounts.
    store_id = stores[both["store_code"]].id
    paid_by_wechat = await wechat_payment(chain, store_id=store_id)
    paid_by_alipay = await alipay_payment(chain, store_id=store_id)
    assert paid_by_wechat.account_id == wechat_route.account.id
    assert paid_by_alipay.account_id == alipay_route.account.id
    await player.pay(paid_by_alipay.out_trade_no)
    await player.pay(paid_by_wechat.out_trade_no)
    for payment in (paid_by_wechat, paid_by_alipay):
        await payment.refresh_from_db()
        assert payment.state == "paid"
    entry = await AuditLog.get(brand_id=chain.brand.id, action="payment_onboarding.write")
    assert entry.target == f"payment_onboarding:{job['id']}"
    assert entry.actor.startswith("staff:")
    assert await _snapshot(other.brand.id) == other_before
    assert (await OnboardingJob.get(id=job["id"])).csv_enc is None  # the tokens are not kept


async def test_the_same_file_again_changes_nothing_and_a_changed_file_repoints(
    api: Api,
) -> None:
    chain = await make_chain()
    token = await _admin(chain)
    moving, renamed, becoming_direct = franchise_line(), franchise_line(), franchise_line()
    text = csv_file([moving, renamed, becoming_direct])
    await onboard(api, token, text)
    before = await _snapshot(chain.brand.id)

    again = await onboard(api, token, text)

    assert again["state"] == "done"
    assert await _snapshot(chain.brand.id) == before
    assert again["result"]["stores_unchanged"] == 3
    assert again["result"]["routes_unchanged"] == 6
    created = {k: v for k, v in again["result"].items() if "created" in k or "updated" in k}
    assert set(created.values()) == {0}

    new_sub_merchant, new_token = new_sub_mchid(), new_app_auth_token()
    changed = await onboard(
        api,
        token,
        csv_file(
            [
                moving | {"wechat_sub_mchid": new_sub_merchant, "alipay_app_auth_token": new_token},
                renamed | {"name": "改名的店", "city": "宁波"},
                becoming_direct
                | {"kind": "direct", "wechat_sub_mchid": "", "alipay_app_auth_token": ""},
            ]
        ),
    )

    assert changed["state"] == "done", changed
    assert changed["result"]["stores_updated"] == 2  # renamed, and the one now direct
    assert changed["result"]["routes_repointed"] == 2
    assert changed["result"]["routes_disabled"] == 2
    wechat_route = await _route(moving["store_code"], chain.brand.id, PaymentProvider.WECHATPAY_V3)
    assert wechat_route.account.sub_mchid == new_sub_merchant
    store = await Store.get(brand_id=chain.brand.id, code=moving["store_code"])
    payment = await wechat_payment(chain, store_id=store.id)
    assert payment.account_id == wechat_route.account.id
    direct_store = await Store.get(brand_id=chain.brand.id, code=becoming_direct["store_code"])
    assert direct_store.kind is StoreKind.DIRECT
    assert not await StorePaymentRoute.exists(store_id=direct_store.id, status=Status.ACTIVE)
    head_office = await wechat_payment(chain, store_id=direct_store.id)
    assert head_office.account_id == chain.hq_wechat.id
    assert (await Store.get(brand_id=chain.brand.id, code=renamed["store_code"])).city == "宁波"


@pytest.mark.parametrize("bad", ["unknown_sub_merchant", "revoked_token"])
async def test_2000_lines_with_one_bad_account_write_nothing_and_name_that_line(
    api: Api, player: Player, bad: str
) -> None:
    chain = await make_chain()
    token = await _admin(chain)
    before = await _snapshot(chain.brand.id)
    # One account per line, so that 2,000 lines take 2,000 platform checks, not 4,000.
    if bad == "unknown_sub_merchant":
        lines = [franchise_line(alipay_app_auth_token="") for _ in range(2000)]
    else:
        lines = [franchise_line(wechat_sub_mchid="") for _ in range(2000)]
    culprit = lines[1234]
    if bad == "unknown_sub_merchant":
        marked = await player.http.post(
            "/wechatpay/sub-merchants/unknown", json={"sub_mchid": culprit["wechat_sub_mchid"]}
        )
    else:
        marked = await player.http.post(
            "/alipay/app-auth/revoked", json={"app_auth_token": culprit["alipay_app_auth_token"]}
        )
    assert marked.status_code == 200

    started = await post_file(api, token, csv_file(lines))
    job, seen = await follow(api, token, started.json["id"], timeout_s=120)

    assert started.status == 202 and started.json["total"] == 2000
    assert job["state"] == "failed"
    assert [e["line"] for e in job["errors"]] == [1236]  # the header is line 1
    if culprit["alipay_app_auth_token"]:
        assert culprit["alipay_app_auth_token"] not in str(job["errors"])
    assert (job["checked"], job["written"]) == (2000, 0)
    assert any(state == "checking" and 0 < checked < 2000 for state, checked in seen), seen
    assert await _snapshot(chain.brand.id) == before
    assert not await AuditLog.exists(brand_id=chain.brand.id, action="payment_onboarding.write")


async def test_every_bad_line_is_named_and_nothing_is_written(api: Api) -> None:
    chain = await make_chain()
    token = await _admin(chain)
    before = await _snapshot(chain.brand.id)
    good = franchise_line()
    shared = new_sub_mchid()
    text = (
        csv_file(
            [
                good,  # line 2
                franchise_line(store_code="has space"),  # 3
                franchise_line(store_code=good["store_code"]),  # 4: the same store again
                franchise_line(kind="outlet"),  # 5
                franchise_line(wechat_sub_mchid="12345"),  # 6
                franchise_line(alipay_app_auth_token="not-a-token"),  # 7
                franchise_line(wechat_sub_mchid="", alipay_app_auth_token=""),  # 8: no account
                franchise_line(kind="direct"),  # 9: a direct store with accounts
                franchise_line(name=""),  # 10
                franchise_line(wechat_sub_mchid=shared, wechat_sub_appid="wx0000000000000001"),
                franchise_line(
                    wechat_sub_mchid=shared, wechat_sub_appid="wx0000000000000002"
                ),  # 12
                franchise_line(wechat_sub_appid="WX-nope"),  # 13
            ]
        )
        + "S9,only two fields\n"
        + "S10,a,b,franchise,1900000001,,,one too many\n"
    )

    job = await onboard(api, token, text)

    assert job["state"] == "failed"
    lines = {e["line"]: e["message"] for e in job["errors"]}
    assert sorted(lines) == [3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15]
    assert "first on line 2" in lines[4]
    assert "kind" in lines[5] and "wechat_sub_mchid" in lines[6]
    assert "alipay_app_auth_token" in lines[7] and "franchise store needs" in lines[8]
    assert "direct store" in lines[9] and "name" in lines[10] and "line 11" in lines[12]
    assert "fewer fields" in lines[14] and "more fields" in lines[15]
    assert await _snapshot(chain.brand.id) == before


async def test_files_that_are_not_files_of_stores_are_refused_at_once(api: Api) -> None:
    chain = await make_chain()
    token = await _admin(chain)
    line = franchise_line()
    header_only = csv_file([])
    too_many = csv_file(franchise_line() for _ in range(onboarding.MAX_LINES + 1))

    not_utf8 = await post_file(api, token, "store_code,name\nS1,\xff\n".encode("latin-1"))
    wrong_header = await post_file(api, token, csv_file([line]).replace("store_code", "code", 1))
    repeated = await post_file(api, token, "store_code,name,name\nS1,a,b\n")
    empty = await post_file(api, token, header_only)
    nothing = await post_file(api, token, b"")
    huge_field = await post_file(api, token, "store_code,name\nS1,a\nS2," + "b" * 200_000)
    too_long = await post_file(api, token, too_many)
    too_large = await post_file(api, token, "store_code,name\n" + "S1," + "x" * (3 << 20))

    assert (not_utf8.status, not_utf8.error_code) == (422, "payment_onboarding.unreadable")
    assert (wrong_header.status, wrong_header.error_code) == (422, "payment_onboarding.bad_header")
    assert wrong_header.json["error"]["details"][0]["line"] == 1
    assert repeated.error_code == "payment_onboarding.bad_header"
    assert (empty.status, empty.error_code) == (422, "payment_onboarding.empty")
    assert nothing.error_code == "payment_onboarding.bad_header"
    assert (huge_field.status, huge_field.error_code) == (422, "payment_onboarding.unreadable")
    assert huge_field.json["error"]["details"][0]["line"] == 3
    assert (too_long.status, too_long.error_code) == (422, "payment_onboarding.too_many_lines")
    assert too_long.json["error"]["details"][0]["line"] == onboarding.MAX_LINES + 2
    assert (too_large.status, too_large.error_code) == (413, "request.too_large")
    assert not await OnboardingJob.exists(brand_id=chain.brand.id)


async def test_a_brand_without_service_provider_accounts_is_told_what_is_missing(
    api: Api,
) -> None:
    brand = await make_brand()
    token = staff_token(await make_staff(brand=brand, role=StaffRole.HQ_ADMIN))

    answer = await post_file(api, token, csv_file([franchise_line()]))
    wechat_only = await post_file(api, token, csv_file([franchise_line(alipay_app_auth_token="")]))

    assert (answer.status, answer.error_code) == (422, "payment_onboarding.no_service_provider")
    assert [d["provider"] for d in answer.json["error"]["details"]] == ["wechatpay_v3", "alipay"]
    assert [d["provider"] for d in wechat_only.json["error"]["details"]] == ["wechatpay_v3"]
    assert not await OnboardingJob.exists(brand_id=brand.id)


async def test_only_head_office_onboards_and_sees_its_own_onboardings(api: Api) -> None:
    chain = await make_chain()
    other = await make_chain()
    text = csv_file([franchise_line()])
    store = await Store.get(id=chain.franchise_store_id)
    manager = staff_token(
        await make_staff(brand=chain.brand, role=StaffRole.STORE_MANAGER, store=store)
    )
    cashier = staff_token(await make_staff(brand=chain.brand, role=StaffRole.CASHIER, store=store))
    job = await onboard(api, await _admin(chain), text)

    by_manager = await post_file(api, manager, text)
    by_cashier = await post_file(api, cashier, text)
    by_nobody = await post_file(api, "", text)
    manager_reads = await api.get(f"/admin/payment-onboarding/{job['id']}", token=manager)
    other_brand_reads = await api.get(
        f"/admin/payment-onboarding/{job['id']}", token=await _admin(other)
    )

    assert (by_manager.status, by_cashier.status, by_nobody.status) == (403, 403, 401)
    assert manager_reads.status == 403
    assert (other_brand_reads.status, other_brand_reads.error_code) == (
        404,
        "payment_onboarding.not_found",
    )
    assert await OnboardingJob.filter(brand_id=chain.brand.id).count() == 1


async def test_the_same_file_sent_five_times_at_once_makes_each_account_once(api: Api) -> None:
    chain = await make_chain()
    token = await _admin(chain)
    lines = [franchise_line() for _ in range(20)]
    text = csv_file(lines)

    started = await asyncio.gather(*(post_file(api, token, text) for _ in range(5)))
    jobs = [(await follow(api, token, s.json["id"]))[0] for s in started]

    assert [j["state"] for j in jobs] == ["done"] * 5, [j["errors"] for j in jobs]
    assert sum(j["result"]["stores_created"] for j in jobs) == 20
    partner = MerchantAccount.filter(brand_id=chain.brand.id, mode=AccountMode.PARTNER)
    isv = MerchantAccount.filter(brand_id=chain.brand.id, mode=AccountMode.ISV)
    assert await partner.count() == 20 + 1  # and the service provider's own
    assert await isv.count() == 20 + 1
    assert await StorePaymentRoute.filter(brand_id=chain.brand.id).count() == 40 + 2


async def test_a_job_run_again_after_it_ended_changes_nothing(api: Api) -> None:
    chain = await make_chain()
    token = await _admin(chain)
    job = await onboard(api, token, csv_file([franchise_line(), franchise_line()]))
    before = await _snapshot(chain.brand.id)

    again = await asyncio.gather(*(onboarding.run_onboarding(job_id=job["id"]) for _ in range(20)))

    assert again == [{"state": "done"}] * 20
    assert await _snapshot(chain.brand.id) == before
    assert (await OnboardingJob.get(id=job["id"])).result == job["result"]
