"""Consumer sign-in: mini-program, official-account web authorization, Alipay, phone binding."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.core.auth import member_required
from api.member_center import identity
from api.member_center.models import MemberStatus
from api.member_center.profile import member_profile
from api.member_center.schemas.profile import (
    AlipayLoginIn,
    AlipayPhoneIn,
    LoginOut,
    OaOAuthIn,
    WxaLoginIn,
    WxaPhoneIn,
)
from api.web.http import body, doc, out

bp = Blueprint("member_center_auth", url_prefix="/api/v1")

WXA_LOGIN_EXAMPLE = {"appid": "wx1a2b3c4d5e6f7a8b", "code": "0a3XkGll2sHQxc4Lk6ml2GxJ5v0XkGlr"}
LOGIN_OUT_EXAMPLE = {
    "token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJraW5kIjoibWVtYmVyIn0.c2lnbmF0dXJl",
    "is_member": True,
    "member": {
        "id": 1024,
        "member_no": "M000001024",
        "status": "member",
        "nickname": "小林",
        "avatar_url": "",
        "gender": "female",
        "birthday": None,
        "phone": "138****5678",
        "level": {
            "id": 1,
            "name": "Silver",
            "rank": 0,
            "discount_pct": 100,
            "points_rate_pct": 100,
            "free_delivery": False,
            "benefits": [],
        },
        "growth": 120,
        "points": 350,
        "wallet": {"principal_fen": 10000, "bonus_fen": 500, "total_fen": 10500},
        "home_store": {"id": 3, "code": "SH001", "name": "Jing'an"},
        "guide": None,
        "registered_at": "2025-03-08T10:15:00+08:00",
    },
}


async def _answer(login: identity.Login) -> HTTPResponse:
    is_member = login.member.status == MemberStatus.MEMBER
    profile = await member_profile(login.member) if is_member else None
    return out(LoginOut(token=login.token, is_member=is_member, member=profile))


@bp.post("/auth/wxa/login")
@doc(
    summary="Mini-program login (code2session); the session_key never leaves the server",
    returns="A member token; the profile once the visitor is a member (has bound a phone), else null",
    tag="auth",
    body=WxaLoginIn,
    response=LoginOut,
    body_example=WXA_LOGIN_EXAMPLE,
    response_example=LOGIN_OUT_EXAMPLE,
    secured=None,
    errors=(400, 404, 502),
)
async def login_wxa(request: Request) -> HTTPResponse:
    data = body(request, WxaLoginIn)
    return await _answer(
        await identity.login_wxa(appid=data.appid, code=data.code, scene=data.scene)
    )


@bp.post("/auth/wxa/phone")
@doc(
    summary="Bind the phone from getPhoneNumber's code; registers or merges the member",
    returns="A fresh token (of the surviving member after a merge) and the member's profile",
    tag="auth",
    body=WxaPhoneIn,
    response=LoginOut,
    errors=(400, 401, 403, 404, 502),
)
@member_required()
async def bind_wxa_phone(request: Request) -> HTTPResponse:
    data = body(request, WxaPhoneIn)
    login = await identity.bind_wxa_phone(
        brand_id=request.ctx.brand_id,
        member_id=request.ctx.member_id,
        code=data.code,
        appid=data.appid,
        scene=data.scene,
    )
    return await _answer(login)


@bp.post("/auth/oa/oauth")
@doc(
    summary="Official-account web authorization, for the H5 member center",
    returns="A member token; the profile once the visitor is a member, else null",
    tag="auth",
    body=OaOAuthIn,
    response=LoginOut,
    secured=None,
    errors=(400, 404, 502),
)
async def login_oa(request: Request) -> HTTPResponse:
    data = body(request, OaOAuthIn)
    return await _answer(
        await identity.login_oa(appid=data.appid, code=data.code, scene=data.scene)
    )


@bp.post("/auth/alipay/login")
@doc(
    summary="Alipay mini-program login (alipay.system.oauth.token)",
    returns="A member token; the profile once the visitor is a member, else null",
    tag="auth",
    body=AlipayLoginIn,
    response=LoginOut,
    secured=None,
    errors=(400, 404, 502),
)
async def login_alipay(request: Request) -> HTTPResponse:
    data = body(request, AlipayLoginIn)
    return await _answer(await identity.login_alipay(app_id=data.app_id, auth_code=data.auth_code))


@bp.post("/auth/alipay/phone")
@doc(
    summary="Bind the phone from Alipay's my.getPhoneNumber (signed, encrypted answer)",
    returns="A fresh token (of the surviving member after a merge) and the member's profile",
    tag="auth",
    body=AlipayPhoneIn,
    response=LoginOut,
    errors=(400, 401, 403, 404),
)
@member_required()
async def bind_alipay_phone(request: Request) -> HTTPResponse:
    data = body(request, AlipayPhoneIn)
    login = await identity.bind_alipay_phone(
        brand_id=request.ctx.brand_id,
        member_id=request.ctx.member_id,
        response=data.response,
        sign=data.sign,
        app_id=data.app_id,
    )
    return await _answer(login)
