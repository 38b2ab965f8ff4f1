"""WeChat's server APIs as the sandbox plays them, under the same paths as api.weixin.qq.com.

Like the real platform, every answer is HTTP 200 and errors are `{"errcode", "errmsg"}` JSON.
"""

from __future__ import annotations

import asyncio
import html
import io
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import segno
from sanic import Blueprint, HTTPResponse, Request
from sanic.response import html as html_response
from sanic.response import json as json_response
from sanic.response import raw, redirect

from .keys import is_wechat_appid, wechat_app_secret
from .player import bad_player_request, player_body, route_state
from .state import SandboxState, new_openid, random_token

ERRORS = {
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40029: "invalid code",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    40169: "invalid length for scene, or the data is not json string",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41008: "missing code",
    42001: "access_token expired",
    43101: "user refuse to accept the msg",
    44002: "empty post data",
    47001: "data format error",
    40032: "invalid openid list size",
    45157: "invalid tag name: the name already exists",
    45159: "invalid tag id",
    65301: "this menuid does not exist",
    65303: "there is no selfmenu, please create selfmenu first",
    65304: "match rule empty",
    -1: "system error",
    10060001: "支付单不存在",
    10060005: "物流类型有误",
    10060008: "商品描述 item_desc 字段不能为空",
    10060014: "参数错误",
}

NICKNAME = "沙箱用户"


def wx_error(errcode: int) -> HTTPResponse:
    """WeChat's error answer: HTTP 200 with errcode and errmsg."""
    return json_response({"errcode": errcode, "errmsg": ERRORS.get(errcode, "system error")})


def wx_ok(**fields: Any) -> HTTPResponse:
    return json_response({"errcode": 0, "errmsg": "ok", **fields}, ensure_ascii=False)


def _check_app(appid: str | None, secret: str | None) -> HTTPResponse | None:
    """WeChat's checks of an appid/secret pair, in its order."""
    if not appid:
        return wx_error(41002)
    if not is_wechat_appid(appid):
        return wx_error(40013)
    if not secret:
        return wx_error(41004)
    if not secrets.compare_digest(secret, wechat_app_secret(appid)):
        return wx_error(40125)
    return None


async def _token_app(request: Request) -> tuple[str, None] | tuple[None, HTTPResponse]:
    """The appid behind the request's client access_token, or WeChat's error answer."""
    token = request.args.get("access_token")
    if not token:
        return None, wx_error(41001)
    item, expired = await route_state(request).lookup_token(token)
    if item is None:
        return None, wx_error(40001)
    if expired:
        return None, wx_error(42001)
    return item.appid, None


def _body(request: Request) -> dict[str, Any] | HTTPResponse:
    """The JSON body wechatpy posts (no content type), or WeChat's error answer."""
    if not request.body:
        return wx_error(44002)
    try:
        data = json.loads(request.body)
    except ValueError:
        return wx_error(47001)
    if not isinstance(data, dict):
        return wx_error(47001)
    return data


# --- the platform's API -----------------------------------------------------------------------


async def cgi_token(request: Request) -> HTTPResponse:
    """GET /cgi-bin/token: the app's access_token (client_credential)."""
    args = request.args
    if args.get("grant_type") != "client_credential":
        return wx_error(40002)
    appid = args.get("appid")
    problem = _check_app(appid, args.get("secret"))
    if problem is not None:
        return problem
    assert appid is not None
    state = route_state(request)
    started_at = time.time()
    delay_ms = await state.token_delay_ms(appid)
    if delay_ms:
        await asyncio.sleep(delay_ms / 1000)
    token, expires_in = await state.issue_access_token(appid)
    await state.record_token_grant(appid, started_at, time.time())
    return json_response({"access_token": token, "expires_in": expires_in})


async def jscode2session(request: Request) -> HTTPResponse:
    """GET /sns/jscode2session: a mini-program login code → openid, session_key, unionid."""
    args = request.args
    appid = args.get("appid")
    problem = _check_app(appid, args.get("secret"))
    if problem is not None:
        return problem
    assert appid is not None
    code = args.get("js_code")
    if not code:
        return wx_error(41008)
    login = await route_state(request).take_login_code(code, appid)
    if login is None:
        return wx_error(40029)
    answer: dict[str, Any] = {"openid": login.openid, "session_key": random_token(22) + "=="}
    if login.unionid:
        answer["unionid"] = login.unionid
    return json_response(answer)


async def oauth2_access_token(request: Request) -> HTTPResponse:
    """GET /sns/oauth2/access_token: official-account web authorization code exchange."""
    args = request.args
    appid = args.get("appid")
    problem = _check_app(appid, args.get("secret"))
    if problem is not None:
        return problem
    assert appid is not None
    if args.get("grant_type") != "authorization_code":
        return wx_error(40002)
    code = args.get("code")
    if not code:
        return wx_error(41008)
    login = await route_state(request).take_login_code(code, appid)
    if login is None:
        return wx_error(40029)
    token, expires_in = await route_state(request).issue_oauth_token(appid, login.openid)
    answer: dict[str, Any] = {
        "access_token": token,
        "expires_in": expires_in,
        "refresh_token": random_token(96),
        "openid": login.openid,
        "scope": "snsapi_userinfo",
    }
    if login.unionid:
        answer["unionid"] = login.unionid
    return json_response(answer)


async def _profile(state: SandboxState, appid: str, openid: str) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "openid": openid,
        "nickname": NICKNAME,
        "sex": 0,
        "language": "zh_CN",
        "city": "",
        "province": "",
        "country": "",
        "headimgurl": "",
    }
    unionid = await state.user_unionid(appid, openid)
    if unionid:
        profile["unionid"] = unionid
    return profile


async def sns_userinfo(request: Request) -> HTTPResponse:
    """GET /sns/userinfo: the profile behind a web-authorization access_token."""
    token = request.args.get("access_token")
    if not token:
        return wx_error(41001)
    item, expired = await route_state(request).lookup_token(token, kind="oauth")
    if item is None:
        return wx_error(40001)
    if expired:
        return wx_error(42001)
    openid = request.args.get("openid")
    if openid != item.openid:
        return wx_error(40003)
    assert item.openid is not None
    profile = await _profile(route_state(request), item.appid, item.openid)
    return json_response({**profile, "privilege": []}, ensure_ascii=False)


async def cgi_user_info(request: Request) -> HTTPResponse:
    """GET /cgi-bin/user/info: an official-account follower's profile."""
    appid, problem = await _token_app(request)
    if problem is not None:
        return problem
    assert appid is not None
    openid = request.args.get("openid")
    if not openid:
        return wx_error(40003)
    profile = await _profile(route_state(request), appid, openid)
    profile.update(
        subscribe=1,
        subscribe_time=int(time.time()),
        remark="",
        groupid=0,
        tagid_list=[],
        subscribe_scene="ADD_SCENE_QR_CODE",
        qr_scene=0,
        qr_scene_str="",
    )
    return json_response(profile, ensure_ascii=False)


async def getuserphonenumber(request: Request) -> HTTPResponse:
    """POST /wxa/business/getuserphonenumber: getPhoneNumber's code → the phone number."""
    appid, problem = await _token_app(request)
    if problem is not None:
        return problem
    assert appid is not None
    data = _body(request)
    if isinstance(data, HTTPResponse):
        return data
    code = data.get("code")
    if not code:
        return wx_error(41008)
    item = await route_state(request).take_phone_code(str(code), appid)
    if item is None:
        return wx_error(40029)
    return wx_ok(
        phone_info={
            "phoneNumber": item.phone,
            "purePhoneNumber": item.phone,
            "countryCode": "86",
            "watermark": {"timestamp": int(time.time()), "appid": appid},
        }
    )


def _sender(kind: str) -> Callable[[Request], Awaitable[HTTPResponse]]:
    async def send(request: Request) -> HTTPResponse:
        appid, problem = await _token_app(request)
        if problem is not None:
            return problem
        assert appid is not None
        data = _body(request)
        if isinstance(data, HTTPResponse):
            return data
        touser = data.get("touser")
        if not touser or not isinstance(touser, str):
            return wx_error(40003)
        if kind != "custom" and not data.get("template_id"):
            return wx_error(40037)
        failure = await route_state(request).take_send_failure(appid)
        if failure is not None:
            return wx_error(failure)
        msgid = await route_state(request).record_sent(kind, appid, touser, data)
        if kind == "custom":
            return wx_ok()
        return wx_ok(msgid=msgid)

    send.__name__ = f"send_{kind}"
    return send


async def qrcode_create(request: Request) -> HTTPResponse:
    """POST /cgi-bin/qrcode/create: an official-account QR code for a scene."""
    appid, problem = await _token_app(request)
    if problem is not None:
        return problem
    assert appid is not None
    data = _body(request)
    if isinstance(data, HTTPResponse):
        return data
    scene = (data.get("action_info") or {}).get("scene") or {}
    if not scene:
        return wx_error(47001)
    ticket = "gQ" + random_token(94)
    answer: dict[str, Any] = {"ticket": ticket, "url": f"http://weixin.qq.com/q/{random_token(22)}"}
    if str(data.get("action_name", "")).startswith("QR_LIMIT"):
        expire_seconds = None
    else:
        expire_seconds = min(int(data.get("expire_seconds") or 60), 2592000)
        answer["expire_seconds"] = expire_seconds
    await route_state(request).add_qrcode(
        ticket, {"appid": appid, "scene": scene, "expire_seconds": expire_seconds}
    )
    await route_state(request).record_qrcode_call(
        appid,
        {"kind": "qrcode", "scene": scene, "expire_seconds": expire_seconds, **answer},
    )
    return json_response(answer)


async def getwxacodeunlimit(request: Request) -> HTTPResponse:
    """POST /wxa/getwxacodeunlimit: a mini-program code image (PNG) for a scene."""
    appid, problem = await _token_app(request)
    if problem is not None:
        return problem
    data = _body(request)
    if isinstance(data, HTTPResponse):
        return data
    scene = data.get("scene")
    if not isinstance(scene, str) or not 1 <= len(scene) <= 32:
        return wx_error(40169)
    page = data.get("page") or ""
    assert appid is not None
    await route_state(request).record_qrcode_call(
        appid, {"kind": "wxacode", "scene": scene, "page": page}
    )
    buffer = io.BytesIO()
    content = f"sandbox-wxacode:{appid}:{page}?scene={scene}"
    segno.make(content, error="m").save(buffer, kind="png", scale=8, border=2)
    return raw(buffer.getvalue(), content_type="image/png")


async def menu_create(request: Request) -> HTTPResponse:
    """POST /cgi-bin/menu/create: the official account's custom menu."""
    appid, problem = await _token_app(request)
    if problem is not None:
        return problem
    assert appid is not None
    data = _body(request)
    if isinstance(data, HTTPResponse):
        return data
    if not isinstance(data.get("button"), list):
        return wx_error(47001)
    await route_state(request).set_menu(appid, data)
    return wx_ok()


async def menu_get(request: Request) -> HTTPResponse:
    """GET /cgi-bin/menu/get: the menu last created."""
    appid, problem = await _token_app(request)
    if problem is not None:
        return problem
    assert appid is not None
    menu = (await route_state(request).menus()).get(appid)
    if menu is None:
        return json_response({"errcode": 46003, "errmsg": "menu no exist"})
    return json_response({"menu": menu}, ensure_ascii=False)


# --- the official account's web authorization page (open.weixin.qq.com) --------------------

# The sandbox's WeChat user in this browser, remembered like WeChat remembers who is signed in.
OPENID_COOKIE = "mh_sandbox_openid"
UNIONID_COOKIE = "mh_sandbox_unionid"
COOKIE_PATH = "/sandbox/wechat"
OAUTH_SCOPES = ("snsapi_base", "snsapi_userinfo")


def _authorize_refused(message: str) -> HTTPResponse:
    """WeChat's authorize page shows a page saying what is wrong, and goes nowhere."""
    page = (
        '<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>微信授权（沙箱）</title>'
        f"<body><h1>授权失败</h1><p>{html.escape(message)}</p></body></html>"
    )
    return html_response(page, status=400)


async def connect_oauth2_authorize(request: Request) -> HTTPResponse:
    """GET /connect/oauth2/authorize: the user agrees, and is sent back with a one-time code.

    The user is the `openid` (and `unionid`) of the query string, else of this browser's sandbox
    cookies, else a new one; the cookies remember them for the next visit.
    """
    args = request.args
    appid = args.get("appid") or ""
    redirect_uri = args.get("redirect_uri") or ""
    if not is_wechat_appid(appid):
        return _authorize_refused("appid 参数错误 (errcode 40013)")
    target = urlsplit(redirect_uri)
    if target.scheme not in ("http", "https") or not target.netloc:
        return _authorize_refused("redirect_uri 参数错误 (errcode 10003)")
    if args.get("response_type") != "code":
        return _authorize_refused("response_type 参数错误 (errcode 10004)")
    if args.get("scope") not in OAUTH_SCOPES:
        return _authorize_refused("scope 参数错误 (errcode 10005)")
    # The user named in the query, else the one this browser remembers, else a new one.
    openid, unionid = args.get("openid"), args.get("unionid") or None
    if not openid:
        openid = request.cookies.get(OPENID_COOKIE) or new_openid()
        unionid = request.cookies.get(UNIONID_COOKIE) or None
    code = await route_state(request).add_login_code(appid, openid, unionid)
    query = [*parse_qsl(target.query, keep_blank_values=True), ("code", code)]
    query.append(("state", args.get("state") or ""))
    back = urlunsplit((target.scheme, target.netloc, target.path, urlencode(query), ""))
    answer = redirect(back, status=302)
    _remember(answer, OPENID_COOKIE, openid)
    if unionid:
        _remember(answer, UNIONID_COOKIE, unionid)
    else:
        answer.delete_cookie(UNIONID_COOKIE, path=COOKIE_PATH)
    return answer


def _remember(answer: HTTPResponse, name: str, value: str) -> None:
    # Not `Secure` (Sanic's default): the sandbox is served over plain HTTP.
    answer.add_cookie(name, value, path=COOKIE_PATH, httponly=True, samesite="Lax", secure=False)


async def upload_shipping_info(request: Request) -> HTTPResponse:
    """POST /wxa/sec/order/upload_shipping_info: a mini-program payment's shipping information,
    for a trade the sandbox's WeChat Pay knows (by transaction_id, or mchid and out_trade_no)."""
    appid, problem = await _token_app(request)
    if problem is not None:
        return problem
    assert appid is not None
    data = _body(request)
    if isinstance(data, HTTPResponse):
        return data
    state = route_state(request)
    if await state.take_shipping_failure(appid):
        return wx_error(-1)
    key, shipping_list = data.get("order_key"), data.get("shipping_list")
    if not isinstance(key, dict) or not isinstance(shipping_list, list) or not shipping_list:
        return wx_error(47001)
    if data.get("logistics_type") not in (1, 2, 3, 4) or data.get("delivery_mode") not in (1, 2):
        return wx_error(10060005)
    if not all(isinstance(s, dict) and s.get("item_desc") for s in shipping_list):
        return wx_error(10060008)
    express = data["logistics_type"] == 1
    if express and not all(
        s.get("tracking_no") and s.get("express_company") for s in shipping_list
    ):
        return wx_error(10060014)
    if not data.get("upload_time") or not (data.get("payer") or {}).get("openid"):
        return wx_error(10060014)
    if not await _wechat_trade_exists(state, key):
        return wx_error(10060001)
    await state.record_shipping_upload(appid, data)
    return wx_ok()


async def _wechat_trade_exists(state: SandboxState, key: dict[str, Any]) -> bool:
    """Whether the order_key names a WeChat Pay trade the sandbox has."""
    if key.get("order_number_type") == 1:
        trade = await state.trade_data(str(key.get("out_trade_no") or ""))
        return trade is not None and key.get("mchid") in (trade["mchid"], trade["sub_mchid"])
    transaction_id = key.get("transaction_id")
    if key.get("order_number_type") != 2 or not transaction_id:
        return False
    for out_trade_no in reversed(await state.trade_numbers()):
        trade = await state.trade_data(out_trade_no)
        if trade and trade["platform"] != "alipay" and trade["transaction_id"] == transaction_id:
            return True
    return False


# --- player routes: a test or a person plays the platform's users --------------------------


async def player_login_code(request: Request) -> HTTPResponse:
    """POST /login-codes {appid, openid?, unionid?}: a one-time wx.login() code."""
    data = player_body(request)
    appid = data.get("appid")
    if not isinstance(appid, str) or not is_wechat_appid(appid):
        return bad_player_request("appid must be `wx` and 16 hex digits")
    openid = data.get("openid") or new_openid()
    unionid = data.get("unionid") or None
    code = await route_state(request).add_login_code(appid, str(openid), unionid and str(unionid))
    return json_response({"code": code, "openid": openid, "unionid": unionid})


async def player_phone_code(request: Request) -> HTTPResponse:
    """POST /phone-codes {appid, phone}: a one-time getPhoneNumber code."""
    data = player_body(request)
    appid, phone = data.get("appid"), data.get("phone")
    if not isinstance(appid, str) or not is_wechat_appid(appid):
        return bad_player_request("appid must be `wx` and 16 hex digits")
    if not isinstance(phone, str) or not phone.isdigit():
        return bad_player_request("phone must be digits")
    return json_response({"code": await route_state(request).add_phone_code(appid, phone)})


def _asked_appid(request: Request) -> str | HTTPResponse:
    """The `appid` query argument a player route needs, or its 400 answer."""
    appid = request.args.get("appid")
    if not isinstance(appid, str) or not is_wechat_appid(appid):
        return bad_player_request("appid must be `wx` and 16 hex digits")
    return appid


def _of_asked_app(request: Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items of the `appid` the query names; all of them when it names none."""
    appid = request.args.get("appid")
    return [item for item in items if item["appid"] == appid] if appid else items


async def player_sent(request: Request) -> HTTPResponse:
    """GET /sent: messages memberhub sent, newest first."""
    items = _of_asked_app(request, await route_state(request).sent_newest_first())
    return json_response({"items": items}, ensure_ascii=False)


async def player_expire_tokens(request: Request) -> HTTPResponse:
    """POST /expire-tokens {appid?}: every issued access_token expires now."""
    appid = player_body(request).get("appid")
    return json_response({"expired": await route_state(request).expire_tokens(appid or None)})


async def player_menus(request: Request) -> HTTPResponse:
    """GET /menus: the menus memberhub created, by appid (`conditional`: personalised ones)."""
    state = route_state(request)
    return json_response(
        {"items": await state.menus(), "conditional": await state.conditional_menus()},
        ensure_ascii=False,
    )


# --- user tags and personalised menus ----------------------------------------------------------


async def _token_body(request: Request) -> tuple[str, dict[str, Any]] | HTTPResponse:
    """The appid behind the access_token and the JSON body, or WeChat's error answer."""
    appid, problem = await _token_app(request)
    if problem is not None:
        return problem
    assert appid is not None
    data = _body(request)
    if isinstance(data, HTTPResponse):
        return data
    return appid, data


async def tags_create(request: Request) -> HTTPResponse:
    """POST /cgi-bin/tags/create {tag: {name}}: a new user tag."""
    given = await _token_body(request)
    if isinstance(given, HTTPResponse):
        return given
    appid, data = given
    name = (data.get("tag") or {}).get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 30:
        return wx_error(47001)
    tag_id = await route_state(request).create_tag(appid, name)
    if tag_id is None:
        return wx_error(45157)
    return json_response({"tag": {"id": tag_id, "name": name}}, ensure_ascii=False)


async def tags_get(request: Request) -> HTTPResponse:
    """GET /cgi-bin/tags/get: the account's tags."""
    appid, problem = await _token_app(request)
    if problem is not None:
        return problem
    assert appid is not None
    tags = await route_state(request).tags(appid)
    items = [{"id": tag["id"], "name": tag["name"], "count": tag["count"]} for tag in tags]
    return json_response({"tags": items}, ensure_ascii=False)


def _tagging(on: bool) -> Callable[[Request], Awaitable[HTTPResponse]]:
    async def tagging(request: Request) -> HTTPResponse:
        given = await _token_body(request)
        if isinstance(given, HTTPResponse):
            return given
        appid, data = given
        openids = data.get("openid_list")
        if not isinstance(openids, list) or not 1 <= len(openids) <= 50:
            return wx_error(40032)
        if not all(isinstance(openid, str) and openid for openid in openids):
            return wx_error(40003)
        try:
            tag_id = int(data.get("tagid"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return wx_error(45159)
        if not await route_state(request).tag_members(appid, tag_id, openids, on=on):
            return wx_error(45159)
        return wx_ok()

    tagging.__name__ = "tags_batchtagging" if on else "tags_batchuntagging"
    return tagging


async def tags_getidlist(request: Request) -> HTTPResponse:
    """POST /cgi-bin/tags/getidlist {openid}: the tags a user carries."""
    given = await _token_body(request)
    if isinstance(given, HTTPResponse):
        return given
    appid, data = given
    openid = data.get("openid")
    if not isinstance(openid, str) or not openid:
        return wx_error(40003)
    return json_response({"tagid_list": await route_state(request).user_tags(appid, openid)})


async def menu_addconditional(request: Request) -> HTTPResponse:
    """POST /cgi-bin/menu/addconditional {button, matchrule}: a personalised menu."""
    given = await _token_body(request)
    if isinstance(given, HTTPResponse):
        return given
    appid, data = given
    if not isinstance(data.get("button"), list):
        return wx_error(47001)
    matchrule = data.get("matchrule")
    if not isinstance(matchrule, dict) or not any(matchrule.values()):
        return wx_error(65304)
    state = route_state(request)
    if appid not in await state.menus():
        return wx_error(65303)
    menuid = await state.add_conditional_menu(
        appid, {"button": data["button"], "matchrule": matchrule}
    )
    return json_response({"menuid": menuid})


async def menu_delconditional(request: Request) -> HTTPResponse:
    """POST /cgi-bin/menu/delconditional {menuid}: remove a personalised menu."""
    given = await _token_body(request)
    if isinstance(given, HTTPResponse):
        return given
    appid, data = given
    if not await route_state(request).delete_conditional_menu(appid, str(data.get("menuid"))):
        return wx_error(65301)
    return wx_ok()


async def menu_trymatch(request: Request) -> HTTPResponse:
    """POST /cgi-bin/menu/trymatch {user_id}: the menu this user sees.

    The newest personalised menu whose `tag_id` the user carries, else the default menu.
    """
    given = await _token_body(request)
    if isinstance(given, HTTPResponse):
        return given
    appid, data = given
    user_id = data.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        return wx_error(40003)
    state = route_state(request)
    carried = {str(tag_id) for tag_id in await state.user_tags(appid, user_id)}
    for menu in reversed((await state.conditional_menus()).get(appid, [])):
        if str(menu["matchrule"].get("tag_id", "")) in carried:
            return json_response(
                {"button": menu["button"], "menuid": menu["menuid"]}, ensure_ascii=False
            )
    default = (await state.menus()).get(appid)
    if default is None:
        return json_response({"errcode": 46003, "errmsg": "menu no exist"})
    return json_response({"button": default.get("button", [])}, ensure_ascii=False)


async def player_tags(request: Request) -> HTTPResponse:
    """GET /tags?appid=: an official account's user tags and who carries each."""
    appid = _asked_appid(request)
    if isinstance(appid, HTTPResponse):
        return appid
    return json_response({"items": await route_state(request).tags(appid)}, ensure_ascii=False)


async def player_token_delay(request: Request) -> HTTPResponse:
    """POST /token-delay {ms, appid?}: every cgi-bin/token grant (of appid) takes ms."""
    data = player_body(request)
    ms, appid = data.get("ms"), data.get("appid")
    if not isinstance(ms, int) or not 0 <= ms <= 60_000:
        return bad_player_request("ms must be an integer from 0 to 60000")
    if appid is not None and (not isinstance(appid, str) or not is_wechat_appid(appid)):
        return bad_player_request("appid must be `wx` and 16 hex digits")
    await route_state(request).set_token_delay(appid, ms)
    return json_response({"ms": ms, "appid": appid})


def _most_in_flight(grants: list[dict[str, float]]) -> int:
    """The most grants that were being served at one moment."""
    # An end sorts before a start at the same instant: touching is not overlapping.
    edges = sorted([(g["started_at"], 1) for g in grants] + [(g["ended_at"], -1) for g in grants])
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most


async def player_token_grants(request: Request) -> HTTPResponse:
    """GET /token-grants?appid=: the app's cgi-bin/token grants and the most at once."""
    appid = _asked_appid(request)
    if isinstance(appid, HTTPResponse):
        return appid
    grants = await route_state(request).token_grants(appid)
    return json_response({"items": grants, "max_in_flight": _most_in_flight(grants)})


async def player_fail_sends(request: Request) -> HTTPResponse:
    """POST /fail-sends {appid, errcode, times}: the app's next sends answer errcode."""
    data = player_body(request)
    appid, errcode, times = data.get("appid"), data.get("errcode"), data.get("times", 1)
    if not isinstance(appid, str) or not is_wechat_appid(appid):
        return bad_player_request("appid must be `wx` and 16 hex digits")
    if not isinstance(errcode, int) or errcode <= 0:
        return bad_player_request("errcode must be a positive integer")
    if not isinstance(times, int) or not 0 <= times <= 1000:
        return bad_player_request("times must be an integer from 0 to 1000")
    await route_state(request).fail_sends(appid, errcode, times)
    return json_response({"appid": appid, "errcode": errcode, "times": times})


async def player_qrcodes(request: Request) -> HTTPResponse:
    """GET /qrcodes?appid=: the QR codes (qrcode/create) and mini-program codes
    (getwxacodeunlimit) the app asked for, oldest first."""
    appid = _asked_appid(request)
    if isinstance(appid, HTTPResponse):
        return appid
    calls = await route_state(request).qrcode_calls(appid)
    return json_response({"items": calls}, ensure_ascii=False)


async def player_shipping_uploads(request: Request) -> HTTPResponse:
    """GET /shipping-uploads?appid=: the shipping uploads memberhub made, oldest first."""
    items = _of_asked_app(request, await route_state(request).shipping_uploads())
    return json_response({"items": items}, ensure_ascii=False)


async def player_shipping_outage(request: Request) -> HTTPResponse:
    """POST /shipping-outage {appid, failures}: the next `failures` shipping uploads to appid
    answer errcode -1 (system error), as WeChat does in an outage."""
    data = player_body(request)
    appid, failures = data.get("appid"), data.get("failures")
    if not isinstance(appid, str) or not is_wechat_appid(appid):
        return bad_player_request("appid must be `wx` and 16 hex digits")
    if not isinstance(failures, int) or failures < 0:
        return bad_player_request("failures must be a whole number, 0 or more")
    await route_state(request).set_shipping_failures(appid, failures)
    return json_response({"appid": appid, "failures": failures})


def create_wechat_blueprint(name: str, state: SandboxState) -> Blueprint:
    """WeChat's API and the player routes, as a fresh blueprint named name, remembering in state."""
    bp = Blueprint(name, url_prefix="/wechat")
    routes: list[tuple[Any, str, list[str]]] = [
        (cgi_token, "/cgi-bin/token", ["GET"]),
        (jscode2session, "/sns/jscode2session", ["GET"]),
        (oauth2_access_token, "/sns/oauth2/access_token", ["GET"]),
        (sns_userinfo, "/sns/userinfo", ["GET"]),
        (cgi_user_info, "/cgi-bin/user/info", ["GET"]),
        (getuserphonenumber, "/wxa/business/getuserphonenumber", ["POST"]),
        (_sender("template"), "/cgi-bin/message/template/send", ["POST"]),
        (_sender("subscribe"), "/cgi-bin/message/subscribe/send", ["POST"]),
        (_sender("custom"), "/cgi-bin/message/custom/send", ["POST"]),
        (qrcode_create, "/cgi-bin/qrcode/create", ["POST"]),
        (getwxacodeunlimit, "/wxa/getwxacodeunlimit", ["POST"]),
        (menu_create, "/cgi-bin/menu/create", ["POST"]),
        (menu_get, "/cgi-bin/menu/get", ["GET"]),
        (player_login_code, "/login-codes", ["POST"]),
        (player_phone_code, "/phone-codes", ["POST"]),
        (player_sent, "/sent", ["GET"]),
        (player_expire_tokens, "/expire-tokens", ["POST"]),
        (player_menus, "/menus", ["GET"]),
        (connect_oauth2_authorize, "/connect/oauth2/authorize", ["GET"]),
        (player_token_delay, "/token-delay", ["POST"]),
        (player_token_grants, "/token-grants", ["GET"]),
        (player_fail_sends, "/fail-sends", ["POST"]),
        (player_qrcodes, "/qrcodes", ["GET"]),
        (tags_create, "/cgi-bin/tags/create", ["POST"]),
        (tags_get, "/cgi-bin/tags/get", ["GET"]),
        (_tagging(True), "/cgi-bin/tags/members/batchtagging", ["POST"]),
        (_tagging(False), "/cgi-bin/tags/members/batchuntagging", ["POST"]),
        (tags_getidlist, "/cgi-bin/tags/getidlist", ["POST"]),
        (menu_addconditional, "/cgi-bin/menu/addconditional", ["POST"]),
        (menu_delconditional, "/cgi-bin/menu/delconditional", ["POST"]),
        (menu_trymatch, "/cgi-bin/menu/trymatch", ["POST"]),
        (player_tags, "/tags", ["GET"]),
        (upload_shipping_info, "/wxa/sec/order/upload_shipping_info", ["POST"]),
        (player_shipping_uploads, "/shipping-uploads", ["GET"]),
        (player_shipping_outage, "/shipping-outage", ["POST"]),
    ]
    for handler, uri, methods in routes:
        bp.add_route(handler, uri, methods=methods, name=handler.__name__, ctx_sandbox=state)
    return bp
