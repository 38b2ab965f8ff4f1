"""Reconciliation: each merchant account's daily bill compared with our payments and refunds.

Every morning (the worker's `payments.reconcile`, 10:00 Asia/Shanghai) `reconcile_day` takes
yesterday for every active brand: for each active merchant account it downloads the
platform's bill of that day (`download_bill` of the provider's module) and compares it with
the payments paid on that account that day (`paid_at`, China time) and the refunds that
succeeded that day (or, still processing, were asked for that day). The result is stored per
account and day (`ReconciliationRun` and its `ReconciliationDifference` rows); a rerun of the
same day replaces it. Head office gets one e-mail per brand and day (the brand setting
`report_emails`), queued through the outbox once, whatever the reruns.

What counts as a difference, line by line (payments by out_trade_no, refunds by out_trade_no
and out_refund_no, on the account the bill belongs to):
- `missing_here`: the bill has the line and we have no such payment or refund on that account
  at all (a trade made around memberhub, or a refund made in the merchant's console);
- `status_mismatch`: both sides know it, their states disagree: the bill says paid and our
  payment is still `created` (or `closed`) — its notification never came and recovery has not
  caught it; the bill lists a refund as succeeded while ours is processing (or the reverse);
  a payment reversed there (REVOKED) that is paid here;
- `amount_mismatch`: both sides know it as paid (or refunded), with other amounts;
- `missing_there`: we hold it as paid (or refunded) that day and the bill has no line for it.
A bill line matched by a payment we hold as paid on another day (a payment across midnight)
is no difference. A bill that cannot be had or read stores the run as `failed` with the
reason, and compares nothing.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from api.core.clock import shanghai_midnight, to_shanghai
from api.core.errors import DomainError, InvalidInput, NotFound
from api.core.mail import enqueue_mail
from api.core.money import fen_to_yuan
from api.core.ports import clock
from api.org.models import Brand, MerchantAccount, PaymentProvider, Status

from .error_codes import ReconciliationErrorCode
from .models import (
    DifferenceKind,
    Payment,
    PaymentRefund,
    PaymentState,
    ReconciliationDifference,
    ReconciliationRun,
    ReconciliationState,
    RefundState,
)
from .providers import provider_for
from .providers.base import BillLine, BillLineKind, TradeState
from .providers.base import RefundState as PlatformRefundState

log = logging.getLogger(__name__)

PAID_STATES = (PaymentState.PAID, PaymentState.PARTIALLY_REFUNDED, PaymentState.REFUNDED)
# Our refund states in the platforms' words, to compare with a bill's.
REFUND_WORDS = {
    RefundState.SUCCEEDED: PlatformRefundState.SUCCESS.value,
    RefundState.PROCESSING: PlatformRefundState.PROCESSING.value,
    RefundState.FAILED: PlatformRefundState.FAILED.value,
}
MAIL_DIFFERENCES = 50  # the e-mail lists at most this many differences; the report has all
ERROR_MAX = 255


@dataclass
class Comparison:
    """What one account's bill and our books say about one day."""

    payments_ours: int = 0
    payments_theirs: int = 0
    refunds_ours: int = 0
    refunds_theirs: int = 0
    paid_ours_fen: int = 0
    paid_theirs_fen: int = 0
    refunded_ours_fen: int = 0
    refunded_theirs_fen: int = 0
    differences: list[dict[str, Any]] = field(default_factory=list)

    def differ(self, kind: DifferenceKind, line_kind: BillLineKind, **values: Any) -> None:
        self.differences.append({"kind": kind, "line_kind": line_kind.value, **values})


@dataclass(frozen=True)
class AccountReport:
    """One account's run of a day and its differences, as head office reads them."""

    run: ReconciliationRun
    account: MerchantAccount
    differences: list[ReconciliationDifference]


def today() -> date:
    """Today in Asia/Shanghai, by the services' clock."""
    return to_shanghai(clock().now()).date()


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    return shanghai_midnight(day), shanghai_midnight(day + timedelta(days=1))


# Reading the bill ---------------------------------------------------------------------------


async def download_bill(account: MerchantAccount, day: date) -> list[BillLine]:
    """The account's bill of `day` from its platform (the provider module's `download_bill`)."""
    provider = provider_for(account)
    if account.provider is PaymentProvider.ALIPAY:
        from .providers import alipay

        assert isinstance(provider, alipay.AlipayProvider)
        return await alipay.download_bill(provider, day)
    from .providers import wechatpay

    assert isinstance(provider, wechatpay.WechatPayV3 | wechatpay.WechatPayV2)
    return await wechatpay.download_bill(provider, day)


# Comparing ----------------------------------------------------------------------------------


async def compare(*, account: MerchantAccount, day: date, lines: Sequence[BillLine]) -> Comparison:
    """Compare a bill's lines with the account's payments and refunds of `day`."""
    start, end = _day_bounds(day)
    result = Comparison()
    ours_paid = {
        p.out_trade_no: p
        for p in await Payment.filter(
            account_id=account.id, state__in=PAID_STATES, paid_at__gte=start, paid_at__lt=end
        )
    }
    ours_refunds = {
        (r.payment.out_trade_no, r.out_refund_no): r
        for r in await PaymentRefund.filter(
            Q(state=RefundState.SUCCEEDED, succeeded_at__gte=start, succeeded_at__lt=end)
            | Q(state=RefundState.PROCESSING, created_at__gte=start, created_at__lt=end),
            payment__account_id=account.id,
        ).select_related("payment")
    }
    result.payments_ours = len(ours_paid)
    result.paid_ours_fen = sum(p.amount_fen for p in ours_paid.values())
    result.refunds_ours = len(ours_refunds)
    result.refunded_ours_fen = sum(r.amount_fen for r in ours_refunds.values())

    payments: dict[str, BillLine] = {}
    refunds: dict[tuple[str, str], BillLine] = {}
    for line in lines:
        if line.kind is BillLineKind.REFUND:
            refunds[line.out_trade_no, line.out_refund_no] = line
        elif payments.get(line.out_trade_no) is None or line.state == TradeState.PAID:
            payments[line.out_trade_no] = line
    for line in payments.values():
        if line.state == TradeState.PAID:
            result.payments_theirs += 1
            result.paid_theirs_fen += line.amount_fen
    for line in refunds.values():
        if line.state != PlatformRefundState.FAILED:
            result.refunds_theirs += 1
            result.refunded_theirs_fen += line.amount_fen

    await _compare_payments(result, account, payments, ours_paid)
    await _compare_refunds(result, account, refunds, ours_refunds)
    return result


async def _compare_payments(
    result: Comparison,
    account: MerchantAccount,
    theirs: dict[str, BillLine],
    ours: dict[str, Payment],
) -> None:
    elsewhere = {
        p.out_trade_no: p
        for p in await Payment.filter(
            account_id=account.id, out_trade_no__in=[n for n in theirs if n not in ours]
        )
    }
    for number, line in theirs.items():
        payment = ours.get(number) or elsewhere.get(number)
        paid_there = line.state == TradeState.PAID
        theirs_fields = {
            "out_trade_no": number,
            "transaction_id": line.transaction_id,
            "theirs_amount_fen": line.amount_fen,
            "theirs_state": line.state,
        }
        if payment is None:
            if paid_there:
                result.differ(DifferenceKind.MISSING_HERE, BillLineKind.PAYMENT, **theirs_fields)
            continue
        ours_fields = {
            "payment_id": payment.id,
            "ours_amount_fen": payment.amount_fen,
            "ours_state": payment.state.value,
        }
        if paid_there != (payment.state in PAID_STATES):
            kind = DifferenceKind.STATUS_MISMATCH
        elif paid_there and payment.amount_fen != line.amount_fen:
            kind = DifferenceKind.AMOUNT_MISMATCH
        else:
            continue
        result.differ(kind, BillLineKind.PAYMENT, **theirs_fields, **ours_fields)
    for number, payment in ours.items():
        if number not in theirs:
            result.differ(
                DifferenceKind.MISSING_THERE,
                BillLineKind.PAYMENT,
                out_trade_no=number,
                transaction_id=payment.transaction_id or "",
                payment_id=payment.id,
                ours_amount_fen=payment.amount_fen,
                ours_state=payment.state.value,
            )


async def _compare_refunds(
    result: Comparison,
    account: MerchantAccount,
    theirs: dict[tuple[str, str], BillLine],
    ours: dict[tuple[str, str], PaymentRefund],
) -> None:
    unmatched = [key for key in theirs if key not in ours]
    elsewhere = {
        (r.payment.out_trade_no, r.out_refund_no): r
        for r in await PaymentRefund.filter(
            payment__account_id=account.id,
            out_refund_no__in=[refund_no for _, refund_no in unmatched],
        ).select_related("payment")
    }
    for key, line in theirs.items():
        refund = ours.get(key) or elsewhere.get(key)
        theirs_fields = {
            "out_trade_no": key[0],
            "out_refund_no": key[1],
            "transaction_id": line.transaction_id,
            "theirs_amount_fen": line.amount_fen,
            "theirs_state": line.state,
        }
        if refund is None:
            result.differ(DifferenceKind.MISSING_HERE, BillLineKind.REFUND, **theirs_fields)
            continue
        ours_fields = {
            "payment_id": refund.payment_id,
            "ours_amount_fen": refund.amount_fen,
            "ours_state": refund.state.value,
        }
        if REFUND_WORDS[refund.state] != line.state:
            kind = DifferenceKind.STATUS_MISMATCH
        elif refund.amount_fen != line.amount_fen:
            kind = DifferenceKind.AMOUNT_MISMATCH
        else:
            continue
        result.differ(kind, BillLineKind.REFUND, **theirs_fields, **ours_fields)
    for key, refund in ours.items():
        if key not in theirs:
            result.differ(
                DifferenceKind.MISSING_THERE,
                BillLineKind.REFUND,
                out_trade_no=key[0],
                out_refund_no=key[1],
                transaction_id=refund.payment.transaction_id or "",
                payment_id=refund.payment_id,
                ours_amount_fen=refund.amount_fen,
                ours_state=refund.state.value,
            )


# Storing ------------------------------------------------------------------------------------


async def reconcile_account(*, account: MerchantAccount, day: date) -> ReconciliationRun:
    """Download the account's bill of `day`, compare it, and store the result (replacing a
    previous run of the same account and day). A bill that cannot be had is a `failed` run."""
    error = ""
    try:
        lines = await download_bill(account, day)
    except DomainError as exc:
        log.warning(
            "bill download failed",
            extra={"account_id": account.id, "day": day.isoformat(), "error": str(exc)},
        )
        error = f"{exc.code}: {exc}"[:ERROR_MAX]
        comparison = Comparison()
    else:
        comparison = await compare(account=account, day=day, lines=lines)
    if error:
        state = ReconciliationState.FAILED
    elif comparison.differences:
        state = ReconciliationState.DIFFERENCES
    else:
        state = ReconciliationState.MATCHED
    values = {
        "brand_id": account.brand_id,
        "state": state,
        "error": error,
        "payments_ours": comparison.payments_ours,
        "payments_theirs": comparison.payments_theirs,
        "refunds_ours": comparison.refunds_ours,
        "refunds_theirs": comparison.refunds_theirs,
        "paid_ours_fen": comparison.paid_ours_fen,
        "paid_theirs_fen": comparison.paid_theirs_fen,
        "refunded_ours_fen": comparison.refunded_ours_fen,
        "refunded_theirs_fen": comparison.refunded_theirs_fen,
        "differences": len(comparison.differences),
        "reconciled_at": clock().now(),
    }
    try:
        return await _store(account, day, values, comparison.differences)
    except IntegrityError:
        # A concurrent run of the same account and day created the row first: replace it.
        return await _store(account, day, values, comparison.differences)


async def _store(
    account: MerchantAccount,
    day: date,
    values: dict[str, Any],
    differences: list[dict[str, Any]],
) -> ReconciliationRun:
    async with in_transaction() as db:
        run = (
            await ReconciliationRun.filter(account_id=account.id, day=day)
            .using_db(db)
            .select_for_update()
            .first()
        )
        if run is None:
            run = await ReconciliationRun.create(
                account_id=account.id, day=day, using_db=db, **values
            )
        else:
            await ReconciliationRun.filter(id=run.id).using_db(db).update(**values)
            await ReconciliationDifference.filter(run_id=run.id).using_db(db).delete()
        await ReconciliationDifference.bulk_create(
            [ReconciliationDifference(run_id=run.id, **d) for d in differences], using_db=db
        )
        return await ReconciliationRun.get(id=run.id, using_db=db)


async def reconcile_day(*, brand_id: int, day: date) -> list[ReconciliationRun]:
    """Reconcile every active account of the brand for `day` (China time), then queue head
    office's summary e-mail (once per brand and day). 422 `reconciliation.future_day` for a
    day after today, whose bill cannot exist."""
    if day > today():
        raise InvalidInput(ReconciliationErrorCode.FUTURE_DAY, "A day after today has no bill yet.")
    brand = await Brand.get(id=brand_id)
    runs = []
    for account in await MerchantAccount.filter(brand_id=brand_id, status=Status.ACTIVE).order_by(
        "id"
    ):
        runs.append(await reconcile_account(account=account, day=day))
    if runs:
        await _queue_summary(brand, day)
    return runs


async def reconcile_yesterday() -> dict[str, dict[str, int]]:
    """Reconcile yesterday (China time) for every active brand; per brand, runs by state."""
    day = today() - timedelta(days=1)
    results = {}
    for brand in await Brand.filter(status=Status.ACTIVE).order_by("id"):
        counts = {state.value: 0 for state in ReconciliationState}
        for run in await reconcile_day(brand_id=brand.id, day=day):
            counts[run.state.value] += 1
        results[brand.code] = counts
    return results


# Reading ------------------------------------------------------------------------------------


async def reconciliation_report(
    *, brand_id: int, day: date, account_id: int | None = None
) -> list[AccountReport]:
    """The brand's stored runs of `day` (one account's, when named), with their differences.
    404 `merchant_account.not_found` for an account that is not the brand's."""
    accounts = MerchantAccount.filter(brand_id=brand_id)
    if account_id is not None:
        accounts = accounts.filter(id=account_id)
    by_id = {a.id: a for a in await accounts}
    if account_id is not None and not by_id:
        raise NotFound(ReconciliationErrorCode.ACCOUNT_NOT_FOUND, "No such merchant account.")
    runs = await ReconciliationRun.filter(
        brand_id=brand_id, day=day, account_id__in=list(by_id)
    ).order_by("account_id")
    differences: dict[int, list[ReconciliationDifference]] = {run.id: [] for run in runs}
    for difference in await ReconciliationDifference.filter(run_id__in=list(differences)).order_by(
        "id"
    ):
        differences[difference.run_id].append(difference)
    return [AccountReport(run, by_id[run.account_id], differences[run.id]) for run in runs]


# The e-mail ---------------------------------------------------------------------------------


def _yuan(fen: int) -> str:
    return fen_to_yuan(fen)


def summary_mail(brand: Brand, day: date, reports: Sequence[AccountReport]) -> tuple[str, str, str]:
    """(subject, text, HTML) of head office's summary of `day`: a row per account, then the
    first differences."""
    total = sum(r.run.differences for r in reports)
    failed = sum(1 for r in reports if r.run.state is ReconciliationState.FAILED)
    subject = f"{brand.name} reconciliation {day.isoformat()}: {total} difference(s)"
    if failed:
        subject += f", {failed} bill(s) not read"
    head = (
        "Account",
        "Provider",
        "State",
        "Payments ours/theirs",
        "Paid ours/theirs (yuan)",
        "Refunds ours/theirs",
        "Refunded ours/theirs (yuan)",
        "Differences",
    )
    rows = []
    for r in reports:
        run = r.run
        rows.append(
            (
                f"{r.account.name} ({r.account.key})",
                r.account.provider.value,
                run.state.value + (f" — {run.error}" if run.error else ""),
                f"{run.payments_ours}/{run.payments_theirs}",
                f"{_yuan(run.paid_ours_fen)}/{_yuan(run.paid_theirs_fen)}",
                f"{run.refunds_ours}/{run.refunds_theirs}",
                f"{_yuan(run.refunded_ours_fen)}/{_yuan(run.refunded_theirs_fen)}",
                str(run.differences),
            )
        )
    listed = [(r.account, d) for r in reports for d in r.differences][:MAIL_DIFFERENCES]
    diff_head = ("Account", "Kind", "Line", "out_trade_no", "out_refund_no", "Ours", "Theirs")
    diff_rows = [
        (
            account.key,
            d.kind.value,
            d.line_kind,
            d.out_trade_no,
            d.out_refund_no,
            _side(d.ours_state, d.ours_amount_fen),
            _side(d.theirs_state, d.theirs_amount_fen),
        )
        for account, d in listed
    ]
    text_lines = [f"Reconciliation of {day.isoformat()} for {brand.name}", ""]
    text_lines += [" | ".join(head)] + [" | ".join(row) for row in rows]
    if diff_rows:
        text_lines += ["", f"Differences (first {len(diff_rows)} of {total}):"]
        text_lines += [" | ".join(diff_head)] + [" | ".join(row) for row in diff_rows]
    text = "\n".join(text_lines) + "\n"
    body = f"<h1>Reconciliation of {day.isoformat()} — {html.escape(brand.name)}</h1>"
    body += _html_table(head, rows)
    if diff_rows:
        body += f"<h2>Differences (first {len(diff_rows)} of {total})</h2>"
        body += _html_table(diff_head, diff_rows)
    return subject, text, f"<html><body>{body}</body></html>"


def _side(state: str, amount_fen: int | None) -> str:
    if not state and amount_fen is None:
        return "—"
    return f"{state} {_yuan(amount_fen) if amount_fen is not None else ''}".strip()


def _html_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    out = f'<table border="1" cellpadding="4" cellspacing="0"><tr>{cells}</tr>'
    for row in rows:
        out += "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>"
    return out + "</table>"


def mail_key(brand_id: int, day: date) -> str:
    """The outbox de-duplication key of a brand's summary of a day."""
    return f"reconciliation:{brand_id}:{day.isoformat()}"


async def _queue_summary(brand: Brand, day: date) -> None:
    emails = brand.setting("report_emails")
    recipients = [str(e) for e in emails] if isinstance(emails, list) else []
    if not recipients:
        return
    reports = await reconciliation_report(brand_id=brand.id, day=day)
    subject, text, body = summary_mail(brand, day, reports)
    await enqueue_mail(
        to=recipients,
        subject=subject,
        text=text,
        html=body,
        brand_id=brand.id,
        dedupe_key=mail_key(brand.id, day),
    )
