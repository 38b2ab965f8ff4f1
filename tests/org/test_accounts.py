"""What payments ask of merchant accounts without a staff member: by key, by store, keys, URL."""

from __future__ import annotations

import pytest

from api.core.errors import Conflict, NotFound
from api.core.ports import Ports
from api.org import accounts
from api.org.models import (
    AccountMode,
    Brand,
    MerchantAccount,
    PaymentProvider,
    Status,
    Store,
    StorePaymentRoute,
)
from config.settings import get_settings
from tests.factories import make_brand, make_store

V3_SECRETS = {
    "api_v3_key": "k" * 32,
    "private_key": "-----BEGIN PRIVATE KEY-----\n" + "A" * 120 + "\n-----END PRIVATE KEY-----",
    "cert_serial_no": "5157F09EFDC096DE15EBE81A47057A72",
}


async def wechat_account(
    brand: Brand, *, mode: AccountMode = AccountMode.DIRECT, name: str = "HQ"
) -> MerchantAccount:
    return await accounts.create_account(
        brand_id=brand.id,
        actor="system",
        name=name,
        provider=PaymentProvider.WECHATPAY_V3,
        mode=mode,
        mch_id="1900000001",
        app_id="wx0123456789abcdef",
        sub_mchid="1900000009" if mode is AccountMode.PARTNER else None,
        secrets=V3_SECRETS,
    )


async def route(store: Store, account: MerchantAccount) -> StorePaymentRoute:
    return await accounts.create_route(
        brand_id=store.brand_id,
        store_id=store.id,
        provider=account.provider,
        account_id=account.id,
        actor="system",
    )


async def test_an_account_is_found_by_the_key_its_callback_url_names(ports: Ports) -> None:
    brand = await make_brand()
    account = await wechat_account(brand)
    await accounts.update_account(
        brand_id=brand.id, actor="system", account_id=account.id, status=Status.DISABLED
    )

    found = await accounts.get_account_by_key(key=account.key)

    assert found.id == account.id  # disabled accounts still answer their late notifications
    assert accounts.notify_url(found) == (
        f"{get_settings().public_base_url}/callbacks/wechatpay/{account.key}"
    )
    with pytest.raises(NotFound) as missing:
        await accounts.get_account_by_key(key="no-such-key")
    assert missing.value.code == "merchant_account.not_found"


async def test_an_accounts_secrets_come_back_decrypted_and_are_stored_encrypted(
    ports: Ports,
) -> None:
    brand = await make_brand()
    account = await wechat_account(brand)

    stored = await MerchantAccount.get(id=account.id)

    assert accounts.account_secrets(stored) == V3_SECRETS
    assert V3_SECRETS["api_v3_key"] not in stored.secrets_enc


async def test_a_routed_store_pays_into_its_own_account(ports: Ports) -> None:
    brand = await make_brand()
    head_office = await wechat_account(brand)
    franchisee = await wechat_account(brand, mode=AccountMode.PARTNER, name="franchisee")
    franchise_store, direct_store = await make_store(brand=brand), await make_store(brand=brand)
    await route(franchise_store, franchisee)

    routed = await accounts.account_for_store(
        brand_id=brand.id, provider=PaymentProvider.WECHATPAY_V3, store_id=franchise_store.id
    )
    unrouted = await accounts.account_for_store(
        brand_id=brand.id, provider=PaymentProvider.WECHATPAY_V3, store_id=direct_store.id
    )
    no_store = await accounts.account_for_store(
        brand_id=brand.id, provider=PaymentProvider.WECHATPAY_V3, store_id=None
    )

    assert routed.id == franchisee.id
    assert unrouted.id == no_store.id == head_office.id


async def test_a_disabled_route_falls_back_to_head_office(ports: Ports) -> None:
    brand = await make_brand()
    head_office = await wechat_account(brand)
    franchisee = await wechat_account(brand, mode=AccountMode.PARTNER, name="franchisee")
    store = await make_store(brand=brand)
    store_route = await route(store, franchisee)
    await accounts.update_route(
        brand_id=brand.id, actor="system", route_id=store_route.id, status=Status.DISABLED
    )

    chosen = await accounts.account_for_store(
        brand_id=brand.id, provider=PaymentProvider.WECHATPAY_V3, store_id=store.id
    )

    assert chosen.id == head_office.id


async def test_a_route_to_a_disabled_account_is_refused_not_sent_to_head_office(
    ports: Ports,
) -> None:
    brand = await make_brand()
    await wechat_account(brand)
    franchisee = await wechat_account(brand, mode=AccountMode.PARTNER, name="franchisee")
    store = await make_store(brand=brand)
    await route(store, franchisee)
    await MerchantAccount.filter(id=franchisee.id).update(status=Status.DISABLED)

    with pytest.raises(Conflict) as refused:
        await accounts.account_for_store(
            brand_id=brand.id, provider=PaymentProvider.WECHATPAY_V3, store_id=store.id
        )

    assert refused.value.code == "payment_route.account_disabled"


async def test_head_office_is_the_first_active_direct_account_of_the_provider(
    ports: Ports,
) -> None:
    brand = await make_brand()
    other_brand = await make_brand()
    await wechat_account(other_brand)
    await wechat_account(brand, mode=AccountMode.PARTNER, name="a partner account")
    first = await wechat_account(brand, name="first")
    await wechat_account(brand, name="second")

    chosen = await accounts.head_office_account(
        brand_id=brand.id, provider=PaymentProvider.WECHATPAY_V3
    )
    await MerchantAccount.filter(id=first.id).update(status=Status.DISABLED)
    after_disabling = await accounts.head_office_account(
        brand_id=brand.id, provider=PaymentProvider.WECHATPAY_V3
    )

    assert chosen.id == first.id
    assert after_disabling.name == "second"


async def test_no_head_office_account_and_foreign_stores_are_refused(ports: Ports) -> None:
    brand = await make_brand()
    other_brand = await make_brand()
    foreign_store = await make_store(brand=other_brand)
    await wechat_account(brand)

    with pytest.raises(NotFound) as no_alipay:
        await accounts.account_for_store(
            brand_id=brand.id, provider=PaymentProvider.ALIPAY, store_id=None
        )
    with pytest.raises(NotFound) as foreign:
        await accounts.account_for_store(
            brand_id=brand.id, provider=PaymentProvider.WECHATPAY_V3, store_id=foreign_store.id
        )

    assert no_alipay.value.code == "merchant_account.no_head_office"
    assert foreign.value.code == "store.not_found"
