"""Payment jobs: every minute, recovery of payments whose notification never came, of refunds
left processing, and of the till's unconfirmed member-code payments, and the till's idle orders
cancelled; the daily reconciliation
of the platforms' bills; franchise onboardings (queued by the admin API)."""

from __future__ import annotations

from typing import Any

from api.core.queue import job, schedule
from api.payments import member_code_pay, onboarding, reconciliation, recovery, till
from config.settings import Settings

PAYMENTS_RECOVER = "payments.recover"
PAYMENTS_RECOVER_REFUNDS = "payments.recover_refunds"
PAYMENTS_RECONCILE = "payments.reconcile"
POS_CLOSE_UNCONFIRMED = "pos.close_unconfirmed"
POS_CANCEL_IDLE = "pos.cancel_idle"


@job(PAYMENTS_RECOVER, timeout_s=300)
async def recover_payments() -> dict[str, int]:
    """Query stale unpaid payments at their platform; close the expired ones (safe to run twice)."""
    return await recovery.recover_payments()


@job(PAYMENTS_RECOVER_REFUNDS, timeout_s=300)
async def recover_refunds() -> dict[str, int]:
    """Settle refunds still processing at their platform (safe to run twice)."""
    return await recovery.recover_refunds()


@job(PAYMENTS_RECONCILE, timeout_s=3600)
async def reconcile_payments() -> dict[str, dict[str, int]]:
    """Compare yesterday's bill of every active account with our books (a rerun replaces it)."""
    return await reconciliation.reconcile_yesterday()


@job(POS_CLOSE_UNCONFIRMED, timeout_s=120)
async def close_unconfirmed_pos_payments() -> int:
    """Close the till's member-code payments nobody confirmed in time; reopen their orders."""
    return await member_code_pay.close_unconfirmed()


@job(POS_CANCEL_IDLE, timeout_s=120)
async def cancel_idle_pos_orders() -> int:
    """Cancel till orders left unpaid past their brand's payment timeout; their coupons go back."""
    return await till.cancel_idle_orders()


@job(onboarding.ONBOARDING_JOB, timeout_s=900)
async def onboard_stores(*, job_id: int) -> dict[str, Any]:
    """Validate, check with the platforms and write one queued franchise onboarding."""
    return await onboarding.run_onboarding(job_id=job_id)


def register(settings: Settings) -> None:
    """Cron times are Asia/Shanghai. Bills of day D are ready from about 09:00 on D+1."""
    schedule(PAYMENTS_RECOVER, cron="* * * * *")
    schedule(POS_CLOSE_UNCONFIRMED, cron="* * * * *")
    schedule(POS_CANCEL_IDLE, cron="* * * * *")
    schedule(PAYMENTS_RECONCILE, cron="0 10 * * *")
    schedule(PAYMENTS_RECOVER_REFUNDS, cron="* * * * *")
