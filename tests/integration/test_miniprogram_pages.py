"""The mini-program's pages, rendered by WeChat's own component test tools (miniprogram-simulate,
j-component) under node's test runner, against a real `memberhub serve` with the sandbox.

The node tests (miniprogram_stub/tests) turn wx.request into real HTTP calls and wx.login /
getPhoneNumber into the sandbox's player routes; this test starts the server, with the demo
brand completed as head office would (the mall's shelf too: tests/support/mall_demo.py), and
fails with node's output when a page test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.member_center_demo import CENTER_COUPON, MALL_COUPON

ROOT = Path(__file__).resolve().parents[2]
PAGE_TESTS = ROOT / "miniprogram_stub" / "tests"
SIMULATE = ROOT / "node_modules" / "miniprogram-simulate"
NODE_TIMEOUT_S = 120

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("MEMBERHUB_TEST_DATABASE_URL")),
    reason="the page tests run once, on the embedded stack (SQLite); the API they call is "
    "tested on PostgreSQL + Redis by the rest of the suite",
)


def _node() -> str:
    """The node binary; a skip on a developer's machine without it, a failure under CI."""
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        reason = (
            "node and npm are not installed, so the mini-program page tests cannot run "
            "(Debian: apt-get install nodejs npm, then make venv)"
        )
        if os.environ.get("CI", "").lower() in {"", "0", "false", "no"}:
            pytest.skip(reason)
        pytest.fail(f"CI is set: {reason}")
    if not SIMULATE.exists():
        pytest.fail("miniprogram-simulate is not installed: `make node-tools` runs npm ci")
    return node


@pytest.fixture
def server(member_center_demo: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The server both client page tests share (tests/integration/conftest.py)."""
    return member_center_demo


def test_the_mini_program_pages_work_against_the_api(server: tuple[str, dict[str, Any]]) -> None:
    node = _node()
    url, demo = server
    env = {
        **os.environ,
        "MEMBERHUB_URL": url,
        "MEMBERHUB_APPID": demo["miniprogram"]["appid"],
        "MEMBERHUB_DEMO": json.dumps(
            {
                "hq_token": demo["hq_admin"]["token"],
                "center_coupon": CENTER_COUPON["name"],
                "mall_item": MALL_COUPON["name"],
                "mall": demo["mall"],
            }
        ),
    }

    done = subprocess.run(
        [node, "--test", "--test-reporter=spec", str(PAGE_TESTS)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
    )

    output = done.stdout + done.stderr
    assert done.returncode == 0, f"node --test {PAGE_TESTS.relative_to(ROOT)} failed:\n{output}"
    # Every page test ran and passed (a renamed or emptied test file is a failure too): five of
    # the member journey, four of the mall's.
    assert "# fail 0" in output or "ℹ fail 0" in output, output
    assert "pass 9\n" in output, output
