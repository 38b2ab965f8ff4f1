"""Stored value as a payment method: the member's wallet ledger instead of a platform.

No money moves between accounts, so there is no trade, notification or callback. A charge is
one ledger spend keyed by the payment (`payment:<id>`), made inside the transaction that moves
the payment to `paid` (see `payments.pay_with_wallet`): either both happen or neither. A query
reads the ledger: the spend's entry is the proof of payment.
"""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

from api.member_center.models import WalletEntry, WalletEntryKind
from api.member_center.wallet import refund_wallet_spend, spend_wallet

from .base import Refund, RefundState, Trade, TradeState


def spend_key(payment_id: int) -> str:
    return f"payment:{payment_id}"


class WalletProvider:
    """The wallet of the member a payment belongs to."""

    name = "wallet"

    def __init__(self, *, brand_id: int, member_id: int) -> None:
        self.brand_id = brand_id
        self.member_id = member_id

    async def charge(
        self, db: BaseDBAsyncClient, *, payment_id: int, out_trade_no: str, amount_fen: int
    ) -> Trade:
        """Spend amount_fen from the wallet inside `db`'s transaction; 409 `wallet.insufficient`
        when the balance is short (and the caller's transaction rolls back)."""
        entry = await spend_wallet(
            brand_id=self.brand_id,
            member_id=self.member_id,
            amount_fen=amount_fen,
            key=spend_key(payment_id),
            reason=f"payment {out_trade_no}",
            actor=f"member:{self.member_id}",
            connection=db,
        )
        return Trade(
            out_trade_no=out_trade_no,
            state=TradeState.PAID,
            amount_fen=amount_fen,
            transaction_id=f"W{entry.id}",
            paid_at=entry.created_at,
        )

    async def query(self, *, payment_id: int, out_trade_no: str) -> Trade:
        """PAID when the ledger holds the payment's spend, else NOT_PAID."""
        entry = await WalletEntry.get_or_none(
            brand_id=self.brand_id, key=spend_key(payment_id), kind=WalletEntryKind.SPEND
        )
        if entry is None:
            return Trade(out_trade_no=out_trade_no, state=TradeState.NOT_PAID)
        return Trade(
            out_trade_no=out_trade_no,
            state=TradeState.PAID,
            amount_fen=-(entry.principal_delta_fen + entry.bonus_delta_fen),
            transaction_id=f"W{entry.id}",
            paid_at=entry.created_at,
        )

    async def refund(
        self,
        *,
        payment_id: int,
        out_trade_no: str,
        out_refund_no: str,
        refund_fen: int,
        connection: BaseDBAsyncClient | None = None,
    ) -> Refund:
        """Give back refund_fen of the payment's spend to principal and bonus, as they were
        spent; the same out_refund_no again is the same refund."""
        entry = await refund_wallet_spend(
            brand_id=self.brand_id,
            spend_key=spend_key(payment_id),
            key=f"refund:{payment_id}:{out_refund_no}",
            amount_fen=refund_fen,
            reason=f"refund {out_refund_no}",
            connection=connection,
        )
        return Refund(
            out_trade_no=out_trade_no,
            out_refund_no=out_refund_no,
            state=RefundState.SUCCESS,
            amount_fen=refund_fen,
            refund_id=f"W{entry.id}",
        )
