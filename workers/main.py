"""The worker process (`memberhub worker`): runs queued jobs and schedules until told to stop."""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from api.core import ports
from api.core.db import close_db, init_db
from api.core.metrics import REGISTRY
from api.wiring import wire
from config.settings import Settings

log = logging.getLogger("memberhub.worker")

# Modules whose `@job` functions the worker runs; each has `register(settings)` for its
# schedules and outbox handlers. Add a job family by adding its module here.
JOB_MODULES = [
    "workers.jobs",
    "workers.member_center",
    "workers.payments",
    "workers.coupons",
    "workers.wechat_callbacks",
    "workers.wechat_messages",
    "workers.mall",
]


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
    metrics_server = _serve_metrics(settings)
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
        if metrics_server is not None:
            await asyncio.to_thread(metrics_server.shutdown)
            metrics_server.server_close()


def _serve_metrics(settings: Settings) -> WSGIServer | None:
    """The worker's /metrics on MEMBERHUB_WORKER_METRICS_PORT, when set: its jobs and its calls
    to the platforms (the API's /metrics has the queue depth and the outbox backlog)."""
    if settings.worker_metrics_port is None:
        return None
    server, _thread = start_http_server(
        settings.worker_metrics_port, addr=settings.host, registry=REGISTRY
    )
    log.info("worker metrics on %s:%s", settings.host, settings.worker_metrics_port)
    return server
