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


async def _answer(login: identity.Login) -> HTTPResponse:
    is_member = login.member.status == MemberStatus.MEMBER
    profile = await member_profile(login.member) if is_member else None
    return out(LoginOut(token=login.token, is_member=is_member, member=profile))


@bp.post("/auth/wxa/login")
@doc(
    summary="Mini-program login (code2session); the session_key never leaves the server",
    tag="auth",
    body=WxaLoginIn,
    response=LoginOut,
    secured=None,
    errors=(400, 404, 502),
)
async def wxa_login(request: Request) -> HTTPResponse:
    data = body(request, WxaLoginIn)
    return await _answer(
        await identity.login_wxa(appid=data.appid, code=data.code, scene=data.scene)
    )


@bp.post("/auth/wxa/phone")
@doc(
    summary="Bind the phone from getPhoneNumber's code; registers or merges the member",
    tag="auth",
    body=WxaPhoneIn,
    response=LoginOut,
    errors=(400, 401, 403, 404, 502),
)
@member_required()
async def wxa_phone(request: Request) -> HTTPResponse:
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
    tag="auth",
    body=OaOAuthIn,
    response=LoginOut,
    secured=None,
    errors=(400, 404, 502),
)
async def oa_oauth(request: Request) -> HTTPResponse:
    data = body(request, OaOAuthIn)
    return await _answer(
        await identity.login_oa(appid=data.appid, code=data.code, scene=data.scene)
    )


@bp.post("/auth/alipay/login")
@doc(
    summary="Alipay mini-program login (alipay.system.oauth.token)",
    tag="auth",
    body=AlipayLoginIn,
    response=LoginOut,
    secured=None,
    errors=(400, 404, 502),
)
async def alipay_login(request: Request) -> HTTPResponse:
    data = body(request, AlipayLoginIn)
    return await _answer(await identity.login_alipay(app_id=data.app_id, auth_code=data.auth_code))


@bp.post("/auth/alipay/phone")
@doc(
    summary="Bind the phone from Alipay's my.getPhoneNumber (signed, encrypted answer)",
    tag="auth",
    body=AlipayPhoneIn,
    response=LoginOut,
    errors=(400, 401, 403, 404),
)
@member_required()
async def alipay_phone(request: Request) -> HTTPResponse:
    data = body(request, AlipayPhoneIn)
    login = await identity.bind_alipay_phone(
        brand_id=request.ctx.brand_id,
        member_id=request.ctx.member_id,
        response=data.response,
        sign=data.sign,
        app_id=data.app_id,
    )
    return await _answer(login)
