"""/h5/: the H5 member center's files, and the member-center link the official account sends."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from api.app import create_app
from api.core.ports import build_ports
from api.org.models import Status, WechatAppKind
from config.settings import Settings
from tests.factories import make_brand, make_wechat_app
from tests.support.api import Api


async def test_the_page_and_its_modules_are_served(api: Api) -> None:
    page = await api.client.get("/h5/")
    module = await api.client.get("/h5/app.js")
    config = await api.client.get("/h5/config.js")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="app.js">' in page.text
    assert "会员中心" in page.text
    assert module.status_code == 200
    assert module.headers["content-type"].startswith("text/javascript")
    assert "/auth/oa/oauth" in module.text
    assert config.status_code == 200


async def test_nothing_outside_the_page_folder_is_served(api: Api) -> None:
    for path in ("/h5/..%2F..%2Fconfig%2Fsettings.py", "/h5/%2e%2e/pyproject.toml", "/h5/nope.js"):
        answer = await api.client.get(path)

        assert answer.status_code == 404, path
        assert "[project]" not in answer.text and "class Settings" not in answer.text


async def test_the_member_center_link_opens_the_page_for_the_brands_official_account(
    api: Api,
) -> None:
    # given a brand with a mini-program, a retired official account and a live one
    brand = await make_brand()
    await make_wechat_app(brand=brand, kind=WechatAppKind.MINIPROGRAM)
    retired = await make_wechat_app(brand=brand, kind=WechatAppKind.OFFICIAL_ACCOUNT)
    retired.status = Status.DISABLED
    await retired.save()
    live = await make_wechat_app(brand=brand, kind=WechatAppKind.OFFICIAL_ACCOUNT)

    # when a follower opens the link events.py sends (with a scene passed on)
    answer = await api.client.get(f"/h5/member?brand={brand.code}&scene=s%3DSH001&x=1")

    # then they land on the page, for the live official account
    assert answer.status_code == 302
    target = urlsplit(answer.headers["location"])
    assert target.path == "/h5/"
    assert parse_qs(target.query) == {
        "brand": [brand.code],
        "appid": [live.appid],
        "scene": ["s=SH001"],
    }


async def test_the_link_of_an_unknown_brand_or_one_without_official_account_is_404(
    api: Api,
) -> None:
    brand = await make_brand()

    unknown = await api.client.get("/h5/member?brand=no-such-brand")
    without = await api.client.get(f"/h5/member?brand={brand.code}")

    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "brand.not_found")
    assert (without.status_code, without.json()["error"]["code"]) == (404, "wechat_app.not_found")


def test_without_the_sandbox_there_is_no_h5_page(settings: Settings) -> None:
    quiet = settings.model_copy(update={"sandbox": False})

    app = create_app(quiet, ports=build_ports(quiet), manage_db=False, name="memberhub_no_h5")

    paths = {"/" + route.path for route in app.router.routes}
    assert not [path for path in paths if path.startswith(("/h5", "/sandbox"))]
    assert "/api/v1/me" in paths
