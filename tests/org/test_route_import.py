"""The CSV import of store payment routes: a row limit, no duplicate lines, written in batches."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from api.core.models import AuditLog
from api.org import accounts
from api.org.models import (
    MerchantAccount,
    PaymentProvider,
    StaffRole,
    Status,
    Store,
    StorePaymentRoute,
)
from tests.factories import make_brand, make_staff, staff_token
from tests.org.test_admin import wechat_account
from tests.support.api import Answer, Api

HEADER = "store_code,provider,account_key"


class _Queries(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@contextmanager
def counted_queries() -> Iterator[_Queries]:
    """Counts the statements the ORM sends (it logs each one at DEBUG)."""
    logger = logging.getLogger("tortoise.db_client")
    queries, level, propagate = _Queries(), logger.level, logger.propagate
    logger.addHandler(queries)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield queries
    finally:
        logger.removeHandler(queries)
        logger.setLevel(level)
        logger.propagate = propagate


async def _import(api: Api, token: str, text: str) -> Answer:
    return await api.request(
        "POST",
        "/admin/store-payment-routes/import",
        token=token,
        content=text,
        headers={"content-type": "text/csv"},
    )


async def _admin_with_account(api: Api) -> tuple[int, str, dict]:
    brand = await make_brand()
    token = staff_token(await make_staff(brand=brand, role=StaffRole.HQ_ADMIN))
    account = (await api.post("/admin/merchant-accounts", wechat_account(), token=token)).json
    return brand.id, token, account


async def _stores(brand_id: int, count: int) -> list[Store]:
    await Store.bulk_create(
        [Store(brand_id=brand_id, code=f"S{n:05d}", name=f"Store {n}") for n in range(count)],
        batch_size=500,
    )
    return await Store.filter(brand_id=brand_id).order_by("code")


async def test_duplicate_store_and_provider_lines_are_refused_with_their_line_numbers(
    api: Api,
) -> None:
    brand_id, token, account = await _admin_with_account(api)
    await _stores(brand_id, 2)
    key = account["key"]
    text = "\n".join(
        [
            HEADER,
            f"S00000,wechatpay_v3,{key}",
            f"S00001,wechatpay_v3,{key}",
            f"S00000,wechatpay_v3,{key}",
            f"S00001,alipay,{key}",
            f"S00001,wechatpay_v3,{key}",
        ]
    )

    answer = await _import(api, token, text)

    assert (answer.status, answer.error_code) == (422, "route_import.invalid")
    assert answer.json["error"]["details"] == [
        {"line": 4, "message": "store 'S00000' and wechatpay_v3 again (first on line 2)"},
        {"line": 5, "message": "account provider mismatch or disabled"},
        {"line": 6, "message": "store 'S00001' and wechatpay_v3 again (first on line 3)"},
    ]
    assert await StorePaymentRoute.all().count() == 0


async def test_a_20000_line_file_of_one_line_is_refused_at_once_with_its_line_numbers(
    api: Api,
) -> None:
    brand_id, token, account = await _admin_with_account(api)
    await _stores(brand_id, 1)
    text = HEADER + "\n" + f"S00000,wechatpay_v3,{account['key']}\n" * 20_000

    with counted_queries() as queries:
        answer = await _import(api, token, text)

    assert (answer.status, answer.error_code) == (422, "route_import.invalid")
    details = answer.json["error"]["details"]
    limit = accounts.MAX_IMPORT_ROWS
    assert [d["line"] for d in details] == list(range(3, limit + 3))
    assert details[0]["message"] == "store 'S00000' and wechatpay_v3 again (first on line 2)"
    assert details[-1] == {
        "line": limit + 2,
        "message": f"an import takes at most {limit} rows; split the file",
    }
    assert queries.count <= 5  # the brand's stores and accounts, the caller; nothing per line
    assert await StorePaymentRoute.all().count() == 0
    assert not await AuditLog.filter(action="payment_route.import").exists()


async def test_a_file_over_the_row_limit_is_refused_even_when_every_line_is_good(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accounts, "MAX_IMPORT_ROWS", 10)
    brand_id, token, account = await _admin_with_account(api)
    stores = await _stores(brand_id, 12)
    lines = [f"{s.code},wechatpay_v3,{account['key']}" for s in stores]

    over = await _import(api, token, "\n".join([HEADER, *lines[:11]]))
    at_the_limit = await _import(api, token, "\n".join([HEADER, *lines[:10]]))

    assert (over.status, over.error_code) == (422, "route_import.invalid")
    assert over.json["error"]["details"] == [
        {"line": 12, "message": "an import takes at most 10 rows; split the file"}
    ]
    assert at_the_limit.json == {"created": 10, "updated": 0}


async def test_a_2000_line_import_creates_and_repoints_routes_in_a_few_statements(
    api: Api,
) -> None:
    brand_id, token, hq = await _admin_with_account(api)
    other = (
        await api.post("/admin/merchant-accounts", wechat_account(name="Other"), token=token)
    ).json
    stores = await _stores(brand_id, 2000)
    # Half the stores are routed already: some to the other account, some disabled.
    await StorePaymentRoute.bulk_create(
        [
            StorePaymentRoute(
                brand_id=brand_id,
                store_id=store.id,
                provider=PaymentProvider.WECHATPAY_V3,
                account_id=other["id"] if n % 2 else hq["id"],
                status=Status.DISABLED if n % 3 == 0 else Status.ACTIVE,
            )
            for n, store in enumerate(stores[:1000])
        ],
        batch_size=500,
    )
    text = "\n".join([HEADER, *(f"{s.code},wechatpay_v3,{hq['key']}" for s in stores)])

    started = time.perf_counter()
    with counted_queries() as queries:
        answer = await _import(api, token, text)
    elapsed_s = time.perf_counter() - started

    assert answer.status == 200, answer
    assert answer.json == {"created": 1000, "updated": 1000}
    assert queries.count <= 30, queries.count
    assert elapsed_s < 10
    routes = await StorePaymentRoute.filter(brand_id=brand_id)
    assert len(routes) == 2000
    assert {(r.account_id, r.status) for r in routes} == {(hq["id"], Status.ACTIVE)}
    [row] = await AuditLog.filter(action="payment_route.import")
    assert row.details == {"rows": 2000, "created": 1000, "updated": 1000}


async def test_an_import_leaves_other_brands_and_providers_alone(api: Api) -> None:
    brand_id, token, account = await _admin_with_account(api)
    stores = await _stores(brand_id, 2)
    other_brand = await make_brand()
    foreign_store = await Store.create(brand_id=other_brand.id, code="S00000", name="same code")
    foreign_account = await MerchantAccount.get(id=account["id"])
    kept = await StorePaymentRoute.create(
        brand_id=brand_id,
        store_id=stores[0].id,
        provider=PaymentProvider.ALIPAY,
        account_id=foreign_account.id,
        status=Status.DISABLED,
    )

    answer = await _import(api, token, f"{HEADER}\nS00000,wechatpay_v3,{account['key']}\n")

    assert answer.json == {"created": 1, "updated": 0}
    assert not await StorePaymentRoute.filter(store_id=foreign_store.id).exists()
    assert (await StorePaymentRoute.get(id=kept.id)).status == Status.DISABLED
