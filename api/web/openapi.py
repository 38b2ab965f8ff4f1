"""Make the OpenAPI document say what OpenAPI 3.0 understands.

sanic-ext labels its document 3.0.3 but renders schemas with pydantic's JSON Schema (draft
2020-12), which OpenAPI 3.0 only partly speaks: an optional value is `anyOf [X, {type: null}]`
where 3.0 writes `nullable: true`, `exclusiveMinimum` is a number where 3.0 wants a flag, and
`const` is an `enum` of one. Nested models also arrive as `$defs` inside each schema, with
`#/$defs/…` references that point nowhere in the document: they move to `components`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

NULL = {"type": "null"}


def openapi_30_document(
    document: dict[str, Any], models: Iterable[type[BaseModel]] = ()
) -> dict[str, Any]:
    """The whole document in OpenAPI 3.0 terms, nested model definitions in `components`."""
    definitions: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, nested in schema.get("$defs", {}).items():
            definitions.setdefault(name, nested)
    # The sandbox plays WeChat and Alipay; it is not part of memberhub's contract.
    paths = document.get("paths", {})
    document = {
        **document,
        "paths": {p: v for p, v in paths.items() if not p.startswith("/sandbox")},
    }
    converted = to_openapi_30(_hoist(document, definitions))
    if definitions:
        schemas = converted.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in definitions.items():
            schemas.setdefault(name, to_openapi_30(schema))
    return converted


def _hoist(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_hoist(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    for name, schema in (node.pop("$defs", None) or {}).items():
        definitions.setdefault(name, _hoist(schema, definitions))
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        node["$ref"] = "#/components/schemas/" + ref.removeprefix("#/$defs/")
    return {key: _hoist(value, definitions) for key, value in node.items()}


def to_openapi_30(node: Any) -> Any:
    """A schema with JSON Schema 2020-12 spellings turned into OpenAPI 3.0 ones."""
    if isinstance(node, list):
        return [to_openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: to_openapi_30(value) for key, value in node.items()}
    for combinator in ("anyOf", "oneOf"):
        options = node.get(combinator)
        if isinstance(options, list) and NULL in options:
            rest = [option for option in options if option != NULL]
            node.pop(combinator)
            node["nullable"] = True
            if len(rest) == 1:
                node = {**rest[0], **node} if rest[0] else node
            elif rest:
                node[combinator] = rest
    if node.get("type") == "null":
        node.pop("type")
        node["nullable"] = True
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = node.get(bound)
        if isinstance(value, int | float) and not isinstance(value, bool):
            node[plain] = value
            node[bound] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    return node
