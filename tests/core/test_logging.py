"""Log lines: one JSON object each, with every `extra=` field at the top level and the request id;
commands keep them on stderr so their own JSON on stdout stays parseable."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from api.core import alipay, context
from api.core.errors import UpstreamError
from api.core.ports import Ports
from config.logging import JsonFormatter
from sandbox.keys import alipay_platform_public_pem
from tests.factories import make_brand, make_wechat_app
from tests.support.api import Api
from tests.support.player import Player

Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def lines() -> Iterator[Lines]:
    """The lines every logger writes during the test, as the configured formatter writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def _only(lines: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [line for line in lines if all(line.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, lines)
    return found[0]


def test_extra_fields_are_top_level_fields(lines: Lines) -> None:
    logging.getLogger("memberhub.test").warning(
        "platform refused %s", "login", extra={"appid": "wx1", "errcode": 40125, "sub_code": "x.y"}
    )

    line = _only(lines(), logger="memberhub.test")

    assert line["msg"] == "platform refused login"
    assert (line["appid"], line["errcode"], line["sub_code"]) == ("wx1", 40125, "x.y")
    assert line["level"] == "warning" and line["ts"].endswith("+00:00")
    assert "message" not in line


def test_the_request_id_comes_from_the_context_unless_the_record_has_one(lines: Lines) -> None:
    log = logging.getLogger("memberhub.test")
    log.info("outside any request")
    token = context.request_id.set("from-context")
    try:
        log.info("inside a request")
        log.info("with its own", extra={"request_id": "from-record"})
    finally:
        context.request_id.reset(token)

    assert "request_id" not in _only(lines(), msg="outside any request")
    assert _only(lines(), msg="inside a request")["request_id"] == "from-context"
    assert _only(lines(), msg="with its own")["request_id"] == "from-record"


def test_an_exception_is_one_field_of_the_line(lines: Lines) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("memberhub.test").exception("failed")

    line = _only(lines(), msg="failed")

    assert "RuntimeError: boom" in line["exc"]


async def test_a_wechat_failure_logs_appid_errcode_and_the_request_id(
    api: Api, player: Player, lines: Lines
) -> None:
    brand = await make_brand()
    app = await make_wechat_app(brand=brand, secret="0" * 32)  # WeChat answers 40125
    code = await player.login_code(app.appid)

    answer = await api.post("/auth/wxa/login", {"appid": app.appid, "code": code["code"]})

    assert answer.status == 502, answer
    line = _only(lines(), msg="wechat call failed")
    assert line["appid"] == app.appid
    assert line["errcode"] == 40125
    assert line["request_id"] == answer.headers["x-request-id"]


async def test_an_alipay_refusal_logs_its_code_and_sub_code(
    ports: Ports, player: Player, lines: Lines
) -> None:
    app_id = "2021000000000991"
    issued = await player.alipay_code(app_id)
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    creds = alipay.AlipayCredentials(
        app_id=app_id,
        app_private_key_pem=foreign.decode(),
        alipay_public_key_pem=alipay_platform_public_pem(),
    )

    with pytest.raises(UpstreamError):
        await alipay.oauth_token(creds, issued["auth_code"])

    line = _only(lines(), msg="alipay refused")
    assert line["app_id"] == app_id
    assert line["code"] == "40002"
    assert line["sub_code"] == "isv.invalid-signature"


async def test_the_access_log_line_is_one_object_with_its_fields_at_the_top(
    api: Api, lines: Lines
) -> None:
    answer = await api.get("/healthz")

    line = _only(lines(), logger="memberhub.access")

    assert line["request_id"] == answer.headers["x-request-id"]
    assert (line["method"], line["path"], line["status"]) == ("GET", "/healthz", 200)
    assert "msg" not in line


@pytest.mark.stack_independent
def test_a_command_prints_json_on_stdout_and_logs_on_stderr(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MEMBERHUB_ENV": "development",
        "MEMBERHUB_DATABASE_URL": f"sqlite://{tmp_path / 'cli.sqlite3'}",
        "MEMBERHUB_LOG_LEVEL": "INFO",
    }
    env.pop("MEMBERHUB_REDIS_URL", None)

    def memberhub(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "api.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )

    memberhub("migrate")
    done = memberhub("bootstrap-demo")

    summary = json.loads(done.stdout)
    assert summary["brand"]["code"] == "demo"
    logged = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    ready = _only(logged, msg="demo brand ready")
    assert ready["brand"] == "demo" and ready["logger"] == "memberhub.cli"
