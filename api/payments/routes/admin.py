"""Head office (and store managers, for their stores) see the money."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.org.access import ADMINS, staff_required
from api.payments import payments as service
from api.payments.schemas import PaymentDetailOut, PaymentFilter, PaymentOut, PaymentPage
from api.web.http import doc, out, query

bp = Blueprint("payments_admin", url_prefix="/api/v1")


@bp.get("/admin/payments")
@doc(
    summary="The brand's payments, newest first (filter by store, account, provider, state, "
    "since, until); store managers see their stores'",
    tag="admin",
    query=PaymentFilter,
    response=PaymentPage,
    errors=(401, 403, 422),
)
@staff_required(*ADMINS)
async def list_payments(request: Request) -> HTTPResponse:
    params = query(request, PaymentFilter)
    rows, cursor = await service.list_payments(
        brand_id=request.ctx.brand_id,
        scope=request.ctx.scope,
        store_id=params.store_id,
        account_id=params.account_id,
        method=params.provider,
        state=params.state,
        since=params.since,
        until=params.until,
        cursor=params.cursor,
        limit=params.limit,
    )
    return out(PaymentPage(items=[PaymentOut.model_validate(r) for r in rows], next_cursor=cursor))


@bp.get("/admin/payments/<payment_id:int>")
@doc(
    summary="One payment: its account, every notification delivery received, its refunds",
    tag="admin",
    response=PaymentDetailOut,
    errors=(401, 403, 404),
)
@staff_required(*ADMINS)
async def get_payment(request: Request, payment_id: int) -> HTTPResponse:
    detail = await service.payment_detail(
        brand_id=request.ctx.brand_id, scope=request.ctx.scope, payment_id=payment_id
    )
    return out(PaymentDetailOut.of(detail))
