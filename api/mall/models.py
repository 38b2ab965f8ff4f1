"""The mall's rows: categories, products (SPU) and their SKUs with stock, carts and orders."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from api.org.models import Brand, Store


class Category(Model):
    """A shelf of the catalogue."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    name = fields.CharField(max_length=64)
    sort = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "mall_category"
        unique_together = (("brand", "name"),)


class Product(Model):
    """A product (SPU): what the shelf shows, sold as its SKUs."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    category: fields.ForeignKeyNullableRelation[Category] = fields.ForeignKeyField(
        "memberhub.Category", null=True, related_name=False, on_delete=fields.SET_NULL
    )
    category_id: int | None
    name = fields.CharField(max_length=64)
    description = fields.CharField(max_length=1024, default="")
    images: list[str] = fields.JSONField(default=list)  # URLs, the first one the cover
    on_shelf = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "mall_product"
        indexes = (Index(fields=("brand_id", "on_shelf")),)


class Sku(Model):
    """One sellable variant of a product: its spec, prices and central (delivery) stock."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    product: fields.ForeignKeyRelation[Product] = fields.ForeignKeyField(
        "memberhub.Product", related_name=False
    )
    product_id: int
    code = fields.CharField(max_length=32)
    spec: dict[str, str] = fields.JSONField(default=dict)  # {"size": "M", "colour": "red"}
    list_price_fen = fields.IntField()
    # {"<level id>": fen}: a level's own price, instead of its discount on the list price.
    member_prices: dict[str, int] = fields.JSONField(default=dict)
    stock = fields.IntField(default=0)  # central stock, shipped; never below 0 (guarded updates)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "mall_sku"
        unique_together = (("brand", "code"),)

    def member_price(self, level_id: int | None) -> int | None:
        """The level's own price of this SKU, if it has one."""
        if level_id is None:
            return None
        value = self.member_prices.get(str(level_id))
        return None if value is None else int(value)


class StoreStock(Model):
    """A store's units of a SKU, for pickup there."""

    id = fields.IntField(primary_key=True)
    brand_id = fields.IntField()
    sku: fields.ForeignKeyRelation[Sku] = fields.ForeignKeyField(
        "memberhub.Sku", related_name=False
    )
    sku_id: int
    store: fields.ForeignKeyRelation[Store] = fields.ForeignKeyField(
        "memberhub.Store", related_name=False
    )
    store_id: int
    stock = fields.IntField(default=0)

    class Meta:
        table = "mall_store_stock"
        unique_together = (("sku", "store"),)


class CartItem(Model):
    """A SKU in a member's cart."""

    id = fields.IntField(primary_key=True)
    brand_id = fields.IntField()
    member_id = fields.IntField()
    sku: fields.ForeignKeyRelation[Sku] = fields.ForeignKeyField(
        "memberhub.Sku", related_name=False
    )
    sku_id: int
    quantity = fields.IntField()
    selected = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "mall_cart_item"
        unique_together = (("member_id", "sku"),)


class Fulfilment(StrEnum):
    DELIVERY = "delivery"
    PICKUP = "pickup"


class OrderState(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    READY_FOR_PICKUP = "ready_for_pickup"
    PICKED_UP = "picked_up"
    COMPLETED = "completed"
    REFUNDED = "refunded"  # every unit refunded
    CANCELLED = "cancelled"  # by the member, before paying
    CLOSED = "closed"  # left unpaid past the brand's timeout


class MallOrder(Model):
    """A member's order: priced by the server when created, stock, coupons and points held."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    member_id = fields.IntField()
    key = fields.CharField(max_length=160)  # <member id>:<Idempotency-Key>
    request_hash = fields.CharField(max_length=64)  # the body the key was first used with
    state = fields.CharEnumField(OrderState, max_length=20, default=OrderState.PENDING_PAYMENT)
    fulfilment = fields.CharEnumField(Fulfilment, max_length=16)
    # The fulfilling store (pickup); None: central stock, head office's account.
    store_id = fields.IntField(null=True)
    address: dict[str, Any] = fields.JSONField(default=dict)
    guide_code = fields.CharField(max_length=32, default="")
    # Who the sale is credited to: the guide of the share link, else the member's own guide,
    # and that guide's (or the member's) store.
    guide_id = fields.IntField(null=True)
    attributed_store_id = fields.IntField(null=True)
    # A guide's order for the member (the size was missing in store): delivered from central
    # stock, credited to that guide, and paid by the member in the mini-program.
    created_by_staff_id = fields.IntField(null=True)
    level_id = fields.IntField(null=True)
    discount_pct = fields.IntField(default=100)
    list_fen = fields.BigIntField()
    member_price_discount_fen = fields.BigIntField(default=0)
    level_discount_fen = fields.BigIntField(default=0)
    coupon_discount_fen = fields.BigIntField(default=0)
    points_used = fields.IntField(default=0)
    points_discount_fen = fields.BigIntField(default=0)
    delivery_fee_fen = fields.BigIntField(default=0)
    payable_fen = fields.BigIntField()
    payment_id = fields.IntField(null=True)
    shipping: dict[str, Any] = fields.JSONField(default=dict)  # {carrier, tracking_no}
    shipped_at = fields.DatetimeField(null=True)
    # When WeChat accepted the shipping information of a WeChat Pay order (shipped or picked
    # up): it settles the payment only after that (see `shipping_upload`).
    shipping_uploaded_at = fields.DatetimeField(null=True)
    pickup_code = fields.CharField(max_length=6, null=True)
    expires_at = fields.DatetimeField()
    paid_at = fields.DatetimeField(null=True)
    cancelled_at = fields.DatetimeField(null=True)
    picked_up_at = fields.DatetimeField(null=True)
    picked_up_staff_id = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "mall_order"
        unique_together = (("brand", "key"),)
        # Six digits repeat over time and across stores: unique only among orders waiting at
        # one store (drawn so by `paid`), hence an index, not a constraint.
        indexes = (
            Index(fields=("member_id", "state")),
            Index(fields=("state", "expires_at")),
            Index(fields=("brand_id", "pickup_code")),
        )


class MallOrderLine(Model):
    """One SKU of an order and its share of every discount, in whole fen."""

    id = fields.IntField(primary_key=True)
    order: fields.ForeignKeyRelation[MallOrder] = fields.ForeignKeyField(
        "memberhub.MallOrder", related_name=False
    )
    order_id: int
    sku_id = fields.IntField()
    product_id = fields.IntField()
    name = fields.CharField(max_length=64)
    spec: dict[str, str] = fields.JSONField(default=dict)
    quantity = fields.IntField()
    unit_list_fen = fields.IntField()
    list_fen = fields.BigIntField()
    member_price_fen = fields.BigIntField()  # the line at the level's own price (or list)
    level_discount_fen = fields.BigIntField(default=0)
    coupon_fen = fields.BigIntField(default=0)
    points_fen = fields.BigIntField(default=0)
    points = fields.IntField(default=0)
    payable_fen = fields.BigIntField()
    # Units asked back by refunds not rejected (guarded: never above quantity).
    refunded_quantity = fields.IntField(default=0)

    class Meta:
        table = "mall_order_line"


class RefundRequestState(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"  # the payment's refund asked of the platform
    REFUNDED = "refunded"  # the money went back: units, points and coupons came back with it
    REJECTED = "rejected"


class MallRefund(Model):
    """A member's request to refund units of a paid order, decided by the store or head office."""

    id = fields.IntField(primary_key=True)
    brand_id = fields.IntField()
    order: fields.ForeignKeyRelation[MallOrder] = fields.ForeignKeyField(
        "memberhub.MallOrder", related_name=False
    )
    order_id: int
    member_id = fields.IntField()
    state = fields.CharEnumField(
        RefundRequestState, max_length=16, default=RefundRequestState.REQUESTED
    )
    lines: list[dict[str, int]] = fields.JSONField(default=list)  # [{line_id, quantity}]
    amount_fen = fields.BigIntField()
    points = fields.IntField(default=0)  # of the points the order used, given back
    closes_order = fields.BooleanField(default=False)  # the last units: fee and coupons back
    reason = fields.CharField(max_length=80)
    out_refund_no = fields.CharField(max_length=64, null=True)
    decided_by = fields.CharField(max_length=64, default="")
    decided_at = fields.DatetimeField(null=True)
    refunded_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "mall_refund"
