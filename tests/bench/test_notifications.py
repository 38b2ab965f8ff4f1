"""The benchmark's notifications: payments seeded unpaid, and the signed requests wrk sends are
ones memberhub verifies and applies, each for a payment of its own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from api.org.models import PaymentProvider, StoreKind
from api.payments.models import DeliveryOutcome, Payment, PaymentState
from api.payments.notifications import find_account, receive_notification
from bench.notifications import AMOUNT_FEN, PLATFORMS, seed_payments, write_requests
from tests.factories import (
    make_alipay_account,
    make_brand,
    make_store,
    make_wechat_app,
    make_wechatpay_account,
)


def read_requests(path: Path) -> list[tuple[str, dict[str, str], bytes]]:
    """The file as `wrk_notifications.lua` reads it: (path, headers, body) per request."""
    requests = []
    with path.open("rb") as data:
        while line := data.readline():
            target, header_count, body_length = line.decode().split()
            headers = {}
            for _ in range(int(header_count)):
                name, value = data.readline().decode().rstrip("\n").split(": ", 1)
                headers[name] = value
            requests.append((target, headers, data.read(int(body_length))))
    return requests


def _signed(
    platform: str, account: dict[str, Any], path: Path
) -> tuple[int, list[tuple[str, dict[str, str], bytes]]]:
    """What the benchmark does right before a run: sign the seeded payments' notifications."""
    numbers = json.loads(Path(account["payments"]).read_text())
    return write_requests(platform, account, numbers, path), read_requests(path)


async def _demo_like() -> dict[str, Any]:
    """What `bootstrap_demo` summarises, for a brand with one direct store on head office's
    WeChat Pay v3 and Alipay accounts."""
    brand = await make_brand()
    app = await make_wechat_app(brand=brand)
    store = await make_store(brand=brand, kind=StoreKind.DIRECT)
    wechat = await make_wechatpay_account(brand=brand, app_id=app.appid)
    alipay = await make_alipay_account(brand=brand)
    return {
        "brand": {"id": brand.id},
        "miniprogram": {"appid": app.appid},
        "stores": [
            {
                "id": store.id,
                "kind": "direct",
                "accounts": {
                    PaymentProvider.WECHATPAY_V3.value: {"key": wechat.key},
                    PaymentProvider.ALIPAY.value: {"key": alipay.key},
                },
            }
        ],
    }


@pytest.mark.usefixtures("ports")
@pytest.mark.parametrize("platform", PLATFORMS)
async def test_each_signed_request_pays_its_own_payment(platform: str, tmp_path: Path) -> None:
    demo = await _demo_like()

    seeded = await seed_payments(demo=demo, count=3, work=tmp_path, platforms=[platform])
    account = seeded[platform]
    written, requests = _signed(platform, account, tmp_path / "requests")

    assert account["count"] == written == len(requests) == 3
    assert await Payment.filter(state=PaymentState.CREATED, amount_fen=AMOUNT_FEN).count() == 3
    channel = "alipay" if platform == "alipay" else "wechatpay"
    for target, headers, body in requests:
        assert target == f"/callbacks/{channel}/{account['account_key']}"
        received = await receive_notification(
            channel=channel,
            account_key=account["account_key"],
            account=await find_account(channel=channel, account_key=account["account_key"]),
            headers={name.lower(): value for name, value in headers.items()},
            body=body,
        )
        assert (received.ok, received.outcome) == (True, DeliveryOutcome.APPLIED), received
    paid = await Payment.filter(state=PaymentState.PAID).values_list("member_id", flat=True)
    assert len(paid) == 3 and len(set(paid)) == 3  # three payers, three new members
