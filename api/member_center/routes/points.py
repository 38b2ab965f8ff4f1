"""Points: a member's summary and ledger; head office's adjustments."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.core.auth import member_required
from api.core.pagination import PageQuery
from api.member_center import points as service
from api.member_center.schemas.points import (
    AdminPointsEntryOut,
    PointsAdjustmentIn,
    PointsEntryOut,
    PointsEntryPage,
    PointsSummaryOut,
)
from api.org.access import HQ, staff_required
from api.web.http import body, doc, idempotency_key, out, query

bp = Blueprint("member_center_points", url_prefix="/api/v1")


@bp.get("/me/points")
@doc(
    summary="My points: balance, available, frozen, expiring",
    returns="The caller's points balance and what is frozen or about to expire",
    tag="points",
    response=PointsSummaryOut,
)
@member_required()
async def get_my_points(request: Request) -> HTTPResponse:
    summary = await service.points_summary(
        brand_id=request.ctx.brand_id, member_id=request.ctx.member_id
    )
    return out(PointsSummaryOut.of(summary))


@bp.get("/me/points/entries")
@doc(
    summary="My points ledger, newest first",
    returns="One page of ledger entries, newest first",
    tag="points",
    query=PageQuery,
    response=PointsEntryPage,
)
@member_required()
async def list_my_points_entries(request: Request) -> HTTPResponse:
    page = query(request, PageQuery)
    entries, next_cursor = await service.list_entries(
        brand_id=request.ctx.brand_id,
        member_id=request.ctx.member_id,
        cursor=page.cursor,
        limit=page.limit,
    )
    return out(
        PointsEntryPage(items=[PointsEntryOut.of(e) for e in entries], next_cursor=next_cursor)
    )


@bp.post("/admin/members/<member_id:int>/points-adjustments")
@doc(
    summary="Adjust a member's points (head office; reason and Idempotency-Key required)",
    returns="The ledger entry written (the first one, on a replay of the same key)",
    tag="points",
    body=PointsAdjustmentIn,
    response=AdminPointsEntryOut,
    status=201,
    errors=(403, 404, 409),
    idempotent=True,
)
@staff_required(*HQ)
async def adjust_member_points(request: Request, member_id: int) -> HTTPResponse:
    key = idempotency_key(request)
    payload = body(request, PointsAdjustmentIn)
    entry = await service.adjust_points(
        brand_id=request.ctx.brand_id,
        member_id=member_id,
        delta=payload.delta,
        key=f"admin-adjust:{key}",
        reason=payload.reason,
        actor=request.ctx.staff.audit_name,
    )
    return out(AdminPointsEntryOut.of(entry), status=201)
