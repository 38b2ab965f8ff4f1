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

pytestmark = pytest.mark.usefixtures("live_url", "_worker")


@pytest.fixture
async def _worker(settings: Settings, app: object) -> AsyncIterator[None]:
    async with onboarding_worker(settings):
        yield


async def _admin(chain: Chain) -> str:
    return staff_token(await make_staff(brand=chain.brand, role=StaffRole.HQ_ADMIN))


async def _snapshot(brand_id: int) -> tuple[list[tuple[object, ...]], ...]:
    """Every store, account and route of the brand, as comparable tuples."""
    stores = await Store.filter(brand_id=brand_id).order_by("id").values_list(
        "id", "code", "name", "city", "kind", "status"
    )
    accounts = await MerchantAccount.filter(brand_id=brand_id).order_by("id").values_list(
        "id", "key", "mode", "mch_id", "app_id", "sub_mchid", "sub_appid", "secrets_enc"
    )
    routes = await StorePaymentRoute.filter(brand_id=brand_id).order_by("id").values_list(
        "id", "store_id", "provider", "account_id", "status"
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
    wechat_only = franchise_line(
        alipay_app_auth_token="", wechat_sub_appid="wx00000000000abcde"
    )
    direct = franchise_line(kind="direct", wechat_sub_mchid="", alipay_app_auth_token="")
    # The other brand has a store with the same code: it is another brand's store.
    await make_store(brand=other.brand, code=both["store_code"], name="not theirs")
    other_before = await _snapshot(other.brand.id)

    job = await onboard(api, token, csv_file([both, wechat_only, direct]))

    assert job["state"] == "done", job
    assert (job["total"], job["checked"], job["written"], job["errors"]) == (3, 3, 3, [])
    assert job["result"] | {} == {
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
    assert stores[both["store_code"]].name == both["name"] and stores[both["store_code"]].city == "杭州"
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
