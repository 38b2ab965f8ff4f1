"""What the Alipay payment tests share: accounts on the sandbox, and a receiver for notifications.

The receiver is a tiny ASGI app served by uvicorn on a free loopback port: it records every
body posted to it and answers the next scripted answer (`success` once the script runs out).
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import string
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import uvicorn

from api.payments.providers.alipay import AlipayProvider
from api.payments.providers.base import Merchant, Payer, PrepayOrder
from sandbox import keys
from sandbox.alipay_trade import unsigned_string

APP_ID = "2021000000000001"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def new_out_trade_no() -> str:
    return "T" + secrets.token_hex(12)


def new_buyer_id() -> str:
    return "2088" + "".join(secrets.choice(string.digits) for _ in range(12))


def new_app_auth_token() -> str:
    return "202501BB" + secrets.token_hex(16)


def alipay_secrets(app_auth_token: str | None = None) -> dict[str, str]:
    """The demo app's key pair and the sandbox's Alipay public key (and the ISV token)."""
    values = {
        "private_key": keys.alipay_app_private_pem(),
        "alipay_public_key": keys.alipay_platform_public_pem(),
    }
    if app_auth_token:
        values["app_auth_token"] = app_auth_token
    return values


def direct_provider(account_key: str = "ali-direct", app_id: str = APP_ID) -> AlipayProvider:
    merchant = Merchant(
        account_key=account_key,
        mode="direct",
        mch_id=keys.alipay_seller_id(app_id),
        app_id=app_id,
    )
    return AlipayProvider(merchant, alipay_secrets())


def isv_provider(token: str, account_key: str = "ali-franchise") -> AlipayProvider:
    merchant = Merchant(
        account_key=account_key,
        mode="isv",
        mch_id=keys.alipay_seller_id(APP_ID, token),
        app_id=APP_ID,
    )
    return AlipayProvider(merchant, alipay_secrets(token))


def prepay_order(
    notify_url: str,
    *,
    amount_fen: int = 1000,
    buyer: str | None = None,
    out_trade_no: str | None = None,
) -> PrepayOrder:
    return PrepayOrder(
        out_trade_no=out_trade_no or new_out_trade_no(),
        amount_fen=amount_fen,
        description="会员充值 Membership top-up",
        notify_url=notify_url,
        expires_at=datetime.now(UTC) + timedelta(minutes=15),
        payer=Payer(kind="alipay_user", app_id=APP_ID, value=buyer or new_buyer_id()),
    )


def form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode(), keep_blank_values=True))


def resigned(body: bytes, **changes: str) -> bytes:
    """A notification with fields changed and signed again with the sandbox's Alipay key, as
    the platform itself would sign such a notification."""
    params = form(body)
    params.update(changes)
    params["sign"] = keys.rsa2_sign(unsigned_string(params), keys.alipay_platform_private_pem())
    return urlencode(params).encode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Receiver:
    """memberhub's callback URL as a stub: records what arrives, answers from a script."""

    def __init__(self, answers: list[bytes] | None = None) -> None:
        self.answers = list(answers or [])
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.url = ""
        self._arrived = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.received.append((scope["path"], headers, body))
        self._arrived.set()
        answer = self.answers.pop(0) if self.answers else b"success"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    def notify_url(self, account_key: str) -> str:
        return f"{self.url}/callbacks/alipay/{account_key}"

    def bodies(self) -> list[bytes]:
        return [body for _, _, body in self.received]

    async def wait_for(self, count: int, timeout_s: float = 10.0) -> list[bytes]:
        """The bodies once at least count have arrived."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(self.received) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            assert remaining > 0, f"{len(self.received)} of {count} notifications arrived"
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                continue
        return self.bodies()


@asynccontextmanager
async def running_receiver(answers: list[bytes] | None = None) -> AsyncIterator[Receiver]:
    """A Receiver served on loopback for the duration of the block."""
    receiver = Receiver(answers)
    port = _free_port()
    config = uvicorn.Config(
        receiver, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the receiver did not start"
        await asyncio.sleep(0.01)
    receiver.url = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task


async def payment_code(
    player: httpx.AsyncClient, *, behaviour: str = "success", **extra: Any
) -> dict[str, Any]:
    """A customer's Alipay payment code from the sandbox."""
    answer = await player.post(
        "/payment-codes", json={"provider": "alipay", "behaviour": behaviour, **extra}
    )
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data
