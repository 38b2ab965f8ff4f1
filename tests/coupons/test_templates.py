"""Head office drafts coupon templates and moves them draft → active ⇄ paused → ended."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.core.models import AuditLog
from api.coupons.models import CouponTemplate
from api.org.models import Brand, StaffRole
from tests.factories import make_brand, make_staff, make_store, staff_token
from tests.support.api import Api

BASE = "/admin/coupon-templates"


def cash_off(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "满100减10",
        "kind": "cash_off",
        "value_fen": 1_000,
        "threshold_fen": 10_000,
        "total_stock": 500,
        "per_member_limit": 2,
        "valid_days": 7,
    }
    body.update(fields)
    return body


@pytest.fixture
async def hq() -> tuple[int, str]:
    brand = await make_brand()
    return brand.id, staff_token(await make_staff(brand=brand, role=StaffRole.HQ_ADMIN))


async def test_head_office_drafts_reads_lists_and_changes_a_template(
    api: Api, hq: tuple[int, str]
) -> None:
    brand_id, token = hq
    store = await make_store(brand=await Brand.get(id=brand_id))

    created = await api.post(
        BASE,
        cash_off(store_ids=[store.id], channels=["till"], cost_bearer="franchisee"),
        token=token,
    )
    template_id = created.json["id"]
    changed = await api.patch(f"{BASE}/{template_id}", {"total_stock": 800}, token=token)
    read = await api.get(f"{BASE}/{template_id}", token=token)
    listed = await api.get(f"{BASE}?state=draft", token=token)
    none_active = await api.get(f"{BASE}?state=active", token=token)

    assert created.status == 201, created
    assert created.json["state"] == "draft" and created.json["issued"] == 0
    assert created.json["store_ids"] == [store.id] and created.json["channels"] == ["till"]
    assert created.json["cost_bearer"] == "franchisee"
    assert changed.json["total_stock"] == 800
    assert read.json == changed.json
    assert [t["id"] for t in listed.json["items"]] == [template_id]
    assert none_active.json["items"] == []
    actions = await AuditLog.filter(target=f"coupon_template:{template_id}").values_list(
        "action", flat=True
    )
    assert sorted(actions) == ["coupon_template.create", "coupon_template.update"]


async def test_a_percent_off_template_with_a_fixed_window(api: Api, hq: tuple[int, str]) -> None:
    _, token = hq
    answer = await api.post(
        BASE,
        {
            "name": "8折",
            "kind": "percent_off",
            "percent_off": 20,
            "cap_fen": 5_000,
            "total_stock": 10,
            "valid_from": "2026-01-01T00:00:00+08:00",
            "valid_until": "2026-02-01T00:00:00+08:00",
        },
        token=token,
    )

    assert answer.status == 201, answer
    assert answer.json["percent_off"] == 20 and answer.json["valid_days"] is None


async def test_the_lifecycle_moves_only_along_its_arrows(api: Api, hq: tuple[int, str]) -> None:
    _, token = hq
    template_id = (await api.post(BASE, cash_off(), token=token)).json["id"]
    url = f"{BASE}/{template_id}"

    pause_draft = await api.post(f"{url}/pause", token=token)
    activated = await api.post(f"{url}/activate", token=token)
    again = await api.post(f"{url}/activate", token=token)
    patch_active = await api.patch(url, {"name": "x"}, token=token)
    paused = await api.post(f"{url}/pause", token=token)
    resumed = await api.post(f"{url}/activate", token=token)
    ended = await api.post(f"{url}/end", token=token)
    reopen = await api.post(f"{url}/activate", token=token)

    assert pause_draft.status == 409
    assert pause_draft.error_code == "coupon_template.invalid_transition"
    assert (activated.json["state"], again.json["state"]) == ("active", "active")
    assert patch_active.status == 409 and patch_active.error_code == "coupon_template.not_draft"
    assert paused.json["state"] == "paused" and resumed.json["state"] == "active"
    assert ended.json["state"] == "ended"
    assert reopen.status == 409 and reopen.error_code == "coupon_template.invalid_transition"
    actions = await AuditLog.filter(target=f"coupon_template:{template_id}").values_list(
        "action", flat=True
    )
    assert sorted(actions) == sorted(
        [
            "coupon_template.create",
            "coupon_template.activate",
            "coupon_template.pause",
            "coupon_template.activate",
            "coupon_template.end",
        ]
    )


async def test_twenty_admins_pausing_at_once_pause_once(api: Api, hq: tuple[int, str]) -> None:
    _, token = hq
    template_id = (await api.post(BASE, cash_off(), token=token)).json["id"]
    await api.post(f"{BASE}/{template_id}/activate", token=token)

    answers = await asyncio.gather(
        *(api.post(f"{BASE}/{template_id}/pause", token=token) for _ in range(20))
    )

    assert {a.status for a in answers} == {200}
    assert await AuditLog.filter(action="coupon_template.pause").count() == 1


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"value_fen": None}, "coupon_template.value_required"),
        ({"percent_off": 10}, "coupon_template.value_not_allowed"),
        ({"value_fen": 20_000}, "coupon_template.value_not_allowed"),
        ({"kind": "percent_off", "value_fen": None}, "coupon_template.percent_required"),
        ({"kind": "gift"}, "coupon_template.value_not_allowed"),
        ({"valid_days": None}, "coupon_template.validity_required"),
        ({"valid_from": "2026-01-01T00:00:00+08:00"}, "coupon_template.validity_required"),
        (
            {
                "valid_days": None,
                "valid_from": "2026-02-01T00:00:00+08:00",
                "valid_until": "2026-01-01T00:00:00+08:00",
            },
            "coupon_template.window_invalid",
        ),
        (
            {
                "valid_days": None,
                "valid_from": "1900-01-01T00:00:00+08:00",
                "valid_until": "2026-01-01T00:00:00+08:00",
            },
            "coupon_template.window_invalid",
        ),
        ({"per_member_limit": 5, "per_member_daily_limit": 6}, "coupon_template.limit_invalid"),
        ({"total_stock": 1, "per_member_limit": 2}, "coupon_template.limit_invalid"),
        ({"store_ids": [2_000_000_000]}, "coupon_template.store_not_found"),
        ({"kind": "coupon"}, "request.invalid"),
        ({"total_stock": 0}, "request.invalid"),
        ({"total_stock": 2**31}, "request.invalid"),
        ({"name": "a\x00b"}, "request.invalid"),
        ({"name": "x" * 65}, "request.invalid"),
        ({"channels": []}, "request.invalid"),
        ({"channels": ["shop"]}, "request.invalid"),
        ({"valid_from": "2026-01-01T00:00:00", "valid_days": None}, "request.invalid"),
        ({"surprise": 1}, "request.invalid"),
    ],
    ids=str,
)
async def test_bad_templates_are_refused_with_a_stable_code(
    api: Api, hq: tuple[int, str], fields: dict[str, Any], code: str
) -> None:
    _, token = hq

    answer = await api.post(BASE, cash_off(**fields), token=token)

    assert answer.status == 422, answer
    assert answer.error_code == code
    assert await CouponTemplate.all().count() == 0


async def test_a_patch_that_breaks_the_template_changes_nothing(
    api: Api, hq: tuple[int, str]
) -> None:
    _, token = hq
    template_id = (await api.post(BASE, cash_off(), token=token)).json["id"]

    cleared = await api.patch(f"{BASE}/{template_id}", {"value_fen": None}, token=token)
    null_name = await api.patch(f"{BASE}/{template_id}", {"name": None}, token=token)
    missing = await api.patch(f"{BASE}/2147483647", {"name": "x"}, token=token)

    assert cleared.error_code == "coupon_template.value_required"
    assert null_name.status == 422
    assert missing.status == 404 and missing.error_code == "coupon_template.not_found"
    assert (await CouponTemplate.get(id=template_id)).value_fen == 1_000


async def test_only_head_office_manages_templates_of_its_own_brand(
    api: Api, hq: tuple[int, str]
) -> None:
    brand_id, token = hq
    brand = await Brand.get(id=brand_id)
    store = await make_store(brand=brand)
    manager = staff_token(await make_staff(brand=brand, role=StaffRole.STORE_MANAGER, store=store))
    other = await make_brand()
    outsider = staff_token(await make_staff(brand=other, role=StaffRole.HQ_ADMIN))
    template_id = (await api.post(BASE, cash_off(), token=token)).json["id"]

    by_manager = await api.post(BASE, cash_off(), token=manager)
    by_outsider = await api.get(f"{BASE}/{template_id}", token=outsider)
    activate_by_outsider = await api.post(f"{BASE}/{template_id}/activate", token=outsider)
    anonymous = await api.get(BASE)

    assert by_manager.status == 403
    assert by_outsider.status == 404 and activate_by_outsider.status == 404
    assert anonymous.status == 401
    assert (await CouponTemplate.get(id=template_id)).state == "draft"
