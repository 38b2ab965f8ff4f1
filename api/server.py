"""`memberhub serve`: the API in one process, or in several under Sanic's worker manager.

Several processes need more than Sanic does on its own:

- Each API process is spawned blank, so it configures logging before it builds the app;
  otherwise its access log goes nowhere.
- They share one directory for prometheus-client's multiprocess mode, created for this run
  (those of earlier runs whose main process is gone are removed at start), so that a scrape
  answered by any of them counts the requests of all.
- SIGTERM or SIGINT, to the main process or to the whole process group (as systemd and a
  terminal's Ctrl-C send them), ends every process with status 0 and no traceback, also while
  the processes are still starting. Left to Sanic, a signal before every process had reported
  ready made its manager busy-wait forever (sanic-org/sanic#2997); one to the group killed the
  manager's state server (exit status 1) and interrupted the API processes in the middle of
  their start-up or shutdown. So the main process holds both signals back in its main thread
  (the state server, spawned meanwhile, keeps them held back and is stopped by Sanic at the
  end), takes them in a thread of its own once every API process is spawned, and waits for
  the processes' start-up without spinning; each API
  process holds them back in every thread but one, which takes them: the first stops the
  process as soon as it serves, later ones are ignored.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from functools import partial
from multiprocessing import resource_tracker
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config.logging import configure_logging
from config.settings import Settings, get_settings

if TYPE_CHECKING:
    from sanic import Sanic
    from sanic.worker.manager import WorkerManager


SIGNALS = {signal.SIGINT, signal.SIGTERM}
# Sanic gives up on API processes that have not started after 30 s; a loaded machine needs more.
START_TIMEOUT_S = 120
_METRICS_DIR_PREFIX = "memberhub-metrics-"


def serve(settings: Settings, *, host: str, port: int, workers: int) -> None:
    """Serve the API on host:port with `workers` processes until SIGTERM or SIGINT."""
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from api.app import create_app

    if workers == 1:
        # One process serves in this one. (Handing a single-process app to the manager starts
        # a worker that never reports ready, and the manager then spins instead of stopping.)
        app = _as_api_process(create_app(settings))
        app.prepare(host=host, port=port, access_log=False, motd=False, single_process=True)
        Sanic.serve_single(primary=app)
        return

    metrics_dir = _new_metrics_dir()
    # Read by prometheus-client when it is imported in each API process this one spawns.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    # multiprocessing unblocks both signals after it starts its resource tracker: start it first.
    resource_tracker.ensure_running()
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        app = create_app(settings)
        app.prepare(host=host, port=port, workers=workers, access_log=False, motd=False)
        app.register_listener(_watch_start_up, "main_process_ready")
        Sanic.serve(primary=app, app_loader=AppLoader(factory=api_process_app))
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
        shutil.rmtree(metrics_dir, ignore_errors=True)


def api_process_app() -> Sanic:
    """The app as each API process started by the manager builds it (with signals held back)."""
    from api.app import create_app

    settings = get_settings()
    configure_logging(settings.log_level)
    app = _as_api_process(create_app(settings))
    stop = _StopOnSignal(app)
    threading.Thread(target=stop.take_signals, name="signals", daemon=True).start()
    app.register_listener(stop.serving, "after_server_start")
    return app


def _as_api_process(app: Sanic) -> Sanic:
    from api.core import metrics

    async def started(app: Sanic) -> None:
        metrics.mark_api_process_started()

    async def stopped(app: Sanic) -> None:
        metrics.mark_api_process_stopped()

    app.register_listener(started, "after_server_start")
    app.register_listener(stopped, "after_server_stop")
    return app


# --- the metrics directory ----------------------------------------------------------------------


def _new_metrics_dir() -> Path:
    """A fresh directory for this run, after removing those left by runs that were killed."""
    parent = Path(tempfile.gettempdir())
    for stale in parent.glob(_METRICS_DIR_PREFIX + "*"):
        match = re.fullmatch(re.escape(_METRICS_DIR_PREFIX) + r"(\d+)-.*", stale.name)
        if match and stale.is_dir() and not _alive(int(match.group(1))):
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{_METRICS_DIR_PREFIX}{os.getpid()}-"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- the main process: start-up under signals -----------------------------------------------


def _watch_start_up(app: Sanic) -> None:
    """Replace the manager's wait for its processes' start-up (see the module's docstring)."""
    manager = app.manager
    manager.wait_for_ack = partial(_wait_for_start_up, manager)  # type: ignore[method-assign]


def _wait_for_start_up(manager: WorkerManager) -> None:
    """Sanic's wait for every API process to report ready, without its busy wait.

    Runs in the main process right after the manager has spawned the API processes.
    """
    from sanic.log import error_logger

    # Every process is spawned: from now on a signal reaches the manager's handler, which sends
    # the monitor its stop message and tells each process to stop. It runs in a thread of its
    # own, never as a Python signal handler: one interrupting the main thread in the middle of a
    # call to the manager's state server would interleave two calls on one connection (each
    # thread gets its own) and garble both.
    threading.Thread(target=_take_signals, args=(manager,), name="signals", daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT_S
    held: list[Any] = []
    try:
        while not _started_or_stopped(manager):
            if time.monotonic() > deadline:
                error_logger.error("Not every API process started in %s s.", START_TIMEOUT_S)
                manager.kill()
            if manager.monitor_subscriber.poll(0.1):
                message = manager.monitor_subscriber.recv()
                if message == "__TERMINATE_EARLY__":
                    error_logger.error("An API process failed to start: shutting down.")
                    manager.kill()
                held.append(message)
    finally:
        # The monitor loop reads them next (Sanic's wait sent each straight back into the
        # pipe it was reading: that is its busy wait); the stop message ends the loop.
        for message in held:
            manager.monitor_publisher.send(message)


def _take_signals(manager: WorkerManager) -> None:
    """The main process's SIGINT and SIGTERM, held back in every other thread, taken here."""
    while True:
        manager.shutdown_signal(signal.sigwait(SIGNALS), None)


def _started_or_stopped(manager: WorkerManager) -> bool:
    """Every API process has started, or (when a stop came first) has ended.

    A process told to stop while starting finishes its start-up, then stops; the manager
    would otherwise give up waiting for it and leave its state behind.
    """
    if manager._shutting_down:
        return not any(process.is_alive() for process in manager.transient_processes)
    return bool(manager._all_workers_ack())


# --- each API process: signals once it serves -----------------------------------------------


class _StopOnSignal:
    """An API process's SIGINT and SIGTERM.

    Every thread of the process holds the two back (the main process spawned it so, and
    threads inherit it), so none can interrupt start-up or shutdown midway. One thread takes
    them with sigwait(): the first stops the app once it serves, even when it came while the
    app was starting; later ones (the group's and the manager's) are ignored.
    """

    def __init__(self, app: Sanic) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._requested = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def take_signals(self) -> None:
        while True:
            signal.sigwait(SIGNALS)
            with self._lock:
                first, self._requested = not self._requested, True
                loop = self._loop
            if first and loop is not None:
                loop.call_soon_threadsafe(self._stop)

    async def serving(self, app: Sanic) -> None:
        """after_server_start: watch for the moment the app serves."""
        app.add_task(self._when_serving(), name="stop-on-signal")

    async def _when_serving(self) -> None:
        # Listeners run before Sanic enters the loop that serves, and a stop requested earlier
        # would stop the start-up's loop instead. Sanic raises a flag, not an event, between
        # the two: this waits a loop iteration or two.
        while not self.app.state.is_running:  # noqa: ASYNC110
            await asyncio.sleep(0)
        with self._lock:
            self._loop = asyncio.get_running_loop()
            requested = self._requested
        if requested:
            self._stop()

    def _stop(self) -> None:
        self.app.stop(terminate=False)
