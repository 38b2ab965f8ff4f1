"""The sandbox as WeChat Pay, seen from outside: signatures both ways, deliveries and retries,
payment codes, bills and the onboarding check."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from wechatpayv3.utils import build_authorization, load_private_key

from api.payments.providers.base import RefundOrder
from sandbox.keys import (
    WECHATPAY_MERCHANT_SERIAL,
    WECHATPAY_PUBLIC_KEY_ID,
    wechatpay_api_v3_key,
    wechatpay_merchant_private_pem,
    wechatpay_platform_cert_pem,
    wechatpay_platform_cert_serial,
    wechatpay_platform_public_pem,
)
from sandbox.wechatpay import RETRY_SCHEDULE_S
from tests.payments.wechat_support import (
    DIRECT_MCHID,
    Receiver,
    new_out_trade_no,
    prepay_order,
    run_receiver,
    v3_direct,
)

pytestmark = pytest.mark.stack_independent

CHINA = timezone(timedelta(hours=8))


@pytest.fixture
async def receiver(sandbox_url: str) -> AsyncIterator[Receiver]:
    async with run_receiver() as running:
        yield running


@pytest.fixture
async def wxpay(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{sandbox_url}/wechatpay", timeout=10) as http:
        yield http


def _signed_headers(method: str, path: str, body: str = "") -> dict[str, str]:
    authorization = build_authorization(
        path,
        method,
        DIRECT_MCHID,
        WECHATPAY_MERCHANT_SERIAL,
        load_private_key(wechatpay_merchant_private_pem()),
        data=body or None,
    )
    return {"Authorization": authorization, "Content-Type": "application/json"}


def _platform_verifies(answer: httpx.Response) -> bool:
    key = serialization.load_pem_public_key(wechatpay_platform_public_pem().encode())
    assert isinstance(key, rsa.RSAPublicKey)
    h = answer.headers
    message = f"{h['Wechatpay-Timestamp']}\n{h['Wechatpay-Nonce']}\n{answer.text}\n"
    try:
        key.verify(
            base64.b64decode(h["Wechatpay-Signature"]),
            message.encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except Exception:
        return False
    return True


async def test_v3_requests_must_carry_the_merchants_signature(wxpay) -> None:
    path = f"/v3/pay/transactions/out-trade-no/{new_out_trade_no()}?mchid={DIRECT_MCHID}"
    unsigned = await wxpay.get(path)
    assert unsigned.status_code == 401
    assert unsigned.json()["code"] == "SIGN_ERROR"
    headers = _signed_headers("GET", path)
    tampered = await wxpay.get(path.replace(DIRECT_MCHID, "1900000999"), headers=headers)
    assert tampered.status_code == 401
    signed = await wxpay.get(path, headers=headers)
    assert signed.status_code == 404
    assert signed.json()["code"] == "ORDER_NOT_EXIST"
    assert signed.headers["Wechatpay-Serial"] == wechatpay_platform_cert_serial()
    assert _platform_verifies(signed)


async def test_v3_answers_use_the_public_key_id_when_the_merchant_names_it(wxpay) -> None:
    path = f"/v3/pay/transactions/out-trade-no/{new_out_trade_no()}?mchid={DIRECT_MCHID}"
    headers = {**_signed_headers("GET", path), "Wechatpay-Serial": WECHATPAY_PUBLIC_KEY_ID}
    answer = await wxpay.get(path, headers=headers)
    assert answer.headers["Wechatpay-Serial"] == WECHATPAY_PUBLIC_KEY_ID
    assert _platform_verifies(answer)


async def test_v3_certificates_are_encrypted_with_the_api_v3_key(wxpay) -> None:
    answer = await wxpay.get("/v3/certificates", headers=_signed_headers("GET", "/v3/certificates"))
    assert answer.status_code == 200
    item = answer.json()["data"][0]
    sealed = item["encrypt_certificate"]
    pem = AESGCM(wechatpay_api_v3_key(DIRECT_MCHID).encode()).decrypt(
        sealed["nonce"].encode(),
        base64.b64decode(sealed["ciphertext"]),
        sealed["associated_data"].encode(),
    )
    assert pem.decode() == wechatpay_platform_cert_pem()
    serial = format(x509.load_pem_x509_certificate(pem).serial_number, "X")
    assert item["serial_no"] == serial == wechatpay_platform_cert_serial()


async def test_pay_delivers_n_times_concurrently_with_one_transaction_id(player, receiver) -> None:
    provider = v3_direct()
    order = prepay_order(receiver.url("hq-wxpay"))
    await provider.prepay(order)
    answer = await player.http.post(f"/payments/{order.out_trade_no}/pay", json={"deliveries": 5})
    assert answer.status_code == 200
    paid = answer.json()
    assert len(paid["deliveries"]) == 5
    assert all(d["status"] == 204 and d["acknowledged"] for d in paid["deliveries"])
    assert len(receiver.received) == 5
    ids = {json.loads(r.body)["id"] for r in receiver.received}
    assert len(ids) == 1
    # paying again re-delivers the same transaction
    again = await player.http.post(f"/payments/{order.out_trade_no}/pay", json={})
    assert again.json()["transaction_id"] == paid["transaction_id"]
    trade = (await player.http.get(f"/payments/{order.out_trade_no}")).json()
    assert trade["state"] == "SUCCESS"
    assert len(trade["deliveries"]) == 6


async def test_unacknowledged_notifications_are_retried_on_the_schedule(player, receiver) -> None:
    # given a receiver that fails twice, then acknowledges
    provider = v3_direct()
    order = prepay_order(receiver.url("hq-wxpay"))
    await provider.prepay(order)
    receiver.answers = [500, 500]
    scale = 0.01

    # when the trade is paid with the schedule scaled down
    started = time.monotonic()
    answer = await player.http.post(
        f"/payments/{order.out_trade_no}/pay", json={"retry_scale": scale}
    )
    assert answer.json()["deliveries"][0] == {"status": 500, "body": "", "acknowledged": False}

    # then the platform retries after 15 s and 15 s (scaled), and stops once acknowledged
    await receiver.wait_for(3, timeout_s=10)
    elapsed = time.monotonic() - started
    assert elapsed >= (RETRY_SCHEDULE_S[0] + RETRY_SCHEDULE_S[1]) * scale
    await asyncio.sleep(RETRY_SCHEDULE_S[2] * scale * 3)
    assert len(receiver.received) == 3
    trade = (await player.http.get(f"/payments/{order.out_trade_no}")).json()
    assert [d["status"] for d in trade["deliveries"]] == [500, 500, 204]
    assert [d["acknowledged"] for d in trade["deliveries"]] == [False, False, True]
    assert trade["deliveries"][1]["retry"] is True


async def test_pay_validates_its_body_and_unknown_trades(player) -> None:
    assert (await player.http.post("/payments/nope123456/pay", json={})).status_code == 404
    assert (await player.http.get("/payments/nope123456")).status_code == 404
    bad = await player.http.post("/payments/nope123456/pay", json={"deliveries": -1})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "sandbox.invalid"
    forge = await player.http.post("/payments/nope123456/forge", json={})
    assert forge.status_code == 400


async def test_payment_codes_have_the_platforms_shapes(player) -> None:
    wechat = (await player.http.post("/payment-codes", json={"provider": "wechat"})).json()
    assert len(wechat["auth_code"]) == 18 and 10 <= int(wechat["auth_code"][:2]) <= 15
    assert wechat["payer"]["openid"].startswith("o")
    alipay = (await player.http.post("/payment-codes", json={"provider": "alipay"})).json()
    assert len(alipay["auth_code"]) == 28 and 25 <= int(alipay["auth_code"][:2]) <= 30
    assert alipay["payer"]["buyer_id"].startswith("2088")
    refused = await player.http.post("/payment-codes", json={"provider": "cash"})
    assert refused.status_code == 400
    refused = await player.http.post(
        "/payment-codes", json={"provider": "wechat", "behaviour": "maybe"}
    )
    assert refused.status_code == 400


async def test_bills_list_the_days_payments_and_refunds(player, receiver, wxpay) -> None:
    # given a paid and partly refunded trade, and an unpaid one
    provider = v3_direct()
    account_key = "bill-" + new_out_trade_no()[-8:]
    paid = prepay_order(receiver.url(account_key), amount_fen=1234)
    unpaid = prepay_order(receiver.url(account_key))
    await provider.prepay(paid)
    await provider.prepay(unpaid)
    await player.http.post(f"/payments/{paid.out_trade_no}/pay", json={})
    await provider.refund(RefundOrder(paid.out_trade_no, "R" + paid.out_trade_no, 234, 1234))
    today = datetime.now(CHINA).date().isoformat()

    # when the bill is fetched the player's way
    answer = await player.http.get(f"/bills/wechatpay/{account_key}/{today}")

    # then it has WeChat's shape: a header, backticked rows, the summary
    assert answer.status_code == 200
    lines = answer.text.strip().split("\r\n")
    assert lines[0].startswith("交易时间,公众账号ID,商户号")
    rows = lines[1:-2]
    assert len(rows) == 2
    assert all(field.startswith("`") for field in rows[0].split(","))
    assert any(f"`{paid.out_trade_no}" in row and "`SUCCESS" in row for row in rows)
    assert any("`REFUND" in row and "`2.34" in row for row in rows)
    assert unpaid.out_trade_no not in answer.text
    assert lines[-2].startswith("总交易单数")
    assert lines[-1].split(",")[:3] == ["`2", "`12.34", "`2.34"]

    # and the platform's way: tradebill → download_url → the same bytes, hash checked
    path = f"/v3/bill/tradebill?bill_date={today}&bill_type=ALL&tar_type=GZIP"
    where = await wxpay.get(path, headers=_signed_headers("GET", path))
    assert where.status_code == 200, where.text
    info = where.json()
    download_path = info["download_url"][info["download_url"].find("/v3/") :]
    file = await wxpay.get(download_path, headers=_signed_headers("GET", download_path))
    assert file.status_code == 200
    assert hashlib.sha1(file.content).hexdigest() == info["hash_value"]
    content = gzip.decompress(file.content).decode()
    assert paid.out_trade_no in content


async def test_sub_merchant_settlement_check(player, wxpay) -> None:
    path = "/v3/apply4sub/sub_merchants/1900012345/settlement"
    known = await wxpay.get(path, headers=_signed_headers("GET", path))
    assert known.status_code == 200
    assert known.json()["verify_result"] == "VERIFY_SUCCESS"
    malformed = "/v3/apply4sub/sub_merchants/12/settlement"
    assert (
        await wxpay.get(malformed, headers=_signed_headers("GET", malformed))
    ).status_code == 400
    marked = await wxpay.post("/sub-merchants/unknown", json={"sub_mchid": "1900099999"})
    assert marked.status_code == 200
    unknown = "/v3/apply4sub/sub_merchants/1900099999/settlement"
    answer = await wxpay.get(unknown, headers=_signed_headers("GET", unknown))
    assert answer.status_code == 404
    assert answer.json()["code"] == "RESOURCE_NOT_EXISTS"
