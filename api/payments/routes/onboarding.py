"""Head office onboards franchise stores in bulk from a CSV file, as a job it can follow."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.org.access import HQ, staff_required
from api.payments import onboarding as service
from api.payments.schemas_onboarding import (
    CSV_DESCRIPTION,
    OnboardingAcceptedOut,
    OnboardingOut,
)
from api.web.http import Raw, doc, out

bp = Blueprint("payments_onboarding", url_prefix="/api/v1")


@bp.post("/admin/payment-onboarding")
@doc(
    summary="Onboard franchise stores from CSV: stores, franchisee accounts and routes, each "
    "account checked with its platform first; all or nothing, as a job",
    tag="admin",
    body=Raw("text/csv", CSV_DESCRIPTION),
    response=OnboardingAcceptedOut,
    status=202,
    errors=(401, 403, 413, 422),
)
@staff_required(*HQ)
async def start_onboarding(request: Request) -> HTTPResponse:
    job = await service.start_onboarding(
        brand_id=request.ctx.brand_id,
        actor=request.ctx.staff.audit_name,
        csv_data=request.body,
    )
    return out(OnboardingAcceptedOut.model_validate(job), status=202)


@bp.get("/admin/payment-onboarding/<job_id:int>")
@doc(
    summary="An onboarding's state, progress (checked of total, written) and outcome (counts, "
    "or the bad lines)",
    tag="admin",
    response=OnboardingOut,
    errors=(401, 403, 404),
)
@staff_required(*HQ)
async def get_onboarding(request: Request, job_id: int) -> HTTPResponse:
    job = await service.get_onboarding(brand_id=request.ctx.brand_id, job_id=job_id)
    return out(OnboardingOut.of(job))
