"""`memberhub serve` and the other commands as processes of their own, as an operator runs them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 180  # several processes importing the app on a loaded 2-core machine


def run_command(*args: str, env: dict[str, str], timeout_s: float = 120) -> str:
    """Run `memberhub <args>` to its end; its output, or AssertionError when it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    assert done.returncode == 0, f"memberhub {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


class ServeProcess:
    """A running `memberhub serve` (see `serve_process`)."""

    def __init__(self, process: subprocess.Popen[bytes], output: IO[bytes], port: int) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._output = output

    def output(self) -> str:
        self._output.flush()
        self._output.seek(0)
        return self._output.read().decode(errors="replace")

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON lines of the output (every process's logs)."""
        lines = []
        for line in self.output().splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    lines.append(entry)
        return lines

    def access_log(self) -> dict[str, dict[str, Any]]:
        """The access log lines by request id."""
        return {
            entry["request_id"]: entry
            for entry in self.log_lines()
            if entry.get("logger") == "memberhub.access"
        }

    def wait_until_up(self, *, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"serve exited while starting:\n{self.output()}"
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"serve did not answer within {timeout_s} s:\n{self.output()}")

    def children(self) -> list[int]:
        """The live processes the main process started."""
        return [pid for pid, ppid, _ in _processes() if ppid == self.process.pid]

    def group(self) -> list[int]:
        """The live processes of its process group (it leads one), the main one included."""
        return [pid for pid, _, pgrp in _processes() if pgrp == self.process.pid]

    def wait_group_gone(self, *, timeout_s: float = 10) -> None:
        """Wait until no process of its group is left (multiprocessing's resource tracker
        ends shortly after the main process)."""
        deadline = time.monotonic() + timeout_s
        while left := self.group():
            if time.monotonic() > deadline:
                commands = [_command_line(pid) for pid in left]
                raise AssertionError(f"processes outlived serve: {commands}")
            time.sleep(0.1)

    def stop(self, signum: int = signal.SIGTERM, *, group: bool = False, timeout_s: float) -> int:
        """Send signum to the main process (or its whole process group); its exit status."""
        if group:
            os.killpg(self.process.pid, signum)
        else:
            self.process.send_signal(signum)
        return self.process.wait(timeout=timeout_s)


def _processes() -> list[tuple[int, int, int]]:
    """(pid, parent pid, process group) of every process that is not a zombie, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            state, ppid, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
            if state != "Z":
                found.append((int(stat.parent.name), int(ppid), int(pgrp)))
    return found


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return f"{pid} (gone)"


@contextlib.contextmanager
def serve_process(*, port: int, workers: int, env: dict[str, str]) -> Iterator[ServeProcess]:
    """`memberhub serve` in a session of its own, so that whatever it starts can be killed
    with it; its output goes to a file (a pipe nobody reads would block it)."""
    command = [sys.executable, "-m", "api.cli", "serve", "--port", str(port)]
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            [*command, "--workers", str(workers)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield ServeProcess(process, output, port)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
