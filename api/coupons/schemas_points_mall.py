"""What crosses the wire for the points mall: items, the shelf, exchanges, pickups."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.core.fields import Change, Cursor, Id, Line, Omittable
from api.core.pagination import Page

from .models import (
    CouponKind,
    CouponTemplate,
    ExchangeState,
    MallExchange,
    MallItem,
    MallItemKind,
)
from .points_mall import MallOffer

Name = Annotated[str, Line, StringConstraints(min_length=1, max_length=64)]
Description = Annotated[str, Line, StringConstraints(max_length=255)]
ImageUrl = Annotated[str, Line, StringConstraints(max_length=512)]
Price = Annotated[int, Field(ge=1, le=100_000_000, description="points")]
Stock = Annotated[int, Field(ge=0, le=10_000_000)]
StockDelta = Annotated[int, Field(ge=-10_000_000, le=10_000_000)]
Limit = Annotated[int, Field(ge=1, le=100)]
PickupCode = Annotated[str, Line, StringConstraints(min_length=1, max_length=32)]


class ItemIn(BaseModel):
    """A new item: a coupon of `template_id`, or a gift with `stock` units."""

    model_config = ConfigDict(extra="forbid")

    kind: MallItemKind
    name: Name
    description: Description = ""
    image_url: ImageUrl = ""
    points_price: Price
    template_id: Id | None = Field(default=None, description="coupon: the template issued")
    stock: Stock | None = Field(default=None, description="gift: units on hand (default 0)")
    per_member_limit: Limit | None = Field(default=None, description="none: no limit")
    on_shelf: bool = False


class ItemUpdate(Change):
    """Change an item; `stock_delta` adds (or, negative, removes) gift units."""

    name: Omittable[Name] = None
    description: Omittable[Description] = None
    image_url: Omittable[ImageUrl] = None
    points_price: Omittable[Price] = None
    per_member_limit: Limit | None = None
    on_shelf: Omittable[bool] = None
    stock_delta: Omittable[StockDelta] = None


class ItemOut(BaseModel):
    id: int
    kind: MallItemKind
    name: str
    description: str
    image_url: str
    points_price: int
    template_id: int | None
    stock_left: int = Field(
        description="gift: units left (a coupon item's stock is its template's)"
    )
    per_member_limit: int | None
    on_shelf: bool
    created_at: datetime

    @classmethod
    def of(cls, item: MallItem) -> ItemOut:
        return cls(
            id=item.id,
            kind=item.kind,
            name=item.name,
            description=item.description,
            image_url=item.image_url,
            points_price=item.points_price,
            template_id=item.template_id,
            stock_left=item.stock_left,
            per_member_limit=item.per_member_limit,
            on_shelf=item.on_shelf,
            created_at=item.created_at,
        )


class ItemPage(Page[ItemOut]):
    pass


class ItemQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on_shelf: bool | None = None
    cursor: Cursor | None = None
    limit: int = Field(default=20, ge=1, le=100)


class CouponTerms(BaseModel):
    """What a coupon item's coupon gives."""

    kind: CouponKind
    value_fen: int | None
    percent_off: int | None
    cap_fen: int | None
    threshold_fen: int
    valid_days: int | None
    valid_until: datetime | None

    @classmethod
    def of(cls, template: CouponTemplate) -> CouponTerms:
        return cls(
            kind=template.kind,
            value_fen=template.value_fen,
            percent_off=template.percent_off,
            cap_fen=template.cap_fen,
            threshold_fen=template.threshold_fen,
            valid_days=template.valid_days,
            valid_until=template.valid_until,
        )


class OfferOut(BaseModel):
    """An item on the shelf."""

    item_id: int
    kind: MallItemKind
    name: str
    description: str
    image_url: str
    points_price: int
    stock_left: int
    affordable: bool = Field(description="the caller's available points cover the price")
    coupon: CouponTerms | None

    @classmethod
    def of(cls, offer: MallOffer) -> OfferOut:
        item = offer.item
        return cls(
            item_id=item.id,
            kind=item.kind,
            name=item.name,
            description=item.description,
            image_url=item.image_url,
            points_price=item.points_price,
            stock_left=offer.stock_left,
            affordable=offer.affordable,
            coupon=CouponTerms.of(offer.template) if offer.template is not None else None,
        )


class ShelfOut(BaseModel):
    """The caller's available points and the items on the shelf, newest first."""

    points_available: int
    items: list[OfferOut]


class ExchangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store_id: Id | None = Field(default=None, description="gift: the store to collect it at")


class ExchangeOut(BaseModel):
    """One exchange: what was taken, for how many points, and where it stands."""

    id: int
    item_id: int
    kind: MallItemKind
    name: str
    points: int
    state: ExchangeState
    coupon_id: int | None
    store_id: int | None
    pickup_code: str | None = Field(description="gift: shown at the store to collect it")
    collected_at: datetime | None
    cancelled_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, exchange: MallExchange, item: MallItem) -> ExchangeOut:
        return cls(
            id=exchange.id,
            item_id=exchange.item_id,
            kind=exchange.kind,
            name=item.name,
            points=exchange.points,
            state=exchange.state,
            coupon_id=exchange.coupon_id,
            store_id=exchange.store_id,
            pickup_code=exchange.pickup_code,
            collected_at=exchange.collected_at,
            cancelled_at=exchange.cancelled_at,
            created_at=exchange.created_at,
        )


class ExchangePage(Page[ExchangeOut]):
    pass


class PickupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pickup_code: PickupCode
    store_id: Id


class PickupOut(BaseModel):
    """The gift handed over."""

    exchange_id: int
    item_id: int
    name: str
    store_id: int
    member_id: int
    collected_at: datetime
    collected_staff_id: int

    @classmethod
    def of(cls, exchange: MallExchange, item: MallItem) -> PickupOut:
        assert exchange.store_id is not None and exchange.collected_at is not None
        assert exchange.collected_staff_id is not None
        return cls(
            exchange_id=exchange.id,
            item_id=exchange.item_id,
            name=item.name,
            store_id=exchange.store_id,
            member_id=exchange.member_id,
            collected_at=exchange.collected_at,
            collected_staff_id=exchange.collected_staff_id,
        )
