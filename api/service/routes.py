"""Service routes: liveness, readiness, metrics."""

from __future__ import annotations

from pydantic import BaseModel
from sanic import Blueprint, HTTPResponse, Request, json, raw
from tortoise import connections

from api.core.ports import cache
from api.web.http import Raw, doc

from . import metrics

bp = Blueprint("service")


class HealthOut(BaseModel):
    """The process is up."""

    status: str


class ReadyOut(BaseModel):
    """Whether the database and the cache answered: `ok` with 200, `unavailable` with 503."""

    status: str
    database: bool
    cache: bool


@bp.get("/healthz")
@doc(
    summary="The process is up",
    returns="The process answers",
    tag="service",
    response=HealthOut,
    secured=None,
)
async def check_health(request: Request) -> HTTPResponse:
    return json({"status": "ok"})


@bp.get("/readyz")
@doc(
    summary="Database and cache are reachable",
    returns="Both the database and the cache answered",
    tag="service",
    response=ReadyOut,
    secured=None,
    responses={503: ReadyOut},
)
async def check_readiness(request: Request) -> HTTPResponse:
    database = await _database_ok()
    cache_ok = await _cache_ok()
    ready = database and cache_ok
    return json(
        {"status": "ok" if ready else "unavailable", "database": database, "cache": cache_ok},
        status=200 if ready else 503,
    )


@bp.get("/metrics")
@doc(
    summary="Prometheus metrics (text format)",
    tag="service",
    response=Raw("text/plain", "Prometheus text exposition format 0.0.4"),
    secured=None,
)
async def export_metrics(request: Request) -> HTTPResponse:
    return raw(await metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8")


async def _database_ok() -> bool:
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception:
        return False
    return True


async def _cache_ok() -> bool:
    try:
        return await cache().ping()
    except Exception:
        return False
