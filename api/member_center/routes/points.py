"""Points: a member's summary and ledger; head office's adjustments."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.core.auth import Role, member_required, staff_required
from api.core.errors import InvalidInput
from api.core.http import body, doc, out, query
from api.core.pagination import PageQuery
from api.member_center import points as service
from api.member_center.schemas.points import (
    AdminPointsEntryOut,
    PointsAdjustmentIn,
    PointsEntryOut,
    PointsEntryPage,
    PointsSummaryOut,
)

bp = Blueprint("member_center_points", url_prefix="/api/v1")

IDEMPOTENCY_KEY_MAX = 100


def idempotency_key(request: Request) -> str:
    """The `Idempotency-Key` header; 422 `request.idempotency_key_required` when missing."""
    value = (request.headers.get("idempotency-key") or "").strip()
    if not value:
        raise InvalidInput(
            "request.idempotency_key_required", "An 'Idempotency-Key' header is required."
        )
    if len(value) > IDEMPOTENCY_KEY_MAX or not (value.isascii() and value.isprintable()):
        raise InvalidInput(
            "request.idempotency_key_invalid",
            f"The 'Idempotency-Key' header must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters.",
        )
    return value


@bp.get("/me/points")
@doc(
    summary="My points: balance, available, frozen, expiring",
    tag="points",
    response=PointsSummaryOut,
)
@member_required()
async def my_points(request: Request) -> HTTPResponse:
    summary = await service.points_summary(
        brand_id=request.ctx.brand_id, member_id=request.ctx.member_id
    )
    return out(PointsSummaryOut.of(summary))


@bp.get("/me/points/entries")
@doc(
    summary="My points ledger, newest first", tag="points", response=PointsEntryPage, errors=(422,)
)
@member_required()
async def my_points_entries(request: Request) -> HTTPResponse:
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
    tag="points",
    body=PointsAdjustmentIn,
    response=AdminPointsEntryOut,
    status=201,
    errors=(403, 404, 409),
)
@staff_required(Role.HQ_ADMIN)
async def adjust_member_points(request: Request, member_id: int) -> HTTPResponse:
    key = idempotency_key(request)
    payload = body(request, PointsAdjustmentIn)
    entry = await service.adjust_points(
        brand_id=request.ctx.brand_id,
        member_id=member_id,
        delta=payload.delta,
        key=f"admin-adjust:{key}",
        reason=payload.reason,
        actor=f"staff:{request.ctx.principal.subject_id}",
    )
    return out(AdminPointsEntryOut.of(entry), status=201)
