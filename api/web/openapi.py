"""The OpenAPI 3.1 document, built from the routes and pydantic's own JSON Schemas.

Every route carries what `api.web.http.doc` recorded. Request bodies and query strings are
described by their schema in pydantic's validation mode, answers in its serialization mode (a
Decimal goes in as a number or a string and comes out as a string). OpenAPI 3.1 speaks JSON
Schema 2020-12, pydantic's dialect, so the schemas are used as they are: nested definitions
land in `components/schemas`, and an optional value stays `anyOf [X, {"type": "null"}]`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema
from pydantic_core import core_schema
from sanic import Sanic
from sanic_routing.route import Route

from api.core.auth import TokenKind

from .callbacks import ProviderAnswer, callback_answers
from .http import IDEMPOTENCY_KEY_MAX, ErrorOut, Operation, Raw, operation_of

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"
# The sandbox plays WeChat and Alipay (/h5 is its page for people); the docs describe the
# document itself.
UNDOCUMENTED_PREFIXES = ("/docs", "/sandbox", "/h5")

# The error statuses the services use, each described once in components/responses.
ERROR_RESPONSES: dict[int, tuple[str, str]] = {
    400: (
        "BadRequest",
        "The request cannot be processed: the body is not JSON "
        "(`request.malformed_json`) or a value is refused.",
    ),
    401: (
        "Unauthorized",
        "No valid token: `auth.missing_token`, `auth.token_invalid`, `auth.token_expired`.",
    ),
    403: (
        "Forbidden",
        "The token may not do this: wrong kind (`auth.wrong_token_kind`), "
        "role (`auth.role_forbidden`), or a disabled account.",
    ),
    404: ("NotFound", "What the request names does not exist in the caller's brand."),
    409: (
        "Conflict",
        "The request conflicts with the current state (a duplicate, a state that has moved on).",
    ),
    410: ("Gone", "This existed but is no longer usable (an expired or spent code)."),
    422: (
        "InvalidInput",
        "Some fields are not valid: `request.invalid`, with one entry per field in `details`.",
    ),
    429: ("RateLimited", "Too many requests; `Retry-After` says when to try again."),
    502: ("UpstreamError", "A platform we depend on (WeChat, Alipay) did not answer as expected."),
    503: ("Unavailable", "Not ready to serve."),
}
DEFAULT_ERROR = "Error"

# (schema, mode) → its `$ref` in components/schemas, as pydantic's models_json_schema gives it.
Refs = Mapping[tuple[Any, JsonSchemaMode], dict[str, Any]]


class _Schemas(GenerateJsonSchema):
    """pydantic's JSON Schema, with every field of an answer required.

    `out()` writes every field, defaults included, so an answer always carries them. This is
    pydantic's own `json_schema_serialization_defaults_required`, applied to every answer.
    """

    def field_is_required(
        self,
        field: core_schema.ModelField | core_schema.DataclassField | core_schema.TypedDictField,
        total: bool,
    ) -> bool:
        if self.mode == "serialization" and field["type"] != "typed-dict-field":
            return field.get("serialization_exclude_if") is None
        return super().field_is_required(field, total)


def build_document(app: Sanic, *, title: str, version: str, description: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every documented route the app serves."""
    routes = list(_documented_routes(app))
    models: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
    for _, _, _, operation, _ in routes:
        for model, mode in _models_of(operation):
            models[(model, mode)] = None
    refs, definitions = models_json_schema(
        list(models), ref_template=REF, schema_generator=_Schemas
    )
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    error_refs, error_definitions = models_json_schema(
        [(ErrorOut, "serialization")], ref_template=REF
    )
    for name, schema in error_definitions.get("$defs", {}).items():
        if name in schemas:
            raise ValueError(f"schema name {name!r} is taken by the error envelope")
        schemas[name] = schema
    error_ref = error_refs[(ErrorOut, "serialization")]

    paths: dict[str, dict[str, Any]] = {}
    operation_ids: dict[str, str] = {}
    for path, method, route, operation, answers in routes:
        built = _operation(path, route, operation, answers, refs, schemas)
        op_id = built["operationId"]
        if op_id in operation_ids:
            raise ValueError(
                f"operationId {op_id!r} of {method.upper()} {path} is also "
                f"{operation_ids[op_id]}'s: rename one of the handlers"
            )
        operation_ids[op_id] = f"{method.upper()} {path}"
        paths.setdefault(path, {})[method] = built

    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "tags": [{"name": tag} for tag in sorted({op.tag for _, _, _, op, _ in routes})],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "responses": _error_responses(error_ref),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A member or staff token from one of the login routes.",
                }
            },
        },
    }
    _prune_unused_schemas(document)
    _shorten_qualified_names(document)
    _defaults_into_descriptions(document)
    return document


def _documented_routes(
    app: Sanic,
) -> Iterator[tuple[str, str, Route, Operation, tuple[ProviderAnswer, ...]]]:
    for route in sorted(app.router.routes, key=lambda r: (r.path, sorted(r.methods))):
        path = "/" + route.path
        if path.startswith(UNDOCUMENTED_PREFIXES):
            continue
        operation = operation_of(route.handler)
        if operation is None:
            continue
        answers = _callback_answers_of(app, route)
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            yield openapi_path(path), method.lower(), route, operation, answers


def openapi_path(path: str) -> str:
    """`/admin/stores/<store_id:int>` → `/admin/stores/{store_id}`."""
    return re.sub(r"<(\w+)(:[^>]+)?>", r"{\1}", path)


def _callback_answers_of(app: Sanic, route: Route) -> tuple[ProviderAnswer, ...]:
    # A route's name is "<app>.<blueprint>.<handler>".
    parts = route.name.split(".")
    bp = app.blueprints.get(parts[1]) if len(parts) == 3 else None
    return callback_answers(bp) if bp is not None else ()


def _models_of(operation: Operation) -> Iterator[tuple[type[BaseModel], JsonSchemaMode]]:
    if isinstance(operation.body, type):
        yield operation.body, "validation"
    if operation.query is not None:
        yield operation.query, "validation"
    if isinstance(operation.response, type):
        yield operation.response, "serialization"
    for model in operation.responses.values():
        yield model, "serialization"


def camel_case(name: str) -> str:
    """`resolve_member_code` → `resolveMemberCode`: handler names become operation ids."""
    head, *rest = name.strip("_").split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _operation(
    path: str,
    route: Route,
    operation: Operation,
    answers: tuple[ProviderAnswer, ...],
    refs: Refs,
    schemas: dict[str, Any],
) -> dict[str, Any]:
    built: dict[str, Any] = {
        "operationId": camel_case(route.handler.__name__),
        "summary": operation.summary,
        "tags": [operation.tag],
    }
    description = _description(route, operation)
    if description:
        built["description"] = description
    parameters = [*_path_parameters(route, operation)]
    if operation.query is not None:
        parameters += _query_parameters(refs[(operation.query, "validation")], schemas)
    if operation.idempotent:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": True,
                "description": "Chosen by the client; a replay with the same key returns the "
                "first answer and does nothing again.",
                "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX},
            }
        )
    if parameters:
        built["parameters"] = parameters
    if operation.body is not None:
        built["requestBody"] = _request_body(operation, refs, schemas)
    built["responses"] = (
        _callback_responses(operation, answers) if answers else _responses(operation, refs, schemas)
    )
    if operation.secured:
        built["security"] = [{operation.secured: []}]
    return built


def _description(route: Route, operation: Operation) -> str:
    lines = [operation.description] if operation.description else []
    guard = getattr(route.handler, "__memberhub_auth__", None)
    if guard is not None:
        kind, roles = guard
        who = f"a {kind.value} token"
        if kind is TokenKind.STAFF and roles:
            who += " with the role " + " or ".join(sorted(role.value for role in roles))
        lines.append(f"Needs {who}.")
    return "\n\n".join(lines)


def _path_parameters(route: Route, operation: Operation) -> Iterator[dict[str, Any]]:
    for param in route.params.values():
        noun = param.name.removesuffix("_id").replace("_", " ")
        yield {
            "name": param.name,
            "in": "path",
            "required": True,
            "description": operation.params.get(param.name) or f"The {noun}'s id",
            "schema": {"type": "integer"} if param.cast is int else {"type": "string"},
        }


def _query_parameters(ref: dict[str, Any], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    """One `in: query` parameter per field of a query schema."""
    schema = _resolve(ref, schemas)
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            # A query string has no null: an absent parameter is the None.
            "schema": _without_null(prop),
        }
        if description:
            parameter["description"] = description
        if parameter["schema"].get("type") == "array":
            # Lists travel comma-separated in one parameter: `tag_ids=3,5,8`.
            parameter["style"] = "form"
            parameter["explode"] = False
        parameters.append(parameter)
    return parameters


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    options = schema.get("anyOf")
    if not isinstance(options, list) or {"type": "null"} not in options:
        return schema
    rest = [option for option in options if option != {"type": "null"}]
    outer = {key: value for key, value in schema.items() if key != "anyOf"}
    if outer.get("default", ...) is None:
        outer.pop("default")
    if len(rest) == 1:
        return {**rest[0], **outer}
    return {**outer, "anyOf": rest}


def _resolve(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        return schemas[ref.removeprefix("#/components/schemas/")]
    return schema


def _request_body(
    operation: Operation,
    refs: Refs,
    schemas: dict[str, Any],
) -> dict[str, Any]:
    body = operation.body
    if isinstance(body, Raw):
        media: dict[str, Any] = {"schema": dict(body.schema)}
        if operation.body_example is not None:
            media["example"] = operation.body_example
        request = {"required": True, "content": {body.media_type: media}}
        if body.description:
            request["description"] = body.description
        return request
    assert body is not None
    ref = refs[(body, "validation")]
    media = {"schema": ref}
    if operation.body_example is not None:
        media["example"] = operation.body_example
    # An empty body reads as `{}`, so a body with no required field may be left out.
    return {
        "required": bool(_resolve(ref, schemas).get("required")),
        "content": {"application/json": media},
    }


def _responses(
    operation: Operation,
    refs: Refs,
    schemas: dict[str, Any],
) -> dict[str, Any]:
    responses: dict[str, Any] = {str(operation.status): _success(operation, refs)}
    for status, model in sorted(operation.responses.items()):
        responses[str(status)] = {
            "description": _first_line(model.__doc__) or f"{status}: {model.__name__}",
            "content": {"application/json": {"schema": refs[(model, "serialization")]}},
        }
    for status in sorted(_error_statuses(operation) - set(operation.responses)):
        name = ERROR_RESPONSES.get(status, (DEFAULT_ERROR, ""))[0]
        responses[str(status)] = {"$ref": f"#/components/responses/{name}"}
    responses["default"] = {"$ref": f"#/components/responses/{DEFAULT_ERROR}"}
    return responses


def _success(operation: Operation, refs: Refs) -> dict[str, Any]:
    response = operation.response
    if response is None:
        return {"description": operation.returns or operation.summary}
    if isinstance(response, Raw):
        media: dict[str, Any] = {"schema": dict(response.schema)}
        description = operation.returns or response.description or operation.summary
        content_type = response.media_type
    else:
        media = {"schema": refs[(response, "serialization")]}
        description = operation.returns or _first_line(response.__doc__) or operation.summary
        content_type = "application/json"
    if operation.response_example is not None:
        media["example"] = operation.response_example
    content = {content_type: media}
    for other in operation.also:
        content[other.media_type] = {"schema": dict(other.schema)}
    return {"description": description, "content": content}


def _error_statuses(operation: Operation) -> set[int]:
    statuses = set(operation.errors)
    if operation.body is not None and not isinstance(operation.body, Raw):
        statuses |= {400, 422}
    if operation.query is not None or operation.idempotent:
        statuses.add(422)
    if operation.secured:
        statuses |= {401, 403}
    return statuses


def _callback_responses(
    operation: Operation, answers: tuple[ProviderAnswer, ...]
) -> dict[str, Any]:
    """A platform's notification: its own success answer, its own failure answer."""
    default = answers[0]
    ok: dict[str, Any] = {"description": operation.returns or "Handled; the platform stops."}
    if default.ok_body:
        ok["content"] = {a.media_type: {"schema": dict(a.ok_schema)} for a in answers}
    failure = {
        "description": "Refused or failed; the platform retries. In the platform's format.",
        "content": {a.media_type: {"schema": dict(a.fail_schema)} for a in answers},
    }
    responses = {str(default.ok_status): ok}
    for status in sorted({*operation.errors, 500}):
        responses[str(status)] = failure
    return responses


def _error_responses(error_ref: dict[str, Any]) -> dict[str, Any]:
    content = {"application/json": {"schema": error_ref}}
    responses: dict[str, Any] = {}
    for name, description in ERROR_RESPONSES.values():
        responses[name] = {"description": description, "content": content}
    responses["RateLimited"]["headers"] = {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "integer", "minimum": 1},
        }
    }
    responses[DEFAULT_ERROR] = {
        "description": "Any other error, in the same envelope (an unknown route, a body too "
        "large, `internal` with the request id).",
        "content": content,
    }
    return responses


def _first_line(text: str | None) -> str:
    return text.strip().splitlines()[0].strip() if text and text.strip() else ""


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _reachable(roots: Any, schemas: dict[str, Any]) -> set[str]:
    """The names of the component schemas `roots` refer to, directly or through others."""
    prefix = "#/components/schemas/"
    reached: set[str] = set()
    pending = [ref.removeprefix(prefix) for ref in _refs(roots) if ref.startswith(prefix)]
    while pending:
        name = pending.pop()
        if name in reached:
            continue
        reached.add(name)
        pending += [r.removeprefix(prefix) for r in _refs(schemas[name]) if r.startswith(prefix)]
    return reached


def _prune_unused_schemas(document: dict[str, Any]) -> None:
    """Drop the definitions nothing points to (a query schema, once spread into parameters)."""
    schemas = document["components"]["schemas"]
    used = _reachable([document["paths"], document["components"]["responses"]], schemas)
    for name in set(schemas) - used:
        del schemas[name]


def _defaults_into_descriptions(document: dict[str, Any]) -> None:
    """What a client sends: a property's default moves from `default` to its description.

    openapi-typescript, as front-end teams run it, types a component property that has a
    `default` as always present. That is true of an answer, not of a request: a client may
    leave out `scene` or any field of a PATCH. Without `default`, an optional input field
    comes out optional (`scene?: string | null`).
    """
    schemas = document["components"]["schemas"]
    operations = [op for item in document["paths"].values() for op in item.values()]
    sent = _reachable([op.get("requestBody", {}) for op in operations], schemas)
    answered = _reachable(
        [[op["responses"] for op in operations], document["components"]["responses"]], schemas
    )
    for name in sent - answered:
        for prop in schemas[name].get("properties", {}).values():
            if "default" not in prop:
                continue
            default = prop.pop("default")
            if default is not None:
                note = f"Default: {json.dumps(default, ensure_ascii=False)}."
                prop["description"] = f"{prop.get('description', '')} {note}".strip()


def _shorten_qualified_names(document: dict[str, Any]) -> None:
    """`api__member_center__schemas__profile__LevelBrief` → `ProfileLevelBrief`.

    pydantic qualifies a name with its module when two models share it; generated clients read
    better with the module's last part as a prefix.
    """
    schemas = document["components"]["schemas"]
    renames: dict[str, str] = {}
    for name in list(schemas):
        if "__" not in name:
            continue
        *modules, model = name.split("__")
        short = "".join(part.title() for part in modules[-1].split("_")) + model
        if short not in schemas and short not in renames.values():
            renames[name] = short
    if not renames:
        return
    for old, new in renames.items():
        schemas[new] = schemas.pop(old)
    document["components"]["schemas"] = dict(sorted(schemas.items()))
    prefix = "#/components/schemas/"

    def rewrite(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.removeprefix(prefix) in renames:
                node["$ref"] = prefix + renames[ref.removeprefix(prefix)]
            for value in node.values():
                rewrite(value)
        elif isinstance(node, list):
            for item in node:
                rewrite(item)

    rewrite(document)
