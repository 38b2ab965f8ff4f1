"""The OpenAPI document describes every route the app serves, with its schemas."""

from __future__ import annotations

import re

from sanic import Sanic

from tests.support.api import Api

UNDOCUMENTED_PREFIXES = ("/docs", "/sandbox")


def _served_routes(app: Sanic) -> set[tuple[str, str]]:
    served = set()
    for route in app.router.routes:
        path = "/" + route.path
        if path.startswith(UNDOCUMENTED_PREFIXES):
            continue
        openapi_path = re.sub(r"<(\w+)(:[^>]+)?>", r"{\1}", path)
        for method in route.methods:
            if method not in {"HEAD", "OPTIONS"}:
                served.add((method.lower(), openapi_path))
    return served


async def test_every_route_is_in_the_openapi_document(app: Sanic, api: Api) -> None:
    spec = (await api.get("/docs/openapi.json")).json
    documented = {(method, path) for path, item in spec["paths"].items() for method in item}

    missing = _served_routes(app) - documented

    assert not missing, f"routes missing from /docs/openapi.json: {sorted(missing)}"


async def test_every_operation_has_a_response_schema(app: Sanic, api: Api) -> None:
    spec = (await api.get("/docs/openapi.json")).json
    served = _served_routes(app)
    without = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if (method, path) not in served:
                continue
            ok = [r for r in operation.get("responses", {}).values() if r.get("content")]
            if not ok:
                without.append(f"{method.upper()} {path}")

    assert not without, f"operations without schemas: {without}"


async def test_the_document_is_valid_openapi_3(api: Api) -> None:
    from openapi_spec_validator import validate

    spec = (await api.get("/docs/openapi.json")).json

    validate(spec)
    assert spec["openapi"].startswith("3.")
