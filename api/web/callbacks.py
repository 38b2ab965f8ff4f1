"""Blueprints for the platforms' notifications: every answer, errors included, in their format.

WeChat Pay and Alipay do not read our JSON envelope. WeChat Pay judges delivery by the HTTP
status (any 2xx is "received"; v3 wants `{"code": "FAIL", "message": …}` with a 4xx/5xx, v2 an
XML `return_code`), and Alipay by the body (anything but the seven characters `success` is
retried). A callback blueprint answers every DomainError, and every crash, in its platform's
format, so a refused notification is retried instead of being counted as received. Its routes
read `request.body` as raw bytes: the signature covers those bytes, not a parse of them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sanic import Blueprint, HTTPResponse, Request

from api.core.errors import DomainError

log = logging.getLogger("memberhub.callbacks")


@dataclass(frozen=True)
class ProviderAnswer:
    """How one platform wants its notifications answered."""

    name: str
    media_type: str
    ok_status: int
    ok_body: bytes
    fail_body: Callable[[str], bytes]
    # JSON Schemas of the two answers, for the OpenAPI document.
    ok_schema: Mapping[str, Any] = field(default_factory=dict)
    fail_schema: Mapping[str, Any] = field(default_factory=dict)

    def ok(self) -> HTTPResponse:
        """The answer that tells the platform the notification was handled."""
        content_type = self.media_type if self.ok_body else None
        return HTTPResponse(self.ok_body, status=self.ok_status, content_type=content_type)

    def fail(self, status: int, message: str) -> HTTPResponse:
        """A refusal the platform retries: non-2xx status, failure body."""
        return HTTPResponse(self.fail_body(message), status=status, content_type=self.media_type)


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _v2_xml(return_code: str, message: str) -> bytes:
    return (
        f"<xml><return_code>{_cdata(return_code)}</return_code>"
        f"<return_msg>{_cdata(message)}</return_msg></xml>"
    ).encode()


WECHATPAY_V3 = ProviderAnswer(
    name="wechatpay_v3",
    media_type="application/json",
    ok_status=204,
    ok_body=b"",
    fail_body=lambda message: json.dumps(
        {"code": "FAIL", "message": message}, ensure_ascii=False
    ).encode(),
    fail_schema={
        "type": "object",
        "properties": {"code": {"const": "FAIL"}, "message": {"type": "string"}},
        "required": ["code", "message"],
    },
)

WECHATPAY_V2 = ProviderAnswer(
    name="wechatpay_v2",
    media_type="application/xml",
    ok_status=200,
    ok_body=_v2_xml("SUCCESS", "OK"),
    fail_body=lambda message: _v2_xml("FAIL", message),
    ok_schema={"type": "string", "description": "`<xml><return_code>SUCCESS</return_code>…`"},
    fail_schema={"type": "string", "description": "`<xml><return_code>FAIL</return_code>…`"},
)

ALIPAY = ProviderAnswer(
    name="alipay",
    media_type="text/plain",
    ok_status=200,
    ok_body=b"success",
    fail_body=lambda message: b"fail",
    ok_schema={"const": "success"},
    fail_schema={"const": "fail"},
)


def callback_blueprint(
    name: str,
    *,
    url_prefix: str,
    answer: ProviderAnswer,
    alternatives: tuple[ProviderAnswer, ...] = (),
) -> Blueprint:
    """A blueprint whose errors are answered in `answer`'s format instead of the JSON envelope.

    `alternatives` are the other formats a route may switch to with `answer_as` once it knows
    which one applies (a WeChat Pay URL serves v3 and v2 accounts alike).
    """
    bp = Blueprint(name, url_prefix=url_prefix)
    bp.ctx.callback_answers = (answer, *alternatives)

    @bp.exception(DomainError)
    async def _refused(request: Request, exc: DomainError) -> HTTPResponse:
        log.info("callback %s refused: %s (%s)", name, exc.code, exc.status)
        return current_answer(request, answer).fail(exc.status, f"{exc.code}: {exc.message}")

    @bp.exception(Exception)
    async def _crashed(request: Request, exc: Exception) -> HTTPResponse:
        request_id = getattr(request.ctx, "request_id", "")
        log.exception("callback %s failed", name, extra={"request_id": request_id})
        return current_answer(request, answer).fail(500, "internal error")

    return bp


def answer_as(request: Request, answer: ProviderAnswer) -> None:
    """From here on, this request's answers (errors included) take `answer`'s format."""
    request.ctx.callback_answer = answer


def current_answer(request: Request, default: ProviderAnswer) -> ProviderAnswer:
    """The format this request answers in: the one `answer_as` chose, else the blueprint's."""
    chosen = getattr(request.ctx, "callback_answer", None)
    return chosen if isinstance(chosen, ProviderAnswer) else default


def callback_answers(bp: Blueprint) -> tuple[ProviderAnswer, ...]:
    """The formats a callback blueprint answers in, its default first; () for other blueprints."""
    answers = getattr(bp.ctx, "callback_answers", ())
    return tuple(answers)
