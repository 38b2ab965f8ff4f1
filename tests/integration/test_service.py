"""Liveness, readiness, metrics, the OpenAPI document and the error envelope."""

from __future__ import annotations

from tests.support.api import Api


async def test_healthz_answers_ok(api: Api) -> None:
    answer = await api.get("/healthz")
    assert answer.status == 200
    assert answer.json == {"status": "ok"}
    assert answer.headers["x-request-id"]


async def test_load_balancer_probes_with_head_are_answered(api: Api) -> None:
    for path in ("/healthz", "/readyz"):
        answer = await api.request("HEAD", path)
        assert (answer.status, answer.text) == (200, "")


async def test_readyz_checks_database_and_cache(api: Api) -> None:
    answer = await api.get("/readyz")
    assert answer.status == 200
    assert answer.json == {"status": "ok", "database": True, "cache": True}


async def test_request_id_is_echoed(api: Api) -> None:
    answer = await api.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert answer.headers["x-request-id"] == "abc123"


async def test_metrics_count_requests_by_route(api: Api) -> None:
    await api.get("/healthz")
    answer = await api.get("/metrics")
    assert answer.status == 200
    assert 'memberhub_http_requests_total{method="GET",route="healthz",status="200"}' in answer.text
    assert "memberhub_http_request_duration_seconds_bucket" in answer.text


async def test_unknown_route_gets_the_error_envelope(api: Api) -> None:
    answer = await api.get("/no/such/route")
    assert answer.status == 404
    assert answer.error_code == "route.not_found"


async def test_openapi_document_lists_routes(api: Api) -> None:
    answer = await api.get("/docs/openapi.json")
    assert answer.status == 200
    spec = answer.json
    assert spec["openapi"].startswith("3.")
    assert "/readyz" in spec["paths"]
