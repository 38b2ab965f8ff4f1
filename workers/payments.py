"""Payment schedules: recovery of payments whose notification never came, every minute."""

from __future__ import annotations

from typing import Any

from api.core.queue import job, schedule
from api.payments import onboarding, recovery
from config.settings import Settings

PAYMENTS_RECOVER = "payments.recover"


@job(PAYMENTS_RECOVER, timeout_s=300)
async def recover_payments() -> dict[str, int]:
    """Query stale unpaid payments at their platform; close the expired ones (safe to run twice)."""
    return await recovery.recover_payments()


def register(settings: Settings) -> None:
    schedule(PAYMENTS_RECOVER, cron="* * * * *")


@job(onboarding.ONBOARDING_JOB, timeout_s=900)
async def onboard_stores(*, job_id: int) -> dict[str, Any]:
    """Validate, check with the platforms and write one queued franchise onboarding."""
    return await onboarding.run_onboarding(job_id=job_id)
