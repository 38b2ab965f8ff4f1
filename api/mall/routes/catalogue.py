"""The catalogue: head office's categories, products, SKUs, stock and CSV import; the shelf."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from api.core.auth import member_required
from api.mall import catalogue as service
from api.mall import pickup
from api.mall.schemas import (
    CategoryIn,
    CategoryList,
    CategoryOut,
    CategoryUpdate,
    ImportOut,
    PickupStoreList,
    PickupStoreOut,
    ProductIn,
    ProductOut,
    ProductPage,
    ProductQuery,
    ProductUpdate,
    ShelfPage,
    ShelfProductOut,
    ShelfQuery,
    SkuIn,
    SkuOut,
    SkuUpdate,
)
from api.org.access import HQ, staff_required
from api.web.http import Raw, body, doc, out, query

bp = Blueprint("mall_catalogue", url_prefix="/api/v1")

CATEGORY = {"category_id": "The category's id"}
PRODUCT = {"product_id": "The product's id"}
SKU = {"sku_id": "The SKU's id"}


async def _product_out(brand_id: int, product_id: int) -> ProductOut:
    product = await service.get_product(brand_id=brand_id, product_id=product_id)
    skus = (await service.skus_of([product.id]))[product.id]
    stores = await service.store_stock_of([s.id for s in skus])
    return ProductOut.of(product, skus, stores)


# ---------------------------------------------------------------- head office: categories


@bp.post("/admin/categories")
@doc(
    summary="Add a mall category (head office)",
    tag="mall-admin",
    body=CategoryIn,
    response=CategoryOut,
    status=201,
    errors=(409,),
)
@staff_required(*HQ)
async def create_category(request: Request) -> HTTPResponse:
    payload = body(request, CategoryIn)
    category = await service.create_category(
        brand_id=request.ctx.brand_id, actor=request.ctx.staff.audit_name, **payload.model_dump()
    )
    return out(CategoryOut.of(category), status=201)


@bp.get("/admin/categories")
@doc(summary="The brand's mall categories", tag="mall-admin", response=CategoryList)
@staff_required(*HQ)
async def list_categories(request: Request) -> HTTPResponse:
    rows = await service.list_categories(brand_id=request.ctx.brand_id)
    return out(CategoryList(items=[CategoryOut.of(c) for c in rows]))


@bp.patch("/admin/categories/<category_id:int>")
@doc(
    summary="Rename or re-sort a mall category",
    tag="mall-admin",
    body=CategoryUpdate,
    response=CategoryOut,
    errors=(404, 409),
    params=CATEGORY,
)
@staff_required(*HQ)
async def update_category(request: Request, category_id: int) -> HTTPResponse:
    payload = body(request, CategoryUpdate)
    category = await service.update_category(
        brand_id=request.ctx.brand_id,
        actor=request.ctx.staff.audit_name,
        category_id=category_id,
        changes=payload.model_dump(exclude_unset=True),
    )
    return out(CategoryOut.of(category))


# ---------------------------------------------------------------- head office: products


@bp.post("/admin/products")
@doc(
    summary="Add a product with its SKUs (head office)",
    tag="mall-admin",
    body=ProductIn,
    response=ProductOut,
    status=201,
    errors=(404, 409),
)
@staff_required(*HQ)
async def create_product(request: Request) -> HTTPResponse:
    payload = body(request, ProductIn)
    product = await service.create_product(
        brand_id=request.ctx.brand_id, actor=request.ctx.staff.audit_name, **payload.model_dump()
    )
    return out(await _product_out(request.ctx.brand_id, product.id), status=201)


@bp.get("/admin/products")
@doc(
    summary="The brand's products, newest first",
    tag="mall-admin",
    query=ProductQuery,
    response=ProductPage,
)
@staff_required(*HQ)
async def list_products(request: Request) -> HTTPResponse:
    params = query(request, ProductQuery)
    rows, next_cursor = await service.list_products(
        brand_id=request.ctx.brand_id, **params.model_dump()
    )
    skus = await service.skus_of([p.id for p in rows])
    stores = await service.store_stock_of([s.id for group in skus.values() for s in group])
    items = [ProductOut.of(p, skus[p.id], stores) for p in rows]
    return out(ProductPage(items=items, next_cursor=next_cursor))


@bp.get("/admin/products/<product_id:int>")
@doc(summary="One product", tag="mall-admin", response=ProductOut, errors=(404,), params=PRODUCT)
@staff_required(*HQ)
async def get_product(request: Request, product_id: int) -> HTTPResponse:
    return out(await _product_out(request.ctx.brand_id, product_id))


@bp.patch("/admin/products/<product_id:int>")
@doc(
    summary="Change a product: name, description, images, category, on or off the shelf",
    tag="mall-admin",
    body=ProductUpdate,
    response=ProductOut,
    errors=(404,),
    params=PRODUCT,
)
@staff_required(*HQ)
async def update_product(request: Request, product_id: int) -> HTTPResponse:
    payload = body(request, ProductUpdate)
    product = await service.update_product(
        brand_id=request.ctx.brand_id,
        actor=request.ctx.staff.audit_name,
        product_id=product_id,
        changes=payload.model_dump(exclude_unset=True),
    )
    return out(await _product_out(request.ctx.brand_id, product.id))


@bp.post("/admin/products/<product_id:int>/skus")
@doc(
    summary="Add a SKU to a product",
    tag="mall-admin",
    body=SkuIn,
    response=SkuOut,
    status=201,
    errors=(404, 409),
    params=PRODUCT,
)
@staff_required(*HQ)
async def add_sku(request: Request, product_id: int) -> HTTPResponse:
    payload = body(request, SkuIn)
    sku = await service.add_sku(
        brand_id=request.ctx.brand_id,
        actor=request.ctx.staff.audit_name,
        product_id=product_id,
        spec=payload.model_dump(),
    )
    return out(SkuOut.of(sku), status=201)


@bp.patch("/admin/skus/<sku_id:int>")
@doc(
    summary="Change a SKU: prices, spec, on sale; move central or a store's stock",
    tag="mall-admin",
    body=SkuUpdate,
    response=SkuOut,
    errors=(404, 409),
    params=SKU,
)
@staff_required(*HQ)
async def update_sku(request: Request, sku_id: int) -> HTTPResponse:
    payload = body(request, SkuUpdate)
    sku = await service.update_sku(
        brand_id=request.ctx.brand_id,
        actor=request.ctx.staff.audit_name,
        sku_id=sku_id,
        changes=payload.model_dump(exclude_unset=True),
    )
    stores = await service.store_stock_of([sku.id])
    return out(SkuOut.of(sku, stores[sku.id]))


@bp.post("/admin/products/import")
@doc(
    summary="Create products and SKUs from CSV, all or nothing",
    description="Header: " + ",".join(service.IMPORT_HEADER) + ". Lines with the same "
    "product_name make one product (off the shelf); unknown categories are created. Any bad "
    "line refuses the whole file (422 `product_import.invalid`, `details` lists each line).",
    tag="mall-admin",
    body=Raw("text/csv", "One SKU per line"),
    response=ImportOut,
    errors=(422,),
)
@staff_required(*HQ)
async def import_products(request: Request) -> HTTPResponse:
    text = request.body.decode("utf-8-sig", errors="replace")
    products, skus = await service.import_products(
        brand_id=request.ctx.brand_id, actor=request.ctx.staff.audit_name, csv_text=text
    )
    return out(ImportOut(products=products, skus=skus))


# ---------------------------------------------------------------- members: the shelf


@bp.get("/mall/categories")
@doc(summary="The mall's categories, for the shelf's filter", tag="mall", response=CategoryList)
@member_required()
async def browse_categories(request: Request) -> HTTPResponse:
    rows = await service.list_categories(brand_id=request.ctx.brand_id)
    return out(CategoryList(items=[CategoryOut.of(c) for c in rows]))


@bp.get("/mall/stores")
@doc(
    summary="The stores where a pickup order may be collected", tag="mall", response=PickupStoreList
)
@member_required()
async def browse_pickup_stores(request: Request) -> HTTPResponse:
    rows = await pickup.pickup_stores(brand_id=request.ctx.brand_id)
    return out(PickupStoreList(items=[PickupStoreOut.of(s) for s in rows]))


@bp.get("/mall/products")
@doc(
    summary="The mall's shelf, newest first, priced for my level",
    tag="mall",
    query=ShelfQuery,
    response=ShelfPage,
)
@member_required()
async def browse_products(request: Request) -> HTTPResponse:
    params = query(request, ShelfQuery)
    rows, next_cursor = await service.shelf(brand_id=request.ctx.brand_id, **params.model_dump())
    pricing = await service.member_pricing(
        brand_id=request.ctx.brand_id, member_id=request.ctx.member_id
    )
    items = [ShelfProductOut.of(p, skus, pricing) for p, skus in rows]
    return out(ShelfPage(items=items, next_cursor=next_cursor))


@bp.get("/mall/products/<product_id:int>")
@doc(
    summary="One product on the shelf, priced for my level",
    tag="mall",
    response=ShelfProductOut,
    errors=(404,),
    params=PRODUCT,
)
@member_required()
async def show_product(request: Request, product_id: int) -> HTTPResponse:
    product, skus = await service.shelf_product(
        brand_id=request.ctx.brand_id, product_id=product_id
    )
    pricing = await service.member_pricing(
        brand_id=request.ctx.brand_id, member_id=request.ctx.member_id
    )
    return out(ShelfProductOut.of(product, skus, pricing))
