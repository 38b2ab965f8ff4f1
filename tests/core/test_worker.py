"""The worker: its jobs deliver the outbox, and `memberhub worker` runs until SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from api.core import outbox
from api.core.mail import enqueue_mail
from api.core.models import OutboxMessage, OutboxStatus
from api.core.ports import Ports
from api.core.queue import REGISTRY, LocalQueue
from config.settings import Settings
from workers.jobs import OUTBOX_DELIVER
from workers.main import register_jobs

from .conftest import SmtpCatcher
from .test_queue import eventually

ROOT = Path(__file__).resolve().parents[2]


async def test_the_outbox_job_delivers_queued_mail(
    ports: Ports,
    smtp: SmtpCatcher,
    handlers: dict[str, outbox.Handler],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "smtp_port", smtp.port)
    register_jobs(settings)
    message = await enqueue_mail(to="e@example.com", subject="Points expiring", text="…")
    queue = LocalQueue(REGISTRY)

    await queue.enqueue(OUTBOX_DELIVER)
    await queue.join()

    assert [e.rcpt_tos for e in smtp.envelopes] == [["e@example.com"]]
    assert (await OutboxMessage.get(id=message.id)).status is OutboxStatus.SENT
    assert REGISTRY.schedules[OUTBOX_DELIVER].every_s == settings.outbox_poll_s


async def test_worker_process_delivers_without_other_activity_and_stops_on_sigterm(
    ports: Ports, smtp: SmtpCatcher
) -> None:
    message = await enqueue_mail(to="f@example.com", subject="Welcome", text="Hi")
    env = os.environ | {
        "MEMBERHUB_SMTP_HOST": smtp.host,
        "MEMBERHUB_SMTP_PORT": str(smtp.port),
        "MEMBERHUB_OUTBOX_POLL_S": "1",
        "MEMBERHUB_WORKER_SHUTDOWN_GRACE_S": "1",
    }
    with tempfile.TemporaryFile() as output:
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "api.cli",
            "worker",
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            await eventually(lambda: len(smtp.envelopes) == 1, timeout_s=20)
            worker.send_signal(signal.SIGTERM)
            returncode = await asyncio.wait_for(worker.wait(), timeout=20)
        finally:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
        output.seek(0)
        log = output.read().decode(errors="replace")

    assert returncode == 0, log
    assert smtp.envelopes[0].rcpt_tos == ["f@example.com"]
    assert (await OutboxMessage.get(id=message.id)).status is OutboxStatus.SENT
