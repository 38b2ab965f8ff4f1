"""The committed migrations build the same schema as the models, and apply cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tortoise import Tortoise
from tortoise.migrations.autodetector import MigrationAutodetector

from api.core.db import tortoise_config
from config.settings import Settings


async def test_models_have_no_changes_missing_from_the_migrations(database: None) -> None:
    detector = MigrationAutodetector(Tortoise.apps, tortoise_config()["apps"])

    pending = await detector.changes()

    assert not pending, (
        "models changed without a migration; run "
        "`tortoise -c api.core.db.TORTOISE_ORM makemigrations` and commit the file"
    )


@pytest.fixture
def fresh_database_url(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """An empty database of the suite's kind: a new SQLite file, or a new PostgreSQL database."""
    if not settings.uses_postgres:
        yield f"sqlite://{tmp_path / 'fresh.sqlite3'}"
        return
    import asyncpg

    name = "memberhub_migrate_check"
    base = settings.database_url.replace("postgresql://", "postgres://", 1)
    admin_url = base.replace("postgres://", "postgresql://", 1)

    async def execute(*statements: str) -> None:
        admin = await asyncpg.connect(admin_url)
        try:
            for statement in statements:
                await admin.execute(statement)
        finally:
            await admin.close()

    asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'))
    yield base.rsplit("/", 1)[0] + "/" + name
    asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MEMBERHUB_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args], env=env, capture_output=True, text=True
    )


def test_migrate_builds_a_fresh_database(fresh_database_url: str) -> None:
    first = _cli("migrate", url=fresh_database_url)
    again = _cli("migrate", url=fresh_database_url)
    demo = _cli("bootstrap-demo", "--once", url=fresh_database_url)

    assert first.returncode == 0, first.stderr[-2000:]
    assert again.returncode == 0, again.stderr[-2000:]
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert json.loads(demo.stdout)["hq_admin"]["token"]
