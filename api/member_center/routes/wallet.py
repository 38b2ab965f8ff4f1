"""Stored value: a member's balances and ledger; head office's recharge packages."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.core.auth import member_required
from api.core.pagination import PageQuery
from api.member_center import wallet as service
from api.member_center.schemas.wallet import (
    WalletEntryOut,
    WalletEntryPage,
    WalletOut,
    WalletPackageIn,
    WalletPackageList,
    WalletPackageOut,
    WalletPackagePatch,
)
from api.org.access import HQ, staff_required
from api.web.http import body, doc, out, query

bp = Blueprint("member_center_wallet", url_prefix="/api/v1")


@bp.get("/wallet")
@doc(
    summary="My stored value (fen) and the recharge packages on offer",
    returns="The caller's balances in fen and the packages on offer",
    tag="wallet",
    response=WalletOut,
)
@member_required()
async def get_my_wallet(request: Request) -> HTTPResponse:
    brand_id = request.ctx.brand_id
    balance = await service.wallet_balance(brand_id=brand_id, member_id=request.ctx.member_id)
    packages = await service.list_packages(brand_id=brand_id)
    return out(WalletOut.of(balance, packages))


@bp.get("/wallet/entries")
@doc(
    summary="My stored-value ledger, newest first",
    returns="One page of ledger entries, newest first",
    tag="wallet",
    query=PageQuery,
    response=WalletEntryPage,
    errors=(422,),
)
@member_required()
async def list_my_wallet_entries(request: Request) -> HTTPResponse:
    page = query(request, PageQuery)
    entries, next_cursor = await service.list_wallet_entries(
        brand_id=request.ctx.brand_id,
        member_id=request.ctx.member_id,
        cursor=page.cursor,
        limit=page.limit,
    )
    return out(
        WalletEntryPage(items=[WalletEntryOut.of(e) for e in entries], next_cursor=next_cursor)
    )


@bp.get("/admin/wallet-packages")
@doc(
    summary="All recharge packages, on offer or not",
    returns="Every recharge package",
    tag="wallet",
    response=WalletPackageList,
    errors=(403,),
)
@staff_required(*HQ)
async def list_wallet_packages(request: Request) -> HTTPResponse:
    packages = await service.list_packages(brand_id=request.ctx.brand_id, active_only=False)
    return out(WalletPackageList(items=[WalletPackageOut.of(p) for p in packages]))


@bp.post("/admin/wallet-packages")
@doc(
    summary="Offer a recharge package",
    returns="The new package",
    tag="wallet",
    body=WalletPackageIn,
    response=WalletPackageOut,
    status=201,
    errors=(403,),
)
@staff_required(*HQ)
async def create_wallet_package(request: Request) -> HTTPResponse:
    payload = body(request, WalletPackageIn)
    package = await service.create_package(
        brand_id=request.ctx.brand_id, actor=request.ctx.staff.audit_name, **payload.model_dump()
    )
    return out(WalletPackageOut.of(package), status=201)


@bp.patch("/admin/wallet-packages/<package_id:int>")
@doc(
    summary="Change a recharge package; `active=false` takes it off offer",
    returns="The package as it now is",
    tag="wallet",
    body=WalletPackagePatch,
    params={"package_id": "The recharge package's id"},
    response=WalletPackageOut,
    errors=(403, 404),
)
@staff_required(*HQ)
async def update_wallet_package(request: Request, package_id: int) -> HTTPResponse:
    payload = body(request, WalletPackagePatch)
    package = await service.update_package(
        brand_id=request.ctx.brand_id,
        actor=request.ctx.staff.audit_name,
        package_id=package_id,
        **payload.model_dump(),
    )
    return out(WalletPackageOut.of(package))
