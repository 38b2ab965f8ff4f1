"""Schemathesis over /docs/openapi.json: no input, valid by the document or not, makes the server
fail, and the answers match the document.

Cases are generated up front by Hypothesis, derandomized, a fixed number per operation and
generation mode, then sent one by one to the app served in-process, in the test's own event loop
(where the app's database connections live). Embedded stack only: the run is bounded to about a
minute on a 2-core machine, and what the PostgreSQL stack refuses beyond SQLite is pinned down
row by row in tests/integration/test_bad_input.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from api.member_center import levels, tags, wallet
from api.member_center.models import TagKind
from api.org.models import StaffRole
from tests.factories import (
    make_brand,
    make_member,
    make_staff,
    make_store,
    member_token,
    staff_token,
)
from tests.support.api import Api

schemathesis = pytest.importorskip("schemathesis")

from schemathesis import Case, GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# Bodies of the answers against the response schemas of the document.
CHECK_RESPONSE_SCHEMAS = True
# Statuses and content types of the answers against those the document lists.
CHECK_DOCUMENTED_STATUSES = True

EXAMPLES_PER_OPERATION = 20  # per generation mode: about a minute for the whole API

EXCLUDED = (
    # The sandbox plays WeChat and Alipay for tests and the demo; it is not the product's API.
    re.compile(r"^/sandbox"),
    # The documentation pages.
    re.compile(r"^/docs"),
)
# Not excluded: staff sign-in. Its lockout counts failures per brand and username, and the
# fuzzer's tokens are signed here, never obtained by signing in, so it cannot lock the run out.

MEMBER_PATHS = re.compile(r"^/api/v1/(me|wallet)(/|$)|^/api/v1/auth/(wxa|alipay)/phone$")
GUIDE_PATHS = re.compile(r"^/api/v1/staff/")


@dataclass
class World:
    """The rows the fuzzer's requests can reach, and the tokens that reach them."""

    hq: str
    guide: str
    member: str
    erasable_member: str
    ids: dict[str, int]


async def _world() -> World:
    brand = await make_brand()
    store = await make_store(brand=brand)
    hq = await make_staff(brand=brand, role=StaffRole.HQ_ADMIN)
    guide = await make_staff(brand=brand, role=StaffRole.GUIDE, store=store, guide_code="G1")
    member = await make_member(brand=brand, home_store_id=store.id, guide_id=guide.id)
    erasable = await make_member(brand=brand)
    level = await levels.create_level(brand_id=brand.id, name="L0", rank=0, growth_threshold=0)
    group = await tags.create_tag_group(brand_id=brand.id, name="G")
    tag = await tags.create_tag(brand_id=brand.id, name="T", kind=TagKind.GUIDE, group_id=group.id)
    package = await wallet.create_package(brand_id=brand.id, name="P", pay_fen=100, bonus_fen=0)
    return World(
        hq=staff_token(hq),
        guide=staff_token(guide),
        member=member_token(member),
        erasable_member=member_token(erasable),
        ids={
            "store_id": store.id,
            "staff_id": guide.id,
            "guide_id": guide.id,
            "member_id": member.id,
            "tag_id": tag.id,
            "level_id": level.id,
            "package_id": package.id,
        },
    )


def _token(world: World, method: str, path: str) -> str:
    if (method, path) == ("DELETE", "/api/v1/me"):
        return world.erasable_member  # erasing the member the other cases use would end them
    if MEMBER_PATHS.search(path):
        return world.member
    if GUIDE_PATHS.search(path):
        return world.guide  # head office may not use the shop-floor routes
    return world.hq


def _cases(operation: Any, mode: GenerationMode) -> list[Case]:
    """The same cases for one operation on every run."""
    collected: list[Case] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def collect(case: Case) -> None:
        collected.append(case)

    try:
        collect()
    except Unsatisfiable:  # nothing to make invalid: an operation without parameters
        return []
    return collected


def _operations(document: dict[str, Any]) -> Iterator[Any]:
    schema = schemathesis.openapi.from_dict(document)
    for result in schema.get_all_operations():
        operation = result.ok()
        if not any(pattern.search(operation.path) for pattern in EXCLUDED):
            yield operation


async def _send(api: Api, case: Case, token: str) -> httpx.Response:
    kwargs = case.as_transport_kwargs(base_url=str(api.client.base_url))
    headers = {
        name: value
        for name, value in (kwargs.get("headers") or {}).items()
        if name.lower() != "user-agent"
    }
    headers["Authorization"] = f"Bearer {token}"
    content: bytes | None = None
    if "json" in kwargs:
        content = json.dumps(kwargs["json"]).encode()
        headers.setdefault("Content-Type", "application/json")
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        content = data if isinstance(data, bytes) else str(data).encode()
    return await api.client.request(
        kwargs["method"],
        kwargs["url"],
        headers=headers,
        params=kwargs.get("params"),
        content=content,
    )


def _platform_refused(operation: Any, response: httpx.Response) -> bool:
    """A documented 502 `<platform>.upstream`: WeChat or Alipay refused the brand's credentials.

    The fuzzer registers apps with made-up secrets, which the sandbox refuses as the platforms
    would; the answer is the route's documented 502, not a fault of ours.
    """
    if response.status_code != 502 or "502" not in operation.definition.raw.get("responses", {}):
        return False
    code = response.json().get("error", {}).get("code", "")
    return code in ("wechat.upstream", "alipay.upstream")


def _failures(operation: Any, response: httpx.Response, group: BaseExceptionGroup) -> list[str]:
    return [
        f"{operation.method.upper()} {operation.path} → {response.status_code}: "
        f"{getattr(failure, 'title', type(failure).__name__)}: "
        + " ".join(str(getattr(failure, "message", failure)).split())[:300]
        for failure in group.exceptions
    ]


@pytest.mark.stack_independent
async def test_no_generated_request_makes_the_server_fail(api: Api, sandbox_url: str) -> None:
    world = await _world()
    document = (await api.get("/docs/openapi.json")).json
    checks = [not_a_server_error]
    if CHECK_RESPONSE_SCHEMAS:
        checks.append(response_schema_conformance)
    if CHECK_DOCUMENTED_STATUSES:
        checks += [status_code_conformance, content_type_conformance]

    failures: set[str] = set()
    for operation in _operations(document):
        token = _token(world, operation.method.upper(), operation.path)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for index, case in enumerate(_cases(operation, mode)):
                # Every other case names rows that exist, so that its body reaches the service.
                if index % 2:
                    for name in case.path_parameters or {}:
                        if name in world.ids:
                            case.path_parameters[name] = world.ids[name]
                response = await _send(api, case, token)
                if _platform_refused(operation, response):
                    continue
                try:
                    case.validate_response(response, checks=checks)
                except BaseExceptionGroup as group:  # schemathesis's FailureGroup
                    failures.update(_failures(operation, response, group))

    assert not failures, f"{len(failures)} failures:\n" + "\n".join(sorted(failures)[:40])
