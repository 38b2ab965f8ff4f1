"""The transactional outbox: side effects written with the business change, delivered by workers.

A service calls `enqueue()` inside its own `in_transaction()` block, so the message commits or
rolls back with the change it announces. Workers call `deliver_due()` on a schedule; each due row
is claimed with a guarded update that moves `next_attempt_at` forward as a lease, so several
worker processes never send the same row at the same time, and a row whose worker died mid-send
is picked up again once the lease has run out. Handlers must therefore tolerate the rare
duplicate (a lease that expired while its worker was still sending): pass the message id or the
dedupe key to the provider when it accepts one.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.functions import Count

from config.settings import get_settings

from .models import OutboxMessage, OutboxStatus
from .ports import clock

log = logging.getLogger("memberhub.outbox")

Handler = Callable[[dict[str, Any]], Awaitable[Any]]

_HANDLERS: dict[str, Handler] = {}

_MAX_ERROR_CHARS = 4000


class UnknownTopic(LookupError):
    """No handler is registered for a message's topic (recorded like a failed send)."""


@dataclass
class DeliveryReport:
    """What one `deliver_due()` call did."""

    sent: int = 0
    retried: int = 0
    dead: int = 0


def register_handler(topic: str, handler: Handler) -> None:
    """Route messages of `topic` to `handler(payload)`; a later registration replaces it."""
    _HANDLERS[topic] = handler


async def enqueue(
    *,
    topic: str,
    payload: dict[str, Any],
    brand_id: int | None = None,
    dedupe_key: str | None = None,
    connection: BaseDBAsyncClient | None = None,
) -> OutboxMessage:
    """Write a message to send after commit; a repeated `dedupe_key` returns the first row."""
    now = clock().now()
    fields: dict[str, Any] = {
        "topic": topic,
        "payload": payload,
        "brand_id": brand_id,
        "next_attempt_at": now,
    }
    if dedupe_key is None:
        return await OutboxMessage.create(using_db=connection, **fields)
    # INSERT … ON CONFLICT DO NOTHING rather than catching IntegrityError: on PostgreSQL a failed
    # insert aborts the caller's whole transaction, and a concurrent twin waits on the unique
    # index instead of racing a read-then-insert.
    await OutboxMessage.bulk_create(
        [OutboxMessage(dedupe_key=dedupe_key, **fields)],
        ignore_conflicts=True,
        using_db=connection,
    )
    return await OutboxMessage.get(dedupe_key=dedupe_key, using_db=connection)


async def count_undelivered() -> dict[str, int]:
    """How many messages wait to be sent (`pending`) and how many were given up on (`dead`)."""
    rows = (
        await OutboxMessage.filter(status__in=[OutboxStatus.PENDING, OutboxStatus.DEAD])
        .annotate(count=Count("id"))
        .group_by("status")
        .values("status", "count")
    )
    counts = {OutboxStatus.PENDING.value: 0, OutboxStatus.DEAD.value: 0}
    for row in rows:
        counts[OutboxStatus(row["status"]).value] = row["count"]
    return counts


def backoff_s(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed attempt: 2**n, capped, plus ≤10 % jitter."""
    base = min(2.0**attempts, float(get_settings().outbox_backoff_max_s))
    # Jitter spreads retries of a batch that failed together (an upstream outage) over time.
    return base + random.uniform(0, base / 10)


async def deliver_due(*, limit: int | None = None) -> DeliveryReport:
    """Send every due pending message once (up to `limit`), retrying failures with backoff."""
    settings = get_settings()
    now = clock().now()
    candidates = (
        await OutboxMessage.filter(status=OutboxStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "id")
        .limit(limit or settings.outbox_batch_size)
    )
    report = DeliveryReport()
    for message in candidates:
        if not await _claim(message, now=now, lease_s=settings.outbox_lease_s):
            continue  # another worker holds it
        outcome = await _deliver(message, max_attempts=settings.outbox_max_attempts)
        if outcome is OutboxStatus.SENT:
            report.sent += 1
        elif outcome is OutboxStatus.DEAD:
            report.dead += 1
        else:
            report.retried += 1
    return report


async def _claim(message: OutboxMessage, *, now: datetime, lease_s: int) -> bool:
    """Take the row for one attempt: only the update that still sees the old due time wins."""
    seen_due_at = message.next_attempt_at
    lease_until = now + timedelta(seconds=lease_s)
    # The attempt is counted at claim time, so a message that kills its worker every time
    # (a poison payload) still reaches `dead` instead of looping forever.
    claimed = await OutboxMessage.filter(
        id=message.id, status=OutboxStatus.PENDING, next_attempt_at=seen_due_at
    ).update(next_attempt_at=lease_until, attempts=message.attempts + 1)
    if claimed:
        message.attempts += 1
        message.next_attempt_at = lease_until
    return bool(claimed)


async def _deliver(message: OutboxMessage, *, max_attempts: int) -> OutboxStatus:
    """Run the handler of a claimed message and record the outcome."""
    handler = _HANDLERS.get(message.topic)
    error: str | None = None
    if message.attempts > max_attempts:
        # Only reachable when earlier claims never recorded an outcome (their worker died).
        error = message.last_error or "worker lost the message mid-send too many times"
    elif handler is None:
        error = f"UnknownTopic: no handler registered for topic {message.topic!r}"
    else:
        try:
            await handler(message.payload)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning(
                "outbox message %s (%s) failed, attempt %s: %s",
                message.id,
                message.topic,
                message.attempts,
                error,
            )
    pending = OutboxMessage.filter(id=message.id, status=OutboxStatus.PENDING)
    if error is None:
        await pending.update(status=OutboxStatus.SENT, sent_at=clock().now(), last_error="")
        return OutboxStatus.SENT
    # A failure is recorded only while our lease stands: if it ran out and another worker
    # re-claimed the row, moving `next_attempt_at` would hand that worker's lease to a third.
    mine = pending.filter(next_attempt_at=message.next_attempt_at)
    if message.attempts >= max_attempts:
        await mine.update(status=OutboxStatus.DEAD, last_error=error[:_MAX_ERROR_CHARS])
        log.error("outbox message %s (%s) is dead: %s", message.id, message.topic, error)
        return OutboxStatus.DEAD
    retry_at = clock().now() + timedelta(seconds=backoff_s(message.attempts))
    await mine.update(next_attempt_at=retry_at, last_error=error[:_MAX_ERROR_CHARS])
    return OutboxStatus.PENDING
