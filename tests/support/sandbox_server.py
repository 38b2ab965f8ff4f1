"""The sandbox as its own process on loopback, as it runs next to memberhub in a demo."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120.0  # a process importing the sandbox on a loaded 2-core machine


def _wait_until_answering(process: subprocess.Popen[bytes], url: str, log: IO[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            log.seek(0)
            output = log.read().decode(errors="replace")
            raise RuntimeError(f"the sandbox exited with {process.returncode}: {output[-2000:]}")
        try:
            if httpx.get(f"{url}/", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the sandbox did not answer at {url} within {START_TIMEOUT_S} s")
        time.sleep(0.1)


@contextmanager
def run_sandbox(port: int, app_url: str | None = None) -> Iterator[str]:
    """Start `python -m sandbox --port port [--app-url app_url]`, wait until it answers, yield
    its /sandbox URL."""
    url = f"http://127.0.0.1:{port}/sandbox"
    # Output goes to a file, not a pipe: a pipe nobody reads fills up and blocks the sandbox.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sandbox",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *(["--app-url", app_url] if app_url else []),
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_answering(process, url, log)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
