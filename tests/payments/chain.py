"""A chain brand as payments tests need it: a mini-program, a direct store paid into head
office's accounts, a franchise store paid into the franchisee's (WeChat Pay partner mode,
Alipay ISV), and payments created on them through the services."""

from __future__ import annotations

from dataclasses import dataclass

from api.org.models import AccountMode, Brand, MerchantAccount, StoreKind, WechatApp
from api.payments import payments
from api.payments.models import Payment, PaymentPurpose
from api.payments.providers.base import Payer
from sandbox.state import new_alipay_user_id, new_openid
from tests.factories import (
    make_alipay_account,
    make_brand,
    make_store,
    make_wechat_app,
    make_wechatpay_account,
    route_store,
)


@dataclass
class Chain:
    brand: Brand
    app: WechatApp
    direct_store_id: int
    franchise_store_id: int
    hq_wechat: MerchantAccount
    hq_alipay: MerchantAccount
    franchise_wechat: MerchantAccount
    franchise_alipay: MerchantAccount

    @property
    def appid(self) -> str:
        return self.app.appid


async def make_chain(**brand_fields: object) -> Chain:
    brand = await make_brand(**brand_fields)
    app = await make_wechat_app(brand=brand)
    direct = await make_store(brand=brand)
    franchise = await make_store(brand=brand, kind=StoreKind.FRANCHISE)
    hq_wechat = await make_wechatpay_account(brand=brand, app_id=app.appid)
    hq_alipay = await make_alipay_account(brand=brand)
    franchise_wechat = await make_wechatpay_account(
        brand=brand, app_id=app.appid, mode=AccountMode.PARTNER
    )
    franchise_alipay = await make_alipay_account(
        brand=brand, app_id=hq_alipay.app_id, app_auth_token="202612BB" + brand.code.ljust(24, "0")
    )
    await route_store(store=franchise, account=franchise_wechat)
    await route_store(store=franchise, account=franchise_alipay)
    return Chain(
        brand,
        app,
        direct.id,
        franchise.id,
        hq_wechat,
        hq_alipay,
        franchise_wechat,
        franchise_alipay,
    )


async def wechat_payment(
    chain: Chain,
    *,
    amount_fen: int = 12_345,
    store_id: int | None = None,
    openid: str | None = None,
    purpose: PaymentPurpose = PaymentPurpose.POS,
) -> Payment:
    """A payment at a store (None: online), its trade created at the sandbox (JSAPI prepay)."""
    account = await payments.account_for_channel(
        brand_id=chain.brand.id, channel="wechat", store_id=store_id
    )
    payment = await payments.create_payment(
        brand_id=chain.brand.id,
        account=account,
        purpose=purpose,
        amount_fen=amount_fen,
        description="面包 x3",
        store_id=store_id,
    )
    payer = Payer("wechat_openid", chain.appid, openid or new_openid())
    await payments.prepay(payment, payer=payer, client_ip="127.0.0.1")
    return payment


async def alipay_payment(
    chain: Chain,
    *,
    amount_fen: int = 12_345,
    store_id: int | None = None,
    buyer_id: str | None = None,
) -> Payment:
    account = await payments.account_for_channel(
        brand_id=chain.brand.id, channel="alipay", store_id=store_id
    )
    payment = await payments.create_payment(
        brand_id=chain.brand.id,
        account=account,
        purpose=PaymentPurpose.POS,
        amount_fen=amount_fen,
        description="面包 x3",
        store_id=store_id,
    )
    payer = Payer("alipay_user", account.app_id, buyer_id or new_alipay_user_id())
    await payments.prepay(payment, payer=payer, client_ip="127.0.0.1")
    return payment
