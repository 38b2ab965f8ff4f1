"""What every route uses: parse a body, a query or a header, answer JSON, describe the route."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError
from sanic import HTTPResponse, Request

from api.core.errors import BadRequest, InvalidInput

M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])

IDEMPOTENCY_KEY_MAX = 100


def _absent_when_none(schema: dict[str, Any]) -> None:
    # `to_body()` leaves `details` out rather than writing null; a `default` in the schema
    # would make generated clients type it as always present.
    schema.pop("default", None)


class ErrorBody(BaseModel):
    code: str = Field(description="stable and dotted, e.g. `coupon.out_of_stock`")
    message: str = Field(description="for people; may change")
    details: Any = Field(
        default=None,
        description="only when there is more to say: field problems for `request.invalid`, "
        "the request id for `internal`",
        json_schema_extra=_absent_when_none,
    )


class ErrorOut(BaseModel):
    """Every error answer: `{"error": {"code", "message", "details"?}}`."""

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


def idempotency_key(request: Request) -> str:
    """The `Idempotency-Key` header; 422 `request.idempotency_key_required` when missing."""
    value = (request.headers.get("idempotency-key") or "").strip()
    if not value:
        raise InvalidInput(
            "request.idempotency_key_required", "An 'Idempotency-Key' header is required."
        )
    if len(value) > IDEMPOTENCY_KEY_MAX or not (value.isascii() and value.isprintable()):
        raise InvalidInput(
            "request.idempotency_key_invalid",
            f"The 'Idempotency-Key' header must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII "
            "characters.",
        )
    return value


def out(model: BaseModel, *, status: int = 200) -> HTTPResponse:
    """A schema as the JSON body, serialised by pydantic straight to UTF-8 bytes.

    Every field is written, defaults included, which is why the OpenAPI document marks every
    field of an answer as required.
    """
    return HTTPResponse(model.model_dump_json(), status=status, content_type="application/json")


@dataclass(frozen=True)
class Raw:
    """A body that is not a pydantic schema: CSV in, Prometheus text out, a provider's XML."""

    media_type: str
    description: str = ""
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True)
class Operation:
    """What `doc` records on a handler; `api.web.openapi` turns it into an OpenAPI operation."""

    summary: str
    tag: str
    body: type[BaseModel] | Raw | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | Raw | None = None
    status: int = 200
    secured: str | None = "bearer"
    errors: tuple[int, ...] = ()
    description: str | None = None
    returns: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    body_example: Any = None
    response_example: Any = None
    idempotent: bool = False
    responses: Mapping[int, type[BaseModel]] = field(default_factory=dict)
    also: tuple[Raw, ...] = ()


def doc(
    *,
    summary: str,
    tag: str,
    body: type[BaseModel] | Raw | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | Raw | None = None,
    status: int = 200,
    secured: str | None = "bearer",
    errors: tuple[int, ...] = (),
    description: str | None = None,
    returns: str | None = None,
    params: Mapping[str, str] | None = None,
    body_example: Any = None,
    response_example: Any = None,
    idempotent: bool = False,
    responses: Mapping[int, type[BaseModel]] | None = None,
    also: tuple[Raw, ...] = (),
) -> Callable[[F], F]:
    """Describe a route for the OpenAPI document.

    `body`, `query` and `response` name the schemas the route parses and answers; `errors` the
    statuses its service may refuse with, in the error envelope (400 and 422 follow from a body
    or a query, 401 and 403 from `secured`, which names the security scheme of the route's
    guard). `returns` describes the success answer (default: the response schema's docstring,
    else the summary); `params` describes path parameters (default: "The member's id" for
    `member_id`); `idempotent` adds the required `Idempotency-Key` header; `responses` are other
    statuses answered with their own schema, not the envelope; `also` other media types the
    success answer comes in (a report as CSV).
    """
    operation = Operation(
        summary=summary,
        tag=tag,
        body=body,
        query=query,
        response=response,
        status=status,
        secured=secured,
        errors=tuple(errors),
        description=description,
        returns=returns,
        params=dict(params or {}),
        body_example=body_example,
        response_example=response_example,
        idempotent=idempotent,
        responses=dict(responses or {}),
        also=tuple(also),
    )

    def decorate(handler: F) -> F:
        handler.__openapi__ = operation  # type: ignore[attr-defined]
        return handler

    return decorate


def operation_of(handler: Any) -> Operation | None:
    """The description `doc` recorded on a route handler, if any."""
    operation = getattr(handler, "__openapi__", None)
    return operation if isinstance(operation, Operation) else None
