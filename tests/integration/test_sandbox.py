"""The WeChat/Alipay sandbox, reached through the app's own platform clients (wechatpy and
python-alipay-sdk underneath), and over raw HTTP where the platform's exact answer matters."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from time import time as real_time

import httpx
import pytest
from sanic import Sanic

from api.core import alipay, wechat
from api.core.errors import BadRequest, UpstreamError
from api.core.ports import Ports
from config.settings import Settings
from sandbox import state as sandbox_state
from sandbox.app import create_sandbox_blueprint
from sandbox.keys import (
    alipay_app_private_pem,
    alipay_app_public_pem,
    alipay_platform_public_pem,
    rsa2_verify,
    wechat_app_secret,
)
from sandbox.state import TOKEN_OVERLAP_S, SandboxState


def _new_appid() -> str:
    return "wx" + secrets.token_hex(8)


def _new_alipay_app_id() -> str:
    return "2021" + "".join(secrets.choice("0123456789") for _ in range(12))


@pytest.fixture
async def http(sandbox_url: str, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    # The app's clients must be pointed at the very sandbox this client talks to.
    assert settings.wechat_api_base == f"{sandbox_url}/wechat"
    assert settings.alipay_gateway == f"{sandbox_url}/alipay/gateway.do"
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as client:
        yield client


@pytest.fixture
def creds() -> wechat.WechatCredentials:
    appid = _new_appid()
    return wechat.WechatCredentials(appid=appid, secret=wechat_app_secret(appid))


async def _login_code(http: httpx.AsyncClient, appid: str, **extra: str) -> dict:
    answer = await http.post("/wechat/login-codes", json={"appid": appid, **extra})
    assert answer.status_code == 200
    return answer.json()


async def _token(http: httpx.AsyncClient, appid: str) -> str:
    answer = await http.get(
        "/wechat/cgi-bin/token",
        params={
            "grant_type": "client_credential",
            "appid": appid,
            "secret": wechat_app_secret(appid),
        },
    )
    return answer.json()["access_token"]


# --- WeChat -----------------------------------------------------------------------------------


async def test_code_to_session_accepts_a_login_code_once(
    http: httpx.AsyncClient, creds: wechat.WechatCredentials
) -> None:
    issued = await _login_code(http, creds.appid, unionid="oUnion123")

    session = await wechat.code_to_session(creds, issued["code"])

    assert session.openid == issued["openid"]
    assert session.openid.startswith("o") and len(session.openid) == 28
    assert session.unionid == "oUnion123"
    assert session.session_key
    assert session.session_key not in repr(session)
    with pytest.raises(BadRequest) as refused:
        await wechat.code_to_session(creds, issued["code"])
    assert refused.value.code == "wechat.invalid_code"
    raw = await http.get(
        "/wechat/sns/jscode2session",
        params={
            "appid": creds.appid,
            "secret": creds.secret,
            "js_code": issued["code"],
            "grant_type": "authorization_code",
        },
    )
    assert raw.status_code == 200
    assert raw.json() == {"errcode": 40029, "errmsg": "invalid code"}


async def test_code_to_session_without_unionid_gives_none(
    http: httpx.AsyncClient, creds: wechat.WechatCredentials
) -> None:
    issued = await _login_code(http, creds.appid, openid="oFixedOpenid000000000000000A")

    session = await wechat.code_to_session(creds, issued["code"])

    assert issued["unionid"] is None
    assert session.openid == "oFixedOpenid000000000000000A"
    assert session.unionid is None


async def test_a_code_of_another_app_is_invalid(
    http: httpx.AsyncClient, creds: wechat.WechatCredentials
) -> None:
    issued = await _login_code(http, _new_appid())

    with pytest.raises(BadRequest) as refused:
        await wechat.code_to_session(creds, issued["code"])

    assert refused.value.code == "wechat.invalid_code"


async def test_a_wrong_secret_is_refused_with_40125(http: httpx.AsyncClient) -> None:
    appid = _new_appid()
    wrong = wechat.WechatCredentials(appid=appid, secret="0" * 32)
    issued = await _login_code(http, appid)

    with pytest.raises(UpstreamError) as refused:
        await wechat.code_to_session(wrong, issued["code"])

    assert refused.value.code == "wechat.upstream"
    assert "40125" in refused.value.message
    assert wrong.secret not in refused.value.message
    raw = await http.get(
        "/wechat/cgi-bin/token",
        params={"grant_type": "client_credential", "appid": appid, "secret": wrong.secret},
    )
    assert raw.json() == {"errcode": 40125, "errmsg": "invalid appsecret"}


async def test_a_malformed_appid_is_refused_with_40013(http: httpx.AsyncClient) -> None:
    raw = await http.get(
        "/wechat/cgi-bin/token",
        params={"grant_type": "client_credential", "appid": "wx123", "secret": "0" * 32},
    )

    assert raw.status_code == 200
    assert raw.json() == {"errcode": 40013, "errmsg": "invalid appid"}


async def test_unknown_and_expired_tokens_get_wechats_errors(
    http: httpx.AsyncClient, creds: wechat.WechatCredentials
) -> None:
    token = await _token(http, creds.appid)
    params = {"openid": "oSomeone", "access_token": "not-a-token"}

    unknown = await http.get("/wechat/cgi-bin/user/info", params=params)
    live = await http.get("/wechat/cgi-bin/user/info", params={**params, "access_token": token})
    await http.post("/wechat/expire-tokens", json={"appid": creds.appid})
    expired = await http.get("/wechat/cgi-bin/user/info", params={**params, "access_token": token})

    assert unknown.json() == {
        "errcode": 40001,
        "errmsg": "invalid credential, access_token is invalid or not latest",
    }
    assert live.json()["subscribe"] == 1
    assert expired.json() == {"errcode": 42001, "errmsg": "access_token expired"}


async def test_an_expired_token_is_refetched_and_the_call_retried(
    http: httpx.AsyncClient, creds: wechat.WechatCredentials
) -> None:
    issued = await _login_code(http, creds.appid)
    await wechat.send_custom_text(creds, openid=issued["openid"], text="first")
    client = wechat._client(creds)
    first_token = client.session.get(client.access_token_key)
    assert first_token

    await http.post("/wechat/expire-tokens", json={"appid": creds.appid})
    await wechat.send_custom_text(creds, openid=issued["openid"], text="second")

    second_token = client.session.get(client.access_token_key)
    assert second_token and second_token != first_token
    sent = (await http.get("/wechat/sent", params={"appid": creds.appid})).json()["items"]
    assert [item["payload"]["text"]["content"] for item in sent] == ["second", "first"]


async def test_a_forgotten_token_is_refetched_after_a_sandbox_reset(
    http: httpx.AsyncClient, creds: wechat.WechatCredentials
) -> None:
    await wechat.user_info(creds, "oAnyone")
    await http.post("/reset")

    info = await wechat.user_info(creds, "oAnyone")

    assert info["openid"] == "oAnyone"
    assert info["subscribe"] == 1


async def test_phone_number_from_a_phone_code_once(
    http: httpx.AsyncClient, creds: wechat.WechatCredentials
) -> None:
    answer = await http.post(
        "/wechat/phone-codes", json={"appid": creds.appid, "phone": "13800138000"}
    )
    code = answer.json()["code"]

    phone = await wechat.get_phone_number(creds, code)

    assert phone == "13800138000"
    with pytest.raises(BadRequest) as refused:
        await wechat.get_phone_number(creds, code)
    assert refused.value.code == "wechat.invalid_code"


async def test_phone_answer_has_wechats_shape(
    http: httpx.AsyncClient, creds: wechat.WechatCredentials
) -> None:
    code = (
        await http.post("/wechat/phone-codes", json={"appid": creds.appid, "phone": "13900000001"})
    ).json()["code"]
    token = await _token(http, creds.appid)

    answer = await http.post(
        "/wechat/wxa/business/getuserphonenumber",
        params={"access_token": token},
        content=json.dumps({"code": code}),
    )

    body = answer.json()
    assert body["errcode"] == 0
    info = body["phone_info"]
    assert info["phoneNumber"] == info["purePhoneNumber"] == "13900000001"
    assert info["countryCode"] == "86"
    assert info["watermark"]["appid"] == creds.appid


async def test_official_account_oauth_exchange(
    http: httpx.AsyncClient, creds: wechat.WechatCredentials
) -> None:
    issued = await _login_code(http, creds.appid, unionid="oUnionOA")

    user = await wechat.oauth_exchange(creds, issued["code"])

    assert user == wechat.OAuthUser(openid=issued["openid"], unionid="oUnionOA")
    with pytest.raises(BadRequest):
        await wechat.oauth_exchange(creds, issued["code"])


async def test_template_message_is_recorded_newest_first(
    http: httpx.AsyncClient, creds: wechat.WechatCredentials
) -> None:
    openid = (await _login_code(http, creds.appid))["openid"]
    data = {"first": {"value": "积分到账"}, "keyword1": {"value": "100"}}

    msgid = await wechat.send_template(
        creds, openid=openid, template_id="TPL-points", data=data, url="https://h5.example/me"
    )
    await wechat.send_subscribe(creds, openid=openid, template_id="SUB-coupon", data=data)

    items = (await http.get("/wechat/sent")).json()["items"]
    mine = [item for item in items if item["appid"] == creds.appid]
    assert [item["kind"] for item in mine] == ["subscribe", "template"]
    template = mine[1]
    assert isinstance(msgid, int)
    assert template["touser"] == openid
    assert template["payload"]["template_id"] == "TPL-points"
    assert template["payload"]["data"] == data
    assert template["payload"]["url"] == "https://h5.example/me"
    assert template["sent_at"]


async def test_qrcode_wxacode_and_menu(
    http: httpx.AsyncClient, creds: wechat.WechatCredentials
) -> None:
    qrcode = await wechat.create_qrcode_scene(creds, "store:42")
    image = await wechat.wxacode_unlimited(creds, "s=42&g=7", page="pages/index/index")
    menu = {"button": [{"type": "view", "name": "会员中心", "url": "https://h5.example/"}]}
    await wechat.create_menu(creds, menu)

    assert qrcode["ticket"] and qrcode["url"]
    assert "expire_seconds" not in qrcode  # permanent by default
    assert image.startswith(b"\x89PNG\r\n\x1a\n")
    assert (await http.get("/wechat/menus")).json()["items"][creds.appid] == menu
    with pytest.raises(UpstreamError):
        await wechat.wxacode_unlimited(creds, "x" * 33)


# --- Alipay -----------------------------------------------------------------------------------


def _alipay_creds(app_id: str, **overrides: str) -> alipay.AlipayCredentials:
    values = {
        "app_id": app_id,
        "app_private_key_pem": alipay_app_private_pem(),
        "alipay_public_key_pem": alipay_platform_public_pem(),
        **overrides,
    }
    return alipay.AlipayCredentials(**values)


async def _auth_code(http: httpx.AsyncClient, app_id: str, **extra: str) -> dict:
    answer = await http.post("/alipay/auth-codes", json={"app_id": app_id, **extra})
    assert answer.status_code == 200
    return answer.json()


async def test_alipay_oauth_token_works_once(http: httpx.AsyncClient) -> None:
    app_id = _new_alipay_app_id()
    issued = await _auth_code(http, app_id)
    creds = _alipay_creds(app_id)

    user = await alipay.oauth_token(creds, issued["auth_code"])

    assert user.user_id == issued["user_id"]
    assert user.user_id.startswith("2088") and len(user.user_id) == 16
    assert user.open_id is None
    with pytest.raises(BadRequest) as refused:
        await alipay.oauth_token(creds, issued["auth_code"])
    assert refused.value.code == "alipay.invalid_code"


async def test_alipay_oauth_token_in_isv_mode_with_open_id(http: httpx.AsyncClient) -> None:
    app_id = _new_alipay_app_id()
    issued = await _auth_code(http, app_id, user_id="2088000000000001", open_id="074aBcD")
    creds = _alipay_creds(app_id, app_auth_token="202501BBabc")

    user = await alipay.oauth_token(creds, issued["auth_code"])

    assert user == alipay.AlipayUser(user_id="2088000000000001", open_id="074aBcD")


async def test_alipay_code_of_another_app_is_invalid(http: httpx.AsyncClient) -> None:
    issued = await _auth_code(http, _new_alipay_app_id())

    with pytest.raises(BadRequest):
        await alipay.oauth_token(_alipay_creds(_new_alipay_app_id()), issued["auth_code"])


async def test_alipay_answer_not_signed_by_the_configured_key_is_refused(
    http: httpx.AsyncClient,
) -> None:
    app_id = _new_alipay_app_id()
    issued = await _auth_code(http, app_id)
    # The app's own public key in place of Alipay's: the sandbox's signature cannot verify.
    creds = _alipay_creds(app_id, alipay_public_key_pem=alipay_app_public_pem())

    with pytest.raises(UpstreamError) as refused:
        await alipay.oauth_token(creds, issued["auth_code"])

    assert refused.value.code == "alipay.upstream"
    assert "signature" in refused.value.message


async def test_alipay_request_signed_with_a_foreign_key_is_refused(
    http: httpx.AsyncClient,
) -> None:
    app_id = _new_alipay_app_id()
    issued = await _auth_code(http, app_id)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    creds = _alipay_creds(app_id, app_private_key_pem=foreign.decode())

    with pytest.raises(UpstreamError) as refused:
        await alipay.oauth_token(creds, issued["auth_code"])

    assert "isv.invalid-signature" in refused.value.message
    # The refused call did not burn the code.
    user = await alipay.oauth_token(_alipay_creds(app_id), issued["auth_code"])
    assert user.user_id == issued["user_id"]


async def test_alipay_bare_base64_keys_are_accepted(http: httpx.AsyncClient) -> None:
    app_id = _new_alipay_app_id()
    issued = await _auth_code(http, app_id)

    def bare(pem: str) -> str:
        return "".join(line for line in pem.splitlines() if not line.startswith("-----"))

    creds = _alipay_creds(
        app_id,
        app_private_key_pem=bare(alipay_app_private_pem()),
        alipay_public_key_pem=bare(alipay_platform_public_pem()),
    )

    user = await alipay.oauth_token(creds, issued["auth_code"])

    assert user.user_id == issued["user_id"]


async def test_alipay_error_answer_is_signed_like_alipays(http: httpx.AsyncClient) -> None:
    from alipay import AliPay

    app_id = _new_alipay_app_id()
    client = AliPay(
        appid=app_id,
        app_private_key_string=alipay_app_private_pem(),
        alipay_public_key_string=alipay_platform_public_pem(),
    )
    query = client.sign_data(
        client.build_body("alipay.system.oauth.token", grant_type="authorization_code", code="nope")
    )

    answer = await http.get(f"/alipay/gateway.do?{query}")

    raw = answer.text
    body = json.loads(raw)
    assert body["error_response"] == {
        "code": "40002",
        "msg": "Invalid Arguments",
        "sub_code": "isv.code-invalid",
        "sub_msg": "授权码code无效",
    }
    signed = raw[raw.index("{", raw.index("error_response")) : raw.index(',"sign"')]
    assert rsa2_verify(signed, body["sign"], alipay_platform_public_pem())


# --- mounting ---------------------------------------------------------------------------------


def test_the_sandbox_blueprint_can_be_built_for_several_apps() -> None:
    Sanic.test_mode = True
    first, second = Sanic("sandbox_mount_a"), Sanic("sandbox_mount_b")

    first.blueprint(create_sandbox_blueprint())
    second.blueprint(create_sandbox_blueprint())

    for app in (first, second):
        paths = {"/" + route.path for route in app.router.routes}
        assert "/sandbox/wechat/sns/jscode2session" in paths
        assert "/sandbox/alipay/gateway.do" in paths


# --- state shared by several processes ----------------------------------------------------------


@pytest.fixture
def two_sandboxes(ports: Ports) -> tuple[SandboxState, SandboxState]:
    """Two sandboxes over one shared cache, as two API processes mount them (Redis on the
    services suite, one in-process cache on the embedded one)."""
    return SandboxState(lambda: ports.cache), SandboxState(lambda: ports.cache)


async def test_one_time_codes_minted_by_one_sandbox_are_taken_once_by_another(
    two_sandboxes: tuple[SandboxState, SandboxState],
) -> None:
    first, second = two_sandboxes
    appid, app_id = _new_appid(), _new_alipay_app_id()
    login = await first.add_login_code(appid, "oShared", "uShared")
    phone = await first.add_phone_code(appid, "13800138000")
    auth = await first.add_alipay_code(app_id, "2088000000000009", None)

    taken = await second.take_login_code(login, appid)
    assert taken is not None and (taken.openid, taken.unionid) == ("oShared", "uShared")
    assert await second.user_unionid(appid, "oShared") == "uShared"
    assert (await second.take_phone_code(phone, appid)).phone == "13800138000"  # type: ignore[union-attr]
    assert (await second.take_alipay_code(auth, app_id)).user_id == "2088000000000009"  # type: ignore[union-attr]
    assert await first.take_login_code(login, appid) is None
    assert await first.take_phone_code(phone, appid) is None
    assert await first.take_alipay_code(auth, app_id) is None


async def test_codes_are_taken_once_when_many_race_for_them(
    two_sandboxes: tuple[SandboxState, SandboxState],
) -> None:
    first, _ = two_sandboxes
    appid = _new_appid()
    code = await first.add_login_code(appid, "oRace", None)

    taken = await asyncio.gather(
        *(sandbox.take_login_code(code, appid) for sandbox in two_sandboxes * 10)
    )

    assert sum(item is not None for item in taken) == 1


async def test_tokens_messages_menus_and_app_keys_are_shared(
    two_sandboxes: tuple[SandboxState, SandboxState],
) -> None:
    first, second = two_sandboxes
    appid, other_appid = _new_appid(), _new_appid()

    token, _ = await first.issue_access_token(appid)
    oauth, _ = await first.issue_oauth_token(appid, "oSomeone")
    other, _ = await second.issue_access_token(other_appid)
    msgid = await second.record_sent("template", appid, "oSomeone", {"template_id": "T"})
    await second.set_menu(appid, {"button": []})
    await first.set_alipay_app_key("2021000000000042", None)

    item, expired = await second.lookup_token(token)
    assert item is not None and item.appid == appid and not expired
    oauth_item, _ = await second.lookup_token(oauth, kind="oauth")
    assert oauth_item is not None and oauth_item.openid == "oSomeone"
    assert [m["msgid"] for m in await first.sent_newest_first()] == [msgid]
    assert await first.menus() == {appid: {"button": []}}
    assert await second.alipay_app_key("2021000000000042", "default") is None
    assert await second.alipay_app_key("2021000000000043", "default") == "default"

    assert await second.expire_tokens(appid) == 2
    assert (await first.lookup_token(token))[1] is True
    assert (await first.lookup_token(other))[1] is False


async def test_a_new_token_cuts_the_previous_one_short_for_every_sandbox(
    two_sandboxes: tuple[SandboxState, SandboxState], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = two_sandboxes
    appid = _new_appid()
    old, _ = await first.issue_access_token(appid)
    new, _ = await second.issue_access_token(appid)

    monkeypatch.setattr(sandbox_state.time, "time", lambda: real_time() + TOKEN_OVERLAP_S + 1)

    assert (await first.lookup_token(old))[1] is True
    assert (await first.lookup_token(new))[1] is False


async def test_a_reset_of_one_sandbox_is_seen_by_the_other(
    two_sandboxes: tuple[SandboxState, SandboxState],
) -> None:
    first, second = two_sandboxes
    appid = _new_appid()
    token, _ = await first.issue_access_token(appid)
    code = await first.add_login_code(appid, "oForgotten", None)
    await first.record_sent("custom", appid, "oForgotten", {})

    await second.reset()

    assert await first.lookup_token(token) == (None, False)
    assert await first.take_login_code(code, appid) is None
    assert await first.sent_newest_first() == []
