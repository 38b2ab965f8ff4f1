"""Head office sees the money; a store manager sees their store's."""

from __future__ import annotations

import pytest

from api.org.models import StaffRole, Store
from tests.factories import make_staff, staff_token
from tests.support.api import Api
from tests.support.player import Player

from .chain import alipay_payment, make_chain, wechat_payment

pytestmark = pytest.mark.usefixtures("live_url")


async def test_head_office_lists_and_filters_payments_and_reads_one(
    api: Api, player: Player
) -> None:
    chain = await make_chain()
    token = staff_token(await make_staff(brand=chain.brand, role=StaffRole.HQ_ADMIN))
    direct = await wechat_payment(chain, store_id=chain.direct_store_id)
    franchise = await alipay_payment(chain, store_id=chain.franchise_store_id)
    await player.pay(franchise.out_trade_no, deliveries=2)

    everything = await api.get("/admin/payments", token=token)
    paid = await api.get("/admin/payments?state=paid", token=token)
    by_store = await api.get(f"/admin/payments?store_id={chain.direct_store_id}", token=token)
    by_provider = await api.get("/admin/payments?provider=alipay", token=token)
    by_account = await api.get(
        f"/admin/payments?account_id={chain.franchise_alipay.id}", token=token
    )
    detail = await api.get(f"/admin/payments/{franchise.id}", token=token)

    assert [p["id"] for p in everything.json["items"]] == [franchise.id, direct.id]
    assert [p["id"] for p in paid.json["items"]] == [franchise.id]
    assert [p["id"] for p in by_store.json["items"]] == [direct.id]
    assert [p["id"] for p in by_provider.json["items"]] == [franchise.id]
    assert [p["id"] for p in by_account.json["items"]] == [franchise.id]
    assert detail.json["account_key"] == chain.franchise_alipay.key
    assert detail.json["state"] == "paid" and detail.json["provider"] == "alipay"
    assert sorted(d["outcome"] for d in detail.json["deliveries"]) == ["applied", "duplicate"]
    assert all(d["verified"] for d in detail.json["deliveries"])
    assert detail.json["refunds"] == []


async def test_a_store_manager_sees_only_their_stores_payments(api: Api) -> None:
    chain = await make_chain()
    store = await Store.get(id=chain.direct_store_id)
    manager = staff_token(
        await make_staff(brand=chain.brand, role=StaffRole.STORE_MANAGER, store=store)
    )
    mine = await wechat_payment(chain, store_id=chain.direct_store_id)
    theirs = await wechat_payment(chain, store_id=chain.franchise_store_id)
    online = await wechat_payment(chain, store_id=None)

    listed = await api.get("/admin/payments", token=manager)
    other = await api.get(f"/admin/payments/{theirs.id}", token=manager)
    head_office_only = await api.get(f"/admin/payments/{online.id}", token=manager)

    assert [p["id"] for p in listed.json["items"]] == [mine.id]
    assert (other.status, other.error_code) == (404, "payment.not_found")
    assert head_office_only.status == 404


async def test_payments_are_not_for_guides_nor_other_brands(api: Api) -> None:
    chain = await make_chain()
    other = await make_chain()
    payment = await wechat_payment(other)
    guide = staff_token(await make_staff(brand=chain.brand, role=StaffRole.GUIDE))
    admin = staff_token(await make_staff(brand=chain.brand, role=StaffRole.HQ_ADMIN))

    as_guide = await api.get("/admin/payments", token=guide)
    foreign = await api.get(f"/admin/payments/{payment.id}", token=admin)
    bad_filter = await api.get("/admin/payments?state=lost", token=admin)

    assert as_guide.status == 403
    assert foreign.status == 404
    assert (bad_filter.status, bad_filter.error_code) == (422, "request.invalid")
