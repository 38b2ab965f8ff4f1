"""One issuing service: exact stock and limits under a storm, idempotent per key, on both paths.

The embedded suite runs the database path (no Redis), the services suite the Redis path.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from api.core.clock import FrozenClock
from api.core.errors import Conflict
from api.coupons import issuing, templates
from api.coupons.issuing import issue_coupon, reconcile_stock, redis_cache
from api.coupons.models import Coupon, CouponTemplate, TemplateState
from api.coupons.wallet import claim_coupon
from api.member_center.member_code import new_code
from api.member_center.models import Member, MemberStatus
from api.org.models import Brand
from config.settings import get_settings
from tests.factories import make_brand, make_member

from .support import active_template

needs_redis = pytest.mark.skipif(
    not get_settings().redis_url, reason="the Redis path runs in the services suite"
)


async def _members(brand: Brand, count: int) -> list[int]:
    await Member.bulk_create(
        [
            Member(brand_id=brand.id, member_no=f"S{n:09d}", status=MemberStatus.MEMBER)
            for n in range(count)
        ],
        batch_size=500,
    )
    return list(await Member.filter(brand_id=brand.id).order_by("id").values_list("id", flat=True))


async def _redis_counts(template_id: int, member_ids: list[int]) -> tuple[int, dict[int, int]]:
    cache = redis_cache()
    assert cache is not None
    issued = int(await cache.get(issuing.issued_key(template_id)) or 0)
    values = await cache.get_many([issuing.member_key(template_id, m) for m in member_ids])
    return issued, {m: int(v) for m, v in zip(member_ids, values, strict=True) if int(v or 0)}


async def test_a_claim_storm_issues_exactly_the_stock_and_holds_the_member_limit() -> None:
    brand = await make_brand()
    template = await active_template(brand, total_stock=100, per_member_limit=1)
    member_ids = await _members(brand, 2_000)
    turns = asyncio.Semaphore(200)

    async def claim(member_id: int) -> str:
        async with turns:
            try:
                await claim_coupon(
                    brand_id=brand.id,
                    member_id=member_id,
                    template_id=template.id,
                    request_key=None,
                )
                return "issued"
            except Conflict as refusal:
                return refusal.code

    answers = await asyncio.gather(*(claim(m) for m in member_ids + member_ids))

    tally = Counter(answers)
    assert tally["issued"] == 100
    assert set(tally) <= {"issued", "coupon.out_of_stock", "coupon.limit_reached"}
    coupons = await Coupon.filter(template_id=template.id).values_list("member_id", flat=True)
    assert len(coupons) == 100 and len(set(coupons)) == 100
    assert (await CouponTemplate.get(id=template.id)).issued == 100
    if redis_cache() is not None:
        issued, per_member = await _redis_counts(template.id, member_ids)
        assert issued == 100
        assert per_member == dict.fromkeys(coupons, 1)


async def test_twenty_claims_of_one_member_at_once_respect_a_limit_of_three() -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    template = await active_template(brand, per_member_limit=3)

    results = await asyncio.gather(
        *(
            claim_coupon(
                brand_id=brand.id, member_id=member.id, template_id=template.id, request_key=None
            )
            for _ in range(20)
        ),
        return_exceptions=True,
    )

    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(refused) == 17 and {r.code for r in refused} == {"coupon.limit_reached"}
    assert await Coupon.filter(member_id=member.id).count() == 3


async def test_the_daily_limit_opens_again_the_next_day(clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    template = await active_template(brand, per_member_limit=3, per_member_daily_limit=1)

    async def claim() -> str:
        try:
            await claim_coupon(
                brand_id=brand.id, member_id=member.id, template_id=template.id, request_key=None
            )
            return "issued"
        except Conflict as refusal:
            return refusal.code

    today = [await claim(), await claim()]
    clock.advance(days=1)
    tomorrow = await claim()

    assert today == ["issued", "coupon.daily_limit_reached"]
    assert tomorrow == "issued"


async def test_issuing_twice_with_one_key_answers_the_first_coupon() -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    other = await make_member(brand=brand)
    template = await active_template(brand, per_member_limit=5)

    results = await asyncio.gather(
        *(
            issue_coupon(
                brand_id=brand.id,
                template_id=template.id,
                member_id=member.id,
                source="admin",
                key="admin:batch-1:member",
            )
            for _ in range(20)
        ),
        return_exceptions=True,
    )
    again = await issue_coupon(
        brand_id=brand.id,
        template_id=template.id,
        member_id=member.id,
        source="admin",
        key="admin:batch-1:member",
    )
    with pytest.raises(Conflict) as reused:
        await issue_coupon(
            brand_id=brand.id,
            template_id=template.id,
            member_id=other.id,
            source="admin",
            key="admin:batch-1:member",
        )

    issued = [r for r in results if not isinstance(r, BaseException)]
    in_progress = [r for r in results if isinstance(r, Conflict)]
    assert sum(r.created for r in issued) == 1
    assert {c.code for c in in_progress} <= {"coupon.issue_in_progress"}
    assert again.created is False and again.coupon.id == issued[0].coupon.id
    assert reused.value.code == "coupon.key_reused"
    assert await Coupon.filter(template_id=template.id).count() == 1
    assert (await CouponTemplate.get(id=template.id)).issued == 1


@pytest.mark.parametrize("state", ["draft", "paused", "ended"])
async def test_a_template_not_active_issues_nothing(state: str) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    template = await active_template(brand)
    await CouponTemplate.filter(id=template.id).update(state=TemplateState(state))

    with pytest.raises(Conflict) as refused:
        await claim_coupon(
            brand_id=brand.id, member_id=member.id, template_id=template.id, request_key=None
        )

    assert refused.value.code == "coupon.template_not_active"
    assert await Coupon.all().count() == 0


async def test_bad_keys_sources_templates_and_members_are_refused() -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    template = await active_template(brand)
    other_brand = await make_brand()
    stranger = await make_member(brand=other_brand)

    async def code_of(**fields: object) -> str:
        values: dict[str, object] = {
            "brand_id": brand.id,
            "template_id": template.id,
            "member_id": member.id,
            "source": "admin",
            "key": "k1",
        }
        values.update(fields)
        try:
            await issue_coupon(**values)  # type: ignore[arg-type]
        except Exception as refusal:
            return getattr(refusal, "code", repr(refusal))
        return "issued"

    assert await code_of(key="") == "coupon.invalid_key"
    assert await code_of(key="x" * 129) == "coupon.invalid_key"
    assert await code_of(key="a\x00b") == "coupon.invalid_key"
    assert await code_of(source="lottery") == "coupon.invalid_source"
    assert await code_of(template_id=2_147_483_647) == "coupon_template.not_found"
    assert await code_of(brand_id=other_brand.id) == "coupon_template.not_found"
    assert await code_of(member_id=stranger.id) == "member.not_found"
    assert await Coupon.all().count() == 0


async def test_coupon_codes_are_unique_and_unlike_member_or_payment_codes() -> None:
    codes = {issuing.new_coupon_code() for _ in range(5_000)}

    assert len(codes) == 5_000
    assert all(re.fullmatch(r"C[A-HJ-NP-Z2-9]{11}", code) for code in codes)
    assert all(issuing.is_coupon_code(code) for code in codes)
    assert not issuing.is_coupon_code(new_code())  # a member code
    assert not issuing.is_coupon_code("134567890123456789")  # a WeChat payment code
    assert not issuing.is_coupon_code("2" + "8" * 27)  # an Alipay payment code


async def test_reconcile_sets_the_issued_column_to_the_rows() -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    template = await active_template(brand)
    await claim_coupon(
        brand_id=brand.id, member_id=member.id, template_id=template.id, request_key=None
    )
    await CouponTemplate.filter(id=template.id).update(issued=7)

    result = await reconcile_stock(brand_id=brand.id, template_id=template.id)

    assert result.issued_in_database == 1
    assert (await CouponTemplate.get(id=template.id)).issued == 1


@needs_redis
async def test_a_database_write_that_fails_gives_the_redis_unit_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    template = await active_template(brand, total_stock=1)
    real_write = issuing._write_coupon

    async def failing_write(*args: object, **kwargs: object) -> Coupon:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(issuing, "_write_coupon", failing_write)
    with pytest.raises(RuntimeError):
        await issue_coupon(
            brand_id=brand.id, template_id=template.id, member_id=member.id, source="admin", key="k"
        )
    after_failure = await _redis_counts(template.id, [member.id])
    monkeypatch.setattr(issuing, "_write_coupon", real_write)
    retried = await issue_coupon(
        brand_id=brand.id, template_id=template.id, member_id=member.id, source="admin", key="k"
    )

    assert after_failure == (0, {})
    assert retried.created
    assert await _redis_counts(template.id, [member.id]) == (1, {member.id: 1})
    assert await Coupon.filter(template_id=template.id).count() == 1


@needs_redis
async def test_reconcile_repairs_drift_in_redis() -> None:
    brand = await make_brand()
    members = [await make_member(brand=brand) for _ in range(3)]
    template = await active_template(brand, total_stock=10, per_member_limit=2)
    for member in members[:2]:
        await claim_coupon(
            brand_id=brand.id, member_id=member.id, template_id=template.id, request_key=None
        )
    cache = redis_cache()
    assert cache is not None
    await cache.set(issuing.issued_key(template.id), "9")  # a lost give-back, say
    await cache.set(issuing.member_key(template.id, members[0].id), "2")
    await cache.set(issuing.member_key(template.id, members[2].id), "2")
    await cache.delete(issuing.member_key(template.id, members[1].id))

    result = await reconcile_stock(brand_id=brand.id, template_id=template.id)
    again = await reconcile_stock(brand_id=brand.id, template_id=template.id)

    assert (result.issued_in_database, result.issued_in_redis) == (2, 9)
    assert result.members_repaired == 3 and result.drifted
    assert not again.drifted
    ids = [m.id for m in members]
    assert await _redis_counts(template.id, ids) == (2, {ids[0]: 1, ids[1]: 1})
    third = await claim_coupon(
        brand_id=brand.id, member_id=members[2].id, template_id=template.id, request_key=None
    )
    assert third.created


@needs_redis
async def test_counters_lost_from_redis_are_loaded_from_the_database() -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    template = await active_template(brand, total_stock=2, per_member_limit=1)
    await claim_coupon(
        brand_id=brand.id, member_id=member.id, template_id=template.id, request_key=None
    )
    cache = redis_cache()
    assert cache is not None
    for key in await cache.keys_matching(f"{{ct:{template.id}}}:*"):
        await cache.delete(key)

    with pytest.raises(Conflict) as refused:
        await claim_coupon(
            brand_id=brand.id, member_id=member.id, template_id=template.id, request_key=None
        )

    assert refused.value.code == "coupon.limit_reached"
    assert await _redis_counts(template.id, [member.id]) == (1, {member.id: 1})


@needs_redis
async def test_a_write_that_committed_before_failing_keeps_its_unit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    template = await active_template(brand, total_stock=5)
    real_write = issuing._write_coupon

    async def write_alone(**kwargs: Any) -> None:
        async with in_transaction() as own:
            await real_write(own, **kwargs)

    async def committed_then_lost(_db: object, **kwargs: Any) -> Coupon:
        # A task with a fresh context runs its own transaction, which commits.
        loop = asyncio.get_running_loop()
        await loop.create_task(write_alone(**kwargs), context=contextvars.Context())
        raise ConnectionResetError("the commit's answer was lost")

    monkeypatch.setattr(issuing, "_write_coupon", committed_then_lost)
    with pytest.raises(ConnectionResetError):
        await issue_coupon(
            brand_id=brand.id, template_id=template.id, member_id=member.id, source="admin", key="k"
        )

    assert await _redis_counts(template.id, [member.id]) == (1, {member.id: 1})
    assert await Coupon.filter(template_id=template.id).count() == 1


# ---------------------------------------------------------------- sold out, from Redis alone


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


async def _claim(brand: Brand, template: CouponTemplate, member_id: int) -> str:
    try:
        await claim_coupon(
            brand_id=brand.id, member_id=member_id, template_id=template.id, request_key=None
        )
        return "issued"
    except Conflict as refusal:
        return refusal.code


@needs_redis
async def test_a_sold_out_template_is_answered_without_a_database_query() -> None:
    brand = await make_brand()
    template = await active_template(brand, total_stock=2)
    member_ids = await _members(brand, 22)
    won = [await _claim(brand, template, m) for m in member_ids[:2]]

    with counted_queries() as queries:
        answers = await asyncio.gather(*(_claim(brand, template, m) for m in member_ids[2:]))

    assert won == ["issued", "issued"]
    assert answers == ["coupon.out_of_stock"] * 20
    assert queries.count == 0
    assert await Coupon.filter(template_id=template.id).count() == 2


@needs_redis
async def test_terms_lost_from_redis_are_read_from_the_row_and_cached_again() -> None:
    brand = await make_brand()
    template = await active_template(brand, total_stock=1)
    first, second, third = await _members(brand, 3)
    await _claim(brand, template, first)
    cache = redis_cache()
    assert cache is not None
    await cache.delete(issuing.terms_key(template.id))

    with counted_queries() as from_rows:
        answer = await _claim(brand, template, second)
    with counted_queries() as from_redis:
        again = await _claim(brand, template, third)

    assert (answer, again) == ("coupon.out_of_stock", "coupon.out_of_stock")
    assert from_rows.count > 0 and from_redis.count == 0


@needs_redis
async def test_a_sold_out_template_paused_or_ended_says_so() -> None:
    brand = await make_brand()
    template = await active_template(brand, total_stock=1)
    first, second = await _members(brand, 2)
    await _claim(brand, template, first)

    answers = []
    for action in ("pause", "activate", "end"):
        await templates.change_state(
            brand_id=brand.id, actor="staff:test", template_id=template.id, action=action
        )
        answers.append(await _claim(brand, template, second))

    assert answers == [
        "coupon.template_not_active",
        "coupon.out_of_stock",
        "coupon.template_not_active",
    ]


@needs_redis
async def test_on_a_sold_out_template_a_retry_still_answers_its_coupon() -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    template = await active_template(brand, total_stock=1)
    other_brand = await make_brand()

    first = await issue_coupon(
        brand_id=brand.id, template_id=template.id, member_id=member.id, source="admin", key="k"
    )
    again = await issue_coupon(
        brand_id=brand.id, template_id=template.id, member_id=member.id, source="admin", key="k"
    )
    with pytest.raises(Exception) as foreign:
        await issue_coupon(
            brand_id=other_brand.id,
            template_id=template.id,
            member_id=member.id,
            source="admin",
            key="k2",
        )

    assert again.created is False and again.coupon.id == first.coupon.id
    assert getattr(foreign.value, "code", None) == "coupon_template.not_found"
