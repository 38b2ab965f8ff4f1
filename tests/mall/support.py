"""A brand with a shelf as the mall tests need it, made through the services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.mall import catalogue
from api.mall.models import Product, Sku
from api.member_center.models import Level, Member
from api.org.models import Brand
from tests.factories import make_brand, make_member


@dataclass
class Shelf:
    brand: Brand
    gold: Level
    product: Product
    shirt: Sku  # 10 000 fen, gold's own price 8 000
    socks: Sku  # 2 000 fen, no member price


async def make_shelf(brand: Brand | None = None, *, stock: int = 50, **settings: Any) -> Shelf:
    brand = brand or await make_brand(settings=settings)
    gold = await Level.create(brand_id=brand.id, name="gold", rank=1, discount_pct=90)
    category = await catalogue.create_category(brand_id=brand.id, actor="staff:test", name="衣服")
    product = await catalogue.create_product(
        brand_id=brand.id,
        actor="staff:test",
        name="Oxford shirt",
        category_id=category.id,
        images=["https://img.example/shirt.jpg"],
        on_shelf=True,
        skus=[
            {
                "code": f"SH-{brand.id}",
                "spec": {"size": "M"},
                "list_price_fen": 10_000,
                "member_prices": {gold.id: 8_000},
                "stock": stock,
            },
            {"code": f"SO-{brand.id}", "list_price_fen": 2_000, "stock": stock},
        ],
    )
    shirt, socks = await Sku.filter(product_id=product.id).order_by("id")
    return Shelf(brand, gold, product, shirt, socks)


async def gold_member(shelf: Shelf, **fields: Any) -> Member:
    return await make_member(brand=shelf.brand, level_id=shelf.gold.id, **fields)
