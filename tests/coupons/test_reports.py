"""The month's coupon report, and the statement a franchise brand settles with its franchisees,
compared with a table computed by hand."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from api.core.clock import SHANGHAI, FrozenClock
from api.coupons import expiry
from api.coupons.issuing import issue_coupon
from api.coupons.models import Coupon, CouponKind, CouponState, CouponTemplate
from api.org.models import AccountMode, Brand, MerchantAccount, StaffRole, Store, StoreKind
from tests.factories import (
    make_alipay_account,
    make_brand,
    make_member,
    make_staff,
    make_store,
    make_wechatpay_account,
    route_store,
    staff_token,
    wechat_appid,
)
from tests.support.api import Api

from .support import active_template

BASE = "/admin/reports/coupons"


def shanghai(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SHANGHAI)  # type: ignore[misc]


@dataclass
class Month:
    """March 2026 of a franchise brand, built by hand."""

    brand: Brand
    direct: Store
    f1a: Store  # franchisee one's two stores
    f1b: Store
    f2: Store  # franchisee two's
    f3: Store  # a franchise store without a payment route
    one: MerchantAccount
    two: MerchantAccount
    brand_coupon: CouponTemplate  # 10 yuan, head office pays
    own_coupon: CouponTemplate  # 5 yuan, the franchisee pays
    percent: CouponTemplate  # 20 % off, head office pays


async def _issue(month: Month, template: CouponTemplate, count: int) -> list[Coupon]:
    member = await make_member(brand=month.brand)
    coupons = []
    for n in range(count):
        issued = await issue_coupon(
            brand_id=month.brand.id,
            template_id=template.id,
            member_id=member.id,
            source="admin",
            key=f"report:{member.id}:{n}",
        )
        coupons.append(issued.coupon)
    return coupons


async def _use(
    coupon: Coupon, store: Store | None, at: datetime, discount_fen: int, channel: str = "till"
) -> None:
    await Coupon.filter(id=coupon.id).update(
        state=CouponState.USED,
        used_at=at,
        used_store_id=store.id if store else None,
        used_channel=channel,
        discount_fen=discount_fen,
    )


@pytest.fixture
async def march(clock: FrozenClock) -> Month:
    brand = await make_brand()
    direct = await make_store(brand=brand, name="直营 1")
    f1a, f1b, f2, f3 = [
        await make_store(brand=brand, name=name, kind=StoreKind.FRANCHISE)
        for name in ("加盟 1a", "加盟 1b", "加盟 2", "加盟 3")
    ]
    one = await make_wechatpay_account(
        brand=brand, app_id=wechat_appid(0xB1), mode=AccountMode.PARTNER
    )
    one_alipay = await make_alipay_account(brand=brand, app_auth_token="token-one")
    two = await make_alipay_account(brand=brand, app_auth_token="token-two")
    for store in (f1a, f1b):
        await route_store(store=store, account=one)
    await route_store(store=f1a, account=one_alipay)  # WeChat Pay names the franchisee
    await route_store(store=f2, account=two)
    month = Month(
        brand=brand,
        direct=direct,
        f1a=f1a,
        f1b=f1b,
        f2=f2,
        f3=f3,
        one=one,
        two=two,
        brand_coupon=await active_template(
            brand, name="brand 10", value_fen=1_000, per_member_limit=10, valid_days=60
        ),
        own_coupon=await active_template(
            brand,
            name="own 5",
            value_fen=500,
            per_member_limit=10,
            valid_days=10,
            cost_bearer="franchisee",
        ),
        percent=await active_template(
            brand,
            name="20% off",
            kind=CouponKind.PERCENT_OFF,
            value_fen=None,
            percent_off=20,
            cap_fen=5_000,
            per_member_limit=10,
            valid_days=7,
        ),
    )
    clock.set(shanghai(2026, 2, 27, 12))
    await _issue(month, month.brand_coupon, 1)  # February's: not in March's issued
    clock.set(shanghai(2026, 3, 10, 12))
    b = await _issue(month, month.brand_coupon, 6)
    o = await _issue(month, month.own_coupon, 6)  # expire on March 20
    p = await _issue(month, month.percent, 2)  # expire on March 17
    await _use(b[0], f1a, shanghai(2026, 3, 11, 10), 1_000)
    await _use(b[1], f1b, shanghai(2026, 3, 12, 10), 1_000)
    await _use(o[0], f1a, shanghai(2026, 3, 12, 11), 500)
    await _use(o[1], f2, shanghai(2026, 3, 13, 11), 500)
    await _use(b[2], direct, shanghai(2026, 3, 14, 11), 1_000)
    await _use(o[2], direct, shanghai(2026, 3, 15, 11), 500)  # no franchisee: head office's
    await _use(p[0], f3, shanghai(2026, 3, 16, 9), 1_234)
    await _use(b[3], None, shanghai(2026, 3, 16, 20), 1_000, channel="mall")
    await _use(o[3], f1a, shanghai(2026, 3, 19, 23, 30), 500)
    await _use(o[4], f2, shanghai(2026, 4, 1, 0, 10), 500)  # April in Shanghai, March in UTC
    clock.set(shanghai(2026, 3, 18, 12))
    await expiry.expire_coupons()  # p[1] swept; o[5] will pass its window unswept
    clock.set(datetime.now(UTC))  # tokens are signed and checked at the real time
    # Another brand's month never shows.
    other = await make_brand()
    stranger = await active_template(other, per_member_limit=10)
    member = await make_member(brand=other)
    foreign = await issue_coupon(
        brand_id=other.id, template_id=stranger.id, member_id=member.id, source="admin", key="x"
    )
    await _use(foreign.coupon, None, shanghai(2026, 3, 20), 1_000, channel="mall")
    return month


async def _hq(month: Month) -> str:
    return staff_token(await make_staff(brand=month.brand, role=StaffRole.HQ_ADMIN))


async def test_the_settlement_statement_matches_the_hand_computed_table(
    api: Api, march: Month
) -> None:
    answer = await api.get(BASE, params={"month": "2026-03"}, token=await _hq(march))

    assert answer.status == 200, answer
    report = answer.json
    m = march
    # franchisee → (stores, uses, discount, head office owes it, its own cost)
    assert [
        (
            line["account_id"],
            line["store_ids"],
            line["used"],
            line["discount_fen"],
            line["brand_borne_fen"],
            line["franchisee_borne_fen"],
        )
        for line in report["settlement"]
    ] == [
        (m.one.id, sorted([m.f1a.id, m.f1b.id]), 4, 3_000, 2_000, 1_000),
        (m.two.id, [m.f2.id], 0 + 1, 500, 0, 500),
        (None, [m.f3.id], 1, 1_234, 1_234, 0),
    ]
    assert report["settlement"][0]["account_key"] == m.one.key
    assert (report["brand_cost_fen"], report["franchisee_cost_fen"]) == (5_734, 1_500)
    assert report["discount_fen"] == 7_234
    # template → (issued, used, expired, redemption rate, discount)
    assert {
        t["name"]: (t["issued"], t["used"], t["expired"], t["redemption_rate"], t["discount_fen"])
        for t in report["templates"]
    } == {
        "brand 10": (6, 4, 0, round(4 / 6, 4), 4_000),
        "own 5": (6, 4, 1, round(5 / 6, 4), 2_000),
        "20% off": (2, 1, 1, 0.5, 1_234),
    }
    assert {s["store_id"]: (s["used"], s["discount_fen"]) for s in report["stores"]} == {
        m.direct.id: (2, 1_500),
        m.f1a.id: (3, 2_000),
        m.f1b.id: (1, 1_000),
        m.f2.id: (1, 500),
        m.f3.id: (1, 1_234),
        None: (1, 1_000),
    }
    assert {c["channel"]: (c["used"], c["discount_fen"]) for c in report["channels"]} == {
        "till": (8, 6_234),
        "mall": (1, 1_000),
    }
    assert (report["issued"], report["used"], report["expired"]) == (14, 9, 2)
    assert report["redemption_rate"] == round(10 / 14, 4)


async def test_april_has_the_use_made_after_midnight_in_shanghai(api: Api, march: Month) -> None:
    answer = await api.get(BASE, params={"month": "2026-04"}, token=await _hq(march))

    assert answer.status == 200, answer
    assert [
        (s["account_id"], s["used"], s["franchisee_borne_fen"]) for s in answer.json["settlement"]
    ] == [(march.two.id, 1, 500)]
    # February's coupon (60 days) ran out on April 28, unused.
    assert answer.json["issued"] == 0 and answer.json["expired"] == 1


async def test_the_report_as_csv(api: Api, march: Month) -> None:
    answer = await api.get(
        BASE, params={"month": "2026-03", "format": "csv"}, token=await _hq(march)
    )

    assert answer.status == 200, answer
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    month = rows[0]
    franchisees = [r for r in rows if r["section"] == "franchisee"]
    assert (month["section"], month["id"], month["discount_fen"]) == ("month", "2026-03", "7234")
    assert (month["brand_borne_fen"], month["franchisee_borne_fen"]) == ("5734", "1500")
    assert [(r["id"], r["brand_borne_fen"], r["franchisee_borne_fen"]) for r in franchisees] == [
        (str(march.one.id), "2000", "1000"),
        (str(march.two.id), "0", "500"),
        ("", "1234", "0"),
    ]
    assert {r["section"] for r in rows} == {"month", "template", "store", "channel", "franchisee"}


async def test_a_store_manager_sees_their_store_only(api: Api, march: Month) -> None:
    manager = await make_staff(brand=march.brand, role=StaffRole.STORE_MANAGER, store=march.f1a)

    answer = await api.get(BASE, params={"month": "2026-03"}, token=staff_token(manager))

    assert answer.status == 200, answer
    report = answer.json
    assert [(s["store_id"], s["used"]) for s in report["stores"]] == [(march.f1a.id, 3)]
    assert [
        (s["account_id"], s["store_ids"], s["brand_borne_fen"], s["franchisee_borne_fen"])
        for s in report["settlement"]
    ] == [(march.one.id, [march.f1a.id], 1_000, 1_000)]
    assert report["issued"] is None and report["expired"] is None
    assert {t["name"]: (t["issued"], t["used"]) for t in report["templates"]} == {
        "brand 10": (None, 1),
        "own 5": (None, 2),
    }


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "request.invalid"),
        ({"month": "2026-13"}, "request.invalid"),
        ({"month": "2026-3"}, "request.invalid"),
        ({"month": "1999-12"}, "request.invalid"),
        ({"month": "2026-03", "format": "xlsx"}, "request.invalid"),
    ],
)
async def test_bad_months_and_formats_are_refused(
    api: Api, params: dict[str, Any], code: str
) -> None:
    brand = await make_brand()
    token = staff_token(await make_staff(brand=brand, role=StaffRole.HQ_ADMIN))

    answer = await api.get(BASE, params=params, token=token)

    assert answer.status == 422 and answer.error_code == code


async def test_cashiers_and_strangers_get_no_report(api: Api) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    cashier = await make_staff(brand=brand, role=StaffRole.CASHIER, store=store)

    refused = await api.get(BASE, params={"month": "2026-03"}, token=staff_token(cashier))
    anonymous = await api.get(BASE, params={"month": "2026-03"})

    assert refused.status == 403
    assert anonymous.status == 401
