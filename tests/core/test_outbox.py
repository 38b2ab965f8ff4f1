"""The outbox: transactional enqueue, delivery, retries with backoff, leases, concurrency."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from api.core import outbox
from api.core.clock import FrozenClock
from api.core.models import OutboxMessage, OutboxStatus
from api.core.ports import Ports
from config.settings import Settings


class Boom(Exception):
    pass


class WorkerDied(BaseException):
    """Stands for the process being killed mid-send: nothing after it runs."""


def recorder(calls: list[dict[str, Any]]) -> outbox.Handler:
    async def handler(payload: dict[str, Any]) -> None:
        calls.append(payload)

    return handler


async def test_enqueue_commits_with_the_transaction(ports: Ports) -> None:
    async with in_transaction() as connection:
        message = await outbox.enqueue(
            topic="mail.send", payload={"to": ["a@example.com"]}, brand_id=7, connection=connection
        )

    row = await OutboxMessage.get(id=message.id)
    assert (row.topic, row.payload, row.brand_id) == ("mail.send", {"to": ["a@example.com"]}, 7)
    assert row.status is OutboxStatus.PENDING
    assert row.attempts == 0


async def test_enqueue_in_a_rolled_back_transaction_leaves_no_row(ports: Ports) -> None:
    with pytest.raises(Boom):
        async with in_transaction():
            await outbox.enqueue(topic="mail.send", payload={"n": 1})
            await outbox.enqueue(topic="mail.send", payload={"n": 2}, dedupe_key="k-1")
            raise Boom

    assert await OutboxMessage.all().count() == 0


async def test_repeated_dedupe_key_returns_the_first_row(ports: Ports) -> None:
    first = await outbox.enqueue(topic="mail.send", payload={"n": 1}, dedupe_key="welcome:3")
    async with in_transaction() as connection:
        second = await outbox.enqueue(
            topic="mail.send", payload={"n": 2}, dedupe_key="welcome:3", connection=connection
        )

    assert second.id == first.id
    assert second.payload == {"n": 1}
    assert await OutboxMessage.filter(dedupe_key="welcome:3").count() == 1


async def test_concurrent_enqueues_with_one_dedupe_key_write_one_row(ports: Ports) -> None:
    rows = await asyncio.gather(
        *(outbox.enqueue(topic="t", payload={"n": n}, dedupe_key="once") for n in range(10))
    )

    assert len({row.id for row in rows}) == 1
    assert await OutboxMessage.all().count() == 1


async def test_delivery_calls_the_handler_once_and_marks_sent(
    clock: FrozenClock, handlers: dict[str, outbox.Handler]
) -> None:
    calls: list[dict[str, Any]] = []
    outbox.register_handler("mail.send", recorder(calls))
    message = await outbox.enqueue(topic="mail.send", payload={"to": ["a@example.com"]})

    report = await outbox.deliver_due()
    again = await outbox.deliver_due()

    assert calls == [{"to": ["a@example.com"]}]
    assert (report.sent, report.retried, report.dead) == (1, 0, 0)
    assert (again.sent, again.retried, again.dead) == (0, 0, 0)
    row = await OutboxMessage.get(id=message.id)
    assert row.status is OutboxStatus.SENT
    assert row.sent_at == clock.now()
    assert row.attempts == 1


async def test_a_message_due_later_waits(
    clock: FrozenClock, handlers: dict[str, outbox.Handler]
) -> None:
    calls: list[dict[str, Any]] = []
    outbox.register_handler("t", recorder(calls))
    await outbox.enqueue(topic="t", payload={})
    clock.advance(seconds=-1)  # the message was written "after" now

    assert (await outbox.deliver_due()).sent == 0
    clock.advance(seconds=1)
    assert (await outbox.deliver_due()).sent == 1


async def test_failed_send_is_retried_with_backoff(
    clock: FrozenClock, handlers: dict[str, outbox.Handler]
) -> None:
    calls = 0

    async def flaky(payload: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise Boom("smtp down")

    outbox.register_handler("t", flaky)
    message = await outbox.enqueue(topic="t", payload={})
    failed_at = clock.now()

    first = await outbox.deliver_due()

    assert (first.sent, first.retried, first.dead) == (0, 1, 0)
    row = await OutboxMessage.get(id=message.id)
    assert row.status is OutboxStatus.PENDING
    assert row.attempts == 1
    assert row.last_error == "Boom: smtp down"
    # 2**1 s, plus at most 10 % jitter.
    assert failed_at + timedelta(seconds=2) <= row.next_attempt_at
    assert row.next_attempt_at <= failed_at + timedelta(seconds=2.2)

    assert (await outbox.deliver_due()).retried == 0  # not due yet
    assert calls == 1

    clock.advance(seconds=3)
    second = await outbox.deliver_due()

    assert (second.sent, second.retried) == (1, 0)
    row = await OutboxMessage.get(id=message.id)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.SENT, 2, "")
    assert calls == 2


async def test_backoff_grows_and_the_message_dies_after_max_attempts(
    clock: FrozenClock,
    handlers: dict[str, outbox.Handler],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "outbox_max_attempts", 4)
    calls = 0

    async def down(payload: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        raise Boom(f"attempt {calls}")

    outbox.register_handler("t", down)
    message = await outbox.enqueue(topic="t", payload={})
    delays = []

    for _ in range(3):
        before = clock.now()
        assert (await outbox.deliver_due()).retried == 1
        row = await OutboxMessage.get(id=message.id)
        delays.append((row.next_attempt_at - before).total_seconds())
        clock.set(row.next_attempt_at)

    final = await outbox.deliver_due()

    assert [round(d) for d in delays] == [2, 4, 8] or all(
        2**n <= d <= 2**n * 1.1 for n, d in enumerate(delays, start=1)
    )
    assert (final.sent, final.retried, final.dead) == (0, 0, 1)
    row = await OutboxMessage.get(id=message.id)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.DEAD, 4, "Boom: attempt 4")
    clock.advance(hours=2)
    assert (await outbox.deliver_due()).dead == 0
    assert calls == 4


async def test_backoff_is_capped(settings: Settings) -> None:
    assert outbox.backoff_s(40) <= settings.outbox_backoff_max_s * 1.1
    assert outbox.backoff_s(3) >= 8


async def test_unknown_topic_is_recorded_as_a_failure(
    clock: FrozenClock, handlers: dict[str, outbox.Handler]
) -> None:
    message = await outbox.enqueue(topic="nobody.listens", payload={})

    report = await outbox.deliver_due()

    assert report.retried == 1
    row = await OutboxMessage.get(id=message.id)
    assert row.status is OutboxStatus.PENDING
    assert row.attempts == 1
    assert "UnknownTopic" in row.last_error and "nobody.listens" in row.last_error


async def test_a_row_held_by_a_dead_worker_waits_for_the_lease_then_is_retried(
    clock: FrozenClock, handlers: dict[str, outbox.Handler], settings: Settings
) -> None:
    calls: list[dict[str, Any]] = []

    async def dies(payload: dict[str, Any]) -> None:
        raise WorkerDied

    outbox.register_handler("t", dies)
    message = await outbox.enqueue(topic="t", payload={"n": 1})
    with pytest.raises(WorkerDied):
        await outbox.deliver_due()
    outbox.register_handler("t", recorder(calls))  # a healthy worker takes over

    clock.advance(seconds=settings.outbox_lease_s - 1)
    during_lease = await outbox.deliver_due()

    assert during_lease.sent == 0
    assert calls == []
    row = await OutboxMessage.get(id=message.id)
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 1)

    clock.advance(seconds=1)
    after_lease = await outbox.deliver_due()

    assert after_lease.sent == 1
    assert calls == [{"n": 1}]
    row = await OutboxMessage.get(id=message.id)
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 2)


async def test_a_message_that_keeps_killing_its_worker_ends_dead(
    clock: FrozenClock,
    handlers: dict[str, outbox.Handler],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "outbox_max_attempts", 2)

    async def dies(payload: dict[str, Any]) -> None:
        raise WorkerDied

    outbox.register_handler("t", dies)
    message = await outbox.enqueue(topic="t", payload={})
    for _ in range(2):
        with pytest.raises(WorkerDied):
            await outbox.deliver_due()
        clock.advance(seconds=settings.outbox_lease_s)

    report = await outbox.deliver_due()

    assert report.dead == 1
    row = await OutboxMessage.get(id=message.id)
    assert row.status is OutboxStatus.DEAD


async def test_concurrent_deliveries_send_each_message_exactly_once(
    clock: FrozenClock, handlers: dict[str, outbox.Handler]
) -> None:
    sent: list[int] = []

    async def slow(payload: dict[str, Any]) -> None:
        await asyncio.sleep(0.001)  # let the other deliverers interleave mid-send
        sent.append(payload["n"])

    outbox.register_handler("t", slow)
    for n in range(20):
        await outbox.enqueue(topic="t", payload={"n": n})

    reports = await asyncio.gather(*(outbox.deliver_due() for _ in range(5)))

    assert sorted(sent) == list(range(20))
    assert Counter(sent).most_common(1)[0][1] == 1
    assert sum(report.sent for report in reports) == 20
    assert await OutboxMessage.filter(status=OutboxStatus.SENT).count() == 20


async def test_delivery_respects_the_limit(
    clock: FrozenClock, handlers: dict[str, outbox.Handler]
) -> None:
    calls: list[dict[str, Any]] = []
    outbox.register_handler("t", recorder(calls))
    for n in range(5):
        await outbox.enqueue(topic="t", payload={"n": n})

    assert (await outbox.deliver_due(limit=2)).sent == 2
    assert (await outbox.deliver_due()).sent == 3
    assert [c["n"] for c in calls] == [0, 1, 2, 3, 4]
