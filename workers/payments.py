"""Payment schedules: recovery of payments whose notification never came, every minute."""

from __future__ import annotations

from api.core.queue import job, schedule
from api.payments import member_code_pay, recovery
from config.settings import Settings

PAYMENTS_RECOVER = "payments.recover"


@job(PAYMENTS_RECOVER, timeout_s=300)
async def recover_payments() -> dict[str, int]:
    """Query stale unpaid payments at their platform; close the expired ones (safe to run twice)."""
    return await recovery.recover_payments()


def register(settings: Settings) -> None:
    schedule(PAYMENTS_RECOVER, cron="* * * * *")
    schedule(POS_CLOSE_UNCONFIRMED, cron="* * * * *")


POS_CLOSE_UNCONFIRMED = "pos.close_unconfirmed"


@job(POS_CLOSE_UNCONFIRMED, timeout_s=120)
async def close_unconfirmed_pos_payments() -> int:
    """Close the till's member-code payments nobody confirmed in time; reopen their orders."""
    return await member_code_pay.close_unconfirmed()
