"""Payment schedules: recovery of payments whose notification never came, every minute, and
the daily reconciliation of the platforms' bills."""

from __future__ import annotations

from api.core.queue import job, schedule
from api.payments import reconciliation, recovery
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
