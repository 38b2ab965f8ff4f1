"""The H5 member center in a real browser: Debian's headless Chromium, driven by Playwright.

A member of the demo brand (registered in the mini-program) opens the official account's
member-center link, goes through WeChat's authorize page (the sandbox's), and walks member
card → member code → coupon center → wallet → points, reading what a person reads. The
screenshots in docs/screenshots/ are taken here, each run.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.member_center_demo import CENTER_COUPON

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = "13912345678"
UNIONID = "uH5BrowserMember0001"
TIMEOUT_MS = 15_000

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("MEMBERHUB_TEST_DATABASE_URL")),
    reason="the browser walk runs once, on the embedded stack (SQLite); the API it calls is "
    "tested on PostgreSQL + Redis by the rest of the suite",
)


def _under_ci() -> bool:
    return os.environ.get("CI", "").lower() not in {"", "0", "false", "no"}


def _chromium() -> Path:
    """Debian's chromium; a skip on a developer's machine without it, a failure under CI."""
    if not CHROMIUM.exists():
        reason = (
            "Debian's chromium is not installed (apt-get install chromium fonts-wqy-microhei; "
            ".ci/run and `make browser` install it)"
        )
        if _under_ci():
            pytest.fail(f"CI is set: {reason}")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
def server(member_center_demo: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The server both client page tests share (tests/integration/conftest.py)."""
    return member_center_demo


def _registered_member(url: str, demo: dict[str, Any]) -> dict[str, Any]:
    """A member who signed up in the mini-program from a guide's code, and got opening points."""
    appid = demo["miniprogram"]["appid"]
    with httpx.Client(base_url=url, timeout=30) as http:
        code = http.post("/sandbox/wechat/login-codes", json={"appid": appid, "unionid": UNIONID})
        login = http.post(
            "/api/v1/auth/wxa/login",
            json={"appid": appid, "code": code.json()["code"], "scene": "g=GSH001"},
        )
        phone = http.post("/sandbox/wechat/phone-codes", json={"appid": appid, "phone": PHONE})
        bound = http.post(
            "/api/v1/auth/wxa/phone",
            json={"code": phone.json()["code"]},
            headers={"Authorization": f"Bearer {login.json()['token']}"},
        )
        assert bound.status_code == 200, bound.text
        member = bound.json()["member"]
        adjusted = http.post(
            f"/api/v1/admin/members/{member['id']}/points-adjustments",
            json={"delta": 300, "reason": "开卡礼"},
            headers={
                "Authorization": f"Bearer {demo['hq_admin']['token']}",
                "Idempotency-Key": "h5-browser-opening-points",
            },
        )
        assert adjusted.status_code in (200, 201), adjusted.text
    return dict(member)


def test_a_member_walks_the_h5_member_center(server: tuple[str, dict[str, Any]]) -> None:
    from playwright.sync_api import expect, sync_playwright

    chromium = _chromium()
    url, demo = server
    member = _registered_member(url, demo)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": 390, "height": 844}, device_scale_factor=2, locale="zh-CN"
            )
            # The person's WeChat account in this browser, as the sandbox's authorize page
            # remembers it: the same unionid as their mini-program account.
            context.add_cookies(
                [
                    {"name": "mh_sandbox_unionid", "value": UNIONID, "url": f"{url}/sandbox/wechat"},
                    {"name": "mh_sandbox_openid", "value": "oH5Browser0001", "url": f"{url}/sandbox/wechat"},
                ]
            )  # fmt: skip
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))

            # when they open the official account's member-center link
            page.goto(f"{url}/h5/member?brand={demo['brand']['code']}")

            # then, back from WeChat's authorize page, their member card
            card = page.get_by_test_id("member-card")
            expect(card).to_contain_text(f"会员号 {member['member_no']}")
            expect(card).to_contain_text("普卡会员")
            expect(card).to_contain_text("成长值 0 / 1000，再 1000 升级为银卡会员")
            expect(card).to_contain_text(f"手机 {PHONE[:3]}****{PHONE[-4:]}")
            assert "code=" not in page.url  # the one-time code left the address bar
            stats = page.locator(".stats")
            expect(stats).to_contain_text("300积分")
            expect(stats).to_contain_text("¥0.00储值余额")
            expect(page.locator(".list")).to_contain_text("所属门店南京西路店")
            expect(page.locator(".list")).to_contain_text("专属导购南京西路店 导购")
            page.screenshot(path=str(SCREENSHOTS / "h5-member-card.png"))

            # when they open the member code: a QR image (decoded by the browser), a barcode and
            # the 18 digits
            tabbar = page.locator(".tabbar")
            tabbar.get_by_role("link", name="会员码").click()
            qr = page.get_by_alt_text("会员码二维码")
            expect(qr).to_be_visible()
            expect(page.get_by_alt_text("会员码条形码")).to_be_visible()
            assert qr.evaluate("img => img.complete && img.naturalWidth") > 100
            assert (qr.get_attribute("src") or "").startswith("data:image/png;base64,")
            digits = page.get_by_test_id("member-code-digits").inner_text()
            assert re.fullmatch(r"68\d{2}( \d{4}){3} \d{2}", digits), digits
            expect(page.get_by_test_id("member-code")).to_contain_text("秒后失效")
            page.screenshot(path=str(SCREENSHOTS / "h5-member-code.png"))

            # and ask for another: a new code
            page.get_by_role("button", name="刷新").click()
            expect(page.get_by_test_id("member-code-digits")).not_to_have_text(digits)

            # when they claim the coupon in the coupon center
            tabbar.get_by_role("link", name="优惠券").click()
            offer = page.get_by_test_id("coupon-center").locator(
                "li", has_text=CENTER_COUPON["name"]
            )
            expect(offer).to_contain_text("满50减10")
            expect(offer).to_contain_text("领取后 30 天内有效")
            page.screenshot(path=str(SCREENSHOTS / "h5-coupon-center.png"))
            offer.get_by_role("button", name="领取").click()

            # then it is in their wallet, with its code
            expect(page.locator("#toast")).to_contain_text("领取成功")
            wallet = page.get_by_test_id("wallet")
            expect(wallet).to_contain_text(CENTER_COUPON["name"])
            expect(wallet).to_contain_text(re.compile(r"券码 C[A-Z2-9]{11}"))
            page.screenshot(path=str(SCREENSHOTS / "h5-coupon-wallet.png"))

            # and the coupon center no longer offers it (one per member)
            page.get_by_role("link", name="领券中心").click()
            expect(page.locator("main")).not_to_contain_text(CENTER_COUPON["name"])

            # when they open their points: the balance and the opening points
            tabbar.get_by_role("link", name="积分").click()
            expect(page.locator(".points-head")).to_contain_text("300")
            expect(page.get_by_test_id("points-entries")).to_contain_text("开卡礼")
            expect(page.get_by_test_id("points-entries")).to_contain_text("+300")
            page.screenshot(path=str(SCREENSHOTS / "h5-points.png"))

            assert errors == [], errors
        finally:
            browser.close()
