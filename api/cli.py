"""The `memberhub` command: serve, worker, migrate, bootstrap-demo, rotate-data-key.

Log lines go to stderr, so what a command prints on stdout (JSON summaries) stays parseable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import click
from pydantic import ValidationError

from config.logging import configure_logging
from config.settings import Settings, get_settings, override_settings

log = logging.getLogger("memberhub.cli")


@click.group()
def main() -> None:
    """memberhub: membership and payments backend for chain retail brands."""
    configure_logging(_settings().log_level)


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        raise click.ClickException(f"settings refused: {exc}") from exc


def _as_setting(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """An option callback: the option given means MEMBERHUB_<NAME>, for every setting derived
    from it (the sandbox's and the public base URLs) and for the processes the command starts."""

    def set_value(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None:
            try:
                override_settings(**{name: str(value)})
            except ValidationError as exc:
                raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc
        return value

    return set_value


@main.command()
@click.option(
    "--host",
    default=None,
    callback=_as_setting("host"),
    help="Listen address (default: MEMBERHUB_HOST).",
)
@click.option(
    "--port",
    type=int,
    default=None,
    callback=_as_setting("port"),
    help="Listen port (default: MEMBERHUB_PORT).",
)
@click.option(
    "--workers", type=int, default=None, help="API processes (default: MEMBERHUB_WORKERS)."
)
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the HTTP API."""
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from api.app import create_app

    settings = get_settings()
    workers = workers or settings.workers
    if workers > 1 and not settings.redis_url:
        raise click.UsageError(
            "several API processes need shared state: set MEMBERHUB_REDIS_URL (and a PostgreSQL "
            "MEMBERHUB_DATABASE_URL), or run one worker"
        )
    loader = AppLoader(factory=create_app)
    app = loader.load()
    single = workers == 1
    app.prepare(
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        access_log=False,
        motd=False,
        single_process=single,
    )
    # One process serves in this one; several run under Sanic's worker manager. (Handing a
    # single-process app to the manager starts a worker that never reports ready, and the
    # manager then spins instead of stopping on SIGTERM.)
    if single:
        Sanic.serve_single(primary=app)
    else:
        Sanic.serve(primary=app, app_loader=loader)


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
    log.info("demo brand ready", extra={"brand": summary["brand"]["code"]})
    _print_json(summary)


@main.command(name="rotate-data-key")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=500,
    show_default=True,
    help="Rows read and rewritten per transaction.",
)
def rotate_data_key(batch_size: int) -> None:
    """Re-encrypt every encrypted column with the newest key of MEMBERHUB_DATA_KEYS.

    Run it after every process has the new list (newest first, older keys after it); when it
    has finished, the older keys can be removed. Running it again rewrites nothing.
    """
    from api.core.errors import DomainError
    from api.core.keyrotation import rotate_data_key as run_rotation

    try:
        report = _with_db(lambda: run_rotation(batch_size=batch_size))
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    _print_json(report.as_dict())


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2)
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
