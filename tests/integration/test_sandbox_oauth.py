"""The sandbox's official-account authorize page, as the H5 member center goes through it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from api.org.models import WechatAppKind
from tests.factories import make_brand, make_wechat_app
from tests.support.api import Api
from tests.support.player import Player

BACK = "http://shop.example.com/h5/index.html?brand=demo"


@pytest.fixture
async def browser(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser that keeps cookies and shows redirects instead of following them."""
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as client:
        yield client


async def _authorize(browser: httpx.AsyncClient, appid: str, **extra: str) -> httpx.Response:
    params = {
        "appid": appid,
        "redirect_uri": BACK,
        "response_type": "code",
        "scope": "snsapi_base",
        "state": "s1",
        **extra,
    }
    return await browser.get("/wechat/connect/oauth2/authorize", params=params)


async def test_the_authorize_page_sends_the_user_back_with_a_code_the_api_accepts(
    browser: httpx.AsyncClient, api: Api
) -> None:
    # given an official account
    brand = await make_brand()
    oa = await make_wechat_app(brand=brand, kind=WechatAppKind.OFFICIAL_ACCOUNT)

    # when the browser opens the authorize page, twice
    first = await _authorize(browser, oa.appid)
    second = await _authorize(browser, oa.appid)

    # then it goes back to redirect_uri with its query, a code and the state
    assert first.status_code == 302, first.text
    back = urlsplit(first.headers["location"])
    query = parse_qs(back.query)
    assert f"{back.scheme}://{back.netloc}{back.path}" == BACK.split("?")[0]
    assert query["brand"] == ["demo"] and query["state"] == ["s1"]
    # and the code signs the same user in both times (the browser remembers them)
    codes = [query["code"][0], parse_qs(urlsplit(second.headers["location"]).query)["code"][0]]
    logins = [await api.post("/auth/oa/oauth", {"appid": oa.appid, "code": c}) for c in codes]
    assert [login.status for login in logins] == [200, 200], logins
    tokens = [login.json["token"] for login in logins]
    members = [(await api.get("/me", token=token)).json["member_no"] for token in tokens]
    assert members[0] == members[1]
    # and a code is good once
    again = await api.post("/auth/oa/oauth", {"appid": oa.appid, "code": codes[0]})
    assert again.status >= 400 and again.json["error"]["code"] != "internal", again


async def test_the_user_may_be_named_so_the_unionid_joins_the_mini_program_member(
    browser: httpx.AsyncClient, api: Api, player: Player
) -> None:
    # given a brand's mini-program member with a unionid, and its official account
    brand = await make_brand()
    wxa = await make_wechat_app(brand=brand, kind=WechatAppKind.MINIPROGRAM)
    oa = await make_wechat_app(brand=brand, kind=WechatAppKind.OFFICIAL_ACCOUNT)
    code = await player.login_code(wxa.appid, unionid="uSandboxU1")
    login = await api.post("/auth/wxa/login", {"appid": wxa.appid, "code": code["code"]})
    bound = await api.post(
        "/auth/wxa/phone",
        {"code": await player.phone_code(wxa.appid, "13900002222")},
        token=login.json["token"],
    )

    # when one browser authorizes as that user, another as a stranger
    first = await _authorize(browser, oa.appid, openid="oSandboxUserA", unionid="uSandboxU1")
    other = await _authorize(browser, oa.appid, openid="oSandboxUserB")

    # then the first is the mini-program's member, the stranger a visitor of their own
    code_a = parse_qs(urlsplit(first.headers["location"]).query)["code"][0]
    code_b = parse_qs(urlsplit(other.headers["location"]).query)["code"][0]
    login_a = await api.post("/auth/oa/oauth", {"appid": oa.appid, "code": code_a})
    login_b = await api.post("/auth/oa/oauth", {"appid": oa.appid, "code": code_b})
    assert login_a.json["is_member"] is True
    assert login_a.json["member"]["id"] == bound.json["member"]["id"]
    assert login_b.json["is_member"] is False
    me_b = (await api.get("/me", token=login_b.json["token"])).json
    assert me_b["id"] != bound.json["member"]["id"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"appid": "nope"}, "appid"),
        ({"redirect_uri": "javascript:alert(1)"}, "redirect_uri"),
        ({"redirect_uri": "/relative"}, "redirect_uri"),
        ({"response_type": "token"}, "response_type"),
        ({"scope": "snsapi_login"}, "scope"),
    ],
)
async def test_a_bad_authorize_request_goes_nowhere(
    browser: httpx.AsyncClient, change: dict[str, str], problem: str
) -> None:
    params = {
        "appid": "wx0123456789abcdef",
        "redirect_uri": BACK,
        "response_type": "code",
        "scope": "snsapi_base",
        **change,
    }

    answer = await browser.get("/wechat/connect/oauth2/authorize", params=params)

    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert problem in answer.text
