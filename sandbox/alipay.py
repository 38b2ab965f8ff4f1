"""Alipay's open-API gateway as the sandbox plays it: signed requests in, RSA2-signed JSON out.

The answer is built as text so that the signed substring is exactly what is sent: Alipay signs
the JSON of the `<method>_response` node, and clients (python-alipay-sdk among them) verify the
raw characters between its braces.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import json as json_response
from sanic.response import text

from .alipay_trade import call_trade_method, revoke_app_auth_token
from .keys import (
    aes_cbc_encrypt,
    alipay_aes_key,
    alipay_app_public_pem,
    alipay_platform_private_pem,
    rsa2_sign,
    rsa2_verify,
)
from .player import bad_player_request, player_body, route_state
from .state import SandboxState, new_alipay_user_id, random_token

TOKEN_TTL_S = 1296000  # Alipay's user access_token: 15 days
REFRESH_TTL_S = 2592000
BEIJING = timezone(timedelta(hours=8))  # Alipay writes its times in China time, without offset

INVALID_CODE = {
    "code": "40002",
    "msg": "Invalid Arguments",
    "sub_code": "isv.code-invalid",
    "sub_msg": "授权码code无效",
}


def _signed(node_name: str, node: dict[str, Any]) -> HTTPResponse:
    """`{"<node_name>": {...}, "sign": "..."}` with the node's exact text signed RSA2."""
    node_text = json.dumps(node, ensure_ascii=False, separators=(",", ":"))
    sign = rsa2_sign(node_text, alipay_platform_private_pem())
    body = f'{{"{node_name}":{node_text},"sign":"{sign}"}}'
    return text(body, content_type="text/html;charset=utf-8")


def _error(code: str, msg: str, sub_code: str, sub_msg: str) -> HTTPResponse:
    return _signed(
        "error_response", {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}
    )


def _params(request: Request) -> dict[str, str]:
    """The request's public parameters, from the query string and a form body alike."""
    params: dict[str, str] = {}
    sources: list[Any] = [
        request.get_args(keep_blank_values=True),
        request.get_form(keep_blank_values=True) or {},
    ]
    for source in sources:
        for key, values in source.items():
            if values:
                params[key] = values[0]
    return params


def _unsigned_string(params: dict[str, str]) -> str:
    """Alipay's string to sign: every non-empty parameter but `sign`, sorted, k=v joined by &."""
    items = sorted((k, v) for k, v in params.items() if k != "sign" and v != "")
    return "&".join(f"{k}={v}" for k, v in items)


async def _signature_problem(state: SandboxState, params: dict[str, str]) -> HTTPResponse | None:
    """Alipay's answer to a request whose signature does not check out, else None."""
    if params.get("sign_type", "RSA2") != "RSA2":
        return _error("40002", "Invalid Arguments", "isv.invalid-signature-type", "无效签名类型")
    known = await state.alipay_app_key(params["app_id"], alipay_app_public_pem())
    if known is None:  # a player registered this app without a key: no verification
        return None
    sign = params.get("sign")
    if not sign:
        return _error(
            "40001", "Missing Required Arguments", "isv.missing-signature", "缺少签名参数"
        )
    if not rsa2_verify(_unsigned_string(params), sign, known):
        return _error("40002", "Invalid Arguments", "isv.invalid-signature", "验签出错")
    return None


async def _oauth_token(state: SandboxState, params: dict[str, str]) -> HTTPResponse:
    node_name = "alipay_system_oauth_token_response"
    if params.get("grant_type") != "authorization_code":
        return _error(
            "40002", "Invalid Arguments", "isv.grant-type-invalid", "grant_type参数不正确"
        )
    code = params.get("code")
    item = await state.take_alipay_code(code, params["app_id"]) if code else None
    if item is None:
        return _signed("error_response", INVALID_CODE)
    node: dict[str, Any] = {"user_id": item.user_id}
    if item.open_id:
        node["open_id"] = item.open_id
    node.update(
        access_token=f"authusrB{random_token(32)}",
        expires_in=TOKEN_TTL_S,
        refresh_token=f"authusrB{random_token(32)}",
        re_expires_in=REFRESH_TTL_S,
        auth_start=datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
    )
    return _signed(node_name, node)


METHODS = {"alipay.system.oauth.token": _oauth_token}


async def gateway(request: Request) -> HTTPResponse:
    """GET/POST /gateway.do: one open-API call, dispatched on `method`."""
    params = _params(request)
    for required in ("app_id", "method", "sign_type", "timestamp", "version"):
        if not params.get(required):
            return _error(
                "40001",
                "Missing Required Arguments",
                f"isv.missing-{required.replace('_', '-')}",
                f"缺少{required}参数",
            )
    problem = await _signature_problem(route_state(request), params)
    if problem is not None:
        return problem
    state = route_state(request)
    handler = METHODS.get(params["method"])
    if handler is not None:
        return await handler(state, params)
    sandbox_url = request.url.split("?", 1)[0].rsplit("/alipay/gateway.do", 1)[0]
    answer = await call_trade_method(state, params, sandbox_url)
    if answer is None:
        return _error("40002", "Invalid Arguments", "isv.invalid-method", "不存在的方法名")
    return _signed(*answer)


# --- player routes -------------------------------------------------------------------------


async def player_auth_code(request: Request) -> HTTPResponse:
    """POST /auth-codes {app_id, user_id?, open_id?}: a one-time my.getAuthCode() code."""
    data = player_body(request)
    app_id = data.get("app_id")
    if not isinstance(app_id, str) or not app_id:
        return bad_player_request("app_id is required")
    user_id = str(data.get("user_id") or new_alipay_user_id())
    open_id = data.get("open_id") or None
    code = await route_state(request).add_alipay_code(app_id, user_id, open_id and str(open_id))
    return json_response({"auth_code": code, "user_id": user_id, "open_id": open_id})


async def player_phone_response(request: Request) -> HTTPResponse:
    """POST /phone-responses {app_id, phone}: what my.getPhoneNumber() hands the mini-program.

    The content is encrypted with the app's AES key and signed by Alipay over the quoted
    ciphertext, as the real platform does.
    """
    data = player_body(request)
    app_id, phone = data.get("app_id"), data.get("phone")
    if not isinstance(app_id, str) or not app_id or not isinstance(phone, str) or not phone:
        return bad_player_request("app_id and phone are required")
    content = json.dumps({"code": "10000", "msg": "Success", "mobile": phone})
    response = aes_cbc_encrypt(content, alipay_aes_key(app_id))
    return json_response(
        {
            "response": response,
            "sign": rsa2_sign(f'"{response}"', alipay_platform_private_pem()),
            "sign_type": "RSA2",
            "encrypt_type": "AES",
            "charset": "UTF-8",
        }
    )


async def player_register_app(request: Request) -> HTTPResponse:
    """POST /apps {app_id, app_public_key_pem | null}: the key to verify that app's requests.

    Unregistered apps are verified with the demo merchant key (`sandbox/keys/alipay_app_*`);
    registering null turns request verification off for that app.
    """
    data = player_body(request)
    app_id = data.get("app_id")
    if not isinstance(app_id, str) or not app_id:
        return bad_player_request("app_id is required")
    pem = data.get("app_public_key_pem")
    if pem is not None and (not isinstance(pem, str) or "BEGIN PUBLIC KEY" not in pem):
        return bad_player_request("app_public_key_pem must be a PEM public key or null")
    await route_state(request).set_alipay_app_key(app_id, pem)
    return json_response({"app_id": app_id, "verifies_requests": pem is not None})


async def player_revoke_app_auth(request: Request) -> HTTPResponse:
    """POST /app-auth/revoked {app_auth_token}: the franchisee withdrew that authorisation;
    trade calls with it are refused and alipay.open.auth.token.app.query says invalid."""
    token = player_body(request).get("app_auth_token")
    if not isinstance(token, str) or not token:
        return bad_player_request("app_auth_token is required")
    await revoke_app_auth_token(route_state(request), token)
    return json_response({"app_auth_token": token, "status": "invalid"})


def create_alipay_blueprint(name: str, state: SandboxState) -> Blueprint:
    """Alipay's gateway and the player routes, as a fresh blueprint named name, remembering in state."""
    bp = Blueprint(name, url_prefix="/alipay")
    routes: list[tuple[Any, str, list[str], str]] = [
        (gateway, "/gateway.do", ["GET", "POST"], "gateway"),
        (player_auth_code, "/auth-codes", ["POST"], "auth_codes"),
        (player_register_app, "/apps", ["POST"], "apps"),
        (player_phone_response, "/phone-responses", ["POST"], "phone_responses"),
        (player_revoke_app_auth, "/app-auth/revoked", ["POST"], "app_auth_revoked"),
    ]
    for handler, uri, methods, route_name in routes:
        bp.add_route(handler, uri, methods=methods, name=route_name, ctx_sandbox=state)
    return bp
