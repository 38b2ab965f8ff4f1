"""The brand's audit log, for the head office."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.core import audit
from api.org.access import HQ, staff_required
from api.org.schemas import AuditEntryOut, AuditFilter, AuditPage
from api.web.http import doc, out, query

bp = Blueprint("org_audit", url_prefix="/api/v1")


@bp.get("/admin/audit")
@doc(
    summary="Who changed what: the brand's audit rows, newest first "
    "(filter by action, actor, target, since, until)",
    tag="admin",
    query=AuditFilter,
    response=AuditPage,
    errors=(401, 403, 422),
)
@staff_required(*HQ)
async def list_audit(request: Request) -> HTTPResponse:
    params = query(request, AuditFilter)
    rows, cursor = await audit.list_records(brand_id=request.ctx.brand_id, **params.model_dump())
    return out(AuditPage(items=[AuditEntryOut.of(r) for r in rows], next_cursor=cursor))
