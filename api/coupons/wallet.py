"""The member's side: the coupon center, claiming, the wallet, and the lock → use trio.

A coupon moves available → locked (by one order) → used, and available → expired or revoked,
each by one guarded update on its current state: of any number of orders locking one coupon at
once exactly one wins, and a coupon is never used by two orders.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.functions import Count
from tortoise.queryset import QuerySet

from api.core import ports
from api.core.errors import Conflict, InvalidInput, NotFound
from api.core.pagination import paginate

from .error_codes import CouponErrorCode
from .issuing import Issued, issue_coupon
from .models import (
    Channel,
    Coupon,
    CouponSource,
    CouponState,
    CouponTemplate,
    OrderCoupon,
    TemplateState,
)

ORDER_REF_MAX = 64


class WalletFilter(StrEnum):
    AVAILABLE = "available"
    LOCKED = "locked"
    USED = "used"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Offer:
    """A template in the coupon center, and how many more of it this member may claim."""

    template: CouponTemplate
    remaining_stock: int
    claimable: int


async def coupon_center(*, brand_id: int, member_id: int) -> list[Offer]:
    """Active templates with stock left that the member may still claim, newest first."""
    now = ports.clock().now()
    templates = (
        await CouponTemplate.filter(brand_id=brand_id, state=TemplateState.ACTIVE)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now))
        .order_by("-id")
        .limit(100)
    )
    open_ = [t for t in templates if t.issued < t.total_stock]
    if not open_:
        return []
    held_rows = (
        await Coupon.filter(member_id=member_id, template_id__in=[t.id for t in open_])
        .annotate(n=Count("id"))
        .group_by("template_id")
        .values_list("template_id", "n")
    )
    held = {int(template_id): int(n) for template_id, n in held_rows}
    offers = []
    for template in open_:
        claimable = template.per_member_limit - held.get(template.id, 0)
        if claimable > 0:
            offers.append(Offer(template, template.total_stock - template.issued, claimable))
    return offers


async def claim_coupon(
    *, brand_id: int, member_id: int, template_id: int, request_key: str | None
) -> Issued:
    """The member claims one coupon (see `issue_coupon` for the refusals).

    With a `request_key` (the client's Idempotency-Key) a retry answers the first coupon.
    """
    key = f"claim:{member_id}:{request_key or uuid.uuid4().hex}"
    return await issue_coupon(
        brand_id=brand_id,
        template_id=template_id,
        member_id=member_id,
        source=CouponSource.CLAIM,
        key=key,
    )


async def list_my_coupons(
    *,
    brand_id: int,
    member_id: int,
    status: WalletFilter,
    cursor: str | None,
    limit: int,
) -> tuple[list[Coupon], str | None]:
    """The member's coupons in one status, newest first.

    `available` leaves out coupons past their window that expiry has not swept yet, and
    `expired` includes them, answered as expired (the rows are left to the sweep).
    """
    now = ports.clock().now()
    queryset: QuerySet[Coupon] = Coupon.filter(brand_id=brand_id, member_id=member_id)
    if status is WalletFilter.AVAILABLE:
        queryset = queryset.filter(state=CouponState.AVAILABLE, valid_until__gt=now)
    elif status is WalletFilter.EXPIRED:
        queryset = queryset.filter(
            Q(state=CouponState.EXPIRED) | Q(state=CouponState.AVAILABLE, valid_until__lte=now)
        )
    else:
        queryset = queryset.filter(state=CouponState(status.value))
    coupons, next_cursor = await paginate(
        queryset.prefetch_related("template"), cursor=cursor, limit=limit
    )
    for coupon in coupons:
        if coupon.state is CouponState.AVAILABLE and coupon.valid_until <= now:
            coupon.state = CouponState.EXPIRED
    return coupons, next_cursor


# ---------------------------------------------------------------- lock, release, use


def _check_order_ref(order_ref: str) -> None:
    if not 1 <= len(order_ref) <= ORDER_REF_MAX or not order_ref.isprintable():
        raise InvalidInput(
            CouponErrorCode.INVALID_KEY, f"order_ref must be 1 to {ORDER_REF_MAX} characters."
        )


async def _coupon(brand_id: int, coupon_id: int) -> Coupon:
    coupon = await Coupon.filter(id=coupon_id, brand_id=brand_id).first()
    if coupon is None:
        raise NotFound(CouponErrorCode.NOT_FOUND, "No such coupon.")
    return coupon


def _refusal(coupon: Coupon, now: datetime) -> Conflict:
    if coupon.state is CouponState.USED:
        return Conflict(CouponErrorCode.ALREADY_USED, "This coupon was already used.")
    if coupon.state is CouponState.LOCKED:
        return Conflict(
            CouponErrorCode.LOCKED_BY_ANOTHER_ORDER, "This coupon is held by another order."
        )
    if coupon.state is CouponState.EXPIRED or coupon.valid_until <= now:
        return Conflict(CouponErrorCode.EXPIRED, "This coupon has expired.")
    if coupon.valid_from > now:
        return Conflict(CouponErrorCode.NOT_STARTED, "This coupon is not valid yet.")
    return Conflict(CouponErrorCode.NOT_AVAILABLE, "This coupon cannot be used.")


async def lock_coupon(
    *, brand_id: int, coupon_id: int, order_ref: str, member_id: int | None = None
) -> Coupon:
    """Hold an available, currently valid coupon for one order; again for that order: no-op.

    `member_id`, when given, must be the coupon's owner (404 otherwise). 409
    `coupon.already_used`, `coupon.locked_by_another_order`, `coupon.expired`,
    `coupon.not_started`, `coupon.not_available`.
    """
    _check_order_ref(order_ref)
    coupon = await _coupon(brand_id, coupon_id)
    if member_id is not None and coupon.member_id != member_id:
        raise NotFound(CouponErrorCode.NOT_FOUND, "No such coupon.")
    now = ports.clock().now()
    locked = await Coupon.filter(
        id=coupon_id,
        state=CouponState.AVAILABLE,
        valid_from__lte=now,
        valid_until__gt=now,
    ).update(state=CouponState.LOCKED, order_ref=order_ref, locked_at=now)
    coupon = await _coupon(brand_id, coupon_id)
    if locked or (coupon.state is CouponState.LOCKED and coupon.order_ref == order_ref):
        return coupon
    raise _refusal(coupon, now)


async def release_coupon(*, brand_id: int, coupon_id: int, order_ref: str) -> Coupon:
    """Give a coupon held by `order_ref` back to its member (the order was cancelled or failed).

    Released twice, or never locked by this order: answered as it is, unchanged. A coupon
    whose window closed while it was held comes back expired.
    """
    _check_order_ref(order_ref)
    await _coupon(brand_id, coupon_id)
    now = ports.clock().now()
    held = Coupon.filter(id=coupon_id, state=CouponState.LOCKED, order_ref=order_ref)
    await held.filter(valid_until__gt=now).update(
        state=CouponState.AVAILABLE, order_ref=None, locked_at=None
    )
    await held.filter(valid_until__lte=now).update(
        state=CouponState.EXPIRED, order_ref=None, locked_at=None
    )
    return await _coupon(brand_id, coupon_id)


async def use_coupon(
    *,
    brand_id: int,
    coupon_id: int,
    order_ref: str,
    store_id: int | None = None,
    staff_id: int | None = None,
    channel: Channel | None = None,
    discount_fen: int = 0,
) -> Coupon:
    """Mark a coupon held by `order_ref` used (its order was paid), recording where, by whom,
    through which channel and what it took off; again: no-op.

    409 `coupon.not_locked` when the order does not hold it, `coupon.already_used` when
    another order used it.
    """
    _check_order_ref(order_ref)
    await _coupon(brand_id, coupon_id)
    now = ports.clock().now()
    await Coupon.filter(id=coupon_id, state=CouponState.LOCKED, order_ref=order_ref).update(
        state=CouponState.USED,
        used_at=now,
        used_store_id=store_id,
        used_staff_id=staff_id,
        used_channel=channel.value if channel else None,
        discount_fen=max(0, discount_fen),
    )
    coupon = await _coupon(brand_id, coupon_id)
    if coupon.state is CouponState.USED:
        if coupon.order_ref == order_ref:
            return coupon
        raise Conflict(CouponErrorCode.ALREADY_USED, "This coupon was used by another order.")
    raise Conflict(CouponErrorCode.NOT_LOCKED, "This order does not hold the coupon.")


# ---------------------------------------------------------------- an order's coupons
#
# An order priced with coupons records them (`OrderCoupon`: the coupon and what it takes off)
# and holds them all, or none: of any number of orders choosing one coupon at once, one holds
# it and the others are refused. The order uses them when it is paid, and gives them back when
# it is cancelled or an attempt to pay it ends with nothing charged; a new attempt holds them
# again (refused, with the coupon's code, when one was used or has expired meanwhile).


async def hold_order_coupons(
    *,
    brand_id: int,
    member_id: int,
    order_ref: str,
    discounts: dict[int, int] | None = None,
) -> list[OrderCoupon]:
    """Hold the order's coupons: `discounts` (coupon id → what it takes off) records them
    first; without it, the ones recorded are held again. All or none (the lock refusals of
    `lock_coupon`, the coupons already held by this order given back)."""
    _check_order_ref(order_ref)
    if discounts:
        for coupon_id, discount_fen in discounts.items():
            await OrderCoupon.get_or_create(
                order_ref=order_ref,
                coupon_id=coupon_id,
                defaults={"brand_id": brand_id, "discount_fen": discount_fen},
            )
    rows = await order_coupons(order_ref=order_ref)
    held: list[int] = []
    try:
        for row in rows:
            await lock_coupon(
                brand_id=brand_id, coupon_id=row.coupon_id, order_ref=order_ref, member_id=member_id
            )
            held.append(row.coupon_id)
    except Exception:
        for coupon_id in held:
            await release_coupon(brand_id=brand_id, coupon_id=coupon_id, order_ref=order_ref)
        raise
    return rows


async def order_coupons(*, order_ref: str) -> list[OrderCoupon]:
    """The coupons an order was priced with, in the order they were chosen."""
    return list(await OrderCoupon.filter(order_ref=order_ref).order_by("id"))


async def release_order_coupons(*, brand_id: int, order_ref: str) -> int:
    """Give back every coupon the order holds (cancelled, or nothing was charged); how many."""
    now = ports.clock().now()
    ids = [row.coupon_id for row in await order_coupons(order_ref=order_ref)]
    if not ids:
        return 0
    held = Coupon.filter(
        id__in=ids, brand_id=brand_id, state=CouponState.LOCKED, order_ref=order_ref
    )
    back = await held.filter(valid_until__gt=now).update(
        state=CouponState.AVAILABLE, order_ref=None, locked_at=None
    )
    gone = await held.filter(valid_until__lte=now).update(
        state=CouponState.EXPIRED, order_ref=None, locked_at=None
    )
    return back + gone


async def use_order_coupons(
    *, brand_id: int, order_ref: str, store_id: int | None, staff_id: int | None, channel: Channel
) -> int:
    """The order is paid: every coupon it holds is used, with where, by whom and what it took
    off; how many moved now (0 when done before)."""
    now = ports.clock().now()
    used = 0
    for row in await order_coupons(order_ref=order_ref):
        used += await Coupon.filter(
            id=row.coupon_id, brand_id=brand_id, state=CouponState.LOCKED, order_ref=order_ref
        ).update(
            state=CouponState.USED,
            used_at=now,
            used_store_id=store_id,
            used_staff_id=staff_id,
            used_channel=channel.value,
            discount_fen=row.discount_fen,
        )
    return used


async def return_order_coupons(
    *, brand_id: int, order_ref: str, connection: BaseDBAsyncClient | None = None
) -> int:
    """The order's payment was refunded in full: its used coupons go back to the wallet, or
    expire when their window has closed meanwhile; how many moved (0 when done before)."""
    now = ports.clock().now()
    rows = await OrderCoupon.filter(order_ref=order_ref).using_db(connection)
    ids = [row.coupon_id for row in rows]
    if not ids:
        return 0
    used = Coupon.filter(id__in=ids, brand_id=brand_id, state=CouponState.USED, order_ref=order_ref)
    cleared = {
        "order_ref": None,
        "locked_at": None,
        "used_at": None,
        "used_store_id": None,
        "used_staff_id": None,
        "used_channel": None,
        "discount_fen": 0,
    }
    back = await (
        used.filter(valid_until__gt=now)
        .using_db(connection)
        .update(state=CouponState.AVAILABLE, **cleared)
    )
    gone = await (
        used.filter(valid_until__lte=now)
        .using_db(connection)
        .update(state=CouponState.EXPIRED, **cleared)
    )
    return back + gone
