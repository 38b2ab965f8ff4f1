"""AlipayProvider against the sandbox over real HTTP: every method, direct and ISV."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from api.payments.providers import alipay as alipay_module
from api.payments.providers.alipay import AlipayProvider
from api.payments.providers.base import (
    CodeOrder,
    Merchant,
    Payer,
    ProviderInputError,
    ProviderRefused,
    ProviderUnavailable,
    RefundOrder,
    RefundState,
    TradeState,
)
from sandbox import keys
from tests.support.player import Player

from .alipay_support import (
    APP_ID,
    alipay_secrets,
    direct_provider,
    isv_provider,
    new_app_auth_token,
    new_buyer_id,
    new_out_trade_no,
    payment_code,
    prepay_order,
)

NOTIFY_URL = "http://127.0.0.1:9/callbacks/alipay/ali-direct"


def code_order(
    auth_code: str, amount_fen: int = 2500, out_trade_no: str | None = None
) -> CodeOrder:
    return CodeOrder(
        out_trade_no=out_trade_no or new_out_trade_no(),
        amount_fen=amount_fen,
        description="门店消费 Till sale",
        auth_code=auth_code,
        client_ip="10.0.0.8",
        store_code="SH001",
    )


async def sandbox_trade(player: Player, out_trade_no: str) -> dict:
    answer = await player.http.get(f"/payments/{out_trade_no}")
    assert answer.status_code == 200, answer.text
    return answer.json()


async def paid_code_trade(player: Player, provider: AlipayProvider, amount_fen: int = 1000):
    code = await payment_code(player.http)
    trade = await provider.pay_with_code(code_order(code["auth_code"], amount_fen))
    assert trade.state is TradeState.PAID
    return trade


# --- the account --------------------------------------------------------------------------------


def test_an_account_without_a_seller_id_is_incomplete() -> None:
    merchant = Merchant(account_key="a", mode="direct", mch_id="", app_id=APP_ID)
    with pytest.raises(ProviderInputError) as refused:
        AlipayProvider(merchant, alipay_secrets())
    assert refused.value.code == "payment_account.incomplete"


def test_an_isv_account_without_its_token_is_incomplete() -> None:
    merchant = Merchant(
        account_key="a", mode="isv", mch_id=keys.alipay_seller_id(APP_ID), app_id=APP_ID
    )
    with pytest.raises(ProviderInputError) as refused:
        AlipayProvider(merchant, alipay_secrets())
    assert refused.value.code == "payment_account.incomplete"


def test_an_account_whose_key_does_not_parse_is_invalid() -> None:
    merchant = Merchant(
        account_key="a", mode="direct", mch_id=keys.alipay_seller_id(APP_ID), app_id=APP_ID
    )
    with pytest.raises(ProviderInputError) as refused:
        AlipayProvider(merchant, {**alipay_secrets(), "private_key": "not a key"})
    assert refused.value.code == "payment_account.invalid"


# --- prepay (alipay.trade.create) ------------------------------------------------------------


async def test_prepay_creates_the_trade_for_the_buyer_and_returns_its_trade_no(
    player: Player,
) -> None:
    provider = direct_provider()
    buyer = new_buyer_id()
    order = prepay_order(NOTIFY_URL, amount_fen=1230, buyer=buyer)

    prepay = await provider.prepay(order)

    assert prepay.client_params == {"trade_no": prepay.platform_ref}
    trade = await sandbox_trade(player, order.out_trade_no)
    assert trade["transaction_id"] == prepay.platform_ref
    assert trade["amount_fen"] == 1230
    assert trade["payer"] == {"buyer_id": buyer}
    assert trade["seller_id"] == keys.alipay_seller_id(APP_ID)
    assert trade["notify_url"] == NOTIFY_URL
    assert (await provider.query(order.out_trade_no)).state is TradeState.NOT_PAID


async def test_prepay_with_an_open_id_names_the_buyer_by_open_id(player: Player) -> None:
    provider = direct_provider()
    order = prepay_order(NOTIFY_URL, buyer="074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5")

    await provider.prepay(order)

    trade = await sandbox_trade(player, order.out_trade_no)
    assert trade["payer"] == {"buyer_open_id": "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"}


async def test_prepay_again_returns_the_same_trade_and_another_amount_is_refused(
    sandbox_url: str,
) -> None:
    provider = direct_provider()
    order = prepay_order(NOTIFY_URL, amount_fen=500)
    first = await provider.prepay(order)

    again = await provider.prepay(order)
    with pytest.raises(ProviderRefused) as refused:
        await provider.prepay(
            prepay_order(
                NOTIFY_URL, amount_fen=501, buyer=order.payer.value, out_trade_no=order.out_trade_no
            )
        )

    assert again.platform_ref == first.platform_ref
    assert refused.value.code == "payment.trade_conflict"


async def test_prepay_needs_an_alipay_payer(sandbox_url: str) -> None:
    order = prepay_order(NOTIFY_URL)
    wechat_payer = Payer(kind="wechat_openid", app_id="wx0123456789abcdef", value="o" + "a" * 27)
    with pytest.raises(ProviderInputError) as refused:
        await direct_provider().prepay(order.__class__(**{**order.__dict__, "payer": wechat_payer}))
    assert refused.value.code == "payment.payer_invalid"


async def test_isv_trades_are_the_franchisees_and_invisible_to_others(player: Player) -> None:
    token = new_app_auth_token()
    franchisee = isv_provider(token)
    order = prepay_order(NOTIFY_URL)

    prepay = await franchisee.prepay(order)

    trade = await sandbox_trade(player, order.out_trade_no)
    assert (
        trade["seller_id"] == keys.alipay_seller_id(APP_ID, token) != keys.alipay_seller_id(APP_ID)
    )
    assert trade["app_auth_token"] == token
    seen = await franchisee.query(order.out_trade_no)
    assert (seen.state, seen.transaction_id) == (TradeState.NOT_PAID, prepay.platform_ref)
    assert (await direct_provider().query(order.out_trade_no)).state is TradeState.UNKNOWN
    other = isv_provider(new_app_auth_token())
    assert (await other.query(order.out_trade_no)).state is TradeState.UNKNOWN


# --- query ------------------------------------------------------------------------------------


async def test_query_reads_a_paid_trade_and_an_unknown_one(player: Player) -> None:
    provider = direct_provider()
    buyer = new_buyer_id()
    order = prepay_order(NOTIFY_URL, amount_fen=1999, buyer=buyer)
    prepay = await provider.prepay(order)
    await player.http.post(f"/payments/{order.out_trade_no}/pay", json={"retry_scale": 0})

    trade = await provider.query(order.out_trade_no)

    assert trade.state is TradeState.PAID
    assert trade.amount_fen == 1999
    assert trade.transaction_id == prepay.platform_ref
    assert trade.payer == Payer(kind="alipay_user", app_id=APP_ID, value=buyer)
    assert trade.paid_at is not None and trade.paid_at.tzinfo is not None
    assert (await provider.query(new_out_trade_no())).state is TradeState.UNKNOWN


# --- payment codes (alipay.trade.pay) ---------------------------------------------------------


async def test_a_payment_code_pays_at_once(player: Player) -> None:
    provider = direct_provider()
    code = await payment_code(player.http)

    trade = await provider.pay_with_code(code_order(code["auth_code"], 2500))

    assert trade.state is TradeState.PAID
    assert trade.amount_fen == 2500
    assert trade.payer is not None and trade.payer.value == code["payer"]["buyer_id"]
    assert trade.transaction_id and trade.paid_at is not None
    queried = await provider.query(trade.out_trade_no)
    assert (queried.state, queried.transaction_id) == (TradeState.PAID, trade.transaction_id)


async def test_a_payment_code_in_isv_mode_pays_the_franchisee(player: Player) -> None:
    token = new_app_auth_token()
    code = await payment_code(player.http)

    trade = await isv_provider(token).pay_with_code(code_order(code["auth_code"]))

    assert trade.state is TradeState.PAID
    stored = await sandbox_trade(player, trade.out_trade_no)
    assert stored["seller_id"] == keys.alipay_seller_id(APP_ID, token)


async def test_a_payer_confirming_is_userpaying_then_paid(player: Player) -> None:
    provider = direct_provider()
    code = await payment_code(player.http, behaviour="userpaying", confirm_after_s=1.5)

    trade = await provider.pay_with_code(code_order(code["auth_code"]))
    waiting = await provider.query(trade.out_trade_no)
    states = [waiting.state]
    for _ in range(40):
        await asyncio.sleep(0.1)
        paid = await provider.query(trade.out_trade_no)
        states.append(paid.state)
        if paid.state is TradeState.PAID:
            break

    assert trade.state is TradeState.USERPAYING
    assert waiting.state is TradeState.NOT_PAID  # Alipay: WAIT_BUYER_PAY
    assert states[-1] is TradeState.PAID, states
    assert paid.transaction_id == trade.transaction_id


async def test_a_payer_who_never_confirms_is_cancelled(player: Player) -> None:
    provider = direct_provider()
    code = await payment_code(player.http, behaviour="userpaying", confirm_after_s=None)
    trade = await provider.pay_with_code(code_order(code["auth_code"]))

    await provider.reverse(trade.out_trade_no)

    assert trade.state is TradeState.USERPAYING
    assert (await provider.query(trade.out_trade_no)).state is TradeState.CLOSED
    assert (await sandbox_trade(player, trade.out_trade_no))["state"] == "REVOKED"


async def test_a_declined_payment_code_fails_with_alipays_words(player: Player) -> None:
    code = await payment_code(player.http, behaviour="fail")

    trade = await direct_provider().pay_with_code(code_order(code["auth_code"]))

    assert trade.state is TradeState.FAILED
    assert "ACQ.BUYER_BALANCE_NOT_ENOUGH" in trade.message


async def test_an_unknown_or_used_payment_code_fails(player: Player) -> None:
    provider = direct_provider()
    code = await payment_code(player.http)
    await provider.pay_with_code(code_order(code["auth_code"]))

    used = await provider.pay_with_code(code_order(code["auth_code"]))
    unknown = await provider.pay_with_code(code_order("281234567890123456789012345678"[:28]))

    for trade in (used, unknown):
        assert trade.state is TradeState.FAILED
        assert "ACQ.PAYMENT_AUTH_CODE_INVALID" in trade.message


async def test_charging_a_paid_trade_again_answers_the_paid_trade(player: Player) -> None:
    provider = direct_provider()
    first = await paid_code_trade(player, provider, 1000)
    code = await payment_code(player.http)

    again = await provider.pay_with_code(code_order(code["auth_code"], 1000, first.out_trade_no))

    assert (again.state, again.transaction_id) == (TradeState.PAID, first.transaction_id)


# --- close and reverse ------------------------------------------------------------------------


async def test_close_closes_an_unpaid_trade_and_is_quiet_when_repeated_or_unknown(
    player: Player,
) -> None:
    provider = direct_provider()
    order = prepay_order(NOTIFY_URL)
    await provider.prepay(order)

    await provider.close(order.out_trade_no)
    await provider.close(order.out_trade_no)
    await provider.close(new_out_trade_no())

    assert (await provider.query(order.out_trade_no)).state is TradeState.CLOSED
    paying = await player.http.post(f"/payments/{order.out_trade_no}/pay", json={})
    assert paying.status_code == 409


async def test_closing_a_paid_trade_is_refused(player: Player) -> None:
    provider = direct_provider()
    trade = await paid_code_trade(player, provider)

    with pytest.raises(ProviderRefused) as refused:
        await provider.close(trade.out_trade_no)

    assert refused.value.code == "payment.already_paid"


async def test_reversing_a_paid_code_trade_gives_the_money_back(player: Player) -> None:
    provider = direct_provider()
    trade = await paid_code_trade(player, provider)

    await provider.reverse(trade.out_trade_no)
    await provider.reverse(new_out_trade_no())

    assert (await provider.query(trade.out_trade_no)).state is TradeState.REFUNDED


# --- refunds ----------------------------------------------------------------------------------


def refund_order(
    out_trade_no: str, out_refund_no: str, refund_fen: int, total_fen: int = 1000
) -> RefundOrder:
    return RefundOrder(
        out_trade_no=out_trade_no,
        out_refund_no=out_refund_no,
        refund_fen=refund_fen,
        total_fen=total_fen,
        reason="顾客退货",
    )


async def test_a_refund_is_done_at_once_and_the_same_request_again_is_the_same_refund(
    player: Player,
) -> None:
    provider = direct_provider()
    trade = await paid_code_trade(player, provider, 1000)

    first = await provider.refund(refund_order(trade.out_trade_no, "R1", 300))
    again = await provider.refund(refund_order(trade.out_trade_no, "R1", 300))
    queried = await provider.query_refund(out_trade_no=trade.out_trade_no, out_refund_no="R1")

    assert (first.state, first.amount_fen) == (RefundState.SUCCESS, 300)
    assert (again.state, again.amount_fen) == (RefundState.SUCCESS, 300)
    assert (queried.state, queried.amount_fen, queried.total_fen) == (
        RefundState.SUCCESS,
        300,
        1000,
    )
    assert (await sandbox_trade(player, trade.out_trade_no))["refunded_fen"] == 300
    assert (await provider.query(trade.out_trade_no)).state is TradeState.PAID


async def test_refunding_more_than_was_paid_is_refused(player: Player) -> None:
    provider = direct_provider()
    trade = await paid_code_trade(player, provider, 1000)
    await provider.refund(refund_order(trade.out_trade_no, "R1", 600))

    with pytest.raises(ProviderRefused) as refused:
        await provider.refund(refund_order(trade.out_trade_no, "R2", 401))
    await provider.refund(refund_order(trade.out_trade_no, "R3", 400))

    assert refused.value.code == "payment.refund_exceeds"
    assert (await sandbox_trade(player, trade.out_trade_no))["refunded_fen"] == 1000
    assert (await provider.query(trade.out_trade_no)).state is TradeState.REFUNDED


async def test_refunds_of_unpaid_and_unknown_trades_are_refused(sandbox_url: str) -> None:
    provider = direct_provider()
    order = prepay_order(NOTIFY_URL)
    await provider.prepay(order)

    with pytest.raises(ProviderRefused) as unpaid:
        await provider.refund(refund_order(order.out_trade_no, "R1", 100))
    with pytest.raises(ProviderRefused) as unknown:
        await provider.refund(refund_order(new_out_trade_no(), "R1", 100))

    assert unpaid.value.code == "payment.not_paid"
    assert unknown.value.code == "payment.trade_not_found"


async def test_a_refund_alipay_never_made_queries_as_failed(player: Player) -> None:
    provider = direct_provider()
    trade = await paid_code_trade(player, provider)

    refund = await provider.query_refund(out_trade_no=trade.out_trade_no, out_refund_no="nope")

    assert (refund.state, refund.amount_fen) == (RefundState.FAILED, 0)


async def test_isv_refunds_work_on_the_franchisees_trade(player: Player) -> None:
    franchisee = isv_provider(new_app_auth_token())
    trade = await paid_code_trade(player, franchisee, 800)

    refund = await franchisee.refund(refund_order(trade.out_trade_no, "R1", 800, 800))
    with pytest.raises(ProviderRefused) as elsewhere:
        await direct_provider().refund(refund_order(trade.out_trade_no, "R2", 1, 800))

    assert refund.state is RefundState.SUCCESS
    assert elsewhere.value.code == "payment.trade_not_found"


# --- failures ---------------------------------------------------------------------------------


async def test_a_revoked_franchisee_token_is_refused_as_the_account(player: Player) -> None:
    token = new_app_auth_token()
    await player.http.post("/alipay/app-auth/revoked", json={"app_auth_token": token})

    with pytest.raises(ProviderRefused) as refused:
        await isv_provider(token).prepay(prepay_order(NOTIFY_URL))

    assert refused.value.code == "payment.account_refused"


async def test_an_answer_not_signed_by_the_configured_alipay_key_is_unavailable(
    sandbox_url: str,
) -> None:
    merchant = Merchant(
        account_key="a", mode="direct", mch_id=keys.alipay_seller_id(APP_ID), app_id=APP_ID
    )
    provider = AlipayProvider(
        merchant, {**alipay_secrets(), "alipay_public_key": keys.alipay_app_public_pem()}
    )

    with pytest.raises(ProviderUnavailable):
        await provider.query(new_out_trade_no())


async def test_an_unreachable_gateway_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        alipay_module,
        "get_settings",
        lambda: SimpleNamespace(alipay_gateway="http://127.0.0.1:9/gateway.do"),
    )
    provider = direct_provider()

    with pytest.raises(ProviderUnavailable):
        await provider.pay_with_code(code_order("281234567890123456789012345678"[:28]))
