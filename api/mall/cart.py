"""A member's cart: SKUs and quantities kept in the database (so it survives signing in again),
moved to the survivor when two members merge (the same SKU's quantities summed)."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from api.core.errors import Conflict, NotFound

from .catalogue import MemberPricing, get_sku, member_pricing
from .error_codes import CartErrorCode
from .models import CartItem, Product, Sku

MAX_QUANTITY = 999
MAX_LINES = 100


@dataclass(frozen=True)
class CartLine:
    item: CartItem
    product: Product
    sku: Sku


@dataclass(frozen=True)
class Cart:
    lines: list[CartLine]
    pricing: MemberPricing

    @property
    def selected_fen(self) -> int:
        return sum(
            self.pricing.unit_price(line.sku) * line.item.quantity
            for line in self.lines
            if line.item.selected
        )


async def get_cart(*, brand_id: int, member_id: int) -> Cart:
    """The member's cart, oldest line first, priced at their level."""
    items = await CartItem.filter(brand_id=brand_id, member_id=member_id).order_by("id")
    skus = {s.id: s for s in await Sku.filter(id__in=[i.sku_id for i in items])}
    products = {p.id: p for p in await Product.filter(id__in={s.product_id for s in skus.values()})}
    lines = [CartLine(i, products[skus[i.sku_id].product_id], skus[i.sku_id]) for i in items]
    return Cart(lines, await member_pricing(brand_id=brand_id, member_id=member_id))


async def add_to_cart(*, brand_id: int, member_id: int, sku_id: int, quantity: int) -> Cart:
    """Put units of a SKU on the shelf in the cart (added to those already there, at most 999).

    404 `sku.not_found`; 409 `cart.sku_unavailable`, `cart.too_many` (100 lines).
    """
    sku = await get_sku(brand_id=brand_id, sku_id=sku_id)
    product = await Product.get(id=sku.product_id)
    if not (sku.active and product.on_shelf):
        raise Conflict(CartErrorCode.SKU_UNAVAILABLE, "This item is not on sale.")
    mine = CartItem.filter(brand_id=brand_id, member_id=member_id, sku_id=sku.id)
    for _ in range(2):
        if await mine.update(quantity=F("quantity") + quantity, selected=True):
            await mine.filter(quantity__gt=MAX_QUANTITY).update(quantity=MAX_QUANTITY)
            break
        if await CartItem.filter(brand_id=brand_id, member_id=member_id).count() >= MAX_LINES:
            raise Conflict(CartErrorCode.TOO_MANY, f"A cart holds at most {MAX_LINES} items.")
        try:
            await CartItem.create(
                brand_id=brand_id, member_id=member_id, sku_id=sku.id, quantity=quantity
            )
            break
        except IntegrityError:
            continue  # added at the same moment by another request: add to it
    return await get_cart(brand_id=brand_id, member_id=member_id)


async def _item(brand_id: int, member_id: int, item_id: int) -> CartItem:
    item = await CartItem.filter(id=item_id, brand_id=brand_id, member_id=member_id).first()
    if item is None:
        raise NotFound(CartErrorCode.ITEM_NOT_FOUND, "No such item in your cart.")
    return item


async def update_cart_item(
    *,
    brand_id: int,
    member_id: int,
    item_id: int,
    quantity: int | None = None,
    selected: bool | None = None,
) -> Cart:
    """Set a line's quantity or whether it is selected; 404 `cart.item_not_found`."""
    item = await _item(brand_id, member_id, item_id)
    values: dict[str, object] = {}
    if quantity is not None:
        values["quantity"] = quantity
    if selected is not None:
        values["selected"] = selected
    if values:
        await CartItem.filter(id=item.id).update(**values)
    return await get_cart(brand_id=brand_id, member_id=member_id)


async def remove_cart_item(*, brand_id: int, member_id: int, item_id: int) -> Cart:
    """Take a line out of the cart; 404 `cart.item_not_found`."""
    item = await _item(brand_id, member_id, item_id)
    await CartItem.filter(id=item.id).delete()
    return await get_cart(brand_id=brand_id, member_id=member_id)


async def drop_ordered(
    db: BaseDBAsyncClient, *, brand_id: int, member_id: int, sku_ids: list[int]
) -> None:
    """The selected lines of these SKUs were ordered: out of the cart, in the order's transaction."""
    await (
        CartItem.filter(brand_id=brand_id, member_id=member_id, sku_id__in=sku_ids, selected=True)
        .using_db(db)
        .delete()
    )


async def move_cart_for_merge(
    *, brand_id: int, loser_id: int, survivor_id: int, connection: BaseDBAsyncClient
) -> None:
    """Give the loser's cart to the survivor: a SKU both have becomes one line, quantities
    summed (at most 999)."""
    theirs = await CartItem.filter(brand_id=brand_id, member_id=loser_id).using_db(connection)
    if not theirs:
        return
    mine = {
        i.sku_id: i
        for i in await CartItem.filter(brand_id=brand_id, member_id=survivor_id).using_db(
            connection
        )
    }
    for item in theirs:
        kept = mine.get(item.sku_id)
        if kept is None:
            await CartItem.filter(id=item.id).using_db(connection).update(member_id=survivor_id)
            continue
        total = min(MAX_QUANTITY, kept.quantity + item.quantity)
        await (
            CartItem.filter(id=kept.id)
            .using_db(connection)
            .update(quantity=total, selected=kept.selected or item.selected)
        )
        await CartItem.filter(id=item.id).using_db(connection).delete()
