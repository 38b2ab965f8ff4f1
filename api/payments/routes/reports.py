"""Head office's payment reports: the daily reconciliation of the platforms' bills."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.org.access import HQ, staff_required
from api.payments import reconciliation as service
from api.payments.schemas_reports import (
    AccountReconciliationOut,
    ReconciliationQuery,
    ReconciliationReportOut,
)
from api.web.http import doc, out, query

bp = Blueprint("payments_reports", url_prefix="/api/v1")


@bp.get("/admin/reports/reconciliation")
@doc(
    summary="The day's reconciliation: per merchant account, counts and totals ours and the "
    "platform's, and every difference (missing here, missing there, amount, status)",
    tag="admin",
    query=ReconciliationQuery,
    response=ReconciliationReportOut,
    errors=(401, 403, 404, 422),
)
@staff_required(*HQ)
async def get_reconciliation_report(request: Request) -> HTTPResponse:
    params = query(request, ReconciliationQuery)
    reports = await service.reconciliation_report(
        brand_id=request.ctx.brand_id, day=params.date, account_id=params.account_id
    )
    return out(
        ReconciliationReportOut(
            date=params.date, items=[AccountReconciliationOut.of(r) for r in reports]
        )
    )
