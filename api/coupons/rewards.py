"""Coupons the system gives: the new member's gift, the payment reward, the mall's compensation.

The gift and the reward are decided inside the transaction that caused them (a visitor became a
member; a payment was paid) and only queued there, through the outbox, with a dedupe key per
member or per payment: the cause commits with its message or not at all, and however often it
is repeated (20 phone bindings at once, a notification delivered 20 times) there is one
message. The outbox handler then issues through `issuing.issue_coupon` with the key
`new_member:<member id>` or `payment:<payment id>`, so a message delivered twice issues once.

A coupon that cannot be issued when the message is handled (the template ran out, ended, or
the member already holds its limit) is skipped and logged, not retried: the cause happened,
the offer was simply gone. Any other failure is left to the outbox to retry.

Brand settings:
- `new_member_coupon_template_ids`: the templates a new member gets, one coupon of each.
- `payment_reward_rules`: `[{threshold_fen, template_id}]`; a paid payment (not a recharge:
  stored value earns its rewards when it is spent) of at least `threshold_fen` earns one coupon
  of `template_id`, for every rule it reaches.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from api.core import audit, outbox
from api.core.errors import DomainError, NotFound
from api.core.models import OutboxMessage, OutboxStatus
from api.member_center.models import Member, MemberStatus
from api.org.models import Brand
from api.payments.error_codes import PaymentErrorCode
from api.payments.models import Payment, PaymentPurpose

from .campaigns import SKIP_REASONS
from .error_codes import CouponTemplateErrorCode
from .issuing import Issued, issue_coupon
from .models import Coupon, CouponSource, CouponTemplate

log = logging.getLogger("memberhub.coupons")

NEW_MEMBER_TOPIC = "coupon.new_member_gift"
PAYMENT_REWARD_TOPIC = "coupon.payment_reward"
_MERGE_HOPS = 8  # a member merged into one merged in turn …


def new_member_key(member_id: int) -> str:
    """The issuing key of a new member's gift (one per template)."""
    return f"new_member:{member_id}"


def payment_reward_key(payment_id: int) -> str:
    """The issuing key of a payment's reward (one per template)."""
    return f"payment:{payment_id}"


def _template_ids(value: object) -> list[int]:
    if not isinstance(value, list):
        return []
    return [int(t) for t in value if isinstance(t, int) and not isinstance(t, bool)]


def rewarded_templates(brand: Brand, amount_fen: int) -> list[int]:
    """The templates a paid amount earns by the brand's `payment_reward_rules`."""
    rules = brand.setting("payment_reward_rules")
    if not isinstance(rules, list):
        return []
    earned = [
        int(rule["template_id"])
        for rule in rules
        if isinstance(rule, dict) and amount_fen >= int(rule.get("threshold_fen", 0))
    ]
    return list(dict.fromkeys(earned))


async def queue_new_member_gift(db: BaseDBAsyncClient, *, brand: Brand, member_id: int) -> None:
    """Queue the brand's new-member coupons for the member, once per member (inside `db`)."""
    template_ids = _template_ids(brand.setting("new_member_coupon_template_ids"))
    if not template_ids:
        return
    await outbox.enqueue(
        topic=NEW_MEMBER_TOPIC,
        brand_id=brand.id,
        dedupe_key=f"{NEW_MEMBER_TOPIC}:{member_id}",
        payload={"brand_id": brand.id, "member_id": member_id, "template_ids": template_ids},
        connection=db,
    )


async def queue_payment_reward(
    db: BaseDBAsyncClient, *, brand: Brand, payment: Payment, member_id: int
) -> None:
    """Queue the coupons a paid payment earns, once per payment (inside the paid transaction)."""
    if payment.purpose == PaymentPurpose.RECHARGE:
        return
    template_ids = rewarded_templates(brand, payment.amount_fen)
    if not template_ids:
        return
    await outbox.enqueue(
        topic=PAYMENT_REWARD_TOPIC,
        brand_id=brand.id,
        dedupe_key=f"{PAYMENT_REWARD_TOPIC}:{payment.id}",
        payload={
            "brand_id": brand.id,
            "member_id": member_id,
            "payment_id": payment.id,
            "template_ids": template_ids,
        },
        connection=db,
    )


async def _current_member(brand_id: int, member_id: int) -> int:
    """The member, or the member they were merged into since the message was queued."""
    for _ in range(_MERGE_HOPS):
        row = await Member.get_or_none(id=member_id, brand_id=brand_id)
        if row is None or row.status != MemberStatus.MERGED or row.merged_into_id is None:
            return member_id
        member_id = row.merged_into_id
    return member_id


async def _issue_each(
    *, brand_id: int, member_id: int, template_ids: list[int], source: CouponSource, key: str
) -> list[Issued]:
    member_id = await _current_member(brand_id, member_id)
    issued: list[Issued] = []
    for template_id in template_ids:
        try:
            issued.append(
                await issue_coupon(
                    brand_id=brand_id,
                    template_id=template_id,
                    member_id=member_id,
                    source=source,
                    key=key,
                )
            )
        except DomainError as error:
            if error.code not in SKIP_REASONS and error.code != CouponTemplateErrorCode.NOT_FOUND:
                raise
            log.info("%s of template %s skipped: %s", key, template_id, error.code)
    return issued


async def give_new_member_gift(payload: dict[str, Any]) -> None:
    """Outbox handler for `coupon.new_member_gift`."""
    member_id = int(payload["member_id"])
    await _issue_each(
        brand_id=int(payload["brand_id"]),
        member_id=member_id,
        template_ids=_template_ids(payload.get("template_ids")),
        source=CouponSource.NEW_MEMBER,
        key=new_member_key(member_id),
    )


async def give_payment_reward(payload: dict[str, Any]) -> None:
    """Outbox handler for `coupon.payment_reward`."""
    await _issue_each(
        brand_id=int(payload["brand_id"]),
        member_id=int(payload["member_id"]),
        template_ids=_template_ids(payload.get("template_ids")),
        source=CouponSource.PAYMENT_REWARD,
        key=payment_reward_key(int(payload["payment_id"])),
    )


async def compensate(
    *, brand_id: int, member_id: int, template_id: int, key: str, reason: str
) -> Issued:
    """Issue one compensation coupon, once per `key` (issued as `compensation:<key>`), audited.

    The errors of `issuing.issue_coupon`.
    """
    issued = await issue_coupon(
        brand_id=brand_id,
        template_id=template_id,
        member_id=member_id,
        source=CouponSource.COMPENSATION,
        key=f"compensation:{key}",
    )
    if issued.created:
        async with in_transaction() as db:
            await audit.record(
                brand_id=brand_id,
                actor="system",
                action="coupon.compensate",
                target=f"coupon:{issued.coupon.id}",
                details={"member_id": member_id, "template_id": template_id, "reason": reason},
                connection=db,
            )
    return issued


@dataclass(frozen=True)
class PaymentResult:
    """A member's payment and the coupons it earned (`pending`: still being issued)."""

    payment: Payment
    coupons: list[tuple[Coupon, CouponTemplate]]
    pending: bool


async def payment_result(*, brand_id: int, member_id: int, payment_id: int) -> PaymentResult:
    """The member's own payment with its reward coupons; 404 `payment.not_found` otherwise."""
    payment = await Payment.get_or_none(id=payment_id, brand_id=brand_id, member_id=member_id)
    if payment is None:
        raise NotFound(PaymentErrorCode.NOT_FOUND, "No such payment.")
    coupons = await Coupon.filter(
        member_id=member_id,
        source=CouponSource.PAYMENT_REWARD,
        key=payment_reward_key(payment_id),
    ).order_by("id")
    templates = {
        t.id: t for t in await CouponTemplate.filter(id__in=[c.template_id for c in coupons])
    }
    pending = await OutboxMessage.filter(
        dedupe_key=f"{PAYMENT_REWARD_TOPIC}:{payment_id}", status=OutboxStatus.PENDING
    ).exists()
    return PaymentResult(
        payment=payment,
        coupons=[(c, templates[c.template_id]) for c in coupons],
        pending=pending,
    )
