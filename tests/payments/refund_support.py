"""What the refund tests share: the sandbox's refund notification of a refund, delivered as many
times at once as a test asks, and a platform call whose answer never arrives."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from api.org.models import MerchantAccount
from api.payments.models import Payment
from api.payments.providers import provider_for
from api.payments.providers.base import ProviderUnavailable, Refund, RefundOrder
from sandbox.alipay_trade import ALIPAY
from sandbox.payments import Platform, SandboxTrade, find_refund
from sandbox.wechatpay import WECHATPAY_V2, WECHATPAY_V3
from tests.support.player import Player

PLATFORMS: dict[str, Platform] = {p.name: p for p in (WECHATPAY_V3, WECHATPAY_V2, ALIPAY)}


async def notify_refund(player: Player, out_trade_no: str, out_refund_no: str) -> dict[str, Any]:
    """The platform finishes the refund and delivers its notification once (the player route)."""
    answer = await player.http.post(
        f"/payments/{out_trade_no}/refunds/{out_refund_no}/notify", json={}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def deliver_refund_notification(
    player: Player, out_trade_no: str, out_refund_no: str, *, times: int
) -> list[int]:
    """The refund's genuine notification, signed as the sandbox's platform signs it, for the
    refund as done (SUCCESS), posted `times` times at once to its notify URL; the statuses."""
    trade = SandboxTrade.from_dict(await player.trade(out_trade_no))
    refund = find_refund(trade, out_refund_no)
    assert refund is not None, "the platform has no such refund"
    done = {
        **refund,
        "state": "SUCCESS",
        "success_at": refund["success_at"] or refund["created_at"],
    }
    trade.refunds = [done if r is refund else r for r in trade.refunds]
    headers, body = PLATFORMS[trade.platform].refund_notification(trade, done)
    url = done.get("notify_url") or trade.notify_url
    async with httpx.AsyncClient(timeout=30) as http:
        answers = await asyncio.gather(
            *(http.post(url, headers=headers, content=body) for _ in range(times))
        )
    return [answer.status_code for answer in answers]


async def platform_refunds(player: Player, out_trade_no: str) -> list[dict[str, Any]]:
    """The refunds the platform (sandbox) holds for a trade."""
    return list((await player.trade(out_trade_no))["refunds"])


async def lose_refund_answers(
    monkeypatch: pytest.MonkeyPatch, payment: Payment, *, reach_platform: bool
) -> None:
    """From now on, the payment's refund requests end in ProviderUnavailable: after the platform
    made the refund (`reach_platform`: its answer lost on the way back), or before it got them."""
    provider = provider_for(await MerchantAccount.get(id=payment.account_id))
    real: Callable[[RefundOrder], Awaitable[Refund]] = provider.refund

    async def lost(order: RefundOrder) -> Refund:
        if reach_platform:
            await real(order)
        raise ProviderUnavailable("the connection was reset")

    monkeypatch.setattr(provider, "refund", lost)
