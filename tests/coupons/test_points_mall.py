"""The points mall: head office shelves items, members exchange points, stores hand gifts over."""

from __future__ import annotations

import asyncio
from typing import Any

from api.core.clock import FrozenClock
from api.coupons import points_mall
from api.coupons.models import (
    Coupon,
    CouponSource,
    CouponTemplate,
    ExchangeState,
    MallExchange,
    MallItem,
    MallItemKind,
)
from api.member_center.models import Member, PointsEntry
from api.member_center.points import earn_points
from api.org.models import Brand, StaffRole, Store
from tests.factories import (
    make_brand,
    make_member,
    make_staff,
    make_store,
    member_token,
    staff_token,
)
from tests.support.api import Answer, Api
from workers.coupons import resume_points_mall_exchanges as resume_job

from .support import active_template


async def _rich_member(brand: Brand, points: int) -> Member:
    member = await make_member(brand=brand)
    if points:
        await earn_points(
            brand_id=brand.id, member_id=member.id, amount=points, key=f"t:earn:{member.id}"
        )
    return member


async def _gift(brand: Brand, *, stock: int = 10, price: int = 100, **fields: Any) -> MallItem:
    return await points_mall.create_item(
        brand_id=brand.id,
        actor="staff:test",
        kind=MallItemKind.GIFT,
        name=fields.pop("name", "tote bag"),
        points_price=price,
        stock=stock,
        on_shelf=fields.pop("on_shelf", True),
        **fields,
    )


async def _coupon_item(
    brand: Brand, template: CouponTemplate, *, price: int = 100, **fields: Any
) -> MallItem:
    return await points_mall.create_item(
        brand_id=brand.id,
        actor="staff:test",
        kind=MallItemKind.COUPON,
        name=fields.pop("name", "10 off 100 for points"),
        points_price=price,
        template_id=template.id,
        on_shelf=True,
        **fields,
    )


async def _balance(member: Member) -> int:
    return (await Member.get(id=member.id)).points_balance


async def _stock(item: MallItem) -> int:
    return (await MallItem.get(id=item.id)).stock_left


async def _exchange(
    api: Api, member: Member, item: MallItem, key: str, store: Store | None = None
) -> Answer:
    return await api.post(
        f"/points-mall/{item.id}/exchange",
        {"store_id": store.id} if store else {},
        token=member_token(member),
        headers={"Idempotency-Key": key},
    )


# ---------------------------------------------------------------- head office's items


async def test_head_office_shelves_items_and_members_see_stock_and_what_they_can_afford(
    api: Api,
) -> None:
    brand = await make_brand()
    admin = staff_token(await make_staff(brand=brand))
    template = await active_template(brand, total_stock=50)
    member = await _rich_member(brand, 150)

    coupon = await api.post(
        "/admin/points-mall/items",
        {"kind": "coupon", "name": "10 off", "points_price": 100, "template_id": template.id},
        token=admin,
    )
    gift = await api.post(
        "/admin/points-mall/items",
        {"kind": "gift", "name": "mug", "points_price": 200, "stock": 5, "on_shelf": True},
        token=admin,
    )
    hidden = await api.get("/points-mall", token=member_token(member))
    shelved = await api.patch(
        f"/admin/points-mall/items/{coupon.json['id']}", {"on_shelf": True}, token=admin
    )
    restocked = await api.patch(
        f"/admin/points-mall/items/{gift.json['id']}", {"stock_delta": 3}, token=admin
    )
    shelf = await api.get("/points-mall", token=member_token(member))
    listed = await api.get("/admin/points-mall/items?on_shelf=true", token=admin)

    assert coupon.status == 201 and coupon.json["on_shelf"] is False, coupon
    assert gift.status == 201 and gift.json["stock_left"] == 5, gift
    assert [i["name"] for i in hidden.json["items"]] == ["mug"]
    assert shelved.status == 200 and shelved.json["on_shelf"] is True
    assert restocked.json["stock_left"] == 8
    assert shelf.json["points_available"] == 150
    assert [(i["name"], i["stock_left"], i["affordable"]) for i in shelf.json["items"]] == [
        ("mug", 8, False),
        ("10 off", 50, True),
    ]
    assert shelf.json["items"][1]["coupon"]["value_fen"] == 1_000
    assert shelf.json["items"][0]["coupon"] is None
    assert len(listed.json["items"]) == 2


async def test_bad_items_are_refused_with_stable_codes_and_nothing_changes(api: Api) -> None:
    brand = await make_brand()
    admin = staff_token(await make_staff(brand=brand))
    store = await make_store(brand=brand)
    manager = staff_token(await make_staff(brand=brand, role=StaffRole.STORE_MANAGER, store=store))
    template = await active_template(brand)
    gift = await _gift(brand, stock=2)

    no_template = await api.post(
        "/admin/points-mall/items", {"kind": "coupon", "name": "x", "points_price": 1}, token=admin
    )
    gift_template = await api.post(
        "/admin/points-mall/items",
        {"kind": "gift", "name": "x", "points_price": 1, "template_id": template.id},
        token=admin,
    )
    coupon_stock = await api.post(
        "/admin/points-mall/items",
        {"kind": "coupon", "name": "x", "points_price": 1, "template_id": template.id, "stock": 3},
        token=admin,
    )
    unknown_template = await api.post(
        "/admin/points-mall/items",
        {"kind": "coupon", "name": "x", "points_price": 1, "template_id": 2147483647},
        token=admin,
    )
    free = await api.post(
        "/admin/points-mall/items", {"kind": "gift", "name": "x", "points_price": 0}, token=admin
    )
    below_zero = await api.patch(
        f"/admin/points-mall/items/{gift.id}", {"stock_delta": -3, "name": "renamed"}, token=admin
    )
    by_manager = await api.post(
        "/admin/points-mall/items", {"kind": "gift", "name": "x", "points_price": 1}, token=manager
    )
    foreign = await api.get(
        f"/admin/points-mall/items/{gift.id}",
        token=staff_token(await make_staff(brand=await make_brand())),
    )

    assert (no_template.status, no_template.error_code) == (422, "points_mall.template_required")
    assert (gift_template.status, gift_template.error_code) == (
        422,
        "points_mall.template_not_allowed",
    )
    assert (coupon_stock.status, coupon_stock.error_code) == (422, "points_mall.stock_not_allowed")
    assert (unknown_template.status, unknown_template.error_code) == (
        404,
        "coupon_template.not_found",
    )
    assert (free.status, free.error_code) == (422, "request.invalid")
    assert (below_zero.status, below_zero.error_code) == (409, "points_mall.stock_below_zero")
    assert by_manager.status == 403
    assert (foreign.status, foreign.error_code) == (404, "points_mall.item_not_found")
    assert await MallItem.filter(brand_id=brand.id).count() == 1
    unchanged = await MallItem.get(id=gift.id)
    assert (unchanged.stock_left, unchanged.name) == (2, "tote bag")


# ---------------------------------------------------------------- exchanging


async def test_a_coupon_exchange_spends_the_points_and_puts_the_coupon_in_the_wallet(
    api: Api,
) -> None:
    brand = await make_brand()
    template = await active_template(brand, total_stock=5)
    item = await _coupon_item(brand, template, price=120)
    member = await _rich_member(brand, 300)

    answer = await _exchange(api, member, item, "k1")
    wallet = await api.get("/me/coupons", token=member_token(member))
    mine = await api.get("/me/points-mall/exchanges", token=member_token(member))

    assert answer.status == 201, answer
    assert answer.json["state"] == "issued" and answer.json["points"] == 120
    coupon = await Coupon.get(id=answer.json["coupon_id"])
    assert coupon.source is CouponSource.POINTS_EXCHANGE and coupon.member_id == member.id
    assert [c["id"] for c in wallet.json["items"]] == [coupon.id]
    assert await _balance(member) == 180
    spend = await PointsEntry.get(key=f"points_mall:{answer.json['id']}")
    assert spend.delta == -120
    assert [e["id"] for e in mine.json["items"]] == [answer.json["id"]]
    assert (await CouponTemplate.get(id=template.id)).issued == 1


async def test_a_gift_exchange_takes_a_unit_and_answers_a_pickup_code(api: Api) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    item = await _gift(brand, stock=2, price=100)
    member = await _rich_member(brand, 100)

    answer = await _exchange(api, member, item, "k1", store)

    assert answer.status == 201, answer
    assert answer.json["state"] == "awaiting_pickup" and answer.json["store_id"] == store.id
    code = answer.json["pickup_code"]
    assert len(code) == 10 and code.startswith("P")
    assert await _balance(member) == 0
    assert await _stock(item) == 1


async def test_the_same_key_twice_answers_the_first_exchange_and_spends_once(api: Api) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    gift = await _gift(brand, stock=5)
    other = await _gift(brand, stock=5, name="other")
    member = await _rich_member(brand, 500)

    first = await _exchange(api, member, gift, "same", store)
    again = await _exchange(api, member, gift, "same", store)
    other_item = await _exchange(api, member, other, "same", store)
    no_key = await api.post(
        f"/points-mall/{gift.id}/exchange", {"store_id": store.id}, token=member_token(member)
    )

    assert first.status == again.status == 201
    assert again.json["id"] == first.json["id"]
    assert again.json["pickup_code"] == first.json["pickup_code"]
    assert (other_item.status, other_item.error_code) == (409, "points_mall.key_reused")
    assert (no_key.status, no_key.error_code) == (422, "request.idempotency_key_required")
    assert await _balance(member) == 400
    assert (await _stock(gift), await _stock(other)) == (4, 5)
    assert await MallExchange.filter(member_id=member.id).count() == 1


async def test_twenty_retries_of_one_key_at_once_make_one_exchange(api: Api) -> None:
    brand = await make_brand()
    template = await active_template(brand, total_stock=5)
    item = await _coupon_item(brand, template, price=100)
    member = await _rich_member(brand, 1_000)

    answers = await asyncio.gather(*(_exchange(api, member, item, "storm") for _ in range(20)))

    ok = [a for a in answers if a.status == 201]
    refused = [a for a in answers if a.status != 201]
    assert {a.json["id"] for a in ok} == {ok[0].json["id"]}
    # A retry racing the first call's coupon issue is told to retry; never a second exchange.
    assert {a.error_code for a in refused} <= {"coupon.issue_in_progress"}
    assert await _balance(member) == 900
    assert await MallExchange.filter(member_id=member.id).count() == 1
    assert await Coupon.filter(member_id=member.id).count() == 1


async def test_ten_exchanges_at_once_that_the_balance_covers_three_times_make_exactly_three(
    api: Api,
) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    item = await _gift(brand, stock=8, price=100)
    member = await _rich_member(brand, 350)

    answers = await asyncio.gather(
        *(_exchange(api, member, item, f"k{n}", store) for n in range(10))
    )

    assert sorted(a.status for a in answers) == [201] * 3 + [409] * 7
    assert {a.error_code for a in answers if a.status == 409} == {"points.insufficient"}
    assert await _balance(member) == 50
    assert await _stock(item) == 5
    assert await MallExchange.filter(member_id=member.id).count() == 3


async def test_coupon_exchanges_at_once_that_the_balance_covers_partly(api: Api) -> None:
    brand = await make_brand()
    template = await active_template(brand, total_stock=100, per_member_limit=10)
    item = await _coupon_item(brand, template, price=100)
    member = await _rich_member(brand, 300)

    answers = await asyncio.gather(*(_exchange(api, member, item, f"k{n}") for n in range(10)))

    assert sorted(a.status for a in answers) == [201] * 3 + [409] * 7
    assert await _balance(member) == 0
    assert await Coupon.filter(member_id=member.id).count() == 3
    assert (await CouponTemplate.get(id=template.id)).issued == 3


async def test_stock_running_out_under_concurrent_exchanges_costs_the_losers_nothing(
    api: Api,
) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    item = await _gift(brand, stock=3, price=100)
    members = [await _rich_member(brand, 100) for _ in range(10)]

    answers = await asyncio.gather(*(_exchange(api, m, item, "k", store) for m in members))

    assert sorted(a.status for a in answers) == [201] * 3 + [409] * 7
    assert {a.error_code for a in answers if a.status == 409} == {"points_mall.out_of_stock"}
    assert await _stock(item) == 0
    balances = sorted([await _balance(m) for m in members])
    assert balances == [0] * 3 + [100] * 7


async def test_a_coupon_the_template_cannot_issue_gives_the_points_back_once(api: Api) -> None:
    brand = await make_brand()
    template = await active_template(brand, total_stock=10, per_member_limit=1)
    item = await _coupon_item(brand, template, price=100)
    member = await _rich_member(brand, 300)

    first = await _exchange(api, member, item, "k1")
    # The template's own limit refuses the second coupon after the points were spent.
    refused = await _exchange(api, member, item, "k2")
    again = await _exchange(api, member, item, "k2")

    assert first.status == 201
    assert (refused.status, refused.error_code) == (409, "points_mall.coupon_not_issued")
    assert refused.json["error"]["details"]["reason"] == "coupon.limit_reached"
    assert (again.status, again.error_code) == (409, "points_mall.coupon_not_issued")
    assert await _balance(member) == 200
    failed = await MallExchange.get(id=refused.json["error"]["details"]["exchange_id"])
    assert failed.state is ExchangeState.FAILED
    returned = await PointsEntry.filter(key=f"points_mall:return:{failed.id}")
    assert [e.delta for e in returned] == [100]


async def test_template_stock_running_out_under_concurrent_coupon_exchanges_loses_no_points(
    api: Api,
) -> None:
    brand = await make_brand()
    template = await active_template(brand, total_stock=2)
    item = await _coupon_item(brand, template, price=100)
    members = [await _rich_member(brand, 100) for _ in range(10)]

    answers = await asyncio.gather(*(_exchange(api, m, item, "k") for m in members))

    assert sorted(a.status for a in answers) == [201] * 2 + [409] * 8
    assert {a.error_code for a in answers if a.status == 409} <= {
        "points_mall.out_of_stock",
        "points_mall.coupon_not_issued",
    }
    assert sorted([await _balance(m) for m in members]) == [0] * 2 + [100] * 8
    assert await Coupon.filter(template_id=template.id).count() == 2


async def test_bad_exchanges_are_refused_with_stable_codes_and_nothing_moves(api: Api) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    foreign_store = await make_store(brand=await make_brand())
    template = await active_template(brand)
    coupon_item = await _coupon_item(brand, template)
    gift = await _gift(brand, stock=5, per_member_limit=1)
    off_shelf = await _gift(brand, on_shelf=False)
    dear = await _gift(brand, price=1_000)
    sold_out = await _coupon_item(brand, await active_template(brand, total_stock=1))
    await CouponTemplate.filter(id=sold_out.template_id).update(issued=1)
    member = await _rich_member(brand, 200)

    limited = await _exchange(api, member, gift, "ok", store)
    answers = {
        "limit": await _exchange(api, member, gift, "k1", store),
        "off shelf": await _exchange(api, member, off_shelf, "k2", store),
        "no store": await _exchange(api, member, gift, "k3"),
        "coupon at a store": await _exchange(api, member, coupon_item, "k4", store),
        "foreign store": await _exchange(api, member, gift, "k5", foreign_store),
        "short": await _exchange(api, member, dear, "k6", store),
        "sold out": await _exchange(api, member, sold_out, "k7"),
        "missing": await api.post(
            "/points-mall/2147483647/exchange",
            {},
            token=member_token(member),
            headers={"Idempotency-Key": "k8"},
        ),
        "bad body": await api.post(
            f"/points-mall/{gift.id}/exchange",
            {"store_id": "x"},
            token=member_token(member),
            headers={"Idempotency-Key": "k9"},
        ),
    }

    assert limited.status == 201
    assert {name: (a.status, a.error_code) for name, a in answers.items()} == {
        "limit": (409, "points_mall.limit_reached"),
        "off shelf": (409, "points_mall.off_shelf"),
        "no store": (422, "points_mall.store_required"),
        "coupon at a store": (422, "points_mall.store_not_allowed"),
        "foreign store": (404, "points_mall.store_not_found"),
        "short": (409, "points.insufficient"),
        "sold out": (409, "points_mall.out_of_stock"),
        "missing": (404, "points_mall.item_not_found"),
        "bad body": (422, "request.invalid"),
    }
    assert await _balance(member) == 100
    assert await MallExchange.filter(member_id=member.id).count() == 1
    assert (await _stock(gift), await _stock(dear)) == (4, 10)


# ---------------------------------------------------------------- cancel and pickup


async def _exchanged_gift(api: Api, brand: Brand) -> tuple[Member, MallItem, Store, Answer]:
    store = await make_store(brand=brand)
    item = await _gift(brand, stock=3, price=100)
    member = await _rich_member(brand, 100)
    answer = await _exchange(api, member, item, "k", store)
    assert answer.status == 201, answer
    return member, item, store, answer


async def test_cancelling_an_uncollected_gift_gives_points_and_stock_back_once(
    api: Api,
) -> None:
    brand = await make_brand()
    member, item, _, exchange = await _exchanged_gift(api, brand)
    path = f"/me/points-mall/exchanges/{exchange.json['id']}/cancel"

    answers = await asyncio.gather(*(api.post(path, token=member_token(member)) for _ in range(20)))
    later = await api.post(path, token=member_token(member))

    assert {a.status for a in answers} == {200}
    assert {a.json["state"] for a in answers} == {"cancelled"}
    assert later.status == 200 and later.json["state"] == "cancelled"
    assert await _balance(member) == 100
    assert await _stock(item) == 3
    returned = await PointsEntry.filter(key=f"points_mall:return:{exchange.json['id']}")
    assert [e.delta for e in returned] == [100]


async def test_only_the_owner_cancels_and_only_an_uncollected_gift(api: Api) -> None:
    brand = await make_brand()
    member, item, store, gift = await _exchanged_gift(api, brand)
    template = await active_template(brand)
    coupon_item = await _coupon_item(brand, template, price=1)
    await earn_points(brand_id=brand.id, member_id=member.id, amount=1, key="t:more")
    coupon = await _exchange(api, member, coupon_item, "c")
    stranger = await _rich_member(brand, 0)
    cashier = staff_token(await make_staff(brand=brand, role=StaffRole.CASHIER, store=store))
    await api.post(
        "/pos/points-mall/pickups",
        {"pickup_code": gift.json["pickup_code"], "store_id": store.id},
        token=cashier,
    )

    not_mine = await api.post(
        f"/me/points-mall/exchanges/{gift.json['id']}/cancel", token=member_token(stranger)
    )
    of_a_coupon = await api.post(
        f"/me/points-mall/exchanges/{coupon.json['id']}/cancel", token=member_token(member)
    )
    collected = await api.post(
        f"/me/points-mall/exchanges/{gift.json['id']}/cancel", token=member_token(member)
    )

    assert (not_mine.status, not_mine.error_code) == (404, "points_mall.exchange_not_found")
    assert (of_a_coupon.status, of_a_coupon.error_code) == (409, "points_mall.not_cancellable")
    assert (collected.status, collected.error_code) == (409, "points_mall.already_collected")
    assert await _balance(member) == 0
    assert await _stock(item) == 2


async def test_a_gift_is_handed_over_at_the_chosen_store_only_and_once(api: Api) -> None:
    brand = await make_brand()
    member, _, store, gift = await _exchanged_gift(api, brand)
    elsewhere = await make_store(brand=brand)
    cashier = await make_staff(brand=brand, role=StaffRole.CASHIER, store=store)
    other_cashier = staff_token(
        await make_staff(brand=brand, role=StaffRole.CASHIER, store=elsewhere)
    )
    hq = staff_token(await make_staff(brand=brand))
    code = gift.json["pickup_code"]

    wrong_store = await api.post(
        "/pos/points-mall/pickups", {"pickup_code": code, "store_id": elsewhere.id}, token=hq
    )
    other_staff = await api.post(
        "/pos/points-mall/pickups",
        {"pickup_code": code, "store_id": store.id},
        token=other_cashier,
    )
    unknown = await api.post(
        "/pos/points-mall/pickups",
        {"pickup_code": "PAAAAAAAAA", "store_id": store.id},
        token=staff_token(cashier),
    )
    answers = await asyncio.gather(
        *(
            api.post(
                "/pos/points-mall/pickups",
                {"pickup_code": f" {code.lower()} ", "store_id": store.id},
                token=staff_token(cashier),
            )
            for _ in range(20)
        )
    )

    assert (wrong_store.status, wrong_store.error_code) == (409, "points_mall.wrong_store")
    assert wrong_store.json["error"]["details"] == {"store_id": store.id}
    assert (other_staff.status, other_staff.error_code) == (404, "store.not_found")
    assert (unknown.status, unknown.error_code) == (404, "points_mall.pickup_not_found")
    done = [a for a in answers if a.status == 200]
    assert len(done) == 1, answers
    assert done[0].json["collected_staff_id"] == cashier.id
    assert done[0].json["member_id"] == member.id
    assert {a.error_code for a in answers if a.status != 200} == {"points_mall.already_collected"}
    exchange = await MallExchange.get(id=gift.json["id"])
    assert exchange.state is ExchangeState.COLLECTED and exchange.collected_staff_id == cashier.id


async def test_a_cancelled_gift_cannot_be_collected(api: Api) -> None:
    brand = await make_brand()
    member, _, store, gift = await _exchanged_gift(api, brand)
    await api.post(
        f"/me/points-mall/exchanges/{gift.json['id']}/cancel", token=member_token(member)
    )

    answer = await api.post(
        "/pos/points-mall/pickups",
        {"pickup_code": gift.json["pickup_code"], "store_id": store.id},
        token=staff_token(await make_staff(brand=brand)),
    )

    assert (answer.status, answer.error_code) == (409, "points_mall.exchange_cancelled")
    assert (await MallExchange.get(id=gift.json["id"])).collected_at is None


# ---------------------------------------------------------------- a crash between the steps


async def test_a_coupon_exchange_left_issuing_is_finished_by_the_resume_job(
    clock: FrozenClock,
) -> None:
    brand = await make_brand()
    template = await active_template(brand, total_stock=5)
    item = await _coupon_item(brand, template, price=100)
    member = await _rich_member(brand, 100)
    # The points were spent and then the process died before the coupon was issued.
    stuck = await points_mall._take(item, member_id=member.id, store_id=None, key="crash")

    too_soon = await points_mall.resume_exchanges()
    clock.advance(minutes=5)
    resumed = (await resume_job())["exchanges_resumed"]
    again = await points_mall.resume_exchanges()

    assert stuck.state is ExchangeState.ISSUING
    assert (too_soon, resumed, again) == (0, 1, 0)
    exchange = await MallExchange.get(id=stuck.id)
    assert exchange.state is ExchangeState.ISSUED
    assert await Coupon.filter(member_id=member.id).count() == 1
    assert await _balance(member) == 0
