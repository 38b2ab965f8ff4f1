"""create_app(settings) → the Sanic application, with its blueprints, ORM, ports and errors."""

from __future__ import annotations

import json as jsonlib
import logging
import os
import time
from typing import Any

from sanic import HTTPResponse, Request, Sanic, json
from sanic.exceptions import SanicException
from sanic_ext import Extend
from sanic_ext.extensions.http.extension import HTTPExtension
from sanic_ext.extensions.openapi.extension import OpenAPIExtension

from config.settings import Settings, get_settings

from .core import context
from .core import ports as ports_module
from .core.db import close_db, init_db
from .core.errors import DomainError
from .core.http import DOCUMENTED_MODELS
from .core.ports import Ports, build_ports
from .service import metrics
from .service.openapi import openapi_30_document
from .service.routes import bp as service_bp

log = logging.getLogger("memberhub")
access_log = logging.getLogger("memberhub.access")


def create_app(
    settings: Settings | None = None,
    *,
    ports: Ports | None = None,
    manage_db: bool = True,
    name: str = "memberhub",
) -> Sanic:
    """Build the application. Tests pass their own ports and open the database themselves."""
    settings = settings or get_settings()
    Sanic.test_mode = Sanic.test_mode or settings.env == "test"
    app = Sanic(name, configure_logging=False)
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.OAS_URL_PREFIX = "/docs"
    app.config.OAS_UI_DEFAULT = "swagger"
    app.config.OAS_AUTODOC = False
    app.config.CORS = False
    app.config.HEALTH = False
    app.ctx.settings = settings
    # OpenAPI, and automatic HEAD and OPTIONS routes (load balancers probe /healthz with HEAD).
    # The other built-ins go unused; dependency injection would cost a signal on every request.
    Extend(app, extensions=[OpenAPIExtension, HTTPExtension], built_in_extensions=False)
    app.ext.openapi.describe(
        "memberhub",
        version="1.0.0",
        description="Membership and payments backend for chain retail brands (HTTP contract v1).",
    )
    app.ext.openapi.add_security_scheme("bearer", "http", scheme="bearer", bearer_format="JWT")

    app.ctx.ports = ports_module.install(ports or build_ports(settings))
    _register_blueprints(app, settings)
    _register_errors(app)
    _register_middleware(app, settings)

    if manage_db:

        @app.before_server_start
        async def _open(app: Sanic) -> None:
            ports_module.install(app.ctx.ports)
            await init_db(settings)

        @app.after_server_stop
        async def _close(app: Sanic) -> None:
            await app.ctx.ports.queue.stop()
            await close_db()
            await app.ctx.ports.cache.close()

    return app


def _register_blueprints(app: Sanic, settings: Settings) -> None:
    from .member_center.routes import bp as member_center_bp
    from .org.routes import bp as org_bp

    app.blueprint(service_bp)
    app.blueprint(org_bp)
    app.blueprint(member_center_bp)
    if settings.sandbox:
        from sandbox.app import create_sandbox_blueprint
        from sandbox.state import SandboxState

        # With Redis, several API processes serve one sandbox: a code minted by one is taken by
        # another, so its state lives in the shared cache.
        shared = ports_module.cache if settings.redis_url else None
        app.blueprint(create_sandbox_blueprint(SandboxState(shared)))


def _register_errors(app: Sanic) -> None:
    @app.exception(DomainError)
    async def _domain(request: Request, exc: DomainError) -> HTTPResponse:
        return json(exc.to_body(), status=exc.status, headers=exc.headers())

    @app.exception(SanicException)
    async def _sanic(request: Request, exc: SanicException) -> HTTPResponse:
        status = getattr(exc, "status_code", 500) or 500
        if status >= 500:
            log.exception("unhandled error", extra={"request_id": _request_id(request)})
            return json(_internal_body(request), status=500)
        codes = {404: "route.not_found", 405: "route.method_not_allowed", 413: "request.too_large"}
        code = codes.get(status, "request.invalid")
        return json({"error": {"code": code, "message": str(exc) or "Bad request."}}, status=status)

    @app.exception(Exception)
    async def _crash(request: Request, exc: Exception) -> HTTPResponse:
        log.exception("unhandled error", extra={"request_id": _request_id(request)})
        return json(_internal_body(request), status=500)


def _internal_body(request: Request) -> dict[str, Any]:
    return {
        "error": {
            "code": "internal",
            "message": "Something went wrong on our side.",
            "details": {"request_id": _request_id(request)},
        }
    }


def _request_id(request: Request) -> str:
    return getattr(request.ctx, "request_id", "") if request else ""


def _register_middleware(app: Sanic, settings: Settings) -> None:
    @app.on_request
    async def _start(request: Request) -> None:
        incoming = request.headers.get("x-request-id", "")
        request.ctx.request_id = (
            incoming[:64] if incoming.isascii() and incoming else os.urandom(16).hex()
        )
        context.request_id.set(request.ctx.request_id)
        request.ctx.started = time.perf_counter()

    converted: dict[str, bytes] = {}
    pid = os.getpid()  # which of several API processes answered

    @app.on_response
    async def _openapi_30(request: Request, response: HTTPResponse) -> HTTPResponse | None:
        if request.path != "/docs/openapi.json" or response.status != 200:
            return None
        # The routes do not change while the process runs: convert the document once.
        source = response.body or b"{}"
        if converted.get("source") != source:
            converted["source"] = source
            converted["body"] = jsonlib.dumps(
                openapi_30_document(jsonlib.loads(source), DOCUMENTED_MODELS)
            ).encode()
        return HTTPResponse(
            converted["body"],
            status=200,
            content_type="application/json",
            headers={"x-request-id": request.ctx.request_id},
        )

    @app.on_response
    async def _finish(request: Request, response: HTTPResponse) -> None:
        started = getattr(request.ctx, "started", None)
        if started is None:
            return
        elapsed = time.perf_counter() - started
        route = request.route.path if request.route else "<unmatched>"
        response.headers["x-request-id"] = request.ctx.request_id
        metrics.observe(method=request.method, route=route, status=response.status, seconds=elapsed)
        if settings.access_log and access_log.isEnabledFor(logging.INFO):
            # Path without the query string: codes and tokens may travel there.
            access_log.info(
                jsonlib.dumps(
                    {
                        "request_id": request.ctx.request_id,
                        "method": request.method,
                        "path": request.path,
                        "route": route,
                        "status": response.status,
                        "ms": round(elapsed * 1000, 2),
                        "pid": pid,
                    }
                )
            )
