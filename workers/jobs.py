"""The worker's jobs and schedules: each job is a thin call into a service.

To add a job family (points expiry, campaigns, reports …): write `@job("family.verb")` functions
that call ONE service function each (in this module or a `workers/<family>.py` listed in
`JOB_MODULES` of workers/main.py), and declare its timetable in `register()` below. Jobs must be
idempotent: saq retries, and a schedule may fire twice.
"""

from __future__ import annotations

from dataclasses import asdict

from api.core import outbox
from api.core.mail import MAIL_TOPIC, handle_mail_send
from api.core.queue import job, schedule
from api.member_center.welcome import WELCOME_TOPIC, send_welcome
from config.settings import Settings, get_settings

OUTBOX_DELIVER = "outbox.deliver"

# Outbox topic → handler, delivered by `outbox.deliver`. Domains add theirs here
# (e.g. "wechat.template" → the official-account client's send function).
OUTBOX_HANDLERS: dict[str, outbox.Handler] = {
    MAIL_TOPIC: handle_mail_send,
    WELCOME_TOPIC: send_welcome,
}

# A full batch means more are probably due; keep going, but give the worker back in time for
# its other schedules.
_MAX_BATCHES_PER_RUN = 10


@job(OUTBOX_DELIVER, timeout_s=600)
async def deliver_outbox() -> dict[str, int]:
    """Deliver the due outbox messages, batch after batch while batches come back full."""
    batch_size = get_settings().outbox_batch_size
    total = outbox.DeliveryReport()
    for _ in range(_MAX_BATCHES_PER_RUN):
        report = await outbox.deliver_due(limit=batch_size)
        total.sent += report.sent
        total.retried += report.retried
        total.dead += report.dead
        if report.sent + report.retried + report.dead < batch_size:
            break
    return asdict(total)


def register(settings: Settings) -> None:
    """Declare the schedules and outbox handlers this worker runs."""
    for topic, handler in OUTBOX_HANDLERS.items():
        outbox.register_handler(topic, handler)
    # Messages go out within a few seconds even when nothing else happens.
    schedule(OUTBOX_DELIVER, every_s=settings.outbox_poll_s)
