"""Staff sign-in."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.org import staff_auth
from api.org.schemas import StaffLoginIn, StaffLoginOut, StaffOut
from api.web.http import body, doc, out

bp = Blueprint("org_auth", url_prefix="/api/v1")


@bp.post("/auth/staff/login")
@doc(
    summary="Staff sign-in with brand code, username and password",
    tag="auth",
    body=StaffLoginIn,
    response=StaffLoginOut,
    secured=None,
    errors=(401, 429),
)
async def login_staff(request: Request) -> HTTPResponse:
    payload = body(request, StaffLoginIn)
    token, staff = await staff_auth.login_staff(
        brand_code=payload.brand,
        username=payload.username,
        password=payload.password,
        # The peer, or the address a trusted proxy reports (MEMBERHUB_PROXIES_COUNT …).
        client_address=request.client_ip,
    )
    return out(StaffLoginOut(token=token, staff=StaffOut.of(staff)))
