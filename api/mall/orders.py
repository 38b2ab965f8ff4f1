"""Mall orders: priced by the one engine, created once per Idempotency-Key, holding stock,
coupons and points until paid, given back exactly once when cancelled or closed.

Creating an order is one transaction: the member row locked (so one member's orders queue),
the order row (unique per brand and `<member id>:<key>`: the same key answers the first order,
another body with it is refused 409 `mall_order.key_reused`), its lines, the units taken by
guarded decrements (`stock >= q` in the WHERE clause, SKUs in id order so two orders cannot
deadlock; a store's stock for pickup, central stock for delivery) — never oversold —, the
coupons held (`hold_order_coupons`, order ref `mall:<id>`) and the points spent (key
`mall_order:<id>`). Any refusal rolls all of it back. Every amount is the server's: what a
client sends besides the items is not read.

Cancelling (the member, `pending_payment` only) and closing (the job, past the brand's
`mall_order_timeout_min`) move the state first by a guarded update, and only the caller that
moved it gives the units, coupons and points back, in the same transaction: once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from api.core.errors import Conflict, DomainError, InvalidInput, NotFound
from api.core.pagination import paginate
from api.core.ports import clock
from api.coupons import wallet as coupon_wallet
from api.coupons.error_codes import CouponErrorCode
from api.coupons.models import Channel, Coupon
from api.member_center.ledger import lock_member
from api.member_center.points import earn_points, spend_points
from api.org.models import Brand, Status, Store
from api.payments import payments
from api.payments.models import Payment, PaymentState
from api.payments.providers.base import ProviderUnavailable

from . import cart as cart_service
from .attribution import attribute_order
from .catalogue import MemberPricing, member_pricing
from .error_codes import MallOrderErrorCode
from .models import (
    CartItem,
    Fulfilment,
    MallOrder,
    MallOrderLine,
    OrderState,
    Product,
    Sku,
    StoreStock,
)
from .pricing import Breakdown, DeliveryRule, LineIn, PointsRule, PricingInput, price

MAX_COUPONS = 5
MAX_LINES = 50
CLOSE_BATCH = 200


@dataclass(frozen=True)
class OrderRequest:
    """What the member asks for; every amount is worked out here."""

    fulfilment: Fulfilment
    items: list[tuple[int, int]] | None = None  # (sku id, quantity)
    from_cart: bool = False
    coupon_ids: tuple[int, ...] = ()
    points_to_use: int = 0
    address: dict[str, Any] | None = None
    store_id: int | None = None
    guide_code: str = ""

    def fingerprint(self) -> str:
        """The request as stored with its key: another body under the key is refused."""
        data = {
            "fulfilment": self.fulfilment.value,
            "items": sorted(self.items or []),
            "from_cart": self.from_cart,
            "coupon_ids": list(self.coupon_ids),
            "points_to_use": self.points_to_use,
            "address": self.address or {},
            "store_id": self.store_id,
            "guide_code": self.guide_code,
        }
        raw = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class QuoteLine:
    sku: Sku
    product: Product
    quantity: int


@dataclass(frozen=True)
class Quote:
    """An order as it would be created: its lines and the engine's breakdown."""

    lines: list[QuoteLine]
    breakdown: Breakdown
    pricing: MemberPricing
    store_id: int | None


def coupon_ref(order_id: int) -> str:
    """How a mall order names itself on the coupons it holds."""
    return f"mall:{order_id}"


def points_key(order_id: int) -> str:
    return f"mall_order:{order_id}"


# ---------------------------------------------------------------- pricing an order


async def _wanted(brand_id: int, member_id: int, request: OrderRequest) -> list[tuple[int, int]]:
    if (request.items is None) == (not request.from_cart):
        raise InvalidInput(
            MallOrderErrorCode.ITEMS_INVALID, "Send either items or from_cart: true."
        )
    if request.items is not None:
        wanted: dict[int, int] = {}
        for sku_id, quantity in request.items:
            wanted[sku_id] = wanted.get(sku_id, 0) + quantity
        return sorted(wanted.items())
    rows = await CartItem.filter(brand_id=brand_id, member_id=member_id, selected=True).order_by(
        "sku_id"
    )
    if not rows:
        raise InvalidInput(MallOrderErrorCode.EMPTY, "Nothing is selected in the cart.")
    return [(row.sku_id, row.quantity) for row in rows]


async def _pickup_store(brand_id: int, request: OrderRequest) -> int | None:
    if request.fulfilment is Fulfilment.DELIVERY:
        if not request.address:
            raise InvalidInput(MallOrderErrorCode.ADDRESS_REQUIRED, "A delivery needs the address.")
        return None
    if request.store_id is None:
        raise InvalidInput(MallOrderErrorCode.STORE_REQUIRED, "Choose the store to pick up at.")
    store = await Store.filter(id=request.store_id, brand_id=brand_id).first()
    if store is None or store.status != Status.ACTIVE:
        raise NotFound(MallOrderErrorCode.STORE_NOT_FOUND, "No such store to pick up at.")
    return store.id


def _rules(brand: Brand, pricing: MemberPricing, fulfilment: Fulfilment) -> tuple[Any, Any]:
    rule = dict(brand.setting("points_deduction"))  # type: ignore[call-overload]
    points = PointsRule(int(rule["points_per_yuan"]), int(rule["max_pct"]))
    if fulfilment is not Fulfilment.DELIVERY:
        return points, None
    threshold = brand.setting("mall_free_delivery_threshold_fen")
    delivery = DeliveryRule(
        fee_fen=int(brand.setting("mall_delivery_fee_fen")),  # type: ignore[call-overload]
        free_threshold_fen=None if threshold is None else int(threshold),  # type: ignore[call-overload]
        free_for_level=pricing.free_delivery,
    )
    return points, delivery


def _refuse(breakdown: Breakdown) -> None:
    refusal = breakdown.refusal
    if refusal is None:
        return
    reason = str(refusal.reason)
    error = NotFound if reason == CouponErrorCode.NOT_FOUND else Conflict
    raise error(
        reason,
        f"Coupon {refusal.coupon_id} cannot be used on this order ({reason}).",
        details={"coupon_id": refusal.coupon_id},
    )


async def quote_order(
    *, brand_id: int, member_id: int, request: OrderRequest, order_ref: str | None = None
) -> Quote:
    """Price an order for the member as it would be created (nothing is held or changed).

    404 `sku.not_found`, `mall_order.store_not_found`, `coupon.not_found`; 409
    `mall_order.sku_unavailable` and the coupon refusals; 422 `mall_order.items_invalid`,
    `mall_order.empty`, `mall_order.address_required`, `mall_order.store_required`,
    `coupon.listed_twice`.
    """
    if len(set(request.coupon_ids)) != len(request.coupon_ids):
        raise InvalidInput(CouponErrorCode.LISTED_TWICE, "A coupon is listed twice.")
    wanted = await _wanted(brand_id, member_id, request)
    store_id = await _pickup_store(brand_id, request)
    skus = {s.id: s for s in await Sku.filter(brand_id=brand_id, id__in=[s for s, _ in wanted])}
    products = {p.id: p for p in await Product.filter(id__in={s.product_id for s in skus.values()})}
    lines: list[QuoteLine] = []
    for sku_id, quantity in wanted:
        sku = skus.get(sku_id)
        if sku is None:
            raise NotFound("sku.not_found", f"No SKU {sku_id}.", details={"sku_id": sku_id})
        product = products[sku.product_id]
        if not (sku.active and product.on_shelf):
            raise Conflict(
                MallOrderErrorCode.SKU_UNAVAILABLE,
                f"{product.name} is not on sale.",
                details={"sku_id": sku_id},
            )
        lines.append(QuoteLine(sku, product, quantity))
    brand = await Brand.get(id=brand_id)
    pricing = await member_pricing(brand_id=brand_id, member_id=member_id)
    points_rule, delivery = _rules(brand, pricing, request.fulfilment)
    coupons: dict[int, Coupon] = {}
    if request.coupon_ids:
        found = await Coupon.filter(
            id__in=list(request.coupon_ids), brand_id=brand_id, member_id=member_id
        ).prefetch_related("template")
        coupons = {c.id: c for c in found}
    breakdown = price(
        PricingInput(
            lines=[
                LineIn(
                    sku_id=ln.sku.id,
                    quantity=ln.quantity,
                    list_price_fen=ln.sku.list_price_fen,
                    member_price_fen=ln.sku.member_price(pricing.level_id),
                    product_id=ln.product.id,
                    category_id=ln.product.category_id,
                )
                for ln in lines
            ],
            store_id=store_id or 0,
            channel=Channel.MALL,
            now=clock().now(),
            discount_pct=pricing.discount_pct,
            coupons=[
                (cid, coupons.get(cid), coupons[cid].template if cid in coupons else None)
                for cid in request.coupon_ids
            ],
            order_ref=order_ref,
            points_to_use=request.points_to_use,
            points_rule=points_rule,
            delivery=delivery,
        )
    )
    _refuse(breakdown)
    return Quote(lines, breakdown, pricing, store_id)


# ---------------------------------------------------------------- creating


async def _stored(brand_id: int, key: str, fingerprint: str) -> MallOrder | None:
    order = await MallOrder.filter(brand_id=brand_id, key=key).first()
    if order is not None and order.request_hash != fingerprint:
        raise Conflict(
            MallOrderErrorCode.KEY_REUSED, "This Idempotency-Key was used for another order."
        )
    return order


async def _take_units(
    db: BaseDBAsyncClient, *, line: QuoteLine, store_id: int | None, delta: int
) -> bool:
    """Move a line's units (negative: take them) by a guarded update; False when short."""
    if store_id is None:
        rows = Sku.filter(id=line.sku.id, stock__gte=max(0, -delta))
    else:
        rows = StoreStock.filter(  # type: ignore[assignment]
            sku_id=line.sku.id, store_id=store_id, stock__gte=max(0, -delta)
        )
    return bool(await rows.using_db(db).update(stock=F("stock") + delta))


async def create_order(
    *,
    brand_id: int,
    member_id: int,
    request_key: str,
    request: OrderRequest,
    staff: tuple[int, int | None] | None = None,
) -> MallOrder:
    """Create the order once per key: stock, coupons and points held (see the module doc).

    The refusals of `quote_order`, and 409 `mall_order.out_of_stock`, `mall_order.key_reused`,
    `points.insufficient`, `coupon.locked_by_another_order`. `staff` (the guide's id and
    store) makes it a guide's order for the member, credited to them.
    """
    key = (
        f"{member_id}:{request_key}"
        if staff is None
        else f"{member_id}:staff:{staff[0]}:{request_key}"
    )
    fingerprint = request.fingerprint()
    earlier = await _stored(brand_id, key, fingerprint)
    if earlier is not None:
        return earlier
    quote = await quote_order(brand_id=brand_id, member_id=member_id, request=request)
    brand = await Brand.get(id=brand_id)
    timeout = timedelta(minutes=int(brand.setting("mall_order_timeout_min")))  # type: ignore[call-overload]
    try:
        async with in_transaction() as db:
            order = await _write(
                db,
                brand_id=brand_id,
                member_id=member_id,
                key=key,
                fingerprint=fingerprint,
                request=request,
                quote=quote,
                expires_at=clock().now() + timeout,
                staff=staff,
            )
    except IntegrityError:
        # The same key committed by a concurrent request.
        earlier = await _stored(brand_id, key, fingerprint)
        if earlier is None:
            raise
        return earlier
    if order.payable_fen == 0:
        from .paid import mark_order_paid

        async with in_transaction() as db:
            await mark_order_paid(db, order_id=order.id, payment_id=None)
        order = await MallOrder.get(id=order.id)
    return order


async def _write(
    db: BaseDBAsyncClient,
    *,
    brand_id: int,
    member_id: int,
    key: str,
    fingerprint: str,
    request: OrderRequest,
    quote: Quote,
    expires_at: datetime,
    staff: tuple[int, int | None] | None = None,
) -> MallOrder:
    await lock_member(db, brand_id=brand_id, member_id=member_id)
    earlier = await MallOrder.filter(brand_id=brand_id, key=key).using_db(db).first()
    if earlier is not None:
        if earlier.request_hash != fingerprint:
            raise Conflict(
                MallOrderErrorCode.KEY_REUSED, "This Idempotency-Key was used for another order."
            )
        return earlier
    b = quote.breakdown
    guide_id: int | None
    if staff is not None:
        guide_id, attributed_store_id = staff
    else:
        guide_id, attributed_store_id = await attribute_order(
            brand_id=brand_id, member_id=member_id, guide_code=request.guide_code
        )
    order = await MallOrder.create(
        using_db=db,
        brand_id=brand_id,
        member_id=member_id,
        key=key,
        request_hash=fingerprint,
        fulfilment=request.fulfilment,
        store_id=quote.store_id,
        address=request.address or {},
        guide_code=request.guide_code,
        guide_id=guide_id,
        attributed_store_id=attributed_store_id,
        created_by_staff_id=staff[0] if staff is not None else None,
        level_id=quote.pricing.level_id,
        discount_pct=quote.pricing.discount_pct if b.level_applied else 100,
        list_fen=b.list_fen,
        member_price_discount_fen=b.member_price_discount_fen,
        level_discount_fen=b.level_discount_fen,
        coupon_discount_fen=b.coupon_discount_fen,
        points_used=b.points_used,
        points_discount_fen=b.points_discount_fen,
        delivery_fee_fen=b.delivery_fee_fen,
        payable_fen=b.payable_fen,
        expires_at=expires_at,
    )
    for line, priced in zip(quote.lines, b.lines, strict=True):
        await MallOrderLine.create(
            using_db=db,
            order_id=order.id,
            sku_id=line.sku.id,
            product_id=line.product.id,
            name=line.product.name,
            spec=line.sku.spec,
            quantity=line.quantity,
            unit_list_fen=line.sku.list_price_fen,
            list_fen=priced.list_fen,
            member_price_fen=priced.member_price_fen,
            level_discount_fen=priced.level_discount_fen,
            coupon_fen=priced.coupon_fen,
            points_fen=priced.points_fen,
            points=priced.points,
            payable_fen=priced.payable_fen,
        )
    for line in sorted(quote.lines, key=lambda ln: ln.sku.id):
        if not await _take_units(db, line=line, store_id=quote.store_id, delta=-line.quantity):
            raise Conflict(
                MallOrderErrorCode.OUT_OF_STOCK,
                f"{line.product.name} has fewer units left than that.",
                details={"sku_id": line.sku.id},
            )
    if b.coupons:
        # The transaction's connection is the current one: the coupons are held in it.
        await coupon_wallet.hold_order_coupons(
            brand_id=brand_id,
            member_id=member_id,
            order_ref=coupon_ref(order.id),
            discounts={c.coupon_id: c.discount_fen for c in b.coupons},
        )
    if b.points_used:
        await spend_points(
            brand_id=brand_id,
            member_id=member_id,
            amount=b.points_used,
            key=points_key(order.id),
            reason=f"mall order {order.id}",
            actor=f"member:{member_id}",
            connection=db,
        )
    if request.from_cart:
        await cart_service.drop_ordered(
            db,
            brand_id=brand_id,
            member_id=member_id,
            sku_ids=[ln.sku.id for ln in quote.lines],
        )
    return order


# ---------------------------------------------------------------- reading


async def get_order(*, brand_id: int, member_id: int, order_id: int) -> MallOrder:
    """One of the member's orders; 404 `mall_order.not_found`."""
    order = await MallOrder.filter(id=order_id, brand_id=brand_id, member_id=member_id).first()
    if order is None:
        raise NotFound(MallOrderErrorCode.NOT_FOUND, "No such order.")
    return order


async def order_lines(order_ids: list[int]) -> dict[int, list[MallOrderLine]]:
    """The lines of these orders, by order."""
    found: dict[int, list[MallOrderLine]] = {oid: [] for oid in order_ids}
    for line in await MallOrderLine.filter(order_id__in=order_ids).order_by("id"):
        found[line.order_id].append(line)
    return found


async def list_orders(
    *, brand_id: int, member_id: int, state: OrderState | None, cursor: str | None, limit: int
) -> tuple[list[MallOrder], str | None]:
    """The member's orders, newest first, in one state if asked."""
    queryset = MallOrder.filter(brand_id=brand_id, member_id=member_id)
    if state is not None:
        queryset = queryset.filter(state=state)
    rows, next_cursor = await paginate(queryset, cursor=cursor, limit=limit)
    return rows, next_cursor


# ---------------------------------------------------------------- giving back


async def _give_back(db: BaseDBAsyncClient, order: MallOrder) -> None:
    """Units, coupons and points of an order that was never paid, back where they came from."""
    for line in sorted(await MallOrderLine.filter(order_id=order.id).using_db(db), key=_by_sku):
        if order.store_id is None:
            rows = Sku.filter(id=line.sku_id)
        else:
            rows = StoreStock.filter(sku_id=line.sku_id, store_id=order.store_id)  # type: ignore[assignment]
        await rows.using_db(db).update(stock=F("stock") + line.quantity)
    await coupon_wallet.release_order_coupons(
        brand_id=order.brand_id, order_ref=coupon_ref(order.id)
    )
    if order.points_used:
        await earn_points(
            brand_id=order.brand_id,
            member_id=order.member_id,
            amount=order.points_used,
            key=f"mall_order:return:{order.id}",
            reason=f"mall order {order.id} not paid",
            actor=f"member:{order.member_id}",
            connection=db,
        )


def _by_sku(line: MallOrderLine) -> int:
    return line.sku_id


async def _end(order: MallOrder, state: OrderState) -> bool:
    """`pending_payment` → cancelled or closed, giving everything back, once; False: lost."""
    now = clock().now()
    async with in_transaction() as db:
        await lock_member(db, brand_id=order.brand_id, member_id=order.member_id, allow_merged=True)
        moved = (
            await MallOrder.filter(id=order.id, state=OrderState.PENDING_PAYMENT)
            .using_db(db)
            .update(state=state, cancelled_at=now)
        )
        if moved:
            await _give_back(db, order)
    return bool(moved)


async def cancel_order(*, brand_id: int, member_id: int, order_id: int) -> MallOrder:
    """Cancel an unpaid order: its units, coupons and points come back, once; again: as it is.

    404 `mall_order.not_found`; 409 `mall_order.not_cancellable` once it is paid or closed.
    """
    order = await get_order(brand_id=brand_id, member_id=member_id, order_id=order_id)
    await _end(order, OrderState.CANCELLED)
    order = await get_order(brand_id=brand_id, member_id=member_id, order_id=order_id)
    if order.state is not OrderState.CANCELLED:
        raise Conflict(
            MallOrderErrorCode.NOT_CANCELLABLE, f"The order is {order.state.value}, not unpaid."
        )
    return order


async def close_expired_orders(*, now: datetime | None = None, limit: int = CLOSE_BATCH) -> int:
    """Close unpaid orders past their brand's timeout, giving everything back; how many (safe
    to run twice, and beside a payment: the guarded state update lets one win)."""
    now = now or clock().now()
    due = (
        await MallOrder.filter(state=OrderState.PENDING_PAYMENT, expires_at__lte=now)
        .order_by("id")
        .limit(limit)
    )
    closed = 0
    for order in due:
        try:
            if await _payment_pending(order, now=now):
                continue
            closed += await _end(order, OrderState.CLOSED)
        except DomainError:
            continue
    return closed


async def _payment_pending(order: MallOrder, *, now: datetime) -> bool:
    """Whether the order's payment may still be paid: not expired at the platform yet, or the
    platform says it was paid (applied now, which marks the order paid) or cannot be asked."""
    if order.payment_id is None:
        return False
    payment = await Payment.get_or_none(id=order.payment_id)
    if payment is None or payment.state is not PaymentState.CREATED or payment.account_id is None:
        return False
    if payment.expires_at > now:
        return True
    try:
        _, applied = await payments.refresh_from_platform(payment, now=now)
        if applied.payment.state is PaymentState.CREATED:
            # Unpaid past its time: closed at the platform first, so it can no longer be paid.
            await (await payments.provider_of(payment)).close(payment.out_trade_no)
            await Payment.filter(id=payment.id, state=PaymentState.CREATED).update(
                state=PaymentState.CLOSED, closed_at=now
            )
            return False
    except (DomainError, payments.TradeMismatch, ProviderUnavailable):
        return True  # asked again by the next run
    return applied.payment.state is not PaymentState.CLOSED
