"""Payment notifications for the benchmark: payments seeded unpaid, notifications signed offline.

The seed creates, per platform (WeChat Pay v3, WeChat Pay v2, Alipay), many `created` payments
on one of the demo brand's merchant accounts — a sale at a directly operated store, each by a
payer memberhub has never seen — and writes them to a file. Right before a scenario runs, the
benchmark signs one paid notification per payment with the sandbox's own platform code (the
bytes and headers the sandbox would post; v3 timestamps fresh), and writes them to a file that
`wrk_notifications.lua` sends one after the other, each to its account's callback URL. Every
request of a run is a different payment's first notification: each is verified, moves its
payment to `paid` and turns its payer into a member with points, growth and a welcome.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from api.core import ports
from api.org import accounts
from api.org.models import MerchantAccount, PaymentProvider
from api.payments.models import Payment, PaymentMethod, PaymentPurpose
from api.payments.payments import new_out_trade_no

PLATFORMS = ("wechatpay_v3", "wechatpay_v2", "alipay")
CHANNELS = {"wechatpay_v3": "wechatpay", "wechatpay_v2": "wechatpay", "alipay": "alipay"}
BENCH_V2_MCHID = "1900000009"
AMOUNT_FEN = 3_580  # a sale of 35.80 yuan
BATCH = 1_000


def payments_file(work: Path, platform: str) -> Path:
    return work / f"payments.{platform}.json"


async def _v2_account(brand_id: int, app_id: str) -> MerchantAccount:
    """A WeChat Pay v2 account (the demo brand has only v3 ones), with the sandbox's v2 key."""
    from sandbox import keys

    existing = await MerchantAccount.get_or_none(
        brand_id=brand_id, provider=PaymentProvider.WECHATPAY_V2, mch_id=BENCH_V2_MCHID
    )
    if existing is not None:
        return existing
    return await accounts.create_account(
        brand_id=brand_id,
        actor="system",
        name="Bench WeChat Pay v2",
        provider=PaymentProvider.WECHATPAY_V2,
        mch_id=BENCH_V2_MCHID,
        app_id=app_id,
        secrets={"api_key": keys.wechatpay_api_key(BENCH_V2_MCHID)},
    )


async def seed_payments(
    *, demo: dict[str, Any], count: int, work: Path, platforms: Iterable[str] = PLATFORMS
) -> dict[str, dict[str, Any]]:
    """`count` unpaid payments per platform at the demo's first direct store; for each
    platform its account (key, ids) and the file listing its payments."""
    brand_id = demo["brand"]["id"]
    store = next(s for s in demo["stores"] if s["kind"] == "direct")
    hq = {
        "wechatpay_v3": store["accounts"][PaymentProvider.WECHATPAY_V3.value]["key"],
        "alipay": store["accounts"][PaymentProvider.ALIPAY.value]["key"],
    }
    seeded: dict[str, dict[str, Any]] = {}
    for platform in platforms:
        if platform == "wechatpay_v2":
            account = await _v2_account(brand_id, demo["miniprogram"]["appid"])
        else:
            account = await MerchantAccount.get(key=hq[platform])
        numbers = await _create_payments(
            brand_id=brand_id, account=account, store_id=store["id"], count=count
        )
        path = payments_file(work, platform)
        path.write_text(json.dumps(numbers))
        seeded[platform] = {
            "account_key": account.key,
            "mch_id": account.mch_id,
            "app_id": account.app_id,
            "payments": str(path),
            "count": len(numbers),
        }
    return seeded


async def _create_payments(
    *, brand_id: int, account: MerchantAccount, store_id: int, count: int
) -> list[str]:
    now = ports.clock().now()
    numbers: list[str] = []
    for start in range(0, count, BATCH):
        rows = [
            Payment(
                brand_id=brand_id,
                account_id=account.id,
                store_id=store_id,
                method=PaymentMethod(account.provider.value),
                purpose=PaymentPurpose.POS,
                details={},
                out_trade_no=new_out_trade_no(now),
                amount_fen=AMOUNT_FEN,
                description="面包 x3",
                created_at=now,
                expires_at=now + timedelta(hours=6),
            )
            for _ in range(min(BATCH, count - start))
        ]
        await Payment.bulk_create(rows)
        numbers += [row.out_trade_no for row in rows]
    return numbers


def _trade(platform: str, account: dict[str, Any], out_trade_no: str) -> Any:
    """The trade as the sandbox would hold it once paid by a payer it has never seen."""
    from sandbox.payments import SUCCESS, SandboxTrade, iso, mint_transaction_id, now_utc
    from sandbox.state import new_alipay_user_id, new_openid

    paid_at = iso(now_utc())
    trade = SandboxTrade(
        platform=platform,
        out_trade_no=out_trade_no,
        amount_fen=AMOUNT_FEN,
        description="面包 x3",
        state=SUCCESS,
        transaction_id=mint_transaction_id(platform),
        paid_at=paid_at,
        created_at=paid_at,
    )
    if platform == "alipay":
        trade.app_id, trade.seller_id = account["app_id"], account["mch_id"]
        trade.payer = {"buyer_id": new_alipay_user_id()}
    else:
        trade.mchid, trade.appid = account["mch_id"], account["app_id"]
        trade.payer = {"openid": new_openid()}
    return trade


def _platform(name: str) -> Any:
    from sandbox.alipay_trade import ALIPAY
    from sandbox.wechatpay import WECHATPAY_V2, WECHATPAY_V3

    return {"wechatpay_v3": WECHATPAY_V3, "wechatpay_v2": WECHATPAY_V2, "alipay": ALIPAY}[name]


def write_requests(
    platform: str, account: dict[str, Any], out_trade_nos: list[str], path: Path
) -> int:
    """Sign one paid notification per payment, as the sandbox posts it, into `path` for
    `wrk_notifications.lua`: per request a line `<path> <header count> <body bytes>`, the
    header lines, then the body. The number of requests written."""
    signer = _platform(platform)
    callback = f"/callbacks/{CHANNELS[platform]}/{account['account_key']}"
    with path.open("wb") as out:
        for out_trade_no in out_trade_nos:
            headers, body = signer.paid_notification(_trade(platform, account, out_trade_no))
            out.write(f"{callback} {len(headers)} {len(body)}\n".encode())
            for name, value in headers.items():
                out.write(f"{name}: {value}\n".encode())
            out.write(body)
    return len(out_trade_nos)
