"""The `memberhub` command: serve, worker, migrate, makemigrations, bootstrap-demo."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import click

from config.logging import configure_logging
from config.settings import get_settings


@click.group()
def main() -> None:
    """memberhub: membership and payments backend for chain retail brands."""
    configure_logging(get_settings().log_level)


@main.command()
@click.option("--host", default=None, help="Listen address (default: MEMBERHUB_HOST).")
@click.option("--port", type=int, default=None, help="Listen port (default: MEMBERHUB_PORT).")
@click.option(
    "--workers", type=int, default=None, help="API processes (default: MEMBERHUB_WORKERS)."
)
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the HTTP API."""
    from api.server import serve as run_server

    settings = get_settings()
    workers = workers or settings.workers
    if workers > 1 and not settings.redis_url:
        raise click.UsageError(
            "several API processes need shared state: set MEMBERHUB_REDIS_URL (and a PostgreSQL "
            "MEMBERHUB_DATABASE_URL), or run one worker"
        )
    run_server(settings, host=host or settings.host, port=port or settings.port, workers=workers)


@main.command()
def worker() -> None:
    """Run the job worker: schedules (expiry, outbox delivery, reports) and queued jobs."""
    from workers.main import run_worker

    asyncio.run(run_worker(get_settings()))


@main.command()
def migrate() -> None:
    """Apply the database migrations."""
    from tortoise.migrations.api import migrate as run_migrations

    from api.core.db import close_db, prepare_database_path, tortoise_config

    async def _migrate() -> None:
        prepare_database_path(get_settings())
        try:
            await run_migrations(config=tortoise_config())
        finally:
            await close_db()

    asyncio.run(_migrate())
    click.echo("migrations applied")


@main.command(name="bootstrap-demo")
@click.option("--once", is_flag=True, help="Do nothing but print the summary if the demo exists.")
def bootstrap_demo(once: bool) -> None:
    """Create the demo brand (stores, apps, merchant accounts, staff) and print it as JSON."""
    from api.core.errors import DomainError
    from api.org.demo import bootstrap_demo as run_bootstrap

    try:
        summary = _with_db(lambda: run_bootstrap(once=once))
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    json.dump(summary, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def _with_db(operation: Callable[[], Awaitable[Any]]) -> Any:
    from api.core import ports
    from api.core.db import close_db, init_db

    async def _run() -> Any:
        ports.install(ports.build_ports(get_settings()))
        await init_db()
        try:
            return await operation()
        finally:
            await close_db()

    return asyncio.run(_run())


if __name__ == "__main__":
    main()
