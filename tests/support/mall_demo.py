"""The demo brand's micro-mall, for the client page tests: categories, products with SKUs and
stock (central, and at 南京西路店 for pickup) and a mall coupon in the coupon center, added
through the admin API as head office would.

The shelf holds more products than one page of the mini-program's product list, so its paging
is exercised; the coffee machine is dear enough that paying for it lifts a member to 银卡.
"""

from __future__ import annotations

from typing import Any

import httpx

PICKUP_STORE = "SH001"
CATEGORIES = ("咖啡豆", "器具")
BEANS = {
    "name": "耶加雪菲咖啡豆", "category": "咖啡豆", "description": "埃塞俄比亚水洗，柑橘与花香",
    "images": ["https://img.example.com/mall/yirgacheffe.png"],
    "skus": [
        {"code": "YJ-250", "spec": {"规格": "250g"}, "list_price_fen": 8800, "stock": 50},
        {"code": "YJ-500", "spec": {"规格": "500g"}, "list_price_fen": 16800, "stock": 50},
    ],
}  # fmt: skip
MACHINE = {
    "name": "意式咖啡机", "category": "器具", "description": "15 bar 家用半自动",
    "images": ["https://img.example.com/mall/espresso.png"],
    "skus": [{"code": "EM-01", "spec": {"颜色": "银色"}, "list_price_fen": 129900, "stock": 5}],
}  # fmt: skip
DRIPS = [
    {"name": f"挂耳咖啡 {n} 号", "category": "咖啡豆", "description": "10 片装",
     "skus": [{"code": f"GE-{n:02d}", "list_price_fen": 3900, "stock": 100}]}
    for n in range(1, 10)
]  # fmt: skip
MALL_ORDER_COUPON = {
    "name": "商城满100减20", "kind": "cash_off", "value_fen": 2000, "threshold_fen": 10000,
    "total_stock": 500, "per_member_limit": 1, "valid_days": 30, "channels": ["mall"],
    "stacks_with_level_discount": True,
}  # fmt: skip
STORE_UNITS = 10


def _check(answer: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert answer.status_code == status, f"{answer.request.url}: {answer.status_code} {answer.text}"
    data: dict[str, Any] = answer.json()
    return data


def complete_mall(url: str, demo: dict[str, Any]) -> dict[str, Any]:
    """Head office fills the mall's shelf and adds its coupon; what was added, by name."""
    store = next(s for s in demo["stores"] if s["code"] == PICKUP_STORE)
    headers = {"Authorization": f"Bearer {demo['hq_admin']['token']}"}
    with httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=30) as http:
        categories = {
            name: _check(http.post("/admin/categories", json={"name": name, "sort": i}), 201)["id"]
            for i, name in enumerate(CATEGORIES)
        }
        products: dict[str, Any] = {}
        # Created oldest first: the shelf shows the newest first, the featured two on top.
        for spec in (*DRIPS, MACHINE, BEANS):
            body = {k: v for k, v in spec.items() if k != "category"}
            body |= {"category_id": categories[spec["category"]], "on_shelf": True}
            product = _check(http.post("/admin/products", json=body), 201)
            products[spec["name"]] = {
                "id": product["id"],
                "skus": {s["code"]: s["id"] for s in product["skus"]},
            }
        for featured in (BEANS, MACHINE):
            for sku_id in products[featured["name"]]["skus"].values():
                move = {"store_stock": {"store_id": store["id"], "delta": STORE_UNITS}}
                _check(http.patch(f"/admin/skus/{sku_id}", json=move))
        template = _check(http.post("/admin/coupon-templates", json=MALL_ORDER_COUPON), 201)
        _check(http.post(f"/admin/coupon-templates/{template['id']}/activate"))
    return {
        "mall": {
            "categories": categories,
            "products": products,
            "coupon_template_id": template["id"],
            "pickup_store": {"id": store["id"], "name": store["name"]},
        }
    }
