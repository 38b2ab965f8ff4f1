"""The catalogue: head office builds it (by hand or CSV), members browse it at their prices."""

from __future__ import annotations

from api.core.models import AuditLog
from api.mall.models import Category, Product, Sku, StoreStock
from api.member_center.merge import merge_members
from api.org.models import StaffRole, Status
from api.wiring import wire
from tests.factories import make_brand, make_member, make_staff, make_store, member_token
from tests.factories import staff_token as staff_token_of
from tests.support.api import Api

from .support import gold_member, make_shelf


async def _hq(brand_id: int) -> str:
    from api.org.models import Brand

    brand = await Brand.get(id=brand_id)
    return staff_token_of(await make_staff(brand=brand, role=StaffRole.HQ_ADMIN))


async def test_head_office_builds_a_product_and_members_see_their_level_price(api: Api) -> None:
    brand = await make_brand()
    token = await _hq(brand.id)
    category = await api.post("/admin/categories", {"name": "鞋"}, token=token)
    from api.member_center.models import Level

    gold = await Level.create(brand_id=brand.id, name="gold", rank=1, discount_pct=90)
    created = await api.post(
        "/admin/products",
        {
            "name": "Runner",
            "category_id": category.json["id"],
            "images": ["https://img.example/a.jpg"],
            "on_shelf": True,
            "skus": [
                {"code": "R-42", "spec": {"size": "42"}, "list_price_fen": 59_900, "stock": 3},
                {
                    "code": "R-43",
                    "spec": {"size": "43"},
                    "list_price_fen": 59_900,
                    "member_prices": {str(gold.id): 49_900},
                },
            ],
        },
        token=token,
    )
    gold_one = await make_member(brand=brand, level_id=gold.id)
    plain = await make_member(brand=brand)

    seen_gold = await api.get(f"/mall/products/{created.json['id']}", token=member_token(gold_one))
    seen_plain = await api.get("/mall/products", token=member_token(plain))

    assert category.status == 201 and created.status == 201, created
    assert [s["price_fen"] for s in seen_gold.json["skus"]] == [53_910, 49_900]
    assert [s["in_stock"] for s in seen_gold.json["skus"]] == [True, False]
    assert seen_gold.json["price_from_fen"] == 49_900
    assert [s["price_fen"] for s in seen_plain.json["items"][0]["skus"]] == [59_900, 59_900]
    assert await AuditLog.filter(action="product.create").count() == 1


async def test_the_shelf_searches_filters_pages_and_hides_what_is_off_it(api: Api) -> None:
    shelf = await make_shelf()
    member = await make_member(brand=shelf.brand)
    for number in range(3):
        await Product.create(brand_id=shelf.brand.id, name=f"Mug {number}", on_shelf=True)
    await Product.create(brand_id=shelf.brand.id, name="Mug hidden", on_shelf=False)
    token = member_token(member)

    first = await api.get("/mall/products", token=token, params={"q": "mug", "limit": 2})
    second = await api.get(
        "/mall/products",
        token=token,
        params={"q": "mug", "limit": 2, "cursor": first.json["next_cursor"]},
    )
    by_category = await api.get(
        "/mall/products", token=token, params={"category_id": shelf.product.category_id}
    )
    hidden = await Product.get(name="Mug hidden")
    off = await api.get(f"/mall/products/{hidden.id}", token=token)

    names = [p["name"] for p in first.json["items"] + second.json["items"]]
    assert names == ["Mug 2", "Mug 1", "Mug 0"] and second.json["next_cursor"] is None
    assert [p["name"] for p in by_category.json["items"]] == ["Oxford shirt"]
    assert (off.status, off.error_code) == (404, "product.not_found")


async def test_stock_moves_are_guarded_and_store_stock_is_kept_per_store(api: Api) -> None:
    shelf = await make_shelf(stock=5)
    store = await make_store(brand=shelf.brand)
    token = await _hq(shelf.brand.id)

    taken = await api.patch(f"/admin/skus/{shelf.shirt.id}", {"stock_delta": -5}, token=token)
    short = await api.patch(f"/admin/skus/{shelf.shirt.id}", {"stock_delta": -1}, token=token)
    stocked = await api.patch(
        f"/admin/skus/{shelf.shirt.id}",
        {"store_stock": {"store_id": store.id, "delta": 4}},
        token=token,
    )
    too_few = await api.patch(
        f"/admin/skus/{shelf.shirt.id}",
        {"store_stock": {"store_id": store.id, "delta": -5}},
        token=token,
    )

    assert taken.json["stock"] == 0
    assert (short.status, short.error_code) == (409, "sku.stock_below_zero")
    assert stocked.json["store_stock"] == {str(store.id): 4}
    assert (too_few.status, too_few.error_code) == (409, "sku.stock_below_zero")
    assert (await StoreStock.get(sku_id=shelf.shirt.id, store_id=store.id)).stock == 4
    assert (await Sku.get(id=shelf.shirt.id)).stock == 0


async def test_the_csv_import_is_all_or_nothing_with_every_bad_line(api: Api) -> None:
    brand = await make_brand()
    token = await _hq(brand.id)
    header = "product_name,category,sku_code,size,colour,list_price_fen,stock,image_url\n"
    good = header + (
        "Tee,上衣,T-S,S,white,9900,10,https://img.example/t.jpg\n"
        "Tee,上衣,T-M,M,white,9900,12,\n"
        "Cap,,C-1,,,4900,0,\n"
    )
    bad = header + "Tee,上衣,X-1,S,,9900,1,\nTee,上衣,X-1,M,,9900,1,\nCap,,C-9,,,free,0,\n"

    refused = await api.post("/admin/products/import", content=bad, token=token)
    imported = await api.post("/admin/products/import", content=good, token=token)
    again = await api.post("/admin/products/import", content=good, token=token)

    assert (refused.status, refused.error_code) == (422, "product_import.invalid")
    assert [d["line"] for d in refused.json["error"]["details"]] == [3, 4]
    assert imported.json == {"products": 2, "skus": 3}
    assert [d["line"] for d in again.json["error"]["details"]] == [2, 3, 4]
    tee = await Product.get(name="Tee")
    assert await Sku.filter(product_id=tee.id).count() == 2
    assert await Category.filter(brand_id=brand.id).count() == 1
    assert await AuditLog.filter(action="product.import").count() == 1


async def test_bad_catalogue_input_is_refused_and_changes_nothing(api: Api) -> None:
    brand = await make_brand()
    token = await _hq(brand.id)
    cases = [
        {"name": ""},
        {"name": "x", "skus": [{"code": "A", "list_price_fen": 0}]},
        {"name": "x", "skus": [{"code": "A", "list_price_fen": 100, "stock": -1}]},
        {"name": "x", "images": ["javascript"] * 21},
        {"name": "x", "price_fen": 1},
    ]

    answers = [await api.post("/admin/products", case, token=token) for case in cases]

    assert [(a.status, a.error_code) for a in answers] == [(422, "request.invalid")] * 5
    assert await Product.all().count() == 0


async def test_members_see_their_brands_categories_and_pickup_stores(api: Api) -> None:
    # given a brand with a shelf, two active stores and a closed one, and another brand
    shelf = await make_shelf()
    await make_store(brand=shelf.brand, name="徐汇店", city="上海")
    await make_store(brand=shelf.brand, name="鼓楼店", city="南京")
    await make_store(brand=shelf.brand, name="关了的店", status=Status.DISABLED)
    other = await make_shelf()
    await make_store(brand=other.brand, name="别家店")
    member = await make_member(brand=shelf.brand)

    # when a member asks for the shelf's categories and the pickup stores
    categories = await api.get("/mall/categories", token=member_token(member))
    stores = await api.get("/mall/stores", token=member_token(member))
    as_staff = await api.get("/mall/stores", token=await _hq(shelf.brand.id))

    # then they see their own brand's categories and active stores, by city, and staff are refused
    assert [c["name"] for c in categories.json["items"]] == ["衣服"]
    assert [(s["city"], s["name"]) for s in stores.json["items"]] == [
        ("上海", "徐汇店"),
        ("南京", "鼓楼店"),
    ]
    assert as_staff.status == 403


async def test_only_head_office_edits_the_catalogue(api: Api) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    cashier = await make_staff(brand=brand, role=StaffRole.CASHIER, store=store)

    refused = await api.post("/admin/categories", {"name": "x"}, token=staff_token_of(cashier))

    assert refused.status == 403


async def test_the_cart_keeps_quantities_and_merges_into_the_survivor(api: Api) -> None:
    wire()
    shelf = await make_shelf()
    survivor = await gold_member(shelf)
    loser = await gold_member(shelf)
    mine, theirs = member_token(survivor), member_token(loser)

    await api.post("/mall/cart", {"sku_id": shelf.shirt.id, "quantity": 2}, token=mine)
    again = await api.post("/mall/cart", {"sku_id": shelf.shirt.id, "quantity": 1}, token=mine)
    await api.post("/mall/cart", {"sku_id": shelf.shirt.id, "quantity": 4}, token=theirs)
    await api.post("/mall/cart", {"sku_id": shelf.socks.id, "quantity": 1}, token=theirs)
    line = again.json["items"][0]
    unselected = await api.patch(f"/mall/cart/items/{line['id']}", {"selected": False}, token=mine)
    other_member = await api.patch(f"/mall/cart/items/{line['id']}", {"quantity": 9}, token=theirs)
    await merge_members(
        brand_id=shelf.brand.id, survivor_id=survivor.id, loser_id=loser.id, reason="test"
    )
    merged = await api.get("/mall/cart", token=mine)

    assert (line["quantity"], line["price_fen"]) == (3, 8_000)
    assert unselected.json["selected_fen"] == 0
    assert (other_member.status, other_member.error_code) == (404, "cart.item_not_found")
    assert [(i["sku_id"], i["quantity"]) for i in merged.json["items"]] == [
        (shelf.shirt.id, 7),
        (shelf.socks.id, 1),
    ]
    assert merged.json["selected_fen"] == 7 * 8_000 + 1_800


async def test_the_cart_refuses_what_is_not_on_sale_and_bad_quantities(api: Api) -> None:
    shelf = await make_shelf()
    member = await gold_member(shelf)
    token = member_token(member)
    await Product.filter(id=shelf.product.id).update(on_shelf=False)

    off = await api.post("/mall/cart", {"sku_id": shelf.shirt.id}, token=token)
    zero = await api.post("/mall/cart", {"sku_id": shelf.shirt.id, "quantity": 0}, token=token)
    unknown = await api.post("/mall/cart", {"sku_id": 999_999}, token=token)

    assert (off.status, off.error_code) == (409, "cart.sku_unavailable")
    assert (zero.status, zero.error_code) == (422, "request.invalid")
    assert (unknown.status, unknown.error_code) == (404, "sku.not_found")
