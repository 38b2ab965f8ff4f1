"""What every route uses: parse a body or query into a schema, document it, answer JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sanic import HTTPResponse, Request
from sanic_ext.extensions.openapi import openapi
from sanic_ext.extensions.openapi.definitions import Response

from api.core.errors import BadRequest, InvalidInput

M = TypeVar("M", bound=BaseModel)

# Every schema a route names, so the OpenAPI document can define the models nested in them.
DOCUMENTED_MODELS: set[type[BaseModel]] = set()


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any | None = None


class ErrorOut(BaseModel):
    error: ErrorBody


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """Field-level details of a failed validation, safe to show to the caller."""
    return [
        {
            "field": ".".join(str(part) for part in err["loc"]),
            "message": err["msg"],
            "type": err["type"],
        }
        for err in exc.errors(include_url=False, include_input=False)
    ]


def parse(model: type[M], data: Any) -> M:
    """Validate data into a schema; 422 `request.invalid` with field details when it does not fit."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from exc


def body(request: Request, model: type[M]) -> M:
    """The JSON body of a request as a schema; an empty body is an empty object.

    pydantic parses the bytes itself, which is cheaper than decoding them to Python objects
    first. 400 `request.malformed_json` when they are not JSON at all.
    """
    if not request.body:
        return parse(model, {})
    try:
        return model.model_validate_json(request.body)
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise BadRequest("request.malformed_json", "The body is not valid JSON.") from exc
        raise _invalid(exc) from exc


def _invalid(exc: ValidationError) -> InvalidInput:
    return InvalidInput(
        "request.invalid", "Some fields are not valid.", details=validation_details(exc)
    )


def query(request: Request, model: type[M]) -> M:
    """The query string as a schema (single values; repeated keys keep the first)."""
    return parse(model, {key: values[0] for key, values in request.args.items()})


def out(model: BaseModel, *, status: int = 200) -> HTTPResponse:
    """A schema as the JSON body, serialised by pydantic straight to UTF-8 bytes."""
    return HTTPResponse(model.model_dump_json(), status=status, content_type="application/json")


def doc(
    *,
    summary: str,
    tag: str,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    secured: str | None = "bearer",
    errors: tuple[int, ...] = (),
) -> Callable[[Any], Any]:
    """OpenAPI description of a route: request schema, response schema, errors, security."""
    DOCUMENTED_MODELS.update(model for model in (body, response) if model is not None)
    responses: list[Any] = []
    if response is not None:
        responses.append(Response({"application/json": response}, status=status))
    else:
        responses.append(Response({"application/json": {}}, status=status))
    for code in sorted({*errors, 422} if body is not None else set(errors)):
        responses.append(Response({"application/json": ErrorOut}, status=code))
    return openapi.definition(
        summary=summary,
        tag=tag,
        body={"application/json": body} if body is not None else None,
        response=responses,
        secured={secured: []} if secured else None,
    )
