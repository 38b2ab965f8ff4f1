"""create_app(settings) → the Sanic application, with its blueprints, ORM, ports and errors."""

from __future__ import annotations

import json as jsonlib
import logging
import os
import time
from functools import partial
from typing import Any

from sanic import HTTPResponse, Request, Sanic, json
from sanic.exceptions import SanicException
from sanic.response import empty

from config.settings import Settings, get_settings

from .core import context
from .core import ports as ports_module
from .core.db import close_db, init_db
from .core.errors import DomainError, NotFound, TooLarge
from .core.fields import INT32_MAX
from .core.ports import Ports, build_ports
from .service import metrics
from .service.routes import bp as service_bp
from .web.docs import docs_blueprint
from .wiring import wire

log = logging.getLogger("memberhub")
access_log = logging.getLogger("memberhub.access")

# Request bodies are JSON of a few kilobytes; the CSV imports (payment routes, franchise
# onboarding) may be longer.
BODY_MAX_BYTES = 1 << 20
BODY_MAX_BYTES_BY_ROUTE = {
    "api/v1/admin/store-payment-routes/import": 4 << 20,
    "api/v1/admin/products/import": 4 << 20,
    "api/v1/admin/payment-onboarding": 2 << 20,  # 5,000 stores of up to ~400 bytes
}


class BoundedRequest(Request):
    """A request whose body is refused with 413 `request.too_large` past its route's limit.

    A declared Content-Length over the limit is refused before any of the body is read; a body
    sent without one (chunked) is refused as soon as it grows past the limit.
    """

    async def receive_body(self) -> None:
        if self.body:
            return
        route = self.route.path if self.route else ""
        limit = BODY_MAX_BYTES_BY_ROUTE.get(route, BODY_MAX_BYTES)
        # Over HTTP/1.1 Sanic also checks the stream against this, and closes the connection
        # afterwards instead of reading the rest of the body.
        self.stream.request_max_size = limit  # type: ignore[union-attr]
        declared = self.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in self.stream:  # type: ignore[union-attr]
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        self.body = b"".join(chunks)


def _too_large(limit: int) -> TooLarge:
    return TooLarge(
        message=f"The request body is larger than {limit} bytes.", details={"max_bytes": limit}
    )


def create_app(
    settings: Settings | None = None,
    *,
    ports: Ports | None = None,
    manage_db: bool = True,
    name: str = "memberhub",
) -> Sanic:
    """Build the application. Tests pass their own ports and open the database themselves."""
    settings = settings or get_settings()
    wire()
    Sanic.test_mode = Sanic.test_mode or settings.env == "test"
    app = Sanic(name, configure_logging=False, request_class=BoundedRequest)
    app.config.FALLBACK_ERROR_FORMAT = "json"
    # The protocol's own ceiling (bodies of unrouted requests); routes have their own limits.
    app.config.REQUEST_MAX_SIZE = max(BODY_MAX_BYTES, *BODY_MAX_BYTES_BY_ROUTE.values())
    app.config.CORS = False
    app.config.HEALTH = False
    app.config.PROXIES_COUNT = settings.proxies_count or None
    app.config.REAL_IP_HEADER = settings.real_ip_header or None
    app.ctx.settings = settings

    app.ctx.ports = ports_module.install(ports or build_ports(settings))
    _register_blueprints(app, settings)
    _add_head_and_options(app)
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


async def _head(request: Request, *args: Any, get_handler: Any, **kwargs: Any) -> HTTPResponse:
    # Sanic sends a HEAD answer's headers only.
    response: HTTPResponse = await get_handler(request, *args, **kwargs)
    return response


async def _options(request: Request, *args: Any, allow: str, **kwargs: Any) -> HTTPResponse:
    return empty(headers={"allow": allow})


def _add_head_and_options(app: Sanic) -> None:
    """HEAD beside every GET route (load balancers probe /healthz so) and OPTIONS on every path.

    Added while the app is built, before it starts: added at start-up (as sanic-ext's HTTP
    extension does) every route re-finalizes Sanic's routers, seconds of CPU per process start.
    """
    for group in list(app.router.groups.values()):
        methods = set(group.methods)
        routes = list(group)
        for route in routes:
            if "GET" not in route.methods or "HEAD" in methods:
                continue
            context = {f"ctx_{key}": value for key, value in vars(route.ctx).items()}
            app.add_route(
                partial(_head, get_handler=route.handler),
                group.uri,
                methods=["HEAD"],
                name=f"{route.name}_head",
                strict_slashes=group.strict,
                unquote=group.unquote,
                **context,
            )
        if "OPTIONS" not in methods:
            allow = ",".join(sorted(methods | ({"HEAD"} if "GET" in methods else set())))
            app.add_route(
                partial(_options, allow=f"{allow},OPTIONS"),
                group.uri,
                methods=["OPTIONS"],
                name=f"{routes[0].name}_options",
                strict_slashes=group.strict,
                unquote=group.unquote,
            )


def _register_blueprints(app: Sanic, settings: Settings) -> None:
    from .coupons.routes import bp as coupons_bp
    from .mall.routes import bp as mall_bp
    from .member_center.routes import bp as member_center_bp
    from .org.routes import bp as org_bp
    from .payments.routes import bp as payments_bp
    from .wechat_callbacks.routes import bp as wechat_callbacks_bp

    app.blueprint(service_bp)
    app.blueprint(
        docs_blueprint(
            title="memberhub",
            version="1.0.0",
            description="Membership and payments backend for chain retail brands "
            '(HTTP contract v1). Errors answer `{"error": {"code", "message", '
            '"details"?}}`; money is in fen; times are ISO 8601 with an offset.',
        )
    )
    app.blueprint(org_bp)
    app.blueprint(member_center_bp)
    app.blueprint(payments_bp)
    app.blueprint(coupons_bp)
    app.blueprint(wechat_callbacks_bp)
    app.blueprint(mall_bp)
    if settings.sandbox:
        from sandbox.app import create_sandbox_blueprint
        from sandbox.state import SandboxState

        # With Redis, several API processes serve one sandbox: a code minted by one is taken by
        # another, so its state lives in the shared cache.
        shared = ports_module.cache if settings.redis_url else None
        app.blueprint(
            create_sandbox_blueprint(SandboxState(shared, app_url=settings.public_base_url))
        )
        from .web.h5 import h5_blueprint

        app.blueprint(h5_blueprint())


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
        # Echoed in a response header: printable ASCII only.
        request.ctx.request_id = (
            incoming[:64]
            if incoming and incoming.isascii() and incoming.isprintable()
            else os.urandom(16).hex()
        )
        context.request_id.set(request.ctx.request_id)
        request.ctx.started = time.perf_counter()
        # An id no row can have (ids are 32-bit serials) is not looked up: the database would
        # refuse the value rather than find nothing.
        for value in request.match_info.values():
            if type(value) is int and not 1 <= value <= INT32_MAX:
                raise NotFound("resource.not_found", "No such resource.")

    pid = os.getpid()  # which of several API processes answered

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
