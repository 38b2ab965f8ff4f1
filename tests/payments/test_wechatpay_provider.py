"""WeChat Pay providers (v3 and v2, direct and partner) against the sandbox over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from api.payments.providers.base import (
    CodeOrder,
    NoticeKind,
    NotificationRefused,
    ProviderInputError,
    ProviderRefused,
    ProviderUnavailable,
    RefundOrder,
    RefundState,
    TradeState,
)
from api.payments.providers.codepay import settle_code_payment
from api.payments.providers.wechatpay import WechatPayV2, WechatPayV3, v2_sign
from sandbox.keys import wechatpay_api_key, wechatpay_merchant_public_pem

from .wechat_support import (
    APPID,
    DIRECT_MCHID,
    SUB_APPID,
    Receiver,
    direct_merchant,
    new_out_trade_no,
    prepay_order,
    run_receiver,
    v2_direct,
    v2_partner,
    v3_direct,
    v3_partner,
    v3_secrets,
)


@pytest.fixture
async def receiver(sandbox_url: str) -> AsyncIterator[Receiver]:
    async with run_receiver() as running:
        yield running


def _now() -> datetime:
    return datetime.now(UTC)


def _verify_rsa_pay_sign(params: dict[str, str]) -> None:
    key = serialization.load_pem_public_key(wechatpay_merchant_public_pem().encode())
    assert isinstance(key, rsa.RSAPublicKey)
    message = (
        f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    )
    import base64

    key.verify(
        base64.b64decode(params["paySign"]), message.encode(), padding.PKCS1v15(), hashes.SHA256()
    )


async def _pay(player, out_trade_no: str, **body) -> dict:  # type: ignore[no-untyped-def]
    answer = await player.http.post(f"/payments/{out_trade_no}/pay", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def _code(player, behaviour: str = "success", **body) -> str:  # type: ignore[no-untyped-def]
    answer = await player.http.post(
        "/payment-codes", json={"provider": "wechat", "behaviour": behaviour, **body}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["auth_code"]


def _code_order(auth_code: str, amount_fen: int = 880) -> CodeOrder:
    return CodeOrder(
        out_trade_no=new_out_trade_no(),
        amount_fen=amount_fen,
        description="门店消费",
        auth_code=auth_code,
        client_ip="10.0.0.8",
        store_code="S001",
    )


# --- v3 prepay, notification, query, close -------------------------------------------------


async def test_v3_direct_prepay_then_paid_notification_then_query(player, receiver) -> None:
    # given a direct v3 account and a prepaid order
    provider = v3_direct()
    order = prepay_order(receiver.url("hq-wxpay"))
    prepay = await provider.prepay(order)
    assert prepay.client_params["appId"] == APPID
    assert prepay.client_params["package"] == f"prepay_id={prepay.platform_ref}"
    _verify_rsa_pay_sign(prepay.client_params)
    assert (await provider.query(order.out_trade_no)).state == TradeState.NOT_PAID

    # when the consumer pays
    paid = await _pay(player, order.out_trade_no)

    # then the notification verifies and says so, and the query agrees
    assert paid["deliveries"][0]["acknowledged"]
    delivered = receiver.received[0]
    notice = provider.parse_notification(delivered.headers, delivered.body, now=_now())
    assert notice.kind == NoticeKind.PAYMENT
    assert notice.trade is not None
    assert notice.trade.state == TradeState.PAID
    assert notice.trade.amount_fen == order.amount_fen
    assert notice.trade.transaction_id == paid["transaction_id"]
    assert notice.trade.payer is not None
    assert (notice.trade.payer.app_id, notice.trade.payer.value) == (APPID, order.payer.value)
    queried = await provider.query(order.out_trade_no)
    assert queried.state == TradeState.PAID
    assert queried.transaction_id == paid["transaction_id"]
    assert queried.paid_at is not None


async def test_v3_prepay_again_returns_the_same_trade_and_another_amount_is_refused(
    receiver,
) -> None:
    provider = v3_direct()
    order = prepay_order(receiver.url("hq-wxpay"))
    first = await provider.prepay(order)
    again = await provider.prepay(order)
    assert again.platform_ref == first.platform_ref
    other = prepay_order(receiver.url("hq-wxpay"), amount_fen=order.amount_fen + 1)
    other = type(other)(**{**other.__dict__, "out_trade_no": order.out_trade_no})
    with pytest.raises(ProviderRefused) as refused:
        await provider.prepay(other)
    assert refused.value.code == "payment.out_trade_no_reused"


async def test_v3_partner_prepay_uses_sub_appid_and_notification_names_the_sub_merchant(
    player, receiver
) -> None:
    # given a franchisee's account in partner mode with its own mini-program
    provider = v3_partner()
    order = prepay_order(receiver.url("franchise-wxpay"), app_id=SUB_APPID)
    prepay = await provider.prepay(order)
    assert prepay.client_params["appId"] == SUB_APPID
    _verify_rsa_pay_sign(prepay.client_params)
    trade = (await player.http.get(f"/payments/{order.out_trade_no}")).json()
    assert trade["sub_appid"] == SUB_APPID
    assert trade["payer"] == {"sub_openid": order.payer.value}

    # when it is paid
    await _pay(player, order.out_trade_no)

    # then the notification verifies with the account and names the payer in the sub_appid
    delivered = receiver.received[0]
    notice = provider.parse_notification(delivered.headers, delivered.body, now=_now())
    assert notice.trade is not None
    assert notice.trade.payer is not None
    assert notice.trade.payer.app_id == SUB_APPID
    assert notice.trade.payer.value == order.payer.value
    assert (await provider.query(order.out_trade_no)).state == TradeState.PAID
    # and the direct account cannot read it
    with pytest.raises(NotificationRefused):
        v3_direct().parse_notification(delivered.headers, delivered.body, now=_now())


async def test_v3_account_with_platform_certificate_verifies_answers_and_notifications(
    player, receiver
) -> None:
    provider = v3_direct(by_cert=True)
    order = prepay_order(receiver.url("hq-wxpay"))
    await provider.prepay(order)
    await _pay(player, order.out_trade_no)
    delivered = receiver.received[0]
    notice = provider.parse_notification(delivered.headers, delivered.body, now=_now())
    assert notice.trade is not None and notice.trade.state == TradeState.PAID
    # a public-key account does not know the certificate's serial
    with pytest.raises(NotificationRefused) as refused:
        v3_direct().parse_notification(delivered.headers, delivered.body, now=_now())
    assert refused.value.reason == "unknown_serial"


async def test_v3_query_of_an_unknown_trade_is_unknown() -> None:
    trade = await v3_direct().query(new_out_trade_no())
    assert trade.state == TradeState.UNKNOWN
    assert (await v3_partner().query(new_out_trade_no())).state == TradeState.UNKNOWN


async def test_v3_close_an_unpaid_trade_then_it_cannot_be_paid(player, receiver) -> None:
    for provider, key in ((v3_direct(), "hq-wxpay"), (v3_partner(), "franchise-wxpay")):
        order = prepay_order(receiver.url(key), app_id=SUB_APPID)
        await provider.prepay(order)
        await provider.close(order.out_trade_no)
        await provider.close(order.out_trade_no)  # closing twice is fine
        await provider.close(new_out_trade_no())  # so is closing an unknown trade
        assert (await provider.query(order.out_trade_no)).state == TradeState.CLOSED
        answer = await player.http.post(f"/payments/{order.out_trade_no}/pay", json={})
        assert answer.status_code == 409


async def test_v3_closing_a_paid_trade_is_refused(player, receiver) -> None:
    provider = v3_direct()
    order = prepay_order(receiver.url("hq-wxpay"))
    await provider.prepay(order)
    await _pay(player, order.out_trade_no)
    with pytest.raises(ProviderRefused) as refused:
        await provider.close(order.out_trade_no)
    assert refused.value.code == "payment.already_paid"


# --- v3 refunds ------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [v3_direct, v3_partner])
async def test_v3_refund_and_query_refund_and_its_notification(player, receiver, make) -> None:
    # given a paid trade
    provider = make()
    key = provider.merchant.account_key
    order = prepay_order(receiver.url(key), app_id=SUB_APPID)
    await provider.prepay(order)
    await _pay(player, order.out_trade_no)
    refund_order = RefundOrder(
        out_trade_no=order.out_trade_no,
        out_refund_no="R" + order.out_trade_no,
        refund_fen=500,
        total_fen=order.amount_fen,
        reason="退货",
        notify_url=receiver.url(key),
    )

    # when it is refunded (twice: the same refund)
    refund = await provider.refund(refund_order)
    again = await provider.refund(refund_order)

    # then it is processing, then done; the notification verifies
    assert refund.state == RefundState.PROCESSING
    assert (refund.amount_fen, refund.total_fen) == (500, order.amount_fen)
    assert again.refund_id == refund.refund_id
    answer = await player.http.post(
        f"/payments/{order.out_trade_no}/refunds/{refund_order.out_refund_no}/notify", json={}
    )
    assert answer.status_code == 200, answer.text
    notice = provider.parse_notification(
        receiver.received[-1].headers, receiver.received[-1].body, now=_now()
    )
    assert notice.kind == NoticeKind.REFUND
    assert notice.refund is not None
    assert notice.refund.state == RefundState.SUCCESS
    assert notice.refund.out_refund_no == refund_order.out_refund_no
    assert notice.refund.amount_fen == 500
    queried = await provider.query_refund(
        out_trade_no=order.out_trade_no, out_refund_no=refund_order.out_refund_no
    )
    assert queried.state == RefundState.SUCCESS
    assert (await provider.query(order.out_trade_no)).state == TradeState.REFUNDED


async def test_v3_refund_refusals(player, receiver) -> None:
    provider = v3_direct()
    order = prepay_order(receiver.url("hq-wxpay"))
    await provider.prepay(order)

    def refund(amount: int, no: str = "R1" + order.out_trade_no) -> RefundOrder:
        return RefundOrder(order.out_trade_no, no, amount, order.amount_fen)

    with pytest.raises(ProviderRefused) as not_paid:
        await provider.refund(refund(100))
    assert not_paid.value.code == "payment.not_paid"
    await _pay(player, order.out_trade_no)
    with pytest.raises(ProviderRefused) as exceeds:
        await provider.refund(refund(order.amount_fen + 1))
    assert exceeds.value.code == "payment.refund_exceeds"
    await provider.refund(refund(100))
    with pytest.raises(ProviderRefused) as conflict:
        await provider.refund(refund(200))
    assert conflict.value.code == "payment.refund_conflict"
    with pytest.raises(ProviderRefused) as unknown:
        await provider.query_refund(out_trade_no=order.out_trade_no, out_refund_no="nope12345")
    assert unknown.value.code == "payment.refund_not_found"


# --- v3 notifications refused ----------------------------------------------------------------


async def _paid_v3(player, receiver, provider, key: str) -> str:  # type: ignore[no-untyped-def]
    order = prepay_order(receiver.url(key), app_id=SUB_APPID)
    await provider.prepay(order)
    await _pay(player, order.out_trade_no)
    return order.out_trade_no


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("bad_signature", "bad_signature"),
        ("signtest", "signtest"),
        ("stale", "stale"),
        ("replay", "stale"),
        ("unknown_serial", "unknown_serial"),
        ("other_account", "malformed"),
        ("tampered_amount", "bad_signature"),
        ("foreign_appid", "merchant_mismatch"),
    ],
)
@pytest.mark.parametrize("make", [v3_direct, v3_partner])
async def test_v3_forged_notifications_are_refused(player, receiver, make, kind, reason) -> None:
    # given a paid trade whose real notification verifies
    provider = make()
    out_trade_no = await _paid_v3(player, receiver, provider, provider.merchant.account_key)
    real = receiver.received[-1]
    provider.parse_notification(real.headers, real.body, now=_now())

    # when the bad actor posts its forgery
    answer = await player.http.post(f"/payments/{out_trade_no}/forge", json={"kind": kind})
    assert answer.status_code == 200, answer.text

    # then the provider refuses it, for the right reason
    forged = receiver.received[-1]
    assert forged is not real
    with pytest.raises(NotificationRefused) as refused:
        provider.parse_notification(forged.headers, forged.body, now=_now())
    assert refused.value.reason == reason


async def test_v3_notification_from_the_future_is_stale_too(player, receiver) -> None:
    provider = v3_direct()
    await _paid_v3(player, receiver, provider, "hq-wxpay")
    real = receiver.received[-1]
    with pytest.raises(NotificationRefused) as refused:
        provider.parse_notification(real.headers, real.body, now=_now() - timedelta(minutes=6))
    assert refused.value.reason == "stale"


# --- payment codes (v2 micropay, for v2 and v3 accounts) -----------------------------------


@pytest.mark.parametrize("make", [v2_direct, v3_direct, v2_partner, v3_partner])
async def test_code_payment_success(player, make) -> None:
    provider = make()
    order = _code_order(await _code(player, "success"))
    trade = await settle_code_payment(provider, order, wait_s=0.5, poll_s=0.1)
    assert trade.state == TradeState.PAID
    assert trade.amount_fen == order.amount_fen
    assert trade.transaction_id
    assert trade.payer is not None
    assert (await provider.query(order.out_trade_no)).state == TradeState.PAID


@pytest.mark.parametrize("make", [v2_direct, v3_direct])
async def test_code_payment_userpaying_then_paid(player, make) -> None:
    provider = make()
    order = _code_order(await _code(player, "userpaying", confirm_after_s=0.3))
    first = await provider.pay_with_code(order)
    assert first.state == TradeState.USERPAYING
    trade = await settle_code_payment(
        provider,
        _code_order(await _code(player, "userpaying", confirm_after_s=0.3)),
        wait_s=5,
        poll_s=0.1,
    )
    assert trade.state == TradeState.PAID


@pytest.mark.parametrize("make", [v2_direct, v3_direct])
async def test_code_payment_userpaying_then_reversed_on_timeout(player, make) -> None:
    provider = make()
    order = _code_order(await _code(player, "userpaying", confirm_after_s=None))
    trade = await settle_code_payment(provider, order, wait_s=0.3, poll_s=0.1)
    assert trade.state == TradeState.CLOSED
    at_platform = (await player.http.get(f"/payments/{order.out_trade_no}")).json()
    assert at_platform["state"] == "REVOKED"
    assert (await provider.query(order.out_trade_no)).state == TradeState.CLOSED


@pytest.mark.parametrize("make", [v2_direct, v3_direct])
async def test_code_payment_fail_and_invalid_code_are_failed(player, make) -> None:
    provider = make()
    failed = await settle_code_payment(provider, _code_order(await _code(player, "fail")))
    assert failed.state == TradeState.FAILED
    assert "NOTENOUGH" in failed.message
    invalid = await provider.pay_with_code(_code_order("134567890123456789"))
    assert invalid.state == TradeState.FAILED


async def test_code_payment_on_a_v3_account_without_api_key_is_incomplete(player) -> None:
    provider = WechatPayV3(direct_merchant(), v3_secrets(DIRECT_MCHID, with_api_key=False))
    with pytest.raises(ProviderInputError) as refused:
        await provider.pay_with_code(_code_order(await _code(player)))
    assert refused.value.code == "payment_account.incomplete"


async def test_settle_code_payment_polls_on_its_schedule_and_reverses() -> None:
    # given a provider whose payer never confirms
    calls: list[str] = []
    slept: list[float] = []

    class Stuck:
        async def pay_with_code(self, order):  # type: ignore[no-untyped-def]
            calls.append("pay")
            from api.payments.providers.base import Trade

            return Trade(order.out_trade_no, TradeState.USERPAYING)

        async def query(self, out_trade_no):  # type: ignore[no-untyped-def]
            calls.append("query")
            if calls.count("query") == 2:
                raise ProviderUnavailable("blip")
            from api.payments.providers.base import Trade

            return Trade(out_trade_no, TradeState.USERPAYING)

        async def reverse(self, out_trade_no):  # type: ignore[no-untyped-def]
            calls.append("reverse")

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    # when it is settled with 10 s of patience, polling every 3 s
    trade = await settle_code_payment(
        Stuck(),  # type: ignore[arg-type]
        _code_order("134567890123456789"),
        wait_s=10,
        poll_s=3,
        sleep=sleep,
    )

    # then it polled 4 times (3+3+3+1 s) and reversed
    assert slept == [3, 3, 3, 1]
    assert calls == ["pay", "query", "query", "query", "query", "reverse"]
    assert trade.state == TradeState.CLOSED


# --- v2 JSAPI, notifications, refunds --------------------------------------------------------


@pytest.mark.parametrize("sign_type", ["MD5", "HMAC-SHA256"])
async def test_v2_prepay_and_signed_notification(player, receiver, sign_type) -> None:
    # given a v2 account signing with sign_type
    provider = v2_direct(sign_type)
    order = prepay_order(receiver.url("hq-wxpay-v2"))
    prepay = await provider.prepay(order)
    params = prepay.client_params
    assert params["signType"] == sign_type
    expected = v2_sign(
        {k: v for k, v in params.items() if k != "paySign"},
        wechatpay_api_key(DIRECT_MCHID),
        sign_type,
    )
    assert params["paySign"] == expected

    # when it is paid
    paid = await _pay(player, order.out_trade_no)

    # then the XML notification is signed the same way and verifies
    delivered = receiver.received[0]
    assert b"<xml>" in delivered.body
    assert (b"HMAC-SHA256" in delivered.body) == (sign_type == "HMAC-SHA256")
    notice = provider.parse_notification(delivered.headers, delivered.body, now=_now())
    assert notice.notification_id == paid["transaction_id"]
    assert notice.trade is not None
    assert notice.trade.amount_fen == order.amount_fen
    assert notice.trade.payer is not None and notice.trade.payer.value == order.payer.value
    assert (await provider.query(order.out_trade_no)).state == TradeState.PAID


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("bad_signature", "bad_signature"),
        ("other_account", "bad_signature"),
        ("tampered_amount", "bad_signature"),
        ("foreign_appid", "merchant_mismatch"),
    ],
)
async def test_v2_forged_notifications_are_refused(player, receiver, kind, reason) -> None:
    provider = v2_direct("HMAC-SHA256")
    order = prepay_order(receiver.url("hq-wxpay-v2"))
    await provider.prepay(order)
    await _pay(player, order.out_trade_no)
    answer = await player.http.post(f"/payments/{order.out_trade_no}/forge", json={"kind": kind})
    assert answer.status_code == 200, answer.text
    forged = receiver.received[-1]
    with pytest.raises(NotificationRefused) as refused:
        provider.parse_notification(forged.headers, forged.body, now=_now())
    assert refused.value.reason == reason


async def test_v2_partner_prepay_close_and_query(player, receiver) -> None:
    provider = v2_partner()
    order = prepay_order(receiver.url("franchise-wxpay-v2"), app_id=SUB_APPID)
    prepay = await provider.prepay(order)
    assert prepay.client_params["appId"] == SUB_APPID
    await provider.close(order.out_trade_no)
    assert (await provider.query(order.out_trade_no)).state == TradeState.CLOSED
    assert (await provider.query(new_out_trade_no())).state == TradeState.UNKNOWN


async def test_v2_refund_query_and_encrypted_refund_notification(player, receiver) -> None:
    provider = v2_direct()
    order = prepay_order(receiver.url("hq-wxpay-v2"))
    await provider.prepay(order)
    await _pay(player, order.out_trade_no)
    refund_order = RefundOrder(
        order.out_trade_no, "R" + order.out_trade_no, 300, order.amount_fen, "退货"
    )
    refund = await provider.refund(refund_order)
    assert refund.state == RefundState.PROCESSING
    answer = await player.http.post(
        f"/payments/{order.out_trade_no}/refunds/{refund_order.out_refund_no}/notify", json={}
    )
    assert answer.status_code == 200
    delivered = receiver.received[-1]
    assert b"req_info" in delivered.body
    notice = provider.parse_notification(delivered.headers, delivered.body, now=_now())
    assert notice.kind == NoticeKind.REFUND
    assert notice.refund is not None
    assert (notice.refund.amount_fen, notice.refund.state) == (300, RefundState.SUCCESS)
    queried = await provider.query_refund(
        out_trade_no=order.out_trade_no, out_refund_no=refund_order.out_refund_no
    )
    assert queried.state == RefundState.SUCCESS
    # another account's key cannot read it
    with pytest.raises(NotificationRefused):
        v2_partner().parse_notification(delivered.headers, delivered.body, now=_now())


# --- transport failures ------------------------------------------------------------------------


async def test_an_unreachable_platform_is_unavailable(monkeypatch) -> None:
    provider = v3_direct()
    provider._client._core._gate_way = "http://127.0.0.1:9"
    with pytest.raises(ProviderUnavailable):
        await provider.query(new_out_trade_no())
    v2 = v2_direct()
    v2._client.API_BASE_URL = "http://127.0.0.1:9/"
    with pytest.raises(ProviderUnavailable):
        await v2.query(new_out_trade_no())


def test_accounts_missing_secrets_are_refused() -> None:
    with pytest.raises(ProviderInputError):
        WechatPayV3(direct_merchant(), {"api_v3_key": "x" * 32})
    with pytest.raises(ProviderInputError):
        WechatPayV2(direct_merchant(), {})
