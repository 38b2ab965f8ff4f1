"""Settling a payment code at the till, whatever the platform: charge, wait for the payer, or
reverse.

A payment code charge may answer USERPAYING: the payer is confirming on the phone (password,
or a large amount). The platforms' guidance is to query until the trade is decided and to
reverse it when the till gives up, so that a payer who confirms later is never charged for a
sale the till abandoned.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from .base import CodeOrder, Provider, ProviderUnavailable, Trade, TradeState

log = logging.getLogger("memberhub.payments.codepay")

DECIDED = frozenset({TradeState.PAID, TradeState.FAILED, TradeState.CLOSED})
REVERSE_ATTEMPTS = 3


async def settle_code_payment(
    provider: Provider,
    order: CodeOrder,
    *,
    wait_s: float = 30,
    poll_s: float = 2,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> Trade:
    """Charge the code; on USERPAYING query every poll_s until PAID, FAILED or CLOSED, or
    until wait_s has passed: then reverse the trade and return it CLOSED.

    A query that fails (ProviderUnavailable) is retried at the next poll. Reversing is tried
    up to three times; if it still cannot be done, ProviderUnavailable is raised (the trade is
    undecided: the caller must reverse it later). Errors of the charge itself propagate.
    """
    trade = await provider.pay_with_code(order)
    if trade.state != TradeState.USERPAYING:
        return trade
    waited = 0.0
    while waited < wait_s:
        step = min(poll_s, wait_s - waited)
        await sleep(step)
        waited += step
        try:
            trade = await provider.query(order.out_trade_no)
        except ProviderUnavailable:
            log.info("payment code query failed", extra={"out_trade_no": order.out_trade_no})
            continue
        if trade.state in DECIDED:
            return trade
    for attempt in range(1, REVERSE_ATTEMPTS + 1):
        try:
            await provider.reverse(order.out_trade_no)
            break
        except ProviderUnavailable:
            if attempt == REVERSE_ATTEMPTS:
                raise
            await sleep(poll_s)
    return Trade(
        out_trade_no=order.out_trade_no,
        state=TradeState.CLOSED,
        amount_fen=order.amount_fen,
        transaction_id=trade.transaction_id,
        message="reversed: the payer did not confirm in time",
    )
