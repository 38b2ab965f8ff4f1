"""The sales report of the mall and the till."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.mall import reports as service
from api.mall.schemas_reports import SalesQuery, SalesReportOut
from api.org.access import ADMINS, staff_required
from api.web.http import Raw, doc, out, query

bp = Blueprint("mall_reports", url_prefix="/api/v1")


@bp.get("/admin/reports/sales")
@doc(
    summary="Paid sales of the mall and the till by day, store, channel and guide, the "
    "members' share and the average order value",
    description="`since` to `until` (exclusive), China days. `format=csv` answers one CSV "
    "table `section,key,orders,amount_fen`. A store manager sees their stores only.",
    tag="admin",
    query=SalesQuery,
    response=SalesReportOut,
    errors=(401, 403, 422),
    also=(Raw("text/csv", "format=csv: the report as one CSV table"),),
)
@staff_required(*ADMINS)
async def get_sales_report(request: Request) -> HTTPResponse:
    params = query(request, SalesQuery)
    report = await service.sales_report(
        brand_id=request.ctx.brand_id,
        scope=request.ctx.scope,
        since=params.since,
        until=params.until,
    )
    if params.format == "csv":
        return HTTPResponse(
            service.report_csv(report),
            content_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="sales-{params.since}.csv"'},
        )
    return out(SalesReportOut.of(report))
