"""What crosses the wire for head office's reconciliation report."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from api.core.fields import Day, Id
from api.org.models import PaymentProvider

from .models import DifferenceKind, ReconciliationDifference, ReconciliationState
from .reconciliation import AccountReport


class ReconciliationQuery(BaseModel):
    date: Day = Field(description="the bill's day (YYYY-MM-DD, China time)")
    account_id: Id | None = Field(default=None, description="one merchant account only")


class DifferenceOut(BaseModel):
    """One line on which the platform's bill and memberhub disagree."""

    kind: DifferenceKind = Field(
        description="missing_here: in the bill, unknown here · missing_there: paid or refunded "
        "here, not in the bill · amount_mismatch · status_mismatch (e.g. paid there, still "
        "created here)"
    )
    line_kind: str = Field(description="payment | refund")
    out_trade_no: str
    out_refund_no: str = Field(description="refunds only; empty for payments")
    transaction_id: str = Field(description="the platform's trade id, when known")
    payment_id: int | None = Field(description="our payment, when we have it")
    ours_state: str = Field(description="our payment or refund state; empty when missing here")
    ours_amount_fen: int | None
    theirs_state: str = Field(description="the bill's state; empty when missing there")
    theirs_amount_fen: int | None

    @classmethod
    def of(cls, row: ReconciliationDifference) -> DifferenceOut:
        return cls(
            kind=row.kind,
            line_kind=row.line_kind,
            out_trade_no=row.out_trade_no,
            out_refund_no=row.out_refund_no,
            transaction_id=row.transaction_id,
            payment_id=row.payment_id,
            ours_state=row.ours_state,
            ours_amount_fen=row.ours_amount_fen,
            theirs_state=row.theirs_state,
            theirs_amount_fen=row.theirs_amount_fen,
        )


class AccountReconciliationOut(BaseModel):
    """One merchant account's bill of the day against our books."""

    account_id: int
    account_key: str
    account_name: str
    provider: PaymentProvider
    state: ReconciliationState = Field(
        description="matched · differences · failed (the bill could not be had: see error)"
    )
    error: str
    payments_ours: int
    payments_theirs: int
    paid_ours_fen: int
    paid_theirs_fen: int
    refunds_ours: int
    refunds_theirs: int
    refunded_ours_fen: int
    refunded_theirs_fen: int
    difference_count: int
    differences: list[DifferenceOut]
    reconciled_at: datetime

    @classmethod
    def of(cls, report: AccountReport) -> AccountReconciliationOut:
        run, account = report.run, report.account
        return cls(
            account_id=account.id,
            account_key=account.key,
            account_name=account.name,
            provider=account.provider,
            state=run.state,
            error=run.error,
            payments_ours=run.payments_ours,
            payments_theirs=run.payments_theirs,
            paid_ours_fen=run.paid_ours_fen,
            paid_theirs_fen=run.paid_theirs_fen,
            refunds_ours=run.refunds_ours,
            refunds_theirs=run.refunds_theirs,
            refunded_ours_fen=run.refunded_ours_fen,
            refunded_theirs_fen=run.refunded_theirs_fen,
            difference_count=run.differences,
            differences=[DifferenceOut.of(d) for d in report.differences],
            reconciled_at=run.reconciled_at,
        )


class ReconciliationReportOut(BaseModel):
    """The day's reconciliation, one item per account reconciled (none before the job ran)."""

    date: date
    items: list[AccountReconciliationOut]
