"""WeChat Pay accounts the sandbox knows, and a tiny HTTP receiver standing in for memberhub's
callback URL (it records what the platform posts and answers what the test tells it to)."""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from api.payments.providers.base import Merchant, Payer, PrepayOrder
from api.payments.providers.wechatpay import WechatPayV2, WechatPayV3
from sandbox.keys import (
    WECHATPAY_MERCHANT_SERIAL,
    WECHATPAY_PUBLIC_KEY_ID,
    wechatpay_api_key,
    wechatpay_api_v3_key,
    wechatpay_merchant_private_pem,
    wechatpay_platform_cert_pem,
    wechatpay_platform_public_pem,
)

DIRECT_MCHID = "1900000101"
SP_MCHID = "1900000201"
SUB_MCHID = "1900000301"
APPID = "wx1111111111111111"
SP_APPID = "wx2222222222222222"
SUB_APPID = "wx3333333333333333"


def new_out_trade_no() -> str:
    return "T" + secrets.token_hex(12)


def new_openid() -> str:
    return "o" + secrets.token_urlsafe(20)[:27]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records every POST; answers the statuses queued in `answers`, then `default_status`."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    default_status: int = 204
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, account_key: str) -> str:
        return f"http://127.0.0.1:{self.port}/callbacks/wechatpay/{account_key}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if ":" in line:
                    name, _, value = line.partition(":")
                    headers[name.strip()] = value.strip()
            length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), 0))
            body = await reader.readexactly(length) if length else b""
            self.received.append(Received(headers, body))
            self.arrived.set()
            status = self.answers.pop(0) if self.answers else self.default_status
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
        finally:
            writer.close()

    async def wait_for(self, count: int, timeout_s: float = 10) -> None:
        async def enough() -> None:
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), timeout_s)


@asynccontextmanager
async def run_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        receiver.port = sock.getsockname()[1]
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", receiver.port)
    try:
        yield receiver
    finally:
        server.close()
        await server.wait_closed()


def v3_secrets(mchid: str, *, by_cert: bool = False, with_api_key: bool = True) -> dict[str, str]:
    secrets_ = {
        "api_v3_key": wechatpay_api_v3_key(mchid),
        "private_key": wechatpay_merchant_private_pem(),
        "cert_serial_no": WECHATPAY_MERCHANT_SERIAL,
    }
    if by_cert:
        secrets_["platform_cert"] = wechatpay_platform_cert_pem()
    else:
        secrets_["platform_public_key"] = wechatpay_platform_public_pem()
        secrets_["platform_public_key_id"] = WECHATPAY_PUBLIC_KEY_ID
    if with_api_key:
        secrets_["api_key"] = wechatpay_api_key(mchid)
    return secrets_


def direct_merchant(account_key: str = "hq-wxpay") -> Merchant:
    return Merchant(account_key=account_key, mode="direct", mch_id=DIRECT_MCHID, app_id=APPID)


def partner_merchant(
    account_key: str = "franchise-wxpay", *, sub_appid: str = SUB_APPID
) -> Merchant:
    return Merchant(
        account_key=account_key,
        mode="partner",
        mch_id=SP_MCHID,
        app_id=SP_APPID,
        sub_mchid=SUB_MCHID,
        sub_appid=sub_appid,
    )


def v3_direct(**kwargs: Any) -> WechatPayV3:
    return WechatPayV3(direct_merchant(), v3_secrets(DIRECT_MCHID, **kwargs))


def v3_partner(**kwargs: Any) -> WechatPayV3:
    return WechatPayV3(partner_merchant(), v3_secrets(SP_MCHID, **kwargs))


def v2_direct(sign_type: str = "MD5") -> WechatPayV2:
    return WechatPayV2(
        direct_merchant("hq-wxpay-v2"),
        {"api_key": wechatpay_api_key(DIRECT_MCHID), "sign_type": sign_type},
    )


def v2_partner(sign_type: str = "MD5") -> WechatPayV2:
    return WechatPayV2(
        partner_merchant("franchise-wxpay-v2"),
        {"api_key": wechatpay_api_key(SP_MCHID), "sign_type": sign_type},
    )


def prepay_order(
    notify_url: str, *, amount_fen: int = 1999, app_id: str = APPID, openid: str | None = None
) -> PrepayOrder:
    return PrepayOrder(
        out_trade_no=new_out_trade_no(),
        amount_fen=amount_fen,
        description="会员充值",
        notify_url=notify_url,
        expires_at=datetime.now(UTC) + timedelta(minutes=30),
        payer=Payer("wechat_openid", app_id, openid or new_openid()),
        client_ip="10.1.2.3",
    )
