"""The catalogue: head office's categories, products and SKUs, their stock, the CSV import, and
the shelf members browse at their level's prices.

Stock moves only by guarded updates (`stock >= n` in the WHERE clause), never read and written
back: a SKU's central stock (delivery) and a store's stock of it (pickup) never go below zero.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from api.core import audit
from api.core.errors import Conflict, InvalidInput, NotFound
from api.core.pagination import paginate
from api.coupons.pricing import level_price
from api.member_center.models import Level, Member
from api.org.models import Store

from .error_codes import CatalogueErrorCode
from .models import Category, Product, Sku, StoreStock

PRODUCT_FIELDS = ("name", "description", "images", "on_shelf", "category_id")
SKU_FIELDS = ("code", "spec", "list_price_fen", "member_prices", "active")
IMPORT_HEADER = (
    "product_name",
    "category",
    "sku_code",
    "size",
    "colour",
    "list_price_fen",
    "stock",
    "image_url",
)
MAX_IMPORT_ROWS = 5000


@dataclass(frozen=True)
class MemberPricing:
    """What the caller's level does to prices: its own SKU prices, its discount, free delivery."""

    level_id: int | None = None
    discount_pct: int = 100
    free_delivery: bool = False

    def unit_price(self, sku: Sku) -> int:
        """One unit of the SKU at this level: its own price, else the list price at the discount."""
        own = sku.member_price(self.level_id)
        return own if own is not None else level_price(sku.list_price_fen, self.discount_pct)


async def member_pricing(*, brand_id: int, member_id: int | None) -> MemberPricing:
    """The member's level as prices see it (no member or no level: list prices)."""
    if member_id is None:
        return MemberPricing()
    member = await Member.filter(id=member_id, brand_id=brand_id).first()
    if member is None or member.level_id is None:
        return MemberPricing()
    level = await Level.filter(id=member.level_id, brand_id=brand_id).first()
    if level is None:
        return MemberPricing()
    return MemberPricing(level.id, level.discount_pct, level.free_delivery)


# ---------------------------------------------------------------- categories


async def get_category(*, brand_id: int, category_id: int) -> Category:
    """One category of the brand; 404 `category.not_found`."""
    category = await Category.filter(id=category_id, brand_id=brand_id).first()
    if category is None:
        raise NotFound(CatalogueErrorCode.CATEGORY_NOT_FOUND, "No such category.")
    return category


async def list_categories(*, brand_id: int) -> list[Category]:
    """The brand's categories in shelf order."""
    return list(await Category.filter(brand_id=brand_id).order_by("sort", "id"))


async def create_category(*, brand_id: int, actor: str, name: str, sort: int = 0) -> Category:
    """Add a category; 409 `category.exists` for a name the brand has."""
    try:
        async with in_transaction() as db:
            category = await Category.create(brand_id=brand_id, name=name, sort=sort, using_db=db)
            await audit.record(
                brand_id=brand_id,
                actor=actor,
                action="category.create",
                target=f"category:{category.id}",
                details={"name": name},
                connection=db,
            )
    except IntegrityError:
        raise Conflict(CatalogueErrorCode.CATEGORY_EXISTS, "A category has this name.") from None
    return category


async def update_category(
    *, brand_id: int, actor: str, category_id: int, changes: dict[str, Any]
) -> Category:
    """Rename or re-sort a category; 404 `category.not_found`, 409 `category.exists`."""
    category = await get_category(brand_id=brand_id, category_id=category_id)
    values: dict[str, Any] = {k: changes[k] for k in ("name", "sort") if k in changes}
    try:
        async with in_transaction() as db:
            if values:
                await Category.filter(id=category.id).using_db(db).update(**values)
            await audit.record(
                brand_id=brand_id,
                actor=actor,
                action="category.update",
                target=f"category:{category.id}",
                details=values,
                connection=db,
            )
    except IntegrityError:
        raise Conflict(CatalogueErrorCode.CATEGORY_EXISTS, "A category has this name.") from None
    return await get_category(brand_id=brand_id, category_id=category.id)


# ---------------------------------------------------------------- products and SKUs


async def get_product(*, brand_id: int, product_id: int) -> Product:
    """One product of the brand; 404 `product.not_found`."""
    product = await Product.filter(id=product_id, brand_id=brand_id).first()
    if product is None:
        raise NotFound(CatalogueErrorCode.PRODUCT_NOT_FOUND, "No such product.")
    return product


async def skus_of(product_ids: list[int]) -> dict[int, list[Sku]]:
    """The SKUs of these products, by product, in the order they were added."""
    found: dict[int, list[Sku]] = {pid: [] for pid in product_ids}
    for sku in await Sku.filter(product_id__in=product_ids).order_by("id"):
        found[sku.product_id].append(sku)
    return found


async def store_stock_of(sku_ids: list[int]) -> dict[int, dict[int, int]]:
    """Per SKU, the stores holding it and how many units each."""
    found: dict[int, dict[int, int]] = {sid: {} for sid in sku_ids}
    for row in await StoreStock.filter(sku_id__in=sku_ids).order_by("store_id"):
        found[row.sku_id][row.store_id] = row.stock
    return found


async def _check_category(brand_id: int, category_id: int | None) -> None:
    if category_id is not None:
        await get_category(brand_id=brand_id, category_id=category_id)


async def _create_skus(
    db: BaseDBAsyncClient, *, brand_id: int, product_id: int, skus: list[dict[str, Any]]
) -> list[Sku]:
    created = []
    for spec in skus:
        created.append(
            await Sku.create(
                using_db=db,
                brand_id=brand_id,
                product_id=product_id,
                code=spec["code"],
                spec=spec.get("spec") or {},
                list_price_fen=spec["list_price_fen"],
                member_prices={str(k): v for k, v in (spec.get("member_prices") or {}).items()},
                stock=spec.get("stock") or 0,
                active=spec.get("active", True),
            )
        )
    return created


def _code_taken() -> Conflict:
    return Conflict(CatalogueErrorCode.SKU_CODE_TAKEN, "A SKU of the brand has this code.")


async def create_product(
    *,
    brand_id: int,
    actor: str,
    name: str,
    category_id: int | None = None,
    description: str = "",
    images: list[str] | None = None,
    on_shelf: bool = False,
    skus: list[dict[str, Any]] | None = None,
) -> Product:
    """Add a product with its SKUs; 404 `category.not_found`, 409 `sku.code_taken`."""
    await _check_category(brand_id, category_id)
    try:
        async with in_transaction() as db:
            product = await Product.create(
                using_db=db,
                brand_id=brand_id,
                category_id=category_id,
                name=name,
                description=description,
                images=images or [],
                on_shelf=on_shelf,
            )
            await _create_skus(db, brand_id=brand_id, product_id=product.id, skus=skus or [])
            await audit.record(
                brand_id=brand_id,
                actor=actor,
                action="product.create",
                target=f"product:{product.id}",
                details={"name": name, "skus": len(skus or [])},
                connection=db,
            )
    except IntegrityError:
        raise _code_taken() from None
    return product


async def update_product(
    *, brand_id: int, actor: str, product_id: int, changes: dict[str, Any]
) -> Product:
    """Change a product: name, description, images, category, on or off the shelf."""
    product = await get_product(brand_id=brand_id, product_id=product_id)
    values = {k: changes[k] for k in PRODUCT_FIELDS if k in changes}
    if "category_id" in values:
        await _check_category(brand_id, values["category_id"])
    async with in_transaction() as db:
        if values:
            await Product.filter(id=product.id).using_db(db).update(**values)
        await audit.record(
            brand_id=brand_id,
            actor=actor,
            action="product.update",
            target=f"product:{product.id}",
            details={k: v for k, v in values.items() if k != "images"},
            connection=db,
        )
    return await get_product(brand_id=brand_id, product_id=product.id)


async def list_products(
    *,
    brand_id: int,
    cursor: str | None,
    limit: int,
    q: str | None = None,
    category_id: int | None = None,
    on_shelf: bool | None = None,
) -> tuple[list[Product], str | None]:
    """The brand's products, newest first, by name search, category and shelf if asked."""
    queryset = Product.filter(brand_id=brand_id)
    if q:
        queryset = queryset.filter(Q(name__icontains=q) | Q(description__icontains=q))
    if category_id is not None:
        queryset = queryset.filter(category_id=category_id)
    if on_shelf is not None:
        queryset = queryset.filter(on_shelf=on_shelf)
    rows, next_cursor = await paginate(queryset, cursor=cursor, limit=limit)
    return rows, next_cursor


async def get_sku(*, brand_id: int, sku_id: int) -> Sku:
    """One SKU of the brand; 404 `sku.not_found`."""
    sku = await Sku.filter(id=sku_id, brand_id=brand_id).first()
    if sku is None:
        raise NotFound(CatalogueErrorCode.SKU_NOT_FOUND, "No such SKU.")
    return sku


async def add_sku(*, brand_id: int, actor: str, product_id: int, spec: dict[str, Any]) -> Sku:
    """Add a SKU to a product; 404 `product.not_found`, 409 `sku.code_taken`."""
    product = await get_product(brand_id=brand_id, product_id=product_id)
    try:
        async with in_transaction() as db:
            (sku,) = await _create_skus(db, brand_id=brand_id, product_id=product.id, skus=[spec])
            await audit.record(
                brand_id=brand_id,
                actor=actor,
                action="sku.create",
                target=f"sku:{sku.id}",
                details={"product_id": product.id, "code": sku.code},
                connection=db,
            )
    except IntegrityError:
        raise _code_taken() from None
    return sku


async def _move_stock(
    db: BaseDBAsyncClient, *, brand_id: int, sku_id: int, delta: int, store_id: int | None
) -> bool:
    """Add `delta` units (negative: take them), never below zero; False when short."""
    if store_id is None:
        return bool(
            await Sku.filter(id=sku_id, stock__gte=max(0, -delta))
            .using_db(db)
            .update(stock=F("stock") + delta)
        )
    moved = (
        await StoreStock.filter(sku_id=sku_id, store_id=store_id, stock__gte=max(0, -delta))
        .using_db(db)
        .update(stock=F("stock") + delta)
    )
    if moved or delta < 0:
        return bool(moved)
    _, created = await StoreStock.get_or_create(
        sku_id=sku_id,
        store_id=store_id,
        defaults={"brand_id": brand_id, "stock": delta},
        using_db=db,
    )
    if not created:
        await (
            StoreStock.filter(sku_id=sku_id, store_id=store_id)
            .using_db(db)
            .update(stock=F("stock") + delta)
        )
    return True


async def update_sku(*, brand_id: int, actor: str, sku_id: int, changes: dict[str, Any]) -> Sku:
    """Change a SKU; `stock_delta` adds or removes central units, `store_stock` a store's
    (`{store_id, delta}`), never below zero. 404 `sku.not_found`, `sku.store_not_found`;
    409 `sku.stock_below_zero`, `sku.code_taken`."""
    sku = await get_sku(brand_id=brand_id, sku_id=sku_id)
    delta = changes.pop("stock_delta", None)
    store_move = changes.pop("store_stock", None)
    values = {k: changes[k] for k in SKU_FIELDS if k in changes}
    if "member_prices" in values:
        values["member_prices"] = {str(k): v for k, v in values["member_prices"].items()}
    if store_move is not None:
        store = await Store.filter(id=store_move["store_id"], brand_id=brand_id).first()
        if store is None:
            raise NotFound(CatalogueErrorCode.STORE_NOT_FOUND, "No such store.")
    try:
        async with in_transaction() as db:
            if values:
                await Sku.filter(id=sku.id).using_db(db).update(**values)
            for move_delta, store_id in (
                (delta, None),
                (store_move and store_move["delta"], store_move and store_move["store_id"]),
            ):
                if move_delta and not await _move_stock(
                    db, brand_id=brand_id, sku_id=sku.id, delta=move_delta, store_id=store_id
                ):
                    raise Conflict(
                        CatalogueErrorCode.STOCK_BELOW_ZERO, "There are fewer units than that."
                    )
            await audit.record(
                brand_id=brand_id,
                actor=actor,
                action="sku.update",
                target=f"sku:{sku.id}",
                details={
                    **{k: v for k, v in values.items() if k != "spec"},
                    **({"stock_delta": delta} if delta else {}),
                    **({"store_stock": store_move} if store_move else {}),
                },
                connection=db,
            )
    except IntegrityError:
        raise _code_taken() from None
    return await get_sku(brand_id=brand_id, sku_id=sku.id)


# ---------------------------------------------------------------- CSV import


class _ImportRow(BaseModel):
    product_name: str = Field(min_length=1, max_length=64)
    category: str = Field(default="", max_length=64)
    sku_code: str = Field(min_length=1, max_length=32)
    size: str = Field(default="", max_length=32)
    colour: str = Field(default="", max_length=32)
    list_price_fen: int = Field(ge=1, le=100_000_000)
    stock: int = Field(default=0, ge=0, le=10_000_000)
    image_url: str = Field(default="", max_length=512)


def _rows(reader: csv.DictReader[str]) -> Iterator[dict[str, str]]:
    try:
        yield from reader
    except csv.Error as exc:
        raise InvalidInput(
            CatalogueErrorCode.IMPORT_INVALID,
            "The file is not readable CSV.",
            details=[{"line": reader.line_num + 1, "message": str(exc)}],
        ) from exc


async def import_products(*, brand_id: int, actor: str, csv_text: str) -> tuple[int, int]:
    """Create products and SKUs from CSV (`IMPORT_HEADER`; lines of one product_name are one
    product, off the shelf; unknown categories are created), all or nothing: 422
    `product_import.invalid` with every bad line. (products created, SKUs created)."""
    reader = csv.DictReader(io.StringIO(csv_text.strip(), newline=""))
    try:
        header = reader.fieldnames
    except csv.Error:
        header = None
    if header is None or set(header) != set(IMPORT_HEADER):
        raise InvalidInput(
            CatalogueErrorCode.IMPORT_BAD_HEADER,
            "The first line must be: " + ",".join(IMPORT_HEADER),
        )
    taken = set(await Sku.filter(brand_id=brand_id).values_list("code", flat=True))
    seen: dict[str, int] = {}
    products: dict[str, list[_ImportRow]] = {}
    problems: list[dict[str, Any]] = []
    for index, raw in enumerate(_rows(reader)):
        line_no = reader.line_num
        if index == MAX_IMPORT_ROWS:
            problems.append({"line": line_no, "message": f"at most {MAX_IMPORT_ROWS} rows"})
            break
        try:
            row = _ImportRow.model_validate({k: v for k, v in raw.items() if v != ""})
        except ValidationError as exc:
            fields = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
            problems.append({"line": line_no, "message": "invalid " + ", ".join(fields)})
            continue
        if row.sku_code in taken:
            problems.append({"line": line_no, "message": f"SKU {row.sku_code!r} exists"})
            continue
        if row.sku_code in seen:
            problems.append(
                {
                    "line": line_no,
                    "message": f"SKU {row.sku_code!r} again (first on line {seen[row.sku_code]})",
                }
            )
            continue
        seen[row.sku_code] = line_no
        products.setdefault(row.product_name, []).append(row)
    if problems or not products:
        raise InvalidInput(
            CatalogueErrorCode.IMPORT_INVALID,
            "Nothing was imported; fix these lines.",
            details=problems or [{"line": 1, "message": "no rows"}],
        )
    categories = {c.name: c.id for c in await Category.filter(brand_id=brand_id)}
    sku_count = 0
    async with in_transaction() as db:
        for name, rows in products.items():
            category_name = rows[0].category
            if category_name and category_name not in categories:
                created = await Category.create(brand_id=brand_id, name=category_name, using_db=db)
                categories[category_name] = created.id
            product = await Product.create(
                using_db=db,
                brand_id=brand_id,
                name=name,
                category_id=categories.get(category_name),
                images=sorted({r.image_url for r in rows if r.image_url}),
            )
            specs = [
                {
                    "code": r.sku_code,
                    "spec": {k: v for k, v in (("size", r.size), ("colour", r.colour)) if v},
                    "list_price_fen": r.list_price_fen,
                    "stock": r.stock,
                }
                for r in rows
            ]
            await _create_skus(db, brand_id=brand_id, product_id=product.id, skus=specs)
            sku_count += len(specs)
        await audit.record(
            brand_id=brand_id,
            actor=actor,
            action="product.import",
            target="products",
            details={"products": len(products), "skus": sku_count},
            connection=db,
        )
    return len(products), sku_count


# ---------------------------------------------------------------- the shelf


async def shelf(
    *, brand_id: int, q: str | None, category_id: int | None, cursor: str | None, limit: int
) -> tuple[list[tuple[Product, list[Sku]]], str | None]:
    """Products on the shelf with their active SKUs, newest first."""
    rows, next_cursor = await list_products(
        brand_id=brand_id, cursor=cursor, limit=limit, q=q, category_id=category_id, on_shelf=True
    )
    skus = await skus_of([p.id for p in rows])
    return [(p, [s for s in skus[p.id] if s.active]) for p in rows], next_cursor


async def shelf_product(*, brand_id: int, product_id: int) -> tuple[Product, list[Sku]]:
    """One product on the shelf with its active SKUs; 404 `product.not_found` when off it."""
    product = await get_product(brand_id=brand_id, product_id=product_id)
    if not product.on_shelf:
        raise NotFound(CatalogueErrorCode.PRODUCT_NOT_FOUND, "No such product.")
    skus = (await skus_of([product.id]))[product.id]
    return product, [s for s in skus if s.active]
