"""Stored-value recharge: a member buys a package (or an amount) and pays through WeChat Pay or
Alipay on head office's account; the wallet is credited when the payment is paid, once
(`effects.on_paid`, key `payment:<id>`).
"""

from __future__ import annotations

from dataclasses import dataclass

from api.core.errors import InvalidInput
from api.member_center.models import IdentityKind, MemberIdentity
from api.member_center.wallet import get_package
from api.org.models import AlipayApp, MerchantAccount, Status

from .error_codes import PaymentErrorCode, RechargeErrorCode
from .models import Payment, PaymentPurpose
from .payments import account_for_channel, create_payment, prepay
from .providers.base import Payer, Prepay

MIN_RECHARGE_FEN = 100  # one yuan
MAX_RECHARGE_FEN = 5_000_000  # fifty thousand yuan: the ceiling of a prepaid card


@dataclass(frozen=True)
class Recharge:
    payment: Payment
    bonus_fen: int
    prepay: Prepay


async def _payer(*, brand_id: int, member_id: int, account: MerchantAccount) -> Payer:
    """The member as the platform of `account` knows them: an OpenID of the paying mini-program,
    or their Alipay user id."""
    if account.provider.value == "alipay":
        app_ids = await AlipayApp.filter(brand_id=brand_id, status=Status.ACTIVE).values_list(
            "app_id", flat=True
        )
        identity = (
            await MemberIdentity.filter(member_id=member_id, kind=IdentityKind.ALIPAY_USER)
            .order_by("id")
            .first()
        )
        if identity is not None and (not identity.app_id or identity.app_id in app_ids):
            return Payer("alipay_user", account.app_id, identity.value)
    else:
        # The openid must be of the mini-program the account is paid through (in partner mode,
        # the franchisee's own mini-program when it has one: sub_appid).
        appid = account.sub_appid or account.app_id
        identity = await MemberIdentity.get_or_none(
            member_id=member_id, kind=IdentityKind.WECHAT_OPENID, app_id=appid
        )
        if identity is not None:
            return Payer("wechat_openid", appid, identity.value)
    raise InvalidInput(
        PaymentErrorCode.NO_PAYER,
        "Sign in through the mini-program of this payment method before paying with it.",
    )


async def member_payer(*, brand_id: int, member_id: int, account: MerchantAccount) -> Payer:
    """The member as the platform of `account` knows them; 422 `payment.no_payer`."""
    return await _payer(brand_id=brand_id, member_id=member_id, account=account)


async def start_recharge(
    *,
    brand_id: int,
    member_id: int,
    channel: str,
    client_ip: str,
    package_id: int | None = None,
    amount_fen: int | None = None,
) -> Recharge:
    """Create the recharge payment and its trade; credited on paid (see the module doc)."""
    if (package_id is None) == (amount_fen is None):
        raise InvalidInput(RechargeErrorCode.INVALID, "Send either package_id or amount_fen.")
    bonus_fen = 0
    details: dict[str, int] = {}
    if package_id is not None:
        package = await get_package(brand_id=brand_id, package_id=package_id)
        if not package.active:
            raise InvalidInput(
                RechargeErrorCode.PACKAGE_NOT_FOUND, "This recharge package is not on offer."
            )
        amount_fen, bonus_fen = package.pay_fen, package.bonus_fen
        details = {"package_id": package.id, "bonus_fen": bonus_fen}
    assert amount_fen is not None
    if not MIN_RECHARGE_FEN <= amount_fen <= MAX_RECHARGE_FEN:
        raise InvalidInput(
            RechargeErrorCode.AMOUNT_OUT_OF_RANGE,
            f"A recharge is {MIN_RECHARGE_FEN} to {MAX_RECHARGE_FEN} fen.",
        )
    account = await account_for_channel(brand_id=brand_id, channel=channel, store_id=None)
    payer = await _payer(brand_id=brand_id, member_id=member_id, account=account)
    payment = await create_payment(
        brand_id=brand_id,
        account=account,
        purpose=PaymentPurpose.RECHARGE,
        amount_fen=amount_fen,
        description="会员储值",
        member_id=member_id,
        details=details,
    )
    return Recharge(payment, bonus_fen, await prepay(payment, payer=payer, client_ip=client_ip))
