"""The points mall: head office's items, the member's shelf and exchanges, the store's pickup."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.core.auth import member_required
from api.core.pagination import PageQuery
from api.coupons import points_mall as service
from api.coupons.schemas_points_mall import (
    ExchangeIn,
    ExchangeOut,
    ExchangePage,
    ItemIn,
    ItemOut,
    ItemPage,
    ItemQuery,
    ItemUpdate,
    OfferOut,
    PickupIn,
    PickupOut,
    ShelfOut,
)
from api.org.access import ALL_STAFF, HQ, staff_required
from api.web.http import body, doc, idempotency_key, out, query

bp = Blueprint("coupons_points_mall", url_prefix="/api/v1")

ITEM = {"item_id": "The points mall item's id"}
EXCHANGE = {"exchange_id": "The exchange's id"}


# ---------------------------------------------------------------- head office


@bp.post("/admin/points-mall/items")
@doc(
    summary="Add a points mall item (head office)",
    returns="The new item",
    tag="points-mall",
    body=ItemIn,
    response=ItemOut,
    status=201,
    errors=(404,),
)
@staff_required(*HQ)
async def create_points_mall_item(request: Request) -> HTTPResponse:
    payload = body(request, ItemIn)
    item = await service.create_item(
        brand_id=request.ctx.brand_id, actor=request.ctx.staff.audit_name, **payload.model_dump()
    )
    return out(ItemOut.of(item), status=201)


@bp.get("/admin/points-mall/items")
@doc(
    summary="The brand's points mall items, newest first",
    returns="One page of items",
    tag="points-mall",
    query=ItemQuery,
    response=ItemPage,
)
@staff_required(*HQ)
async def list_points_mall_items(request: Request) -> HTTPResponse:
    params = query(request, ItemQuery)
    items, next_cursor = await service.list_items(
        brand_id=request.ctx.brand_id,
        on_shelf=params.on_shelf,
        cursor=params.cursor,
        limit=params.limit,
    )
    return out(ItemPage(items=[ItemOut.of(i) for i in items], next_cursor=next_cursor))


@bp.get("/admin/points-mall/items/<item_id:int>")
@doc(
    summary="One points mall item",
    tag="points-mall",
    response=ItemOut,
    errors=(404,),
    params=ITEM,
)
@staff_required(*HQ)
async def get_points_mall_item(request: Request, item_id: int) -> HTTPResponse:
    item = await service.get_item(brand_id=request.ctx.brand_id, item_id=item_id)
    return out(ItemOut.of(item))


@bp.patch("/admin/points-mall/items/<item_id:int>")
@doc(
    summary="Change a points mall item: price, shelf, limit, gift stock",
    returns="The item as changed",
    tag="points-mall",
    body=ItemUpdate,
    response=ItemOut,
    errors=(404, 409),
    params=ITEM,
)
@staff_required(*HQ)
async def update_points_mall_item(request: Request, item_id: int) -> HTTPResponse:
    payload = body(request, ItemUpdate)
    item = await service.update_item(
        brand_id=request.ctx.brand_id,
        actor=request.ctx.staff.audit_name,
        item_id=item_id,
        changes=payload.model_dump(exclude_unset=True),
    )
    return out(ItemOut.of(item))


# ---------------------------------------------------------------- members


@bp.get("/points-mall")
@doc(
    summary="The points mall: items on the shelf, stock left, whether I can afford each",
    tag="points-mall",
    response=ShelfOut,
)
@member_required()
async def get_points_mall(request: Request) -> HTTPResponse:
    available, offers = await service.mall_offers(
        brand_id=request.ctx.brand_id, member_id=request.ctx.member_id
    )
    return out(ShelfOut(points_available=available, items=[OfferOut.of(o) for o in offers]))


@bp.post("/points-mall/<item_id:int>/exchange")
@doc(
    summary="Spend points on an item",
    description="A gift needs `store_id`, the store it is collected at (with the pickup code "
    "answered). A retry with the same Idempotency-Key answers the first exchange. A coupon that "
    "cannot be issued is answered 409 `points_mall.coupon_not_issued`, the points given back.",
    returns="The exchange",
    tag="points-mall",
    body=ExchangeIn,
    response=ExchangeOut,
    status=201,
    errors=(404, 409),
    params=ITEM,
    idempotent=True,
)
@member_required()
async def exchange_points_mall_item(request: Request, item_id: int) -> HTTPResponse:
    request_key = idempotency_key(request)
    payload = body(request, ExchangeIn)
    exchange = await service.exchange_item(
        brand_id=request.ctx.brand_id,
        member_id=request.ctx.member_id,
        item_id=item_id,
        store_id=payload.store_id,
        request_key=request_key,
    )
    await exchange.fetch_related("item")
    return out(ExchangeOut.of(exchange, exchange.item), status=201)


@bp.get("/me/points-mall/exchanges")
@doc(
    summary="My points mall exchanges, newest first",
    returns="One page of the caller's exchanges",
    tag="points-mall",
    query=PageQuery,
    response=ExchangePage,
)
@member_required()
async def list_my_exchanges(request: Request) -> HTTPResponse:
    params = query(request, PageQuery)
    rows, next_cursor = await service.list_my_exchanges(
        brand_id=request.ctx.brand_id,
        member_id=request.ctx.member_id,
        cursor=params.cursor,
        limit=params.limit,
    )
    return out(
        ExchangePage(items=[ExchangeOut.of(e, e.item) for e in rows], next_cursor=next_cursor)
    )


@bp.post("/me/points-mall/exchanges/<exchange_id:int>/cancel")
@doc(
    summary="Cancel an uncollected gift: the points and the unit come back",
    returns="The exchange, `cancelled` (again: answered as it is)",
    tag="points-mall",
    response=ExchangeOut,
    errors=(404, 409),
    params=EXCHANGE,
)
@member_required()
async def cancel_my_exchange(request: Request, exchange_id: int) -> HTTPResponse:
    exchange = await service.cancel_exchange(
        brand_id=request.ctx.brand_id, member_id=request.ctx.member_id, exchange_id=exchange_id
    )
    await exchange.fetch_related("item")
    return out(ExchangeOut.of(exchange, exchange.item))


# ---------------------------------------------------------------- stores


@bp.post("/pos/points-mall/pickups")
@doc(
    summary="Hand a points mall gift over at the store the member chose",
    description="Staff of that store (head office: any). Another store's gift is refused with "
    "409 `points_mall.wrong_store`; a gift already handed over with 409 "
    "`points_mall.already_collected`.",
    returns="The gift handed over",
    tag="points-mall",
    body=PickupIn,
    response=PickupOut,
    errors=(404, 409),
)
@staff_required(*ALL_STAFF)
async def collect_points_mall_gift(request: Request) -> HTTPResponse:
    payload = body(request, PickupIn)
    exchange = await service.collect_gift(
        brand_id=request.ctx.brand_id,
        scope=request.ctx.scope,
        store_id=payload.store_id,
        pickup_code=payload.pickup_code,
        staff_id=request.ctx.staff_id,
    )
    await exchange.fetch_related("item")
    return out(PickupOut.of(exchange, exchange.item))
