"""Payment schedules: recovery of payments whose notification never came, every minute."""

from __future__ import annotations

from api.core.queue import job, schedule
from api.payments import recovery
from config.settings import Settings

PAYMENTS_RECOVER = "payments.recover"


@job(PAYMENTS_RECOVER, timeout_s=300)
async def recover_payments() -> dict[str, int]:
    """Query stale unpaid payments at their platform; close the expired ones (safe to run twice)."""
    return await recovery.recover_payments()


def register(settings: Settings) -> None:
    schedule(PAYMENTS_RECOVER, cron="* * * * *")
    schedule(PAYMENTS_RECOVER_REFUNDS, cron="* * * * *")


PAYMENTS_RECOVER_REFUNDS = "payments.recover_refunds"


@job(PAYMENTS_RECOVER_REFUNDS, timeout_s=300)
async def recover_refunds() -> dict[str, int]:
    """Settle refunds still processing at their platform (safe to run twice)."""
    return await recovery.recover_refunds()
