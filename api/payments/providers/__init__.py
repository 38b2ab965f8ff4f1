"""Payment providers: one class per platform behind the protocol in `base`.

`provider_for(account)` gives the provider that speaks for a merchant account, built once per
account and kept while the account's keys and ids stay the same (python-alipay-sdk's ISV client
binds one app_auth_token; wechatpayv3 keeps one HTTP client).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from api.org.accounts import account_secrets
from api.org.models import MerchantAccount, PaymentProvider

from .base import Merchant, Provider

ProviderClass = Callable[[Merchant, Mapping[str, str]], Provider]
_BUILT: dict[int, tuple[str, Provider]] = {}


def provider_class(provider: PaymentProvider) -> ProviderClass:
    """The class that speaks `provider`; its SDK is imported on first use."""
    if provider is PaymentProvider.ALIPAY:
        from .alipay import AlipayProvider

        return AlipayProvider
    from .wechatpay import WechatPayV2, WechatPayV3

    return WechatPayV3 if provider is PaymentProvider.WECHATPAY_V3 else WechatPayV2


def merchant_of(account: MerchantAccount) -> Merchant:
    """The account as the platforms name it (no secrets)."""
    return Merchant(
        account_key=account.key,
        mode=account.mode.value,
        mch_id=account.mch_id,
        app_id=account.app_id,
        sub_mchid=account.sub_mchid,
        sub_appid=account.sub_appid,
    )


def _fingerprint(account: MerchantAccount) -> str:
    parts = (account.key, account.mode.value, account.mch_id, account.app_id, account.sub_mchid)
    raw = "|".join((*parts, account.sub_appid, account.secrets_enc))
    return hashlib.sha256(raw.encode()).hexdigest()


def provider_for(account: MerchantAccount) -> Provider:
    """The provider for this account, rebuilt when its ids or keys changed."""
    fingerprint = _fingerprint(account)
    built = _BUILT.get(account.id)
    if built is not None and built[0] == fingerprint:
        return built[1]
    provider = provider_class(account.provider)(merchant_of(account), account_secrets(account))
    _BUILT[account.id] = (fingerprint, provider)
    return provider
