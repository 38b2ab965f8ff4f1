"""`memberhub worker` as a process of its own, as an operator runs it next to the API."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import IO

from tests.support.serve_process import ROOT


class WorkerProcess:
    """A running `memberhub worker` (see `worker_process`)."""

    def __init__(self, process: subprocess.Popen[bytes], output: IO[bytes]) -> None:
        self.process = process
        self._output = output

    def output(self) -> str:
        self._output.flush()
        self._output.seek(0)
        return self._output.read().decode(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None


@contextlib.contextmanager
def worker_process(*, env: dict[str, str]) -> Iterator[WorkerProcess]:
    """`memberhub worker` in a session of its own, its output in a file; killed on exit."""
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "worker"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield WorkerProcess(process, output)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
