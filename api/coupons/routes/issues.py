"""Coupons given rather than claimed: head office's issue jobs, and a payment's reward coupons."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.core.auth import member_required
from api.coupons import campaigns, rewards
from api.coupons.schemas import IssueIn, IssueOut
from api.org.access import HQ, staff_required
from api.payments.schemas import MyPaymentOut
from api.web.http import body, doc, out

bp = Blueprint("coupons_issues", url_prefix="/api/v1")


@bp.post("/admin/coupon-templates/<template_id:int>/issue")
@doc(
    summary="Issue an active template to a list of members or to a tag's members, as a job",
    returns="The issue, `queued`; follow it at /admin/coupon-issues/{id}",
    tag="coupons",
    body=IssueIn,
    response=IssueOut,
    status=202,
    errors=(403, 404, 409, 422),
    params={"template_id": "The coupon template's id"},
)
@staff_required(*HQ)
async def start_coupon_issue(request: Request, template_id: int) -> HTTPResponse:
    payload = body(request, IssueIn)
    issue = await campaigns.start_issue(
        brand_id=request.ctx.brand_id,
        actor=request.ctx.staff.audit_name,
        template_id=template_id,
        member_ids=payload.member_ids,
        tag_id=payload.tag_id,
    )
    return out(IssueOut.model_validate(issue), status=202)


@bp.get("/admin/coupon-issues/<issue_id:int>")
@doc(
    summary="An admin issue's state and progress: issued, skipped by reason, of total",
    tag="coupons",
    response=IssueOut,
    errors=(403, 404),
    params={"issue_id": "The issue's id"},
)
@staff_required(*HQ)
async def get_coupon_issue(request: Request, issue_id: int) -> HTTPResponse:
    issue = await campaigns.get_issue(brand_id=request.ctx.brand_id, issue_id=issue_id)
    return out(IssueOut.model_validate(issue))


@bp.get("/me/payments/<payment_id:int>")
@doc(
    summary="My payment's result, with the coupons it earned",
    tag="coupons",
    response=MyPaymentOut,
    errors=(404,),
    params={"payment_id": "The payment's id"},
)
@member_required()
async def get_my_payment(request: Request, payment_id: int) -> HTTPResponse:
    result = await rewards.payment_result(
        brand_id=request.ctx.brand_id, member_id=request.ctx.member_id, payment_id=payment_id
    )
    return out(MyPaymentOut.of(result))
