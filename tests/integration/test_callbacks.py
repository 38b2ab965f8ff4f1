"""Callback blueprints answer errors in the platform's format, with a status it retries on."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
from sanic import Blueprint, HTTPResponse, Request, Sanic

from api.app import create_app
from api.core.errors import Conflict, NotFound, Unauthorized
from api.core.ports import Ports
from api.web.callbacks import (
    ALIPAY,
    WECHATPAY_V2,
    WECHATPAY_V3,
    answer_as,
    callback_blueprint,
)
from api.web.http import Raw, doc
from config.settings import Settings
from tests.support.api import Api, serve_asgi

# A test-only platform: its routes read the raw bytes and refuse the way a notify route would.
SIGNED = b'{"id":"EV-1","resource":{"ciphertext":"..."}}'


def _wechatpay_blueprint() -> Blueprint:
    bp = callback_blueprint(
        "test_wechatpay",
        url_prefix="/callbacks/test-wechatpay",
        answer=WECHATPAY_V3,
        alternatives=(WECHATPAY_V2,),
    )

    @bp.post("/<account_key:str>")
    @doc(
        summary="A test notification",
        tag="callbacks",
        body=Raw("application/json"),
        secured=None,
        errors=(401, 404, 409),
    )
    async def receive_test_notification(request: Request, account_key: str) -> HTTPResponse:
        if account_key.startswith("v2-"):
            answer_as(request, WECHATPAY_V2)
        if request.body != SIGNED:
            raise Unauthorized("callback.bad_signature", "The signature does not verify.")
        if account_key.endswith("unknown"):
            raise NotFound("merchant_account.not_found", "No such account.")
        if account_key.endswith("late"):
            raise Conflict("payment.closed", "The payment is closed.")
        if account_key.endswith("crash"):
            raise RuntimeError("the database went away")
        return (WECHATPAY_V2 if account_key.startswith("v2-") else WECHATPAY_V3).ok()

    return bp


def _alipay_blueprint() -> Blueprint:
    bp = callback_blueprint("test_alipay", url_prefix="/callbacks/test-alipay", answer=ALIPAY)

    @bp.post("/<account_key:str>")
    @doc(
        summary="A test Alipay notification",
        tag="callbacks",
        body=Raw("application/x-www-form-urlencoded"),
        secured=None,
        errors=(401,),
    )
    async def receive_test_alipay_notification(request: Request, account_key: str) -> HTTPResponse:
        if b"sign=good" not in request.body:
            raise Unauthorized("callback.bad_signature", "The signature does not verify.")
        return ALIPAY.ok()

    return bp


@pytest.fixture(scope="module")
async def callback_app(settings: Settings, database: None) -> AsyncIterator[Sanic]:
    application = create_app(settings, manage_db=False, name="memberhub_callbacks_test")
    application.blueprint(_wechatpay_blueprint())
    application.blueprint(_alipay_blueprint())
    async with serve_asgi(application):
        yield application


@pytest.fixture
async def client(callback_app: Sanic, ports: Ports) -> AsyncIterator[Api]:
    callback_app.ctx.ports = ports
    async with Api.over(callback_app) as api:
        yield api


async def test_a_refused_wechatpay_v3_notification_answers_fail_json_with_the_error_status(
    client: Api,
) -> None:
    answer = await client.post("/callbacks/test-wechatpay/hq", content=b"tampered")

    assert answer.status == 401
    assert answer.headers["content-type"] == "application/json"
    assert answer.json == {
        "code": "FAIL",
        "message": "callback.bad_signature: The signature does not verify.",
    }
    assert "error" not in answer.json  # not the API's envelope


@pytest.mark.parametrize(("key", "status"), [("unknown", 404), ("late", 409)])
async def test_every_domain_error_keeps_its_status(client: Api, key: str, status: int) -> None:
    answer = await client.post(f"/callbacks/test-wechatpay/{key}", content=SIGNED)

    assert answer.status == status
    assert answer.json["code"] == "FAIL"


async def test_a_handled_v3_notification_answers_204_without_a_body(client: Api) -> None:
    answer = await client.post("/callbacks/test-wechatpay/hq", content=SIGNED)

    assert answer.status == 204
    assert answer.text == ""


async def test_a_route_that_chose_v2_answers_fail_xml(client: Api) -> None:
    refused = await client.post("/callbacks/test-wechatpay/v2-unknown", content=SIGNED)
    handled = await client.post("/callbacks/test-wechatpay/v2-hq", content=SIGNED)

    assert refused.status == 404
    assert refused.headers["content-type"] == "application/xml"
    assert refused.text == (
        "<xml><return_code><![CDATA[FAIL]]></return_code>"
        "<return_msg><![CDATA[merchant_account.not_found: No such account.]]></return_msg></xml>"
    )
    assert handled.status == 200
    assert "<return_code><![CDATA[SUCCESS]]></return_code>" in handled.text


async def test_a_crash_answers_500_in_the_platform_format_and_is_logged(
    client: Api, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="memberhub.callbacks"):
        v3 = await client.post("/callbacks/test-wechatpay/crash", content=SIGNED)
        v2 = await client.post("/callbacks/test-wechatpay/v2-crash", content=SIGNED)

    assert v3.status == 500
    assert json.loads(v3.text) == {"code": "FAIL", "message": "internal error"}
    assert v2.status == 500
    assert "<return_code><![CDATA[FAIL]]></return_code>" in v2.text
    assert any(r.exc_info and "database went away" in str(r.exc_info[1]) for r in caplog.records)


async def test_alipay_answers_the_bare_words_it_reads(client: Api) -> None:
    refused = await client.post("/callbacks/test-alipay/hq", content=b"trade_status=X&sign=bad")
    handled = await client.post("/callbacks/test-alipay/hq", content=b"trade_status=X&sign=good")

    assert (refused.status, refused.text) == (401, "fail")
    assert refused.headers["content-type"] == "text/plain"
    assert (handled.status, handled.text) == (200, "success")


async def test_the_rest_of_the_api_keeps_the_json_envelope(client: Api) -> None:
    answer = await client.get("/me")

    assert answer.status == 401
    assert answer.error_code == "auth.missing_token"


async def test_callback_routes_are_documented_in_the_platform_format(client: Api) -> None:
    spec = (await client.get("/docs/openapi.json")).json
    operation = spec["paths"]["/callbacks/test-wechatpay/{account_key}"]["post"]
    alipay = spec["paths"]["/callbacks/test-alipay/{account_key}"]["post"]

    assert operation["operationId"] == "receiveTestNotification"
    assert set(operation["responses"]) == {"204", "401", "404", "409", "500"}
    refused = operation["responses"]["404"]["content"]
    assert set(refused) == {"application/json", "application/xml"}
    assert refused["application/json"]["schema"]["properties"]["code"] == {"const": "FAIL"}
    assert "content" not in operation["responses"]["204"]
    assert alipay["responses"]["200"]["content"]["text/plain"]["schema"] == {"const": "success"}
    assert alipay["responses"]["401"]["content"]["text/plain"]["schema"] == {"const": "fail"}
    assert operation["parameters"][0]["schema"] == {"type": "string"}


def test_the_answers_are_the_platforms_documented_words() -> None:
    assert WECHATPAY_V3.fail(500, "x").status == 500
    assert ALIPAY.ok().body == b"success"
    assert ALIPAY.fail(400, "anything").body == b"fail"
    assert b"]]]]><![CDATA[>" in WECHATPAY_V2.fail(400, "a]]>b").body
