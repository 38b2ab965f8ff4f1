"""The member's cart."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.core.auth import member_required
from api.mall import cart as service
from api.mall.schemas import CartAdd, CartLineOut, CartOut, CartUpdate
from api.web.http import body, doc, out

bp = Blueprint("mall_cart", url_prefix="/api/v1")

ITEM = {"item_id": "The cart line's id"}


def _out(cart: service.Cart) -> CartOut:
    return CartOut(
        items=[CartLineOut.of(ln.item, ln.product, ln.sku, cart.pricing) for ln in cart.lines],
        selected_fen=cart.selected_fen,
    )


@bp.get("/mall/cart")
@doc(summary="My cart, priced for my level", tag="mall", response=CartOut)
@member_required()
async def get_cart(request: Request) -> HTTPResponse:
    cart = await service.get_cart(brand_id=request.ctx.brand_id, member_id=request.ctx.member_id)
    return out(_out(cart))


@bp.post("/mall/cart")
@doc(
    summary="Put units of a SKU in my cart (added to those already there)",
    tag="mall",
    body=CartAdd,
    response=CartOut,
    errors=(404, 409),
)
@member_required()
async def add_to_cart(request: Request) -> HTTPResponse:
    payload = body(request, CartAdd)
    cart = await service.add_to_cart(
        brand_id=request.ctx.brand_id, member_id=request.ctx.member_id, **payload.model_dump()
    )
    return out(_out(cart))


@bp.patch("/mall/cart/items/<item_id:int>")
@doc(
    summary="Change a line's quantity or selection",
    tag="mall",
    body=CartUpdate,
    response=CartOut,
    errors=(404,),
    params=ITEM,
)
@member_required()
async def update_cart_item(request: Request, item_id: int) -> HTTPResponse:
    payload = body(request, CartUpdate)
    cart = await service.update_cart_item(
        brand_id=request.ctx.brand_id,
        member_id=request.ctx.member_id,
        item_id=item_id,
        **payload.model_dump(exclude_unset=True),
    )
    return out(_out(cart))


@bp.delete("/mall/cart/items/<item_id:int>")
@doc(
    summary="Take a line out of my cart",
    tag="mall",
    response=CartOut,
    errors=(404,),
    params=ITEM,
)
@member_required()
async def remove_cart_item(request: Request, item_id: int) -> HTTPResponse:
    cart = await service.remove_cart_item(
        brand_id=request.ctx.brand_id, member_id=request.ctx.member_id, item_id=item_id
    )
    return out(_out(cart))
