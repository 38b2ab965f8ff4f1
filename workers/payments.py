"""Payment jobs: recovery of payments whose notification never came (every minute), the daily
reconciliation of the platforms' bills, and franchise onboardings (queued by the admin API)."""

from __future__ import annotations

from typing import Any

from api.core.queue import job, schedule
from api.payments import onboarding, reconciliation, recovery
from config.settings import Settings

PAYMENTS_RECOVER = "payments.recover"


@job(PAYMENTS_RECOVER, timeout_s=300)
async def recover_payments() -> dict[str, int]:
    """Query stale unpaid payments at their platform; close the expired ones (safe to run twice)."""
    return await recovery.recover_payments()


def register(settings: Settings) -> None:
    schedule(PAYMENTS_RECOVER, cron="* * * * *")
    register_reconciliation(settings)


PAYMENTS_RECONCILE = "payments.reconcile"


@job(PAYMENTS_RECONCILE, timeout_s=3600)
async def reconcile_payments() -> dict[str, dict[str, int]]:
    """Compare yesterday's bill of every active account with our books (a rerun replaces it)."""
    return await reconciliation.reconcile_yesterday()


def register_reconciliation(settings: Settings) -> None:
    """Bills of day D are ready on the platforms from about 09:00 on D+1 (China time)."""
    schedule(PAYMENTS_RECONCILE, cron="0 10 * * *")


@job(onboarding.ONBOARDING_JOB, timeout_s=900)
async def onboard_stores(*, job_id: int) -> dict[str, Any]:
    """Validate, check with the platforms and write one queued franchise onboarding."""
    return await onboarding.run_onboarding(job_id=job_id)
