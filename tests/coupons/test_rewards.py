"""Coupons the system gives: a new member's gift and a payment's reward, queued with their cause
and issued once however often the cause is repeated; the mall's compensation, once per key."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.core import outbox
from api.core.errors import Conflict, InvalidInput
from api.core.models import AuditLog, OutboxMessage
from api.coupons import rewards
from api.coupons.models import Coupon, CouponSource, CouponTemplate
from api.coupons.rewards import NEW_MEMBER_TOPIC, PAYMENT_REWARD_TOPIC, compensate
from api.member_center import identity
from api.member_center.models import Member, MemberStatus
from api.payments.models import Payment
from tests.factories import make_brand, make_member, member_token
from tests.payments.chain import Chain, make_chain, wechat_payment
from tests.support.api import Api
from tests.support.player import Player

from .support import active_template

PHONE = "13912345678"


def _handlers() -> None:
    outbox.register_handler(NEW_MEMBER_TOPIC, rewards.give_new_member_gift)
    outbox.register_handler(PAYMENT_REWARD_TOPIC, rewards.give_payment_reward)


async def _rewarding_chain(**settings: Any) -> tuple[Chain, CouponTemplate, CouponTemplate]:
    """A chain whose new members get `gift` and whose payments of 100 yuan or more earn `reward`."""
    chain = await make_chain()
    gift = await active_template(chain.brand, name="新人券", total_stock=100)
    reward = await active_template(chain.brand, name="消费返券", total_stock=100)
    chain.brand.settings = {
        "new_member_coupon_template_ids": [gift.id],
        "payment_reward_rules": [{"threshold_fen": 10_000, "template_id": reward.id}],
        **settings,
    }
    await chain.brand.save()
    return chain, gift, reward


@pytest.mark.usefixtures("live_url")
async def test_a_payment_notified_20_times_gives_one_gift_and_one_reward_shown_in_its_result(
    api: Api, player: Player
) -> None:
    chain, gift, reward = await _rewarding_chain()
    payment = await wechat_payment(chain, amount_fen=12_345, store_id=chain.direct_store_id)

    await player.pay(payment.out_trade_no, deliveries=20)
    member = await Member.get(id=(await Payment.get(id=payment.id)).member_id)
    token = member_token(member)
    before = await api.get(f"/me/payments/{payment.id}", token=token)
    _handlers()
    await outbox.deliver_due()
    # The handlers delivered again, 20 at once (a lease run out): still one coupon each.
    for message in await OutboxMessage.filter(topic__in=[NEW_MEMBER_TOPIC, PAYMENT_REWARD_TOPIC]):
        handler = (
            rewards.give_new_member_gift
            if message.topic == NEW_MEMBER_TOPIC
            else rewards.give_payment_reward
        )
        await asyncio.gather(*(handler(message.payload) for _ in range(20)))
    after = await api.get(f"/me/payments/{payment.id}", token=token)

    assert await OutboxMessage.filter(topic=NEW_MEMBER_TOPIC).count() == 1
    assert await OutboxMessage.filter(topic=PAYMENT_REWARD_TOPIC).count() == 1
    gifts = await Coupon.filter(template_id=gift.id)
    rewarded = await Coupon.filter(template_id=reward.id)
    assert [(c.member_id, c.source, c.key) for c in gifts] == [
        (member.id, CouponSource.NEW_MEMBER, f"new_member:{member.id}")
    ]
    assert [(c.member_id, c.source, c.key) for c in rewarded] == [
        (member.id, CouponSource.PAYMENT_REWARD, f"payment:{payment.id}")
    ]
    assert before.status == 200, before
    assert before.json["reward_coupons"] == [] and before.json["rewards_pending"] is True
    assert after.json["state"] == "paid" and after.json["rewards_pending"] is False
    assert [c["code"] for c in after.json["reward_coupons"]] == [rewarded[0].code]
    assert after.json["reward_coupons"][0]["name"] == "消费返券"


@pytest.mark.usefixtures("live_url")
async def test_a_payment_below_every_threshold_earns_nothing(api: Api, player: Player) -> None:
    chain, _, reward = await _rewarding_chain()
    payment = await wechat_payment(chain, amount_fen=9_999, store_id=chain.direct_store_id)

    await player.pay(payment.out_trade_no)
    _handlers()
    await outbox.deliver_due()
    member = await Member.get(id=(await Payment.get(id=payment.id)).member_id)
    result = await api.get(f"/me/payments/{payment.id}", token=member_token(member))

    assert await OutboxMessage.filter(topic=PAYMENT_REWARD_TOPIC).count() == 0
    assert await Coupon.filter(template_id=reward.id).count() == 0
    assert result.json["reward_coupons"] == [] and result.json["rewards_pending"] is False
    assert await OutboxMessage.filter(topic=NEW_MEMBER_TOPIC).count() == 1  # still a new member


@pytest.mark.usefixtures("live_url")
async def test_another_members_payment_result_is_not_found(api: Api, player: Player) -> None:
    chain, _, _ = await _rewarding_chain()
    payment = await wechat_payment(chain, amount_fen=12_345, store_id=chain.direct_store_id)
    await player.pay(payment.out_trade_no)
    stranger = await make_member(brand=chain.brand)

    answer = await api.get(f"/me/payments/{payment.id}", token=member_token(stranger))

    assert (answer.status, answer.error_code) == (404, "payment.not_found")


async def test_twenty_phone_bindings_at_once_give_the_new_member_one_gift() -> None:
    brand = await make_brand()
    gift = await active_template(brand, total_stock=100)
    brand.settings = {"new_member_coupon_template_ids": [gift.id]}
    await brand.save()
    visitor = await make_member(brand=brand, status=MemberStatus.VISITOR)
    other = await make_member(brand=brand, status=MemberStatus.VISITOR)

    await asyncio.gather(
        *(
            identity.bind_phone(brand_id=brand.id, member_id=visitor.id, phone=PHONE)
            for _ in range(20)
        ),
        return_exceptions=True,
    )
    # Another visitor binding the same phone is merged into the member: no second gift.
    await identity.bind_phone(brand_id=brand.id, member_id=other.id, phone=PHONE)
    _handlers()
    await outbox.deliver_due()

    assert (await Member.get(id=visitor.id)).status == MemberStatus.MEMBER
    assert await OutboxMessage.filter(topic=NEW_MEMBER_TOPIC).count() == 1
    coupons = await Coupon.filter(template_id=gift.id)
    assert [(c.member_id, c.key) for c in coupons] == [(visitor.id, f"new_member:{visitor.id}")]


async def test_a_gift_whose_template_ran_out_is_skipped_not_retried() -> None:
    brand = await make_brand()
    gift = await active_template(brand, total_stock=1)
    brand.settings = {"new_member_coupon_template_ids": [gift.id]}
    await brand.save()
    first = await make_member(brand=brand, status=MemberStatus.VISITOR)
    second = await make_member(brand=brand, status=MemberStatus.VISITOR)

    await identity.bind_phone(brand_id=brand.id, member_id=first.id, phone=PHONE)
    await identity.bind_phone(brand_id=brand.id, member_id=second.id, phone="13700000000")
    _handlers()
    report = await outbox.deliver_due()

    assert (report.sent, report.retried, report.dead) == (2, 0, 0)
    assert await Coupon.filter(template_id=gift.id).values_list("member_id", flat=True) == [
        first.id
    ]


async def test_compensation_is_issued_once_per_key_even_twenty_at_once() -> None:
    brand = await make_brand()
    template = await active_template(brand, per_member_limit=5)
    member = await make_member(brand=brand)

    results = await asyncio.gather(
        *(
            compensate(
                brand_id=brand.id,
                member_id=member.id,
                template_id=template.id,
                key="mall-order:77",
                reason="late delivery",
            )
            for _ in range(20)
        ),
        return_exceptions=True,
    )
    again = await compensate(
        brand_id=brand.id,
        member_id=member.id,
        template_id=template.id,
        key="mall-order:77",
        reason="late delivery",
    )

    # then each call answers the one coupon, or (with Redis, while the first is still writing
    # it) asks to be retried; never a second coupon
    issued = [r for r in results if not isinstance(r, BaseException)]
    retry = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(r, Conflict) and r.code == "coupon.issue_in_progress" for r in retry)
    assert sum(r.created for r in issued) == 1 and again.created is False
    assert len({r.coupon.id for r in issued} | {again.coupon.id}) == 1
    coupon = await Coupon.get(template_id=template.id)
    assert (coupon.source, coupon.key) == (CouponSource.COMPENSATION, "compensation:mall-order:77")
    assert await AuditLog.filter(action="coupon.compensate").count() == 1


async def test_a_compensation_with_a_bad_key_is_refused_and_issues_nothing() -> None:
    brand = await make_brand()
    template = await active_template(brand)
    member = await make_member(brand=brand)

    with pytest.raises(InvalidInput) as refused:
        await compensate(
            brand_id=brand.id,
            member_id=member.id,
            template_id=template.id,
            key="x" * 200,
            reason="late delivery",
        )

    assert refused.value.code == "coupon.invalid_key"
    assert await Coupon.all().count() == 0
    assert (await CouponTemplate.get(id=template.id)).issued == 0
