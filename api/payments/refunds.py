"""Refunds: full or partial, idempotent by refund number, never more than was paid, applied once
whichever way the platform's word comes, with the points, growth and stored value they undo.

Asking (`refund_payment`). The refund number (`out_refund_no`, made up when not given) names
one refund of the payment: the same number with the same amount is the same refund (answered
again, and asked of the platform again while it is still processing, which is how a refund
whose platform call failed is retried); with another amount it is refused. One transaction
records the refund `processing` and reserves its amount on the payment by a guarded update
(`refunded_fen + amount <= amount_fen`), so concurrent refunds can never exceed what was paid:
`Payment.refunded_fen` counts refunds succeeded and in progress, `Payment.state` the ones that
went through. The platform is then asked: Alipay answers at once (succeeded); WeChat Pay answers
`processing` until its refund notification, or a query by the recovery job
(`recover_refunds`). A platform's refusal fails the refund and releases its amount; a failed
refund stays failed (a new number is needed). A stored-value (`wallet`) payment is refunded in
the same transaction: principal and bonus given back as they were spent.

A recharge's refund takes the money back out of the wallet when it is asked, in the reserving
transaction: the principal refunded and the package bonus in the same proportion (the bonus
was given for that recharge; the platform pays back only what was paid, so the bonus is
forfeited whatever `wallet_refund_principal_only` says — that rule is for withdrawals). When
the wallet no longer holds either part (the member spent it), 409 `refund.wallet_spent` and
nothing changes. A refund that then fails puts it back.

Succeeding (`settle_refund`, the one function applying the platform's word on a refund: the
refund's answer, a notification, a query). In one transaction, with the payment row locked:
`processing → succeeded` by a guarded update (so 20 deliveries make one effect), the payment
`paid → partially_refunded → refunded` by what has succeeded, and the claw-back:

- Points. The payment earned `points_earned` (ledger key `payment:<id>`). After refunds
  totalling S of an amount A, floor(points_earned × S / A) are due back in all; each refund
  takes the difference from the previous total, so the refunds' shares are whole points and a
  full refund takes back exactly what was earned. What is due is taken from the balance
  (`points.take_back_points`, key `refund:<refund id>`; the payment's own lot first, frozen
  points included). Points the member has already spent are not owed: the balance never goes
  below zero, the refund records them as `points_unrecovered` (and what it took as
  `points_clawed_back`) for head office to see, and the money is refunded all the same.
- Growth, the same way (one per yuan paid), never below zero; the level is kept (levels are
  lowered by the yearly requalification only).
- Coupons. A till payment refunded in full gives its order's coupons back to the member (an
  expired one stays expired); a partial refund leaves them used (see `till`).
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from api.core import audit
from api.core.errors import Conflict, InvalidInput
from api.core.ports import clock
from api.mall.refunded import on_refund_succeeded
from api.member_center import wallet
from api.member_center.error_codes import WalletErrorCode
from api.member_center.levels import take_back_growth
from api.member_center.models import GrowthEntry, GrowthEntryKind, Member, MemberStatus, WalletEntry
from api.member_center.points import take_back_points
from api.org.accounts import notify_url
from api.org.models import MerchantAccount
from api.org.scope import StoreScope

from . import effects, till
from .error_codes import RefundErrorCode
from .models import (
    Payment,
    PaymentMethod,
    PaymentPurpose,
    PaymentRefund,
    PaymentState,
    RefundState,
)
from .payments import MAX_AMOUNT_FEN, TradeMismatch, get_payment
from .providers import provider_for
from .providers.base import ProviderRefused, ProviderUnavailable, Refund, RefundOrder
from .providers.base import RefundState as PlatformRefundState
from .providers.wallet import spend_key

log = logging.getLogger(__name__)

# WeChat Pay's rule for out_refund_no (Alipay's out_request_no accepts the same).
REFUND_NUMBER = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}$")
REASON_MAX = 80  # WeChat Pay's limit (Alipay allows more)
REFUNDABLE = (PaymentState.PAID, PaymentState.PARTIALLY_REFUNDED)
MERGE_HOPS = 8
BATCH = 200


@dataclass(frozen=True)
class RefundResult:
    refund: PaymentRefund
    payment: Payment
    created: bool  # False: the refund already recorded under this number


def new_out_refund_no(now: datetime) -> str:
    """26 characters: `RF`, the UTC time to the second, 12 random digits."""
    return f"RF{now:%y%m%d%H%M%S}{secrets.randbelow(10**12):012d}"


def refund_key(refund: PaymentRefund) -> str:
    """The ledger key of what a refund takes back or gives back."""
    return f"refund:{refund.id}"


# Asking -------------------------------------------------------------------------------------


def _check_input(out_refund_no: Any, amount_fen: Any, reason: Any) -> str:
    if out_refund_no is not None and (
        not isinstance(out_refund_no, str) or not REFUND_NUMBER.match(out_refund_no)
    ):
        raise InvalidInput(
            RefundErrorCode.INVALID_NUMBER,
            "A refund number is 1 to 64 letters, digits or _-|*@.",
        )
    if amount_fen is not None and (
        isinstance(amount_fen, bool)
        or not isinstance(amount_fen, int)
        or not 0 < amount_fen <= MAX_AMOUNT_FEN
    ):
        raise InvalidInput(
            RefundErrorCode.INVALID_AMOUNT, f"A refund is 1 to {MAX_AMOUNT_FEN} whole fen."
        )
    if not isinstance(reason, str) or not reason.strip() or len(reason.strip()) > REASON_MAX:
        raise InvalidInput(
            RefundErrorCode.INVALID_REASON,
            f"A refund needs a reason of 1 to {REASON_MAX} characters.",
        )
    return reason.strip()


async def refund_payment(
    *,
    brand_id: int,
    scope: StoreScope,
    actor: str,
    payment_id: int,
    reason: str,
    out_refund_no: str | None = None,
    amount_fen: int | None = None,
) -> RefundResult:
    """Refund a paid payment in full (no amount) or in part, once per refund number.

    See the module doc. 404 `payment.not_found` outside the brand or the caller's stores;
    409 `refund.not_paid`, `refund.exceeds`, `refund.number_reused`, `refund.failed`,
    `refund.wallet_spent`, or the platform's refusal (`payment.refund_exceeds` …); 422
    `refund.invalid_*`; 502 `payment.upstream` when the platform could not be reached (the
    refund stays processing: ask again with the same number, or let the recovery job settle it).
    """
    reason = _check_input(out_refund_no, amount_fen, reason)
    payment = await get_payment(brand_id=brand_id, scope=scope, payment_id=payment_id)
    now = clock().now()
    number = out_refund_no or new_out_refund_no(now)
    existing = await PaymentRefund.get_or_none(payment_id=payment.id, out_refund_no=number)
    if existing is not None:
        return await _again(payment, existing, amount_fen)
    if payment.state not in (*REFUNDABLE, PaymentState.REFUNDED):
        raise Conflict(RefundErrorCode.NOT_PAID, "Only a paid payment can be refunded.")
    if (
        payment.account_id is not None
        and await PaymentRefund.filter(out_refund_no=number, payment__account_id=payment.account_id)
        .exclude(payment_id=payment.id)
        .exists()
    ):
        raise Conflict(
            RefundErrorCode.NUMBER_REUSED,
            "This refund number names a refund of another payment on the same account.",
        )
    amount = amount_fen if amount_fen is not None else payment.amount_fen - payment.refunded_fen
    if amount <= 0:
        raise Conflict(RefundErrorCode.EXCEEDS, "Nothing is left to refund on this payment.")
    try:
        refund = await _record(payment, number=number, amount=amount, reason=reason, actor=actor)
    except IntegrityError:
        # The same number, asked at the same moment: that request recorded it.
        existing = await PaymentRefund.get_or_none(payment_id=payment.id, out_refund_no=number)
        if existing is None:
            raise
        return await _again(payment, existing, amount_fen)
    if payment.method != PaymentMethod.WALLET:
        await ask_platform(payment, refund)
    return RefundResult(
        await PaymentRefund.get(id=refund.id), await Payment.get(id=payment.id), created=True
    )


async def _again(payment: Payment, refund: PaymentRefund, amount_fen: int | None) -> RefundResult:
    if amount_fen is not None and amount_fen != refund.amount_fen:
        raise Conflict(
            RefundErrorCode.NUMBER_REUSED,
            f"This refund number was used for {refund.amount_fen} fen.",
        )
    if refund.state == RefundState.FAILED:
        raise Conflict(
            RefundErrorCode.FAILED,
            f"The refund under this number failed ({refund.failure or 'refused'}); "
            "use a new refund number.",
        )
    if refund.state == RefundState.PROCESSING and payment.method != PaymentMethod.WALLET:
        await ask_platform(payment, refund)
    return RefundResult(
        await PaymentRefund.get(id=refund.id), await Payment.get(id=payment.id), created=False
    )


async def _record(
    payment: Payment, *, number: str, amount: int, reason: str, actor: str
) -> PaymentRefund:
    """One transaction: the reservation, the refund row, and what stored value moves now."""
    now = clock().now()
    async with in_transaction() as db:
        reserved = await (
            Payment.filter(
                id=payment.id,
                state__in=list(REFUNDABLE),
                refunded_fen__lte=payment.amount_fen - amount,
            )
            .using_db(db)
            .update(refunded_fen=F("refunded_fen") + amount)
        )
        if not reserved:
            raise Conflict(
                RefundErrorCode.EXCEEDS,
                "The refund is more than what is left of the payment (paid minus refunded).",
            )
        refund = await PaymentRefund.create(
            using_db=db,
            brand_id=payment.brand_id,
            payment_id=payment.id,
            out_refund_no=number,
            amount_fen=amount,
            reason=reason,
            actor=actor[:64],
            created_at=now,
        )
        if payment.purpose == PaymentPurpose.RECHARGE and payment.member_id is not None:
            await _take_back_recharge(db, payment, refund)
        if payment.method == PaymentMethod.WALLET:
            await _refund_wallet_payment(db, payment, refund)
        await audit.record(
            brand_id=payment.brand_id,
            actor=actor,
            action="payment.refund",
            target=f"payment:{payment.id}",
            details={"out_refund_no": number, "amount_fen": amount, "refund_id": refund.id},
            connection=db,
        )
    return refund


async def _take_back_recharge(
    db: BaseDBAsyncClient, payment: Payment, refund: PaymentRefund
) -> None:
    credited = (
        await WalletEntry.filter(brand_id=payment.brand_id, key=effects.payment_key(payment))
        .using_db(db)
        .first()
    )
    bonus_total = credited.bonus_delta_fen if credited is not None else 0
    reserved = await Payment.get(id=payment.id, using_db=db)
    taken = cast(
        list[int],
        await PaymentRefund.filter(payment_id=payment.id)
        .exclude(id=refund.id)
        .exclude(state=RefundState.FAILED)
        .using_db(db)
        .values_list("wallet_bonus_fen", flat=True),
    )
    # The bonus due back with everything reserved so far, less what live refunds already took.
    due = bonus_total * reserved.refunded_fen // payment.amount_fen
    bonus = max(0, due - sum(taken))
    assert payment.member_id is not None
    member_id = await _current_member(db, payment.brand_id, payment.member_id)
    try:
        await wallet.take_back_recharge(
            brand_id=payment.brand_id,
            member_id=member_id,
            principal_fen=refund.amount_fen,
            bonus_fen=bonus,
            key=refund_key(refund),
            reason=f"refund {refund.out_refund_no} of recharge {payment.out_trade_no}",
            actor=refund.actor or "system",
            connection=db,
        )
    except Conflict as refused:
        if refused.code != WalletErrorCode.INSUFFICIENT:
            raise
        raise Conflict(
            RefundErrorCode.WALLET_SPENT,
            f"The member has already spent this recharge's stored value. {refused.message}",
        ) from None
    await (
        PaymentRefund.filter(id=refund.id)
        .using_db(db)
        .update(wallet_principal_fen=refund.amount_fen, wallet_bonus_fen=bonus)
    )


async def _refund_wallet_payment(
    db: BaseDBAsyncClient, payment: Payment, refund: PaymentRefund
) -> None:
    entry = await wallet.refund_wallet_spend(
        brand_id=payment.brand_id,
        spend_key=spend_key(payment.id),
        key=refund_key(refund),
        amount_fen=refund.amount_fen,
        reason=f"refund {refund.out_refund_no} of payment {payment.out_trade_no}",
        actor=refund.actor or "system",
        connection=db,
    )
    await (
        PaymentRefund.filter(id=refund.id)
        .using_db(db)
        .update(
            wallet_principal_fen=entry.principal_delta_fen,
            wallet_bonus_fen=entry.bonus_delta_fen,
        )
    )
    await _succeed(db, payment.id, refund.id, refund_id=f"W{entry.id}")


async def ask_platform(payment: Payment, refund: PaymentRefund) -> None:
    """Ask the payment's platform for a recorded refund (again: the number de-duplicates) and
    apply its answer; a refusal fails the refund (and is raised), an unreachable platform
    leaves it processing (ProviderUnavailable is raised)."""
    account = await MerchantAccount.get(id=payment.account_id)
    provider = provider_for(account)
    order = RefundOrder(
        out_trade_no=payment.out_trade_no,
        out_refund_no=refund.out_refund_no,
        refund_fen=refund.amount_fen,
        total_fen=payment.amount_fen,
        reason=refund.reason,
        notify_url=notify_url(account),
    )
    try:
        answer = await provider.refund(order)
    except ProviderRefused as refused:
        await _fail(refund.id, failure=str(refused.code))
        raise
    except ProviderUnavailable:
        log.warning(
            "refund request failed: left processing",
            extra={"payment_id": payment.id, "out_refund_no": refund.out_refund_no},
        )
        raise
    await settle_refund(payment, refund, answer, total_running=False)


# Applying the platform's word ---------------------------------------------------------------


async def apply_refund_notice(payment: Payment, refund: Refund) -> bool:
    """A refund notification's word, applied to the refund recorded under its number; True
    when it changed something. TradeMismatch (nothing changed) when it names no refund of ours
    or an amount that is not the refund's."""
    recorded = await PaymentRefund.get_or_none(
        payment_id=payment.id, out_refund_no=refund.out_refund_no
    )
    if recorded is None:
        raise TradeMismatch("unknown_out_refund_no")
    # Alipay's refund notification carries refund_fee, the trade's refunded total so far
    # (this refund included), not this refund's amount (see providers/alipay.py).
    return await settle_refund(
        payment, recorded, refund, total_running=payment.method == PaymentMethod.ALIPAY
    )


async def settle_refund(
    payment: Payment, recorded: PaymentRefund, refund: Refund, *, total_running: bool
) -> bool:
    """Apply what the platform says about a recorded refund, exactly once; True if it moved.

    SUCCESS: `processing → succeeded` with the payment's state and the claw-back in the same
    transaction (see the module doc). FAILED: `processing → failed`, its amount released and
    any stored value it took put back. PROCESSING: the platform's refund id is kept. The amount
    must be the refund's (`total_running`: a running total that must cover it and not exceed
    the payment), else TradeMismatch and nothing changes.
    """
    if refund.out_refund_no != recorded.out_refund_no:
        raise TradeMismatch("out_refund_no")
    if total_running:
        if not recorded.amount_fen <= refund.amount_fen <= payment.amount_fen:
            raise TradeMismatch("refund_amount")
    elif refund.amount_fen != recorded.amount_fen:
        raise TradeMismatch("refund_amount")
    if refund.state == PlatformRefundState.SUCCESS:
        async with in_transaction() as db:
            return await _succeed(db, payment.id, recorded.id, refund_id=refund.refund_id)
    if refund.state == PlatformRefundState.FAILED:
        return await _fail(recorded.id, failure="platform_failed")
    if refund.refund_id and not recorded.refund_id:
        await PaymentRefund.filter(id=recorded.id, refund_id__isnull=True).update(
            refund_id=refund.refund_id
        )
    return False


async def _lock_payment(db: BaseDBAsyncClient, payment_id: int) -> Payment:
    # Orders every refund's settlement on one payment (a no-op on SQLite, serialised anyway),
    # so that each one sees the refunds that succeeded before it.
    return await Payment.filter(id=payment_id).using_db(db).select_for_update().get()


async def _succeed(
    db: BaseDBAsyncClient, payment_id: int, refund_pk: int, *, refund_id: str | None
) -> bool:
    payment = await _lock_payment(db, payment_id)
    moved = await (
        PaymentRefund.filter(id=refund_pk, state=RefundState.PROCESSING)
        .using_db(db)
        .update(
            state=RefundState.SUCCEEDED,
            refund_id=refund_id,
            succeeded_at=clock().now(),
        )
    )
    if not moved:
        return False
    refund = await PaymentRefund.get(id=refund_pk, using_db=db)
    rows = cast(
        list[int],
        await PaymentRefund.filter(payment_id=payment_id, state=RefundState.SUCCEEDED)
        .using_db(db)
        .values_list("amount_fen", flat=True),
    )
    after = sum(rows)
    before = after - refund.amount_fen
    state = (
        PaymentState.REFUNDED if after >= payment.amount_fen else PaymentState.PARTIALLY_REFUNDED
    )
    await Payment.filter(id=payment_id, state__in=list(REFUNDABLE)).using_db(db).update(state=state)
    await _claw_back(db, payment, refund, before=before, after=after)
    if state == PaymentState.REFUNDED:
        await till.return_coupons_on_refund(db, payment)
    if payment.purpose == PaymentPurpose.MALL:
        await on_refund_succeeded(db, out_refund_no=refund.out_refund_no)
    return True


def _share(earned: int, *, before: int, after: int, total: int) -> int:
    """What a refund taking the refunded total from `before` to `after` owes of `earned`."""
    return earned * after // total - earned * before // total


async def _claw_back(
    db: BaseDBAsyncClient, payment: Payment, refund: PaymentRefund, *, before: int, after: int
) -> None:
    if payment.member_id is None or payment.purpose == PaymentPurpose.RECHARGE:
        return
    member_id = await _current_member(db, payment.brand_id, payment.member_id)
    key = refund_key(refund)
    earned_key = effects.payment_key(payment)
    changes: dict[str, int] = {}
    points = _share(payment.points_earned, before=before, after=after, total=payment.amount_fen)
    if points > 0:
        taken = await take_back_points(
            brand_id=payment.brand_id,
            member_id=member_id,
            amount=points,
            key=key,
            earned_key=earned_key,
            reason=f"refund {refund.out_refund_no} of payment {payment.out_trade_no}",
            connection=db,
        )
        changes |= {"points_clawed_back": taken.taken, "points_unrecovered": taken.short}
    grown = cast(
        list[int],
        await GrowthEntry.filter(
            brand_id=payment.brand_id, key=earned_key, kind=GrowthEntryKind.EARN
        )
        .using_db(db)
        .values_list("delta", flat=True),
    )
    growth = _share(sum(grown), before=before, after=after, total=payment.amount_fen)
    if growth > 0:
        entry = await take_back_growth(
            brand_id=payment.brand_id,
            member_id=member_id,
            amount=growth,
            key=key,
            connection=db,
        )
        changes["growth_clawed_back"] = -entry.delta if entry is not None else 0
    if changes:
        await PaymentRefund.filter(id=refund.id).using_db(db).update(**changes)


async def _current_member(db: BaseDBAsyncClient, brand_id: int, member_id: int) -> int:
    """The member now holding a payer's ledgers: the survivor when they were merged."""
    for _ in range(MERGE_HOPS):
        member = await Member.get(id=member_id, brand_id=brand_id, using_db=db)
        if member.status != MemberStatus.MERGED or member.merged_into_id is None:
            return member.id
        member_id = member.merged_into_id
    return member_id


async def _fail(refund_pk: int, *, failure: str) -> bool:
    """`processing → failed` once: the amount released, stored value taken put back."""
    async with in_transaction() as db:
        refund = await PaymentRefund.get(id=refund_pk, using_db=db)
        await _lock_payment(db, refund.payment_id)
        moved = await (
            PaymentRefund.filter(id=refund_pk, state=RefundState.PROCESSING)
            .using_db(db)
            .update(state=RefundState.FAILED, failure=failure[:64])
        )
        if not moved:
            return False
        await (
            Payment.filter(id=refund.payment_id, refunded_fen__gte=refund.amount_fen)
            .using_db(db)
            .update(refunded_fen=F("refunded_fen") - refund.amount_fen)
        )
        payment = await Payment.get(id=refund.payment_id, using_db=db)
        taken = (refund.wallet_principal_fen, refund.wallet_bonus_fen)
        if payment.purpose == PaymentPurpose.RECHARGE and payment.member_id and any(taken):
            await wallet.restore_taken_back(
                brand_id=payment.brand_id,
                member_id=await _current_member(db, payment.brand_id, payment.member_id),
                principal_fen=taken[0],
                bonus_fen=taken[1],
                key=f"{refund_key(refund)}:restore",
                reason=f"refund {refund.out_refund_no} failed: the recharge is put back",
                connection=db,
            )
    log.warning("refund failed", extra={"refund_id": refund_pk, "failure": failure})
    return True
