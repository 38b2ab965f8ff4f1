"""The app, the worker and the CLI register the same resolvers and merge steps, explicitly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from api.wiring import registrations, wire

pytestmark = pytest.mark.stack_independent

ROOT = Path(__file__).resolve().parents[2]

# Each script starts a fresh interpreter through one entry point and prints what it registered.
ENTRY_POINTS = {
    "app": """
        from api.app import create_app
        create_app(manage_db=False)
    """,
    "worker": """
        import asyncio
        from config.settings import get_settings
        from workers.main import run_worker
        stop = asyncio.Event()
        stop.set()
        asyncio.run(run_worker(get_settings(), stop=stop))
    """,
    "cli": """
        from click.testing import CliRunner
        from api.cli import main
        result = CliRunner().invoke(main, ["migrate"])
        assert result.exit_code == 0, result.output
    """,
}


def _registered_by(entry_point: str, tmp_path: Path) -> dict[str, object]:
    script = textwrap.dedent(ENTRY_POINTS[entry_point]) + textwrap.dedent("""
        import json, sys
        from api.wiring import registrations
        sys.stdout.write("\\nREGISTERED " + json.dumps(registrations()) + "\\n")
    """)
    env = {
        **os.environ,
        "MEMBERHUB_DATABASE_URL": f"sqlite://{tmp_path / (entry_point + '.sqlite3')}",
    }
    env.pop("MEMBERHUB_REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("REGISTERED "))
    return json.loads(line.removeprefix("REGISTERED "))


def test_every_entry_point_sees_the_same_registrations(tmp_path: Path) -> None:
    seen = {name: _registered_by(name, tmp_path) for name in ENTRY_POINTS}

    assert seen["app"] == seen["worker"] == seen["cli"], seen
    assert set(seen["app"]["resolvers"]) == {"member", "staff"}  # type: ignore[call-overload]


def test_wiring_twice_changes_nothing() -> None:
    wire()
    before = registrations()

    wire()

    assert registrations() == before
