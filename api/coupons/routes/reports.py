"""The coupon report: a month's issuing, use, expiry and the franchisee settlement."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.coupons import reports as service
from api.coupons.schemas_reports import CouponReportOut, CouponReportQuery
from api.org.access import ADMINS, staff_required
from api.web.http import Raw, doc, out, query

bp = Blueprint("coupons_reports", url_prefix="/api/v1")


@bp.get("/admin/reports/coupons")
@doc(
    summary="A month's coupons: issued, used, expired per template, store and channel, the "
    "redemption rate, the discount given and who bears it, and the franchisee settlement",
    description="`format=csv` answers the same report as one CSV table (a `section` column: "
    "month, template, store, channel, franchisee). A store manager sees their stores only.",
    tag="admin",
    query=CouponReportQuery,
    response=CouponReportOut,
    errors=(401, 403, 422),
    also=(Raw("text/csv", "format=csv: the report as one CSV table"),),
)
@staff_required(*ADMINS)
async def get_coupon_report(request: Request) -> HTTPResponse:
    params = query(request, CouponReportQuery)
    report = await service.coupon_report(
        brand_id=request.ctx.brand_id, scope=request.ctx.scope, month=params.first_day
    )
    if params.format == "csv":
        return HTTPResponse(
            service.report_csv(report),
            content_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="coupons-{report.month}.csv"'},
        )
    return out(CouponReportOut.of(report))
