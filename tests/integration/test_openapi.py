"""The OpenAPI document describes every route the app serves, truthfully, in OpenAPI 3.1."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel
from sanic import Sanic
from sanic_routing.route import Route

from api.org.models import StaffRole
from api.web.http import ErrorOut, Operation, Raw, operation_of
from api.web.openapi import camel_case, openapi_path
from tests.factories import (
    make_brand,
    make_member,
    make_staff,
    make_store,
    member_token,
    staff_token,
)
from tests.support.api import Api

pytestmark = pytest.mark.stack_independent

UNDOCUMENTED_PREFIXES = ("/docs", "/sandbox", "/h5")  # /h5: the sandbox's member-center page
SCHEMAS = "#/components/schemas/"


def _served_routes(app: Sanic) -> Iterator[tuple[str, str, Route]]:
    for route in app.router.routes:
        path = "/" + route.path
        if path.startswith(UNDOCUMENTED_PREFIXES):
            continue
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            yield method.lower(), openapi_path(path), route


def _operations(app: Sanic) -> Iterator[tuple[str, str, Route, Operation]]:
    for method, path, route in _served_routes(app):
        operation = operation_of(route.handler)
        assert operation is not None, f"{method.upper()} {path} has no @doc"
        yield method, path, route, operation


@pytest.fixture
async def spec(api: Api) -> dict[str, Any]:
    answer = await api.get("/docs/openapi.json")
    assert answer.status == 200
    return answer.json


# JSON Schema walking -------------------------------------------------------------------------


def _deref(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = {**defs[name], **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _nullable(schema: dict[str, Any], defs: dict[str, Any]) -> bool:
    schema = _deref(schema, defs)
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    options = schema.get("anyOf", []) + schema.get("oneOf", [])
    return any(_nullable(option, defs) for option in options)


def _branches(schema: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-null shapes a value may take."""
    schema = _deref(schema, defs)
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return [b for option in options for b in _branches(option, defs)]
    return [] if schema.get("type") == "null" else [schema]


def _compare(
    expected: dict[str, Any],
    expected_defs: dict[str, Any],
    actual: dict[str, Any],
    actual_defs: dict[str, Any],
    *,
    every_field_required: bool,
    where: str,
    problems: list[str],
    depth: int = 0,
) -> None:
    """Walk pydantic's schema and the document's side by side: fields, required, nullability."""
    if depth > 12:
        return
    exp_branches, act_branches = _branches(expected, expected_defs), _branches(actual, actual_defs)
    if len(exp_branches) != len(act_branches):
        problems.append(f"{where}: {len(exp_branches)} shapes in pydantic, {len(act_branches)}")
        return
    for exp, act in zip(exp_branches, act_branches, strict=True):
        if exp.get("type") != act.get("type"):
            problems.append(f"{where}: type {exp.get('type')} became {act.get('type')}")
            continue
        if "items" in exp:
            _compare(
                exp["items"],
                expected_defs,
                act.get("items", {}),
                actual_defs,
                every_field_required=every_field_required,
                where=f"{where}[]",
                problems=problems,
                depth=depth + 1,
            )
        properties = exp.get("properties")
        if properties is None:
            continue
        if set(properties) != set(act.get("properties", {})):
            problems.append(f"{where}: fields {sorted(properties)} != {sorted(act['properties'])}")
            continue
        required_exp, required_act = set(exp.get("required", ())), set(act.get("required", ()))
        if every_field_required:
            # out() writes every field, defaults included: pydantic's required plus the rest.
            if not required_exp <= required_act or required_act != set(properties):
                problems.append(f"{where}: required {sorted(required_act)}, every field expected")
        elif required_exp != required_act:
            problems.append(f"{where}: required {sorted(required_act)} != {sorted(required_exp)}")
        for name, prop in properties.items():
            act_prop = act["properties"][name]
            if _nullable(prop, expected_defs) != _nullable(act_prop, actual_defs):
                problems.append(f"{where}.{name}: nullability differs from pydantic's")
            _compare(
                prop,
                expected_defs,
                act_prop,
                actual_defs,
                every_field_required=every_field_required,
                where=f"{where}.{name}",
                problems=problems,
                depth=depth + 1,
            )


def _reachable_schemas(node: Any, defs: dict[str, Any], seen: set[str]) -> Iterator[Any]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMAS):
            name = ref.removeprefix(SCHEMAS)
            if name not in seen:
                seen.add(name)
                yield from _reachable_schemas(defs[name], defs, seen)
        yield node
        for value in node.values():
            yield from _reachable_schemas(value, defs, seen)
    elif isinstance(node, list):
        for item in node:
            yield from _reachable_schemas(item, defs, seen)


# Coverage ------------------------------------------------------------------------------------


async def test_every_route_is_in_the_openapi_document(app: Sanic, spec: dict[str, Any]) -> None:
    documented = {(method, path) for path, item in spec["paths"].items() for method in item}

    missing = {(m, p) for m, p, _ in _served_routes(app)} - documented

    assert not missing, f"routes missing from /docs/openapi.json: {sorted(missing)}"


async def test_every_operation_has_a_response_schema(app: Sanic, spec: dict[str, Any]) -> None:
    without = []
    for method, path, _ in _served_routes(app):
        operation = spec["paths"][path][method]
        ok = [r for s, r in operation["responses"].items() if s.startswith("2") and "content" in r]
        acknowledged_empty = path.startswith("/callbacks/") and "204" in operation["responses"]
        if not ok and not acknowledged_empty:
            without.append(f"{method.upper()} {path}")

    assert not without, f"operations without a success schema: {without}"


async def test_the_document_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation import OpenAPIV31SpecValidator

    validate(spec, cls=OpenAPIV31SpecValidator)
    assert spec["openapi"] == "3.1.0"


# Schemas are pydantic's ----------------------------------------------------------------------


async def test_answers_carry_pydantic_required_fields_and_nullability(
    app: Sanic, spec: dict[str, Any]
) -> None:
    components = spec["components"]["schemas"]
    problems: list[str] = []
    checked = 0
    for method, path, _, operation in _operations(app):
        answers = [(operation.status, operation.response), *operation.responses.items()]
        for status, model in answers:
            if not isinstance(model, type):
                continue
            expected = model.model_json_schema(mode="serialization")
            documented = spec["paths"][path][method]["responses"][str(status)]
            actual = documented["content"]["application/json"]["schema"]
            _compare(
                expected,
                expected.get("$defs", {}),
                actual,
                components,
                every_field_required=True,
                where=f"{method.upper()} {path} {status} {model.__name__}",
                problems=problems,
            )
            checked += 1

    assert checked > 40
    assert not problems, "\n".join(problems)


async def test_answers_carry_every_field_the_document_requires(
    api: Api, spec: dict[str, Any]
) -> None:
    """The document marks fields with defaults as required because `out()` writes them all."""
    schemas = spec["components"]["schemas"]
    brand = await make_brand()
    member = await make_member(brand=brand)
    store = await make_store(brand=brand)
    cashier = await make_staff(brand=brand, role=StaffRole.CASHIER, store=store, password_hash="!")

    me = await api.get("/me", token=member_token(member))
    code = (await api.get("/me/code", token=member_token(member))).json["code"]
    resolved = await api.post(
        "/pos/member-code/resolve", {"code": code}, token=staff_token(cashier)
    )

    assert set(me.json) == set(schemas["MemberOut"]["required"])
    assert set(resolved.json) == set(schemas["MemberSummaryOut"]["required"])
    # `coupons` has a default, so pydantic alone would have called it optional.
    assert "coupons" in schemas["MemberSummaryOut"]["required"]


async def test_request_bodies_and_queries_are_pydantic_validation_schemas(
    app: Sanic, spec: dict[str, Any]
) -> None:
    components = spec["components"]["schemas"]
    problems: list[str] = []
    for method, path, _, operation in _operations(app):
        documented = spec["paths"][path][method]
        where = f"{method.upper()} {path}"
        if isinstance(operation.body, type):
            expected = operation.body.model_json_schema(mode="validation")
            actual = documented["requestBody"]["content"]["application/json"]["schema"]
            _compare(
                expected,
                expected.get("$defs", {}),
                actual,
                components,
                every_field_required=False,
                where=f"{where} body",
                problems=problems,
            )
            if documented["requestBody"]["required"] != bool(expected.get("required")):
                problems.append(f"{where}: requestBody.required does not follow the schema")
        if operation.query is not None:
            expected = operation.query.model_json_schema(mode="validation")
            params = {p["name"]: p for p in documented["parameters"] if p["in"] == "query"}
            if set(params) != set(expected["properties"]):
                problems.append(
                    f"{where}: query {sorted(params)} != {sorted(expected['properties'])}"
                )
            for name in expected["properties"]:
                if name in params and params[name]["required"] != (
                    name in expected.get("required", ())
                ):
                    problems.append(f"{where}: query parameter {name} required differs")

    assert not problems, "\n".join(problems)


async def test_no_request_body_lists_model_config(spec: dict[str, Any]) -> None:
    components = spec["components"]["schemas"]
    listed = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {})
            for node in _reachable_schemas(body, components, set()):
                if isinstance(node, dict) and "model_config" in node.get("properties", {}):
                    listed.append(f"{method.upper()} {path}")

    assert not listed, f"request bodies listing model_config: {listed}"


async def test_nullable_fields_are_null_or_their_type_not_anything(spec: dict[str, Any]) -> None:
    """`anyOf [X, null]` stays as it is: 3.1 needs no `nullable`, and X keeps its type."""
    components = spec["components"]["schemas"]
    member = components["MemberOut"]["properties"]

    assert member["birthday"]["anyOf"] == [{"format": "date", "type": "string"}, {"type": "null"}]
    assert member["level"]["anyOf"][1] == {"type": "null"}
    assert member["level"]["anyOf"][0]["$ref"].startswith(SCHEMAS)
    assert "nullable" not in str(spec)
    assert "$defs" not in str(spec)


async def test_query_schemas_become_typed_query_parameters(spec: dict[str, Any]) -> None:
    params = {p["name"]: p for p in spec["paths"]["/api/v1/me/points/entries"]["get"]["parameters"]}

    assert params["limit"] == {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"default": 20, "maximum": 100, "minimum": 1, "type": "integer"},
    }
    assert params["cursor"]["schema"] == {"type": "string", "maxLength": 64}
    search = {p["name"]: p for p in spec["paths"]["/api/v1/admin/members"]["get"]["parameters"]}
    assert search["tag_ids"]["schema"]["type"] == "array"
    assert (search["tag_ids"]["style"], search["tag_ids"]["explode"]) == ("form", False)


async def test_routes_declare_the_schemas_they_parse(app: Sanic) -> None:
    """A handler that reads `query(request, X)` or `body(request, X)` documents X."""
    undeclared = []
    for method, path, route, operation in _operations(app):
        source = inspect.getsource(inspect.unwrap(route.handler))
        declared = {
            "query": operation.query,
            "body": operation.body if isinstance(operation.body, type) else None,
        }
        for kind, model in declared.items():
            parsed = re.findall(rf"\b{kind}\(request, ([\w.]+)\)", source)
            names = {name.rsplit(".", 1)[-1] for name in parsed}
            if names != ({model.__name__} if model else set()):
                undeclared.append(f"{method.upper()} {path}: {kind} {names} vs @doc {model}")
        if "request.body" in source and not isinstance(operation.body, Raw):
            undeclared.append(f"{method.upper()} {path}: reads the raw body, @doc has no Raw")

    assert not undeclared, "\n".join(undeclared)


# Operations ----------------------------------------------------------------------------------


async def test_operation_ids_are_the_handler_names_in_camel_case(
    app: Sanic, spec: dict[str, Any]
) -> None:
    ids = []
    for method, path, route, _ in _operations(app):
        operation_id = spec["paths"][path][method]["operationId"]
        assert operation_id == camel_case(route.handler.__name__)
        assert re.fullmatch(r"[a-z]+(?:[A-Z0-9][a-z0-9]*)*", operation_id), operation_id
        ids.append(operation_id)

    assert len(ids) == len(set(ids)), "operationIds must be unique"
    assert spec["paths"]["/api/v1/pos/member-code/resolve"]["post"]["operationId"] == (
        "resolveMemberCode"
    )
    assert spec["paths"]["/api/v1/me"]["get"]["operationId"] == "getMyProfile"


async def test_path_parameters_are_described_integers(spec: dict[str, Any]) -> None:
    seen = 0
    for path, item in spec["paths"].items():
        for operation in item.values():
            names = re.findall(r"{(\w+)}", path)
            params = [p for p in operation.get("parameters", []) if p["in"] == "path"]
            assert [p["name"] for p in params] == names, path
            for param in params:
                assert param["required"] is True
                # Ids are integers; a callback URL names its merchant account by key, or its app.
                kind = "string" if param["name"] in ("account_key", "appid") else "integer"
                assert param["schema"] == {"type": kind}, (path, param)
                assert param["description"], (path, param)
                seen += 1

    assert seen > 10
    adjust = spec["paths"]["/api/v1/admin/members/{member_id}/points-adjustments"]["post"]
    assert adjust["parameters"][0]["description"] == "The member's id"


async def test_security_follows_each_route_guard(app: Sanic, spec: dict[str, Any]) -> None:
    wrong = []
    for method, path, route, operation in _operations(app):
        guarded = hasattr(route.handler, "__memberhub_auth__")
        documented = "security" in spec["paths"][path][method]
        if guarded != documented or guarded != bool(operation.secured):
            wrong.append(f"{method.upper()} {path}: guard {guarded}, documented {documented}")

    assert not wrong, "\n".join(wrong)
    me = spec["paths"]["/api/v1/me"]["get"]
    assert me["security"] == [{"bearer": []}]
    assert "Needs a member token." in me["description"]
    assert "bearer" in spec["components"]["securitySchemes"]


async def test_errors_answer_the_one_envelope(app: Sanic, spec: dict[str, Any]) -> None:
    responses = spec["components"]["responses"]
    envelope = {"$ref": SCHEMAS + "ErrorOut"}
    for response in responses.values():
        assert response["content"]["application/json"]["schema"] == envelope
        assert response["description"]
    expected = ErrorOut.model_json_schema(mode="serialization", ref_template=SCHEMAS + "{model}")
    defs = expected.pop("$defs")
    assert spec["components"]["schemas"]["ErrorOut"] == expected
    assert spec["components"]["schemas"]["ErrorBody"] == defs["ErrorBody"]
    assert defs["ErrorBody"]["required"] == ["code", "message"]  # details only when there are

    for method, path, _, operation in _operations(app):
        if path.startswith("/callbacks/"):
            continue  # the platforms' own formats: tests/integration/test_callbacks.py
        documented = spec["paths"][path][method]["responses"]
        assert documented["default"] == {"$ref": "#/components/responses/Error"}
        for status, response in documented.items():
            if status.startswith("2") or status == "default":
                continue
            if int(status) in operation.responses:
                continue
            assert response["$ref"].startswith("#/components/responses/"), (path, status)
        if operation.secured:
            assert {"401", "403"} <= set(documented), path
        if isinstance(operation.body, type):
            assert {"400", "422"} <= set(documented), path


async def test_responses_have_real_descriptions(spec: dict[str, Any]) -> None:
    vague = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                description = response.get("description", "")
                if "$ref" not in response and description.lower() in {"", "ok", "default response"}:
                    vague.append(f"{method.upper()} {path} {status}")

    assert not vague, vague
    code = spec["paths"]["/api/v1/me/code"]["get"]["responses"]["200"]
    assert code["description"] == "The code to show at the till, as digits, QR and barcode"


async def test_examples_fit_their_schemas(app: Sanic, spec: dict[str, Any]) -> None:
    examples = 0
    for method, path, _, operation in _operations(app):
        documented = spec["paths"][path][method]
        if operation.body_example is not None and isinstance(operation.body, type):
            media = documented["requestBody"]["content"]["application/json"]
            assert media["example"] == operation.body_example
            operation.body.model_validate(operation.body_example)
            examples += 1
        if operation.response_example is not None and isinstance(operation.response, type):
            media = documented["responses"][str(operation.status)]["content"]["application/json"]
            assert media["example"] == operation.response_example
            model: type[BaseModel] = operation.response
            model.model_validate(operation.response_example)
            examples += 1

    assert examples >= 5
    login = spec["paths"]["/api/v1/auth/wxa/login"]["post"]
    assert "example" in login["requestBody"]["content"]["application/json"]
    resolve = spec["paths"]["/api/v1/pos/member-code/resolve"]["post"]
    assert resolve["responses"]["200"]["content"]["application/json"]["example"]["phone_masked"]


async def test_sandbox_and_docs_are_not_in_the_contract(spec: dict[str, Any]) -> None:
    assert not [p for p in spec["paths"] if p.startswith(UNDOCUMENTED_PREFIXES)]
