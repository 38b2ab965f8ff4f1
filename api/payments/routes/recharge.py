"""Stored-value recharge: the member pays through WeChat Pay or Alipay."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.core.auth import member_required
from api.payments import recharge as service
from api.payments.schemas import RechargeIn, RechargeOut
from api.web.http import body, doc, out

bp = Blueprint("payments_recharge", url_prefix="/api/v1")


@bp.post("/wallet/recharge")
@doc(
    summary="Recharge my stored value: a package or an amount, paid through WeChat Pay or Alipay",
    returns="The payment and what the client pays it with; the wallet is credited once paid",
    tag="wallet",
    body=RechargeIn,
    response=RechargeOut,
    status=201,
    errors=(401, 404, 409, 422, 502),
)
@member_required()
async def recharge_wallet(request: Request) -> HTTPResponse:
    payload = body(request, RechargeIn)
    recharge = await service.start_recharge(
        brand_id=request.ctx.brand_id,
        member_id=request.ctx.member_id,
        channel=payload.provider,
        client_ip=request.client_ip or "127.0.0.1",
        package_id=payload.package_id,
        amount_fen=payload.amount_fen,
    )
    return out(RechargeOut.of(recharge), status=201)
