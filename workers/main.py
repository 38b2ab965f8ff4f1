"""The worker process (`memberhub worker`): runs queued jobs and schedules until told to stop."""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal

from api.core import ports
from api.core.db import close_db, init_db
from api.wiring import wire
from config.settings import Settings

log = logging.getLogger("memberhub.worker")

# Modules whose `@job` functions the worker runs; each has `register(settings)` for its
# schedules and outbox handlers. Add a job family by adding its module here.
JOB_MODULES = ["workers.jobs", "workers.member_center"]


def register_jobs(settings: Settings) -> None:
    """Import every job module and let it declare its schedules and outbox handlers."""
    for name in JOB_MODULES:
        importlib.import_module(name).register(settings)


async def run_worker(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run jobs and schedules until SIGINT/SIGTERM (or until `stop` is set)."""
    stop = stop or asyncio.Event()
    if settings.log_level.upper() != "DEBUG":
        # saq logs every enqueue/start/finish at INFO: one line per second per schedule.
        logging.getLogger("saq").setLevel(logging.WARNING)
    wire()
    installed = ports.install(ports.build_ports(settings, worker=True))
    await init_db(settings)
    register_jobs(settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await installed.queue.start()
        log.info("worker started (%s)", type(installed.queue).__name__)
        await stop.wait()
        log.info("worker stopping")
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await installed.queue.stop()
        await installed.cache.close()
        await close_db()
