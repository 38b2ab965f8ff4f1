"""What a paid payment does — "payment becomes membership" — run once, inside the transaction
that moved the payment to `paid` (`payments.apply_trade`), whichever entry point paid it: the
till, a recharge, or the mall.

In order:
1. A visitor becomes a `member` (status, registration date, the entry level).
2. A recharge credits the wallet: the principal paid and the package's bonus. Any other purpose
   credits points (`points_per_yuan` of the brand × the member's level rate) and growth (one
   per yuan, which may lift the level). Recharges earn neither: the money earns them when it is
   spent. Every credit's key is `payment:<id>`, so it can never be applied twice.
3. A member without a home store is bound to the paying store (source `payment`).
4. A new member's welcome and new-member coupons are queued through the outbox.
5. `reward_paid_payment` queues the payment-reward coupons the brand's rules give.
6. The member's WeChat messages are queued: payment success, and points earned when any.
"""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

from api.core.clock import to_shanghai
from api.core.money import fen_to_yuan
from api.core.ports import clock
from api.coupons.rewards import queue_new_member_gift, queue_payment_reward
from api.mall.paid import mark_order_paid
from api.member_center.identity import registration_changes
from api.member_center.levels import add_growth
from api.member_center.models import Level, Member, MemberStatus, PointsEntry, RelationSource
from api.member_center.points import earn_points
from api.member_center.relations import bind_member
from api.member_center.wallet import recharge_wallet
from api.member_center.welcome import queue_welcome
from api.org.models import Brand, Store
from api.wechat_callbacks.messages import MemberMessageEvent, queue_member_message

from .models import Payment, PaymentPurpose


def payment_key(payment: Payment) -> str:
    """The ledger key of every credit a payment earns."""
    return f"payment:{payment.id}"


async def points_for(
    db: BaseDBAsyncClient, *, brand: Brand, member: Member, amount_fen: int
) -> int:
    """Points a paid amount earns: whole yuan × points_per_yuan × the level's rate, rounded down."""
    rate_pct = 100
    if member.level_id is not None:
        level = await Level.get_or_none(id=member.level_id, using_db=db)
        if level is not None:
            rate_pct = level.points_rate_pct
    per_yuan = int(brand.setting("points_per_yuan"))  # type: ignore[call-overload]
    return amount_fen * per_yuan * rate_pct // (100 * 100)


async def on_paid(db: BaseDBAsyncClient, payment: Payment) -> None:
    """The effects of `payment` having just been paid (see the module doc)."""
    if payment.member_id is None:
        return  # a payer the platform did not name: the money is recorded, nobody to credit
    brand = await Brand.get(id=payment.brand_id, using_db=db)
    member = await Member.get(id=payment.member_id, using_db=db)
    joined = False
    if member.status == MemberStatus.VISITOR:
        changes = await registration_changes(payment.brand_id, member, db)
        joined = bool(
            await Member.filter(id=member.id, status=MemberStatus.VISITOR)
            .using_db(db)
            .update(**changes)
        )
        member = await Member.get(id=member.id, using_db=db)
    key = payment_key(payment)
    earned: PointsEntry | None = None
    if payment.purpose == PaymentPurpose.RECHARGE:
        await recharge_wallet(
            brand_id=payment.brand_id,
            member_id=member.id,
            principal_fen=payment.amount_fen,
            bonus_fen=int(payment.details.get("bonus_fen", 0)),
            key=key,
            reason=f"recharge {payment.out_trade_no}",
            connection=db,
        )
    else:
        if payment.purpose == PaymentPurpose.MALL and "mall_order_id" in payment.details:
            await mark_order_paid(
                db, order_id=int(payment.details["mall_order_id"]), payment_id=payment.id
            )
        points = await points_for(db, brand=brand, member=member, amount_fen=payment.amount_fen)
        if points > 0:
            earned = await earn_points(
                brand_id=payment.brand_id,
                member_id=member.id,
                amount=points,
                key=key,
                reason=f"payment {payment.out_trade_no}",
                connection=db,
            )
            await Payment.filter(id=payment.id).using_db(db).update(points_earned=points)
        growth = payment.amount_fen // 100
        if growth > 0:
            await add_growth(
                brand_id=payment.brand_id,
                member_id=member.id,
                amount=growth,
                key=key,
                reason=f"payment {payment.out_trade_no}",
                connection=db,
            )
    if member.home_store_id is None and payment.store_id is not None:
        await bind_member(
            brand_id=payment.brand_id,
            member_id=member.id,
            store_id=payment.store_id,
            guide_id=None,
            source=RelationSource.PAYMENT,
            connection=db,
        )
    if joined:
        await queue_welcome(db, brand_id=payment.brand_id, member_id=member.id, reason="payment")
        await queue_new_member_gift(db, brand=brand, member_id=member.id)
    await reward_paid_payment(db, brand=brand, payment=payment, member_id=member.id)
    await queue_paid_messages(db, payment=payment, member_id=member.id, earned=earned)


async def reward_paid_payment(
    db: BaseDBAsyncClient, *, brand: Brand, payment: Payment, member_id: int
) -> None:
    """The coupons a paid payment earns, queued (at most one outbox message) inside the paid
    transaction and issued by the outbox handler with the key `payment:<id>`."""
    await queue_payment_reward(db, brand=brand, payment=payment, member_id=member_id)


async def queue_paid_messages(
    db: BaseDBAsyncClient, *, payment: Payment, member_id: int, earned: PointsEntry | None
) -> None:
    """Queue the member's payment-success message, and points-earned when the payment `earned`
    points, inside the paid transaction (each once per payment)."""
    store = await Store.get_or_none(id=payment.store_id, using_db=db) if payment.store_id else None
    paid_at = to_shanghai(payment.paid_at or clock().now())
    key = payment_key(payment)
    await queue_member_message(
        db,
        brand_id=payment.brand_id,
        member_id=member_id,
        event=MemberMessageEvent.PAYMENT_SUCCESS,
        fields={
            "amount": f"{fen_to_yuan(payment.amount_fen)}元",
            "store": store.name if store else "",
            "paid_at": paid_at.strftime("%Y-%m-%d %H:%M"),
            "out_trade_no": payment.out_trade_no,
        },
        dedupe_key=key,
    )
    if earned is not None:
        await queue_member_message(
            db,
            brand_id=payment.brand_id,
            member_id=member_id,
            event=MemberMessageEvent.POINTS_EARNED,
            fields={
                "points": earned.delta,
                "balance": earned.balance_after,
                "reason": store.name if store else "消费积分",
            },
            dedupe_key=key,
        )
