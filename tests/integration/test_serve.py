"""`memberhub serve` as `make run` and a one-process deployment run it: up, then gone on SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import _free_port


def _wait_until_up(url: str, process: subprocess.Popen[bytes], *, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited while starting"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout_s} s")


def test_one_process_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MEMBERHUB_ENV": "development",
        "MEMBERHUB_DATABASE_URL": f"sqlite://{tmp_path / 'serve.sqlite3'}",
    }
    env.pop("MEMBERHUB_REDIS_URL", None)
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so that nothing it started outlives it
    )
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/healthz", process)

        process.send_signal(signal.SIGTERM)

        assert process.wait(timeout=15) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
