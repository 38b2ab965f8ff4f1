"""The `memberhub` command: serve, worker, migrate, create-brand, create-admin, bootstrap-demo,
rotate-data-key.

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
    from api.wiring import wire

    configure_logging(_settings().log_level)
    wire()


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


@main.command(name="create-brand")
@click.option("--code", required=True, help="The brand code staff sign in with (A-Z, 0-9, _ -).")
@click.option("--name", required=True, help="The brand's display name.")
def create_brand(code: str, name: str) -> None:
    """Create a brand and print it as JSON: the first step of a deployment, after migrate."""
    from api.org import brands
    from api.org.schemas import BrandCreate

    data = _valid(BrandCreate, code=code, name=name)
    brand = _run_domain(lambda: brands.create_brand(code=data.code, name=data.name))
    _print_json({"brand": {"id": brand.id, "code": brand.code, "name": brand.name}})


@main.command(name="create-admin")
@click.option("--brand", "brand_code", required=True, help="The code of the brand.")
@click.option("--username", required=True, help="The head-office admin's sign-in name.")
@click.option("--name", default=None, help="Display name (default: the username).")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of a prompt.",
)
def create_admin(brand_code: str, username: str, name: str | None, password_stdin: bool) -> None:
    """Create a head-office admin (hq_admin) of a brand and print them as JSON.

    The password never travels as an argument (it would land in shell history and `ps`): it is
    asked twice without echo, or read from standard input with --password-stdin.
    """
    from api.core import audit
    from api.org import brands, staff
    from api.org.models import StaffRole
    from api.org.schemas import StaffCreate
    from api.org.scope import StoreScope

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    data = _valid(
        StaffCreate,
        username=username,
        name=name or username,
        role=StaffRole.HQ_ADMIN,
        password=password,
    )

    async def _create() -> tuple[Any, Any]:
        brand = await brands.get_brand_by_code(code=brand_code)
        admin = await staff.create_staff(
            brand_id=brand.id,
            scope=StoreScope.brand(),
            actor=audit.actor_of("cli"),
            username=data.username,
            name=data.name,
            role=data.role,
            password=data.password,
        )
        return brand, admin

    brand, admin = _run_domain(_create)
    _print_json(
        {
            "brand": {"id": brand.id, "code": brand.code, "name": brand.name},
            "staff": {
                "id": admin.id,
                "username": admin.username,
                "name": admin.name,
                "role": admin.role.value,
            },
        }
    )


def _valid(model: Any, **fields: Any) -> Any:
    """The fields checked by the same schema the HTTP API uses; a usage error otherwise."""
    from pydantic import ValidationError

    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        raise click.UsageError(problems) from None


def _run_domain(operation: Callable[[], Awaitable[Any]]) -> Any:
    """Run a domain operation against the database; a refusal becomes a one-line error."""
    from api.core.errors import DomainError

    try:
        return _with_db(operation)
    except DomainError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from exc


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
