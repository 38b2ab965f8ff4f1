"""`memberhub serve --port P` on any port: its sandbox and public addresses follow the port, so a
login through the sandbox of that very server works."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import _free_port

pytestmark = pytest.mark.stack_independent

DERIVED = (
    "MEMBERHUB_WECHAT_API_BASE",
    "MEMBERHUB_ALIPAY_GATEWAY",
    "MEMBERHUB_WECHATPAY_API_BASE",
    "MEMBERHUB_PUBLIC_BASE_URL",
)


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited:\n" + log.read_text()[-2000:]
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within 30 s")


def test_a_login_through_the_sandbox_of_a_server_on_another_port(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MEMBERHUB_ENV": "development",
        "MEMBERHUB_DATABASE_URL": f"sqlite://{tmp_path / 'port.sqlite3'}",
    }
    for name in ("MEMBERHUB_REDIS_URL", "MEMBERHUB_HOST", "MEMBERHUB_PORT", *DERIVED):
        env.pop(name, None)
    memberhub = [sys.executable, "-m", "api.cli"]
    subprocess.run([*memberhub, "migrate"], env=env, check=True, capture_output=True, timeout=120)
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as log_file:
        server = subprocess.Popen(
            [*memberhub, "serve", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/healthz", server, log)
        demo = subprocess.run(
            [*memberhub, "bootstrap-demo"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        appid = json.loads(demo.stdout)["miniprogram"]["appid"]

        code = httpx.post(f"{base}/sandbox/wechat/login-codes", json={"appid": appid}, timeout=10)
        login = httpx.post(
            f"{base}/api/v1/auth/wxa/login",
            json={"appid": appid, "code": code.json()["code"]},
            timeout=30,
        )

        assert code.status_code == 200, code.text
        assert login.status_code == 200, login.text
        assert login.json()["token"]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait()
