"""Recharge: the member pays a package through WeChat Pay or Alipay; the wallet is credited once."""

from __future__ import annotations

import pytest

from api.member_center import wallet
from api.member_center.identity import IdentityKey, attach_identities
from api.member_center.models import IdentityKind, Member, WalletEntry
from api.payments.models import Payment, PaymentPurpose, PaymentState
from sandbox.state import new_alipay_user_id, new_openid
from tests.factories import member_token
from tests.support.api import Api
from tests.support.player import Player

from .chain import Chain, make_chain

pytestmark = pytest.mark.usefixtures("live_url")


async def _member(chain: Chain, *, alipay: bool = False) -> Member:
    key = (
        IdentityKey(IdentityKind.ALIPAY_USER, new_alipay_user_id())
        if alipay
        else IdentityKey(IdentityKind.WECHAT_OPENID, new_openid(), chain.appid)
    )
    return await attach_identities(brand_id=chain.brand.id, keys=[key])


async def test_a_package_recharge_credits_principal_and_bonus_once(
    api: Api, player: Player
) -> None:
    chain = await make_chain()
    member = await _member(chain)
    package = await wallet.create_package(
        brand_id=chain.brand.id,
        actor="system",
        name="充 500 送 50",
        pay_fen=50_000,
        bonus_fen=5_000,
    )

    started = await api.post(
        "/wallet/recharge",
        {"package_id": package.id, "provider": "wechat"},
        token=member_token(member),
    )
    paid = await player.pay(started.json["out_trade_no"], deliveries=5)

    assert started.status == 201, started
    assert started.json["amount_fen"] == 50_000 and started.json["bonus_fen"] == 5_000
    assert set(started.json["pay_params"]) >= {
        "appId",
        "timeStamp",
        "nonceStr",
        "package",
        "paySign",
    }
    assert started.json["pay_params"]["package"].startswith("prepay_id=")
    assert [d["status"] for d in paid["deliveries"]] == [204] * 5
    balance = await wallet.wallet_balance(brand_id=chain.brand.id, member_id=member.id)
    assert (balance.principal_fen, balance.bonus_fen) == (50_000, 5_000)
    assert await WalletEntry.filter(member_id=member.id).count() == 1
    payment = await Payment.get(id=started.json["payment_id"])
    assert (payment.state, payment.purpose, payment.account_id) == (
        PaymentState.PAID,
        PaymentPurpose.RECHARGE,
        chain.hq_wechat.id,
    )
    assert payment.points_earned == 0  # stored value earns points when it is spent


async def test_an_amount_recharge_through_alipay(api: Api, player: Player) -> None:
    chain = await make_chain()
    member = await _member(chain, alipay=True)

    started = await api.post(
        "/wallet/recharge", {"amount_fen": 12_300, "provider": "alipay"}, token=member_token(member)
    )
    await player.pay(started.json["out_trade_no"])

    assert started.status == 201, started
    assert started.json["pay_params"]["trade_no"]
    balance = await wallet.wallet_balance(brand_id=chain.brand.id, member_id=member.id)
    assert (balance.principal_fen, balance.bonus_fen) == (12_300, 0)


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"provider": "wechat"}, 422, "recharge.invalid"),
        ({"package_id": 1, "amount_fen": 100, "provider": "wechat"}, 422, "recharge.invalid"),
        ({"package_id": 99999, "provider": "wechat"}, 404, "wallet_package.not_found"),
        ({"amount_fen": 99, "provider": "wechat"}, 422, "recharge.amount_out_of_range"),
        ({"amount_fen": 5_000_001, "provider": "wechat"}, 422, "recharge.amount_out_of_range"),
        ({"amount_fen": 1000, "provider": "cash"}, 422, "request.invalid"),
        ({"amount_fen": 10.5, "provider": "wechat"}, 422, "request.invalid"),
        ({"amount_fen": 1000, "provider": "alipay"}, 422, "payment.no_payer"),
    ],
)
async def test_a_bad_recharge_is_refused_and_creates_nothing(
    api: Api, payload: dict[str, object], status: int, code: str
) -> None:
    chain = await make_chain()
    member = await _member(chain)

    answer = await api.post("/wallet/recharge", payload, token=member_token(member))

    assert (answer.status, answer.error_code) == (status, code), answer
    assert await Payment.all().count() == 0


async def test_recharge_needs_a_member(api: Api) -> None:
    answer = await api.post("/wallet/recharge", {"amount_fen": 1000, "provider": "wechat"})

    assert answer.status == 401
