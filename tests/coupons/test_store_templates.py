"""Store managers run coupon templates for their own stores when the brand allows it, and see
only those; head office sees them all."""

from __future__ import annotations

import asyncio
from typing import Any

from api.core.models import AuditLog
from api.coupons.models import CostBearer, CouponTemplate, TemplateState
from api.org.models import Brand, StaffRole, Store, StoreKind
from tests.factories import make_brand, make_staff, make_store, staff_token
from tests.support.api import Api

from .support import active_template

BASE = "/admin/coupon-templates"


def cash_off(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "本店满100减10",
        "kind": "cash_off",
        "value_fen": 1_000,
        "threshold_fen": 10_000,
        "total_stock": 50,
        "valid_days": 7,
    }
    body.update(fields)
    return body


async def _brand(allowed: bool) -> tuple[Brand, Store, Store, str, str]:
    brand = await make_brand(settings={"store_manager_coupon_templates": allowed})
    mine = await make_store(brand=brand, kind=StoreKind.FRANCHISE)
    other = await make_store(brand=brand)
    manager = await make_staff(brand=brand, role=StaffRole.STORE_MANAGER, store=mine)
    hq = await make_staff(brand=brand, role=StaffRole.HQ_ADMIN)
    return brand, mine, other, staff_token(manager), staff_token(hq)


async def test_a_store_manager_runs_templates_of_their_own_store_when_the_brand_allows(
    api: Api,
) -> None:
    brand, mine, other, manager, hq = await _brand(allowed=True)
    head_office = await active_template(brand, name="全品牌")
    elsewhere = await active_template(brand, name="别家", store_ids=(other.id,))

    created = await api.post(
        BASE, cash_off(store_ids=[mine.id], cost_bearer="brand"), token=manager
    )
    template_id = created.json["id"]
    changed = await api.patch(f"{BASE}/{template_id}", {"total_stock": 80}, token=manager)
    activated = await api.post(f"{BASE}/{template_id}/activate", token=manager)
    listed = await api.get(BASE, token=manager)
    all_of_them = await api.get(BASE, token=hq)
    not_mine = await api.get(f"{BASE}/{elsewhere.id}", token=manager)
    pause_theirs = await api.post(f"{BASE}/{head_office.id}/pause", token=manager)

    assert created.status == 201, created
    # The brand's setting decides who bears a store manager's coupon, not the manager.
    assert created.json["cost_bearer"] == "franchisee"
    assert changed.json["total_stock"] == 80 and changed.json["cost_bearer"] == "franchisee"
    assert activated.json["state"] == "active"
    assert [t["id"] for t in listed.json["items"]] == [template_id]
    assert {t["id"] for t in all_of_them.json["items"]} == {
        template_id,
        head_office.id,
        elsewhere.id,
    }
    assert (not_mine.status, not_mine.error_code) == (404, "coupon_template.not_found")
    assert (pause_theirs.status, pause_theirs.error_code) == (404, "coupon_template.not_found")
    assert (await CouponTemplate.get(id=head_office.id)).state is TemplateState.ACTIVE
    stored = await CouponTemplate.get(id=template_id)
    assert stored.store_ids == [mine.id] and stored.cost_bearer is CostBearer.FRANCHISEE


async def test_a_store_manager_may_not_reach_beyond_their_stores(api: Api) -> None:
    brand, mine, other, manager, _ = await _brand(allowed=True)
    draft = await api.post(BASE, cash_off(store_ids=[mine.id]), token=manager)

    no_stores = await api.post(BASE, cash_off(), token=manager)
    another = await api.post(BASE, cash_off(store_ids=[mine.id, other.id]), token=manager)
    moved = await api.patch(f"{BASE}/{draft.json['id']}", {"store_ids": [other.id]}, token=manager)
    widened = await api.patch(f"{BASE}/{draft.json['id']}", {"store_ids": []}, token=manager)

    assert (no_stores.status, no_stores.error_code) == (422, "coupon_template.stores_required")
    assert (another.status, another.error_code) == (403, "coupon_template.store_out_of_scope")
    assert (moved.status, moved.error_code) == (403, "coupon_template.store_out_of_scope")
    assert (widened.status, widened.error_code) == (422, "coupon_template.stores_required")
    assert await CouponTemplate.filter(brand_id=brand.id).count() == 1
    assert (await CouponTemplate.get(id=draft.json["id"])).store_ids == [mine.id]


async def test_without_the_brands_leave_a_store_manager_is_refused(api: Api) -> None:
    brand, mine, _, manager, _ = await _brand(allowed=False)
    theirs = await active_template(brand, store_ids=(mine.id,))

    created = await api.post(BASE, cash_off(store_ids=[mine.id]), token=manager)
    listed = await api.get(BASE, token=manager)
    read = await api.get(f"{BASE}/{theirs.id}", token=manager)
    paused = await api.post(f"{BASE}/{theirs.id}/pause", token=manager)

    code = "coupon_template.store_managers_not_allowed"
    for answer in (created, listed, read, paused):
        assert (answer.status, answer.error_code) == (403, code), answer
    assert await CouponTemplate.filter(brand_id=brand.id).count() == 1
    assert (await CouponTemplate.get(id=theirs.id)).state is TemplateState.ACTIVE


async def test_a_cashier_is_refused_whatever_the_brand_allows(api: Api) -> None:
    brand, mine, _, _, _ = await _brand(allowed=True)
    cashier = staff_token(await make_staff(brand=brand, role=StaffRole.CASHIER, store=mine))

    answer = await api.post(BASE, cash_off(store_ids=[mine.id]), token=cashier)

    assert answer.status == 403
    assert await CouponTemplate.filter(brand_id=brand.id).count() == 0


async def test_twenty_activations_at_once_by_a_store_manager_move_the_template_once(
    api: Api,
) -> None:
    _, mine, _, manager, _ = await _brand(allowed=True)
    draft = await api.post(BASE, cash_off(store_ids=[mine.id]), token=manager)
    template_id = draft.json["id"]

    answers = await asyncio.gather(
        *(api.post(f"{BASE}/{template_id}/activate", token=manager) for _ in range(20))
    )

    assert [a.status for a in answers] == [200] * 20
    assert (await CouponTemplate.get(id=template_id)).state is TemplateState.ACTIVE
    assert (
        await AuditLog.filter(
            action="coupon_template.activate", target=f"coupon_template:{template_id}"
        ).count()
        == 1
    )
