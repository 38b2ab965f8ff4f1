"""The sandbox playing Alipay's trade APIs, reached with python-alipay-sdk as a merchant would:
answers signed with the sandbox's Alipay key, trades kept per seller, bills, app-auth tokens."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from alipay.exceptions import AliPayException

from api.core.alipay import AlipayCredentials, build_client, error_fields
from config.settings import Settings
from sandbox import keys
from sandbox.alipay_trade import ALIPAY
from sandbox.payments import SandboxTrade
from tests.payments.alipay_support import (
    APP_ID,
    new_app_auth_token,
    new_buyer_id,
    new_out_trade_no,
    payment_code,
)
from tests.support.player import Player

pytestmark = pytest.mark.stack_independent

CHINA = timezone(timedelta(hours=8))


def credentials(token: str | None = None) -> AlipayCredentials:
    return AlipayCredentials(
        app_id=APP_ID,
        app_private_key_pem=keys.alipay_app_private_pem(),
        alipay_public_key_pem=keys.alipay_platform_public_pem(),
        app_auth_token=token,
    )


async def call(
    settings: Settings, method: str, biz: dict[str, Any], *, token: str | None = None, **extra: str
) -> dict[str, Any]:
    """One gateway call through the SDK, its answer's signature verified by the SDK."""
    client = build_client(credentials(token), settings.alipay_gateway)
    result: dict[str, Any] = await asyncio.to_thread(client.server_api, method, biz, **extra)
    return result


async def created(
    settings: Settings, notify_url: str, amount: str = "10.00", *, token: str | None = None
) -> str:
    out_trade_no = new_out_trade_no()
    answer = await call(
        settings,
        "alipay.trade.create",
        {
            "out_trade_no": out_trade_no,
            "total_amount": amount,
            "subject": "会员充值",
            "buyer_id": new_buyer_id(),
        },
        notify_url=notify_url,
        token=token,
    )
    assert answer["code"] == "10000", answer
    return out_trade_no


async def test_trade_create_needs_a_buyer(settings: Settings, sandbox_url: str) -> None:
    answer = await call(
        settings,
        "alipay.trade.create",
        {"out_trade_no": new_out_trade_no(), "total_amount": "1.00", "subject": "x"},
    )

    assert (answer["code"], answer["sub_code"]) == ("40004", "ACQ.INVALID_PARAMETER")


@pytest.mark.parametrize("amount", ["0", "-1.00", "1.001", "abc"])
async def test_trade_create_refuses_amounts_that_are_not_whole_fen(
    settings: Settings, sandbox_url: str, amount: str
) -> None:
    answer = await call(
        settings,
        "alipay.trade.create",
        {
            "out_trade_no": new_out_trade_no(),
            "total_amount": amount,
            "subject": "x",
            "buyer_id": new_buyer_id(),
        },
    )

    assert answer["sub_code"] == "ACQ.INVALID_PARAMETER"


async def test_a_payment_code_is_28_digits_starting_25_to_30(player: Player) -> None:
    codes = [(await payment_code(player.http))["auth_code"] for _ in range(5)]

    for code in codes:
        assert re.fullmatch(r"(2[5-9]|30)\d{26}", code), code


async def test_trade_pay_answers_10003_while_the_payer_confirms(
    settings: Settings, player: Player
) -> None:
    code = await payment_code(player.http, behaviour="userpaying", confirm_after_s=None)
    out_trade_no = new_out_trade_no()

    answer = await call(
        settings,
        "alipay.trade.pay",
        {
            "out_trade_no": out_trade_no,
            "scene": "bar_code",
            "auth_code": code["auth_code"],
            "subject": "门店消费",
            "total_amount": "8.80",
        },
    )
    query = await call(settings, "alipay.trade.query", {"out_trade_no": out_trade_no})

    assert (answer["code"], answer["msg"]) == ("10003", "ORDER_SUCCESS_PAY_INPROCESS")
    assert answer["buyer_user_id"] == code["payer"]["buyer_id"]
    assert query["trade_status"] == "WAIT_BUYER_PAY"


async def test_the_bill_lists_the_days_payments_and_refunds(
    settings: Settings, player: Player
) -> None:
    token = new_app_auth_token()  # a franchisee of its own: a seller with only this trade
    account_key = "ali-bill-" + new_out_trade_no()
    notify_url = f"http://127.0.0.1:9/callbacks/alipay/{account_key}"
    out_trade_no = await created(settings, notify_url, "12.30", token=token)
    await player.http.post(f"/payments/{out_trade_no}/pay", json={"retry_scale": 0})
    refund = await call(
        settings,
        "alipay.trade.refund",
        {"out_trade_no": out_trade_no, "refund_amount": "2.30", "out_request_no": "R1"},
        token=token,
    )
    today = datetime.now(UTC).astimezone(CHINA).date().isoformat()

    link = await call(
        settings,
        "alipay.data.dataservice.bill.downloadurl.query",
        {"bill_type": "trade", "bill_date": today},
        token=token,
    )
    async with httpx.AsyncClient() as http:
        bill = await http.get(link["bill_download_url"])

    assert refund["fund_change"] == "Y"
    assert bill.status_code == 200
    assert bill.headers["content-type"].startswith("text/csv")
    lines = bill.text.splitlines()
    assert lines[0] == "#支付宝业务明细查询"
    assert lines[1] == f"#账号：[{keys.alipay_seller_id(APP_ID, token)}]"
    rows = list(
        csv.reader(io.StringIO("\n".join(line for line in lines if not line.startswith("#"))))
    )
    header, *body = rows
    assert header[:3] == ["支付宝交易号", "商户订单号", "业务类型"]
    assert [(row[1], row[2], row[11], row[12], row[21]) for row in body] == [
        (out_trade_no, "交易", "12.30", "12.30", ""),
        (out_trade_no, "退款", "12.30", "-2.30", "R1"),
    ]
    assert "#交易合计：1笔，商家实收：12.30元，商家优惠：0.00元" in lines
    assert "#退款合计：1笔，商家实收：-2.30元，商家优惠：0.00元" in lines
    same = await player.http.get(f"/bills/alipay/{account_key}/{today}")
    assert same.text.splitlines()[:-1] == lines[:-1]  # all but the export time


async def test_a_seller_without_trades_has_no_bill(settings: Settings, sandbox_url: str) -> None:
    answer = await call(
        settings,
        "alipay.data.dataservice.bill.downloadurl.query",
        {"bill_type": "trade", "bill_date": "2020-01-01"},
        token=new_app_auth_token(),
    )

    assert answer["sub_code"] == "isp.bill_not_exist"


async def test_app_auth_query_names_the_franchisees_seller_until_revoked(
    settings: Settings, player: Player
) -> None:
    token = new_app_auth_token()

    valid = await call(
        settings, "alipay.open.auth.token.app.query", {"app_auth_token": token}, token=token
    )
    await player.http.post("/alipay/app-auth/revoked", json={"app_auth_token": token})
    revoked = await call(
        settings, "alipay.open.auth.token.app.query", {"app_auth_token": token}, token=token
    )

    assert (valid["status"], valid["user_id"]) == ("valid", keys.alipay_seller_id(APP_ID, token))
    assert valid["auth_app_id"] == APP_ID
    assert revoked["status"] == "invalid"


async def test_a_revoked_token_cannot_trade(settings: Settings, player: Player) -> None:
    token = new_app_auth_token()
    await player.http.post("/alipay/app-auth/revoked", json={"app_auth_token": token})

    with pytest.raises(AliPayException) as refused:
        await call(settings, "alipay.trade.query", {"out_trade_no": "x"}, token=token)

    assert error_fields(refused.value) == ("20001", "aop.invalid-app-auth-token")


async def test_revoking_needs_a_token(player: Player) -> None:
    answer = await player.http.post("/alipay/app-auth/revoked", json={})

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "sandbox.invalid"


async def test_alipay_forges_only_its_own_kinds(settings: Settings, player: Player) -> None:
    out_trade_no = await created(settings, "http://127.0.0.1:9/callbacks/alipay/x")

    answer = await player.http.post(f"/payments/{out_trade_no}/forge", json={"kind": "signtest"})

    assert answer.status_code == 400


async def test_a_notification_is_signed_over_alipays_string_to_sign(
    settings: Settings, player: Player
) -> None:
    out_trade_no = await created(settings, "http://127.0.0.1:9/callbacks/alipay/x", "0.01")
    trade = (await player.http.get(f"/payments/{out_trade_no}")).json()
    paid = SandboxTrade.from_dict({**trade, "state": "SUCCESS", "paid_at": trade["created_at"]})

    headers, body = ALIPAY.paid_notification(paid)

    params = dict(parse_qsl(body.decode()))
    assert headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert (params["sign_type"], params["notify_type"]) == ("RSA2", "trade_status_sync")
    assert params["total_amount"] == "0.01"
    assert params["seller_id"] == keys.alipay_seller_id(APP_ID)
    assert params["trade_no"] == trade["transaction_id"]
    signed = "&".join(
        f"{k}={v}" for k, v in sorted(params.items()) if k not in ("sign", "sign_type")
    )
    assert keys.rsa2_verify(signed, params["sign"], keys.alipay_platform_public_pem())
    assert ALIPAY.acknowledged(200, b"success")
    assert not ALIPAY.acknowledged(200, b"SUCCESS")
    assert not ALIPAY.acknowledged(200, b"success\n")
