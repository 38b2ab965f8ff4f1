"""What crosses the wire for the catalogue and the cart."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.core.fields import Change, Cursor, Id, Line, Omittable
from api.core.pagination import Page
from api.org.models import Store

from .catalogue import MemberPricing
from .models import CartItem, Category, Product, Sku

Name = Annotated[str, Line, StringConstraints(min_length=1, max_length=64)]
Description = Annotated[str, Line, StringConstraints(max_length=1024)]
ImageUrl = Annotated[str, Line, StringConstraints(min_length=1, max_length=512)]
Images = Annotated[list[ImageUrl], Field(max_length=20)]
SkuCode = Annotated[str, Line, StringConstraints(min_length=1, max_length=32)]
SpecValue = Annotated[str, Line, StringConstraints(max_length=32)]
SpecKey = Annotated[str, Line, StringConstraints(min_length=1, max_length=16)]
Spec = Annotated[dict[SpecKey, SpecValue], Field(max_length=5)]
PriceFen = Annotated[int, Field(ge=1, le=100_000_000)]
MemberPrices = Annotated[
    dict[Id, PriceFen], Field(max_length=20, description="level id → that level's unit price")
]
Stock = Annotated[int, Field(ge=0, le=10_000_000)]
StockDelta = Annotated[int, Field(ge=-10_000_000, le=10_000_000)]
Sort = Annotated[int, Field(ge=0, le=10_000)]
Quantity = Annotated[int, Field(ge=1, le=999)]
Search = Annotated[str, Line, StringConstraints(max_length=64)]


# ---------------------------------------------------------------- categories


class CategoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    sort: Sort = 0


class CategoryUpdate(Change):
    name: Omittable[Name] = None
    sort: Omittable[Sort] = None


class CategoryOut(BaseModel):
    id: int
    name: str
    sort: int

    @classmethod
    def of(cls, category: Category) -> CategoryOut:
        return cls(id=category.id, name=category.name, sort=category.sort)


class CategoryList(BaseModel):
    items: list[CategoryOut]


class PickupStoreOut(BaseModel):
    id: int
    name: str
    city: str
    address: str

    @classmethod
    def of(cls, store: Store) -> PickupStoreOut:
        return cls(id=store.id, name=store.name, city=store.city, address=store.address)


class PickupStoreList(BaseModel):
    items: list[PickupStoreOut]


# ---------------------------------------------------------------- products and SKUs


class SkuIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: SkuCode
    spec: Spec = Field(default_factory=dict)
    list_price_fen: PriceFen
    member_prices: MemberPrices = Field(default_factory=dict)
    stock: Stock = 0
    active: bool = True


class StoreStockMove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store_id: Id
    delta: StockDelta


class SkuUpdate(Change):
    """Change a SKU; `stock_delta` adds (negative: removes) central units, `store_stock` a
    store's units for pickup."""

    code: Omittable[SkuCode] = None
    spec: Omittable[Spec] = None
    list_price_fen: Omittable[PriceFen] = None
    member_prices: Omittable[MemberPrices] = None
    active: Omittable[bool] = None
    stock_delta: Omittable[StockDelta] = None
    store_stock: Omittable[StoreStockMove] = None


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    category_id: Id | None = None
    description: Description = ""
    images: Images = Field(default_factory=list)
    on_shelf: bool = False
    skus: Annotated[list[SkuIn], Field(max_length=100)] = Field(default_factory=list)


class ProductUpdate(Change):
    name: Omittable[Name] = None
    category_id: Id | None = None
    description: Omittable[Description] = None
    images: Omittable[Images] = None
    on_shelf: Omittable[bool] = None


class SkuOut(BaseModel):
    id: int
    product_id: int
    code: str
    spec: dict[str, str]
    list_price_fen: int
    member_prices: dict[str, int]
    stock: int = Field(description="central units, for delivery")
    store_stock: dict[str, int] = Field(description="store id → units there, for pickup")
    active: bool

    @classmethod
    def of(cls, sku: Sku, store_stock: dict[int, int] | None = None) -> SkuOut:
        return cls(
            id=sku.id,
            product_id=sku.product_id,
            code=sku.code,
            spec=sku.spec,
            list_price_fen=sku.list_price_fen,
            member_prices=sku.member_prices,
            stock=sku.stock,
            store_stock={str(k): v for k, v in (store_stock or {}).items()},
            active=sku.active,
        )


class ProductOut(BaseModel):
    id: int
    category_id: int | None
    name: str
    description: str
    images: list[str]
    on_shelf: bool
    skus: list[SkuOut]
    created_at: datetime

    @classmethod
    def of(
        cls, product: Product, skus: list[Sku], stores: dict[int, dict[int, int]] | None = None
    ) -> ProductOut:
        return cls(
            id=product.id,
            category_id=product.category_id,
            name=product.name,
            description=product.description,
            images=product.images,
            on_shelf=product.on_shelf,
            skus=[SkuOut.of(s, (stores or {}).get(s.id)) for s in skus],
            created_at=product.created_at,
        )


class ProductPage(Page[ProductOut]):
    pass


class ProductQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: Search | None = None
    category_id: Id | None = None
    on_shelf: bool | None = None
    cursor: Cursor | None = None
    limit: int = Field(default=20, ge=1, le=100)


class ImportOut(BaseModel):
    products: int
    skus: int


# ---------------------------------------------------------------- the shelf


class ShelfQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: Search | None = None
    category_id: Id | None = None
    cursor: Cursor | None = None
    limit: int = Field(default=20, ge=1, le=100)


class ShelfSkuOut(BaseModel):
    id: int
    code: str
    spec: dict[str, str]
    list_price_fen: int
    price_fen: int = Field(description="one unit at the caller's level")
    in_stock: bool = Field(description="central units left for delivery")

    @classmethod
    def of(cls, sku: Sku, pricing: MemberPricing) -> ShelfSkuOut:
        return cls(
            id=sku.id,
            code=sku.code,
            spec=sku.spec,
            list_price_fen=sku.list_price_fen,
            price_fen=pricing.unit_price(sku),
            in_stock=sku.stock > 0,
        )


class ShelfProductOut(BaseModel):
    id: int
    category_id: int | None
    name: str
    description: str
    images: list[str]
    price_from_fen: int | None = Field(description="the cheapest SKU at the caller's level")
    skus: list[ShelfSkuOut]

    @classmethod
    def of(cls, product: Product, skus: list[Sku], pricing: MemberPricing) -> ShelfProductOut:
        shown = [ShelfSkuOut.of(s, pricing) for s in skus]
        return cls(
            id=product.id,
            category_id=product.category_id,
            name=product.name,
            description=product.description,
            images=product.images,
            price_from_fen=min((s.price_fen for s in shown), default=None),
            skus=shown,
        )


class ShelfPage(Page[ShelfProductOut]):
    pass


# ---------------------------------------------------------------- the cart


class CartAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku_id: Id
    quantity: Quantity = 1


class CartUpdate(Change):
    quantity: Omittable[Quantity] = None
    selected: Omittable[bool] = None


class CartLineOut(BaseModel):
    id: int
    sku_id: int
    product_id: int
    name: str
    spec: dict[str, str]
    image_url: str
    quantity: int
    selected: bool
    list_price_fen: int
    price_fen: int = Field(description="one unit at the caller's level")
    available: bool = Field(description="on the shelf and in stock")

    @classmethod
    def of(cls, item: CartItem, product: Product, sku: Sku, pricing: MemberPricing) -> CartLineOut:
        return cls(
            id=item.id,
            sku_id=sku.id,
            product_id=product.id,
            name=product.name,
            spec=sku.spec,
            image_url=product.images[0] if product.images else "",
            quantity=item.quantity,
            selected=item.selected,
            list_price_fen=sku.list_price_fen,
            price_fen=pricing.unit_price(sku),
            available=product.on_shelf and sku.active and sku.stock >= item.quantity,
        )


class CartOut(BaseModel):
    items: list[CartLineOut]
    selected_fen: int = Field(description="the selected lines at the caller's level")
