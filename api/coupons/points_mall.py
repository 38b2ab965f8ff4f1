"""The points mall: head office shelves items, members spend points on them, stores hand gifts over.

An item is a coupon of a template (issued through `issue_coupon`, source `points_exchange`) or a
physical gift with its own stock, collected at a store the member chooses with a pickup code.

An exchange never loses points or stock, and never moves them twice:

- One transaction locks the member row, takes a gift's unit by a guarded update
  (`stock_left >= 1`), writes the exchange row (unique per brand and key) and spends the points
  (`spend_points`, key `points_mall:<exchange id>`, in a savepoint of it). Short of points, out
  of stock or over the limit, all of it rolls back: no stock lost when points are short, no
  points lost when stock is gone. The client's Idempotency-Key makes the key
  (`<member id>:<request key>`): a retry answers the first exchange.
- A coupon item's coupon is issued after that commit, under the key `points_mall:<exchange id>`
  (so a retry or the resume job issues it at most once), and the exchange moves `issuing` →
  `issued`. When the template cannot issue it (out of stock, no longer active, the member's
  limit), the exchange moves `issuing` → `failed` and the points come back in the same
  transaction (an earn under `points_mall:return:<exchange id>`): both guarded, so once.
- Cancelling an uncollected gift (`awaiting_pickup` → `cancelled`, guarded) gives its unit and
  its points back in one transaction, once; a pickup (`awaiting_pickup` → `collected`, guarded)
  happens at the chosen store only, once.

Points given back are a new lot that expires by the brand's rule counted from the day they come
back (the ledger has no way to restore the lots a spend drained).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from api.core import audit, ports
from api.core.errors import Conflict, DomainError, InvalidInput, NotFound
from api.core.pagination import paginate
from api.member_center.ledger import lock_member
from api.member_center.points import earn_points, points_summary, spend_points
from api.org.models import Status, Store
from api.org.scope import StoreScope
from api.org.stores import get_store

from .error_codes import CouponErrorCode, CouponTemplateErrorCode, PointsMallErrorCode
from .issuing import CODE_ALPHABET, issue_coupon
from .models import (
    Coupon,
    CouponSource,
    CouponTemplate,
    ExchangeState,
    MallExchange,
    MallItem,
    MallItemKind,
    TemplateState,
)

PICKUP_PREFIX = "P"  # a coupon code starts with "C": a counter cannot take one for the other
PICKUP_BODY_LENGTH = 9
_WRITE_ATTEMPTS = 3  # fresh pickup codes drawn when one collides
RESUME_AFTER = timedelta(minutes=2)  # an exchange left `issuing` this long is resumed

# The template's refusals that mean "this coupon cannot be issued now": the points go back.
# Anything else (the database down, the same key being issued right now) leaves the exchange
# `issuing` for a retry or the resume job.
_NOT_ISSUABLE = {
    CouponErrorCode.OUT_OF_STOCK,
    CouponErrorCode.TEMPLATE_NOT_ACTIVE,
    CouponErrorCode.LIMIT_REACHED,
    CouponErrorCode.DAILY_LIMIT_REACHED,
    CouponTemplateErrorCode.NOT_FOUND,
}

ITEM_FIELDS = ("name", "description", "image_url", "points_price", "per_member_limit", "on_shelf")


@dataclass(frozen=True)
class MallOffer:
    """An item on the shelf as one member sees it."""

    item: MallItem
    template: CouponTemplate | None
    stock_left: int
    affordable: bool


def new_pickup_code() -> str:
    """A fresh pickup code: "P" and 9 characters of the coupon codes' alphabet."""
    return PICKUP_PREFIX + "".join(secrets.choice(CODE_ALPHABET) for _ in range(PICKUP_BODY_LENGTH))


# ---------------------------------------------------------------- head office: items


async def _template(brand_id: int, template_id: int) -> CouponTemplate:
    template = await CouponTemplate.filter(id=template_id, brand_id=brand_id).first()
    if template is None:
        raise NotFound(CouponTemplateErrorCode.NOT_FOUND, "No such coupon template.")
    return template


async def get_item(*, brand_id: int, item_id: int) -> MallItem:
    """One item of the brand; 404 `points_mall.item_not_found`."""
    item = await MallItem.filter(id=item_id, brand_id=brand_id).first()
    if item is None:
        raise NotFound(PointsMallErrorCode.ITEM_NOT_FOUND, "No such points mall item.")
    return item


async def create_item(
    *,
    brand_id: int,
    actor: str,
    kind: MallItemKind,
    name: str,
    points_price: int,
    description: str = "",
    image_url: str = "",
    template_id: int | None = None,
    stock: int | None = None,
    per_member_limit: int | None = None,
    on_shelf: bool = False,
) -> MallItem:
    """Add an item: a coupon of a template, or a gift with its stock.

    404 `coupon_template.not_found`; 422 `points_mall.template_required`,
    `points_mall.template_not_allowed`, `points_mall.stock_not_allowed`.
    """
    if kind is MallItemKind.COUPON:
        if template_id is None:
            raise InvalidInput(
                PointsMallErrorCode.TEMPLATE_REQUIRED, "A coupon item needs its template_id."
            )
        if stock is not None:
            raise InvalidInput(
                PointsMallErrorCode.STOCK_NOT_ALLOWED,
                "A coupon item's stock is its template's; leave stock out.",
            )
        await _template(brand_id, template_id)
    elif template_id is not None:
        raise InvalidInput(
            PointsMallErrorCode.TEMPLATE_NOT_ALLOWED, "A gift item has no coupon template."
        )
    async with in_transaction() as db:
        item = await MallItem.create(
            using_db=db,
            brand_id=brand_id,
            kind=kind,
            name=name,
            description=description,
            image_url=image_url,
            points_price=points_price,
            template_id=template_id,
            stock_left=stock or 0,
            per_member_limit=per_member_limit,
            on_shelf=on_shelf,
        )
        await audit.record(
            brand_id=brand_id,
            actor=actor,
            action="points_mall_item.create",
            target=f"points_mall_item:{item.id}",
            details={"kind": kind.value, "points_price": points_price},
            connection=db,
        )
    return item


async def update_item(
    *, brand_id: int, actor: str, item_id: int, changes: dict[str, Any]
) -> MallItem:
    """Change an item; `stock_delta` adds or removes gift units (guarded, never below zero).

    404 `points_mall.item_not_found`; 409 `points_mall.stock_below_zero`; 422
    `points_mall.stock_not_allowed` (a coupon item).
    """
    item = await get_item(brand_id=brand_id, item_id=item_id)
    delta = changes.pop("stock_delta", None)
    if delta and item.kind is not MallItemKind.GIFT:
        raise InvalidInput(
            PointsMallErrorCode.STOCK_NOT_ALLOWED, "A coupon item's stock is its template's."
        )
    values = {name: changes[name] for name in ITEM_FIELDS if name in changes}
    async with in_transaction() as db:
        if delta:
            moved = (
                await MallItem.filter(id=item.id, stock_left__gte=max(0, -delta))
                .using_db(db)
                .update(stock_left=F("stock_left") + delta)
            )
            if not moved:
                raise Conflict(
                    PointsMallErrorCode.STOCK_BELOW_ZERO, "There are fewer units left than that."
                )
        if values:
            await MallItem.filter(id=item.id).using_db(db).update(**values)
        await audit.record(
            brand_id=brand_id,
            actor=actor,
            action="points_mall_item.update",
            target=f"points_mall_item:{item.id}",
            details={**values, **({"stock_delta": delta} if delta else {})},
            connection=db,
        )
    return await get_item(brand_id=brand_id, item_id=item.id)


async def list_items(
    *, brand_id: int, on_shelf: bool | None, cursor: str | None, limit: int
) -> tuple[list[MallItem], str | None]:
    """The brand's items, newest first, on or off the shelf if asked."""
    queryset = MallItem.filter(brand_id=brand_id)
    if on_shelf is not None:
        queryset = queryset.filter(on_shelf=on_shelf)
    items, next_cursor = await paginate(queryset, cursor=cursor, limit=limit)
    return items, next_cursor


# ---------------------------------------------------------------- members: the shelf


def _coupon_stock(template: CouponTemplate | None, now: datetime) -> int:
    if template is None or template.state is not TemplateState.ACTIVE:
        return 0
    if template.valid_until is not None and template.valid_until <= now:
        return 0
    return max(0, template.total_stock - template.issued)


async def mall_offers(*, brand_id: int, member_id: int) -> tuple[int, list[MallOffer]]:
    """The member's available points and the items on the shelf, newest first (up to 100)."""
    points = await points_summary(brand_id=brand_id, member_id=member_id)
    items = (
        await MallItem.filter(brand_id=brand_id, on_shelf=True)
        .prefetch_related("template")
        .order_by("-id")
        .limit(100)
    )
    now = ports.clock().now()
    offers = []
    for item in items:
        template = item.template if item.kind is MallItemKind.COUPON else None
        left = item.stock_left if item.kind is MallItemKind.GIFT else _coupon_stock(template, now)
        affordable = points.available >= item.points_price
        offers.append(MallOffer(item, template, left, affordable))
    return points.available, offers


# ---------------------------------------------------------------- members: exchanging


async def _pickup_store(brand_id: int, store_id: int) -> Store:
    store = await Store.filter(id=store_id, brand_id=brand_id).first()
    if store is None or store.status != Status.ACTIVE:
        raise NotFound(PointsMallErrorCode.STORE_NOT_FOUND, "No such store to collect at.")
    return store


def _check_replay(exchange: MallExchange, member_id: int, item_id: int) -> None:
    if exchange.member_id != member_id or exchange.item_id != item_id:
        raise Conflict(
            PointsMallErrorCode.KEY_REUSED, "This Idempotency-Key was used for another exchange."
        )


async def _stored(brand_id: int, key: str, member_id: int, item_id: int) -> MallExchange | None:
    exchange = await MallExchange.filter(brand_id=brand_id, key=key).first()
    if exchange is not None:
        _check_replay(exchange, member_id, item_id)
    return exchange


async def exchange_item(
    *, brand_id: int, member_id: int, item_id: int, store_id: int | None, request_key: str
) -> MallExchange:
    """Spend points on an item, once per request key; a gift is collected at `store_id`.

    404 `points_mall.item_not_found`, `points_mall.store_not_found`; 409 `points_mall.off_shelf`,
    `points_mall.out_of_stock`, `points_mall.limit_reached`, `points.insufficient`,
    `points_mall.key_reused`, `points_mall.coupon_not_issued` (points given back),
    `coupon.issue_in_progress`; 422 `points_mall.store_required`, `points_mall.store_not_allowed`.
    """
    key = f"{member_id}:{request_key}"
    earlier = await _stored(brand_id, key, member_id, item_id)
    if earlier is not None:
        return await _settle(earlier)
    item = await get_item(brand_id=brand_id, item_id=item_id)
    if not item.on_shelf:
        raise Conflict(PointsMallErrorCode.OFF_SHELF, "This item is not on the shelf.")
    if item.kind is MallItemKind.GIFT:
        if store_id is None:
            raise InvalidInput(
                PointsMallErrorCode.STORE_REQUIRED, "Choose the store to collect the gift at."
            )
        await _pickup_store(brand_id, store_id)
    else:
        if store_id is not None:
            raise InvalidInput(
                PointsMallErrorCode.STORE_NOT_ALLOWED, "A coupon is not collected at a store."
            )
        assert item.template_id is not None
        # Refuse before any points move when the template plainly cannot issue; a race past
        # this check is answered by giving the points back.
        if not _coupon_stock(await _template(brand_id, item.template_id), ports.clock().now()):
            raise Conflict(PointsMallErrorCode.OUT_OF_STOCK, "This item is all gone.")
    exchange = await _take(item, member_id=member_id, store_id=store_id, key=key)
    return await _settle(exchange)


async def _take(item: MallItem, *, member_id: int, store_id: int | None, key: str) -> MallExchange:
    """Take the unit, write the exchange and spend the points in one transaction."""
    for _ in range(_WRITE_ATTEMPTS):
        try:
            async with in_transaction() as db:
                return await _take_in(db, item, member_id=member_id, store_id=store_id, key=key)
        except IntegrityError:
            # The same key committed by a concurrent call, or (1 in 32^9) a pickup code taken.
            earlier = await _stored(item.brand_id, key, member_id, item.id)
            if earlier is not None:
                return earlier
    raise RuntimeError("could not draw an unused pickup code")


async def _take_in(
    db: BaseDBAsyncClient, item: MallItem, *, member_id: int, store_id: int | None, key: str
) -> MallExchange:
    brand_id = item.brand_id
    await lock_member(db, brand_id=brand_id, member_id=member_id)
    earlier = await MallExchange.filter(brand_id=brand_id, key=key).using_db(db).first()
    if earlier is not None:
        _check_replay(earlier, member_id, item.id)
        return earlier
    if item.per_member_limit is not None:
        held = (
            await MallExchange.filter(member_id=member_id, item_id=item.id)
            .exclude(state__in=(ExchangeState.FAILED, ExchangeState.CANCELLED))
            .using_db(db)
            .count()
        )
        if held >= item.per_member_limit:
            raise Conflict(
                PointsMallErrorCode.LIMIT_REACHED, "You already have as many as allowed."
            )
    gift = item.kind is MallItemKind.GIFT
    if gift:
        taken = (
            await MallItem.filter(id=item.id, on_shelf=True, stock_left__gte=1)
            .using_db(db)
            .update(stock_left=F("stock_left") - 1)
        )
        if not taken:
            raise Conflict(PointsMallErrorCode.OUT_OF_STOCK, "This item is all gone.")
    exchange = await MallExchange.create(
        using_db=db,
        brand_id=brand_id,
        member_id=member_id,
        item_id=item.id,
        kind=item.kind,
        key=key,
        points=item.points_price,
        state=ExchangeState.AWAITING_PICKUP if gift else ExchangeState.ISSUING,
        store_id=store_id if gift else None,
        pickup_code=new_pickup_code() if gift else None,
    )
    await spend_points(
        brand_id=brand_id,
        member_id=member_id,
        amount=item.points_price,
        key=f"points_mall:{exchange.id}",
        reason=f"points mall: {item.name}",
        actor=f"member:{member_id}",
        connection=db,
    )
    return exchange


async def _settle(exchange: MallExchange) -> MallExchange:
    """Issue a coupon exchange's coupon if not yet; a failed one answers its refusal again."""
    if exchange.state is ExchangeState.ISSUING:
        exchange = await _issue(exchange)
    if exchange.state is ExchangeState.FAILED:
        raise Conflict(
            PointsMallErrorCode.COUPON_NOT_ISSUED,
            "The coupon could not be issued; your points were given back.",
            details={"reason": exchange.failure_code, "exchange_id": exchange.id},
        )
    return exchange


async def _issue(exchange: MallExchange) -> MallExchange:
    item = await MallItem.get(id=exchange.item_id)
    assert item.template_id is not None
    try:
        issued = await issue_coupon(
            brand_id=exchange.brand_id,
            template_id=item.template_id,
            member_id=exchange.member_id,
            source=CouponSource.POINTS_EXCHANGE,
            key=f"points_mall:{exchange.id}",
        )
    except DomainError as exc:
        if exc.code not in _NOT_ISSUABLE:
            raise
        await _give_back(exchange, item, reason=exc.code)
    else:
        await MallExchange.filter(id=exchange.id, state=ExchangeState.ISSUING).update(
            state=ExchangeState.ISSUED, coupon_id=issued.coupon.id
        )
    return await MallExchange.get(id=exchange.id)


async def _give_back(exchange: MallExchange, item: MallItem, *, reason: str) -> None:
    """`issuing` → `failed` and the points back, once (both guarded), unless the coupon exists."""
    assert item.template_id is not None
    coupon = await Coupon.filter(
        template_id=item.template_id, key=f"points_mall:{exchange.id}"
    ).first()
    if coupon is not None:  # a concurrent resume issued it after all
        await MallExchange.filter(id=exchange.id, state=ExchangeState.ISSUING).update(
            state=ExchangeState.ISSUED, coupon_id=coupon.id
        )
        return
    async with in_transaction() as db:
        # The member first, as every other path here takes its locks.
        await lock_member(db, brand_id=exchange.brand_id, member_id=exchange.member_id)
        failed = (
            await MallExchange.filter(id=exchange.id, state=ExchangeState.ISSUING)
            .using_db(db)
            .update(state=ExchangeState.FAILED, failure_code=reason)
        )
        if failed:
            await _return_points(db, exchange, reason="points mall: coupon not issued")


async def _return_points(db: BaseDBAsyncClient, exchange: MallExchange, *, reason: str) -> None:
    await earn_points(
        brand_id=exchange.brand_id,
        member_id=exchange.member_id,
        amount=exchange.points,
        key=f"points_mall:return:{exchange.id}",
        reason=reason,
        actor=f"member:{exchange.member_id}",
        connection=db,
    )


async def resume_exchanges(*, older_than: timedelta = RESUME_AFTER) -> int:
    """Finish coupon exchanges left `issuing` (a crash after the points were spent); how many."""
    before = ports.clock().now() - older_than
    stuck = await MallExchange.filter(state=ExchangeState.ISSUING, updated_at__lt=before).limit(500)
    finished = 0
    for exchange in stuck:
        try:
            done = await _issue(exchange)
        except DomainError:
            continue  # being issued right now: the next run looks again
        finished += done.state is not ExchangeState.ISSUING
    return finished


# ---------------------------------------------------------------- members: their exchanges


async def list_my_exchanges(
    *, brand_id: int, member_id: int, cursor: str | None, limit: int
) -> tuple[list[MallExchange], str | None]:
    """The member's exchanges, newest first, with their items."""
    queryset = MallExchange.filter(brand_id=brand_id, member_id=member_id).prefetch_related("item")
    rows, next_cursor = await paginate(queryset, cursor=cursor, limit=limit)
    return rows, next_cursor


async def _my_exchange(brand_id: int, member_id: int, exchange_id: int) -> MallExchange:
    exchange = await MallExchange.filter(
        id=exchange_id, brand_id=brand_id, member_id=member_id
    ).first()
    if exchange is None:
        raise NotFound(PointsMallErrorCode.EXCHANGE_NOT_FOUND, "No such exchange.")
    return exchange


async def cancel_exchange(*, brand_id: int, member_id: int, exchange_id: int) -> MallExchange:
    """Cancel an uncollected gift: its unit and its points come back, once; again: answered as is.

    404 `points_mall.exchange_not_found`; 409 `points_mall.not_cancellable` (a coupon),
    `points_mall.already_collected`.
    """
    exchange = await _my_exchange(brand_id, member_id, exchange_id)
    if exchange.kind is not MallItemKind.GIFT:
        raise Conflict(
            PointsMallErrorCode.NOT_CANCELLABLE, "Only an uncollected gift can be cancelled."
        )
    now = ports.clock().now()
    async with in_transaction() as db:
        await lock_member(db, brand_id=brand_id, member_id=member_id)
        cancelled = (
            await MallExchange.filter(id=exchange.id, state=ExchangeState.AWAITING_PICKUP)
            .using_db(db)
            .update(state=ExchangeState.CANCELLED, cancelled_at=now)
        )
        if cancelled:
            await (
                MallItem.filter(id=exchange.item_id)
                .using_db(db)
                .update(stock_left=F("stock_left") + 1)
            )
            await _return_points(db, exchange, reason="points mall: gift cancelled")
    exchange = await _my_exchange(brand_id, member_id, exchange_id)
    if exchange.state is ExchangeState.COLLECTED:
        raise Conflict(PointsMallErrorCode.ALREADY_COLLECTED, "This gift was already collected.")
    return exchange


# ---------------------------------------------------------------- stores: the pickup


def normalise_pickup_code(text: str) -> str:
    """The pickup code as stored: blanks dropped, upper case."""
    return "".join(text.split()).upper()


async def collect_gift(
    *, brand_id: int, scope: StoreScope, store_id: int, pickup_code: str, staff_id: int
) -> MallExchange:
    """Hand a gift over at the store the member chose, once.

    404 `store.not_found` (not in the caller's scope), `points_mall.pickup_not_found`; 409
    `points_mall.wrong_store`, `points_mall.already_collected`, `points_mall.exchange_cancelled`.
    """
    await get_store(brand_id=brand_id, scope=scope, store_id=store_id)
    code = normalise_pickup_code(pickup_code)
    exchange = None
    if len(code) == 1 + PICKUP_BODY_LENGTH:  # anything else cannot be one (nor fit the column)
        exchange = await MallExchange.filter(brand_id=brand_id, pickup_code=code).first()
    if exchange is None:
        raise NotFound(PointsMallErrorCode.PICKUP_NOT_FOUND, "No gift has this pickup code.")
    if exchange.store_id != store_id:
        raise Conflict(
            PointsMallErrorCode.WRONG_STORE,
            "This gift is collected at another store.",
            details={"store_id": exchange.store_id},
        )
    collected = await MallExchange.filter(
        id=exchange.id, state=ExchangeState.AWAITING_PICKUP
    ).update(
        state=ExchangeState.COLLECTED,
        collected_at=ports.clock().now(),
        collected_staff_id=staff_id,
    )
    exchange = await MallExchange.get(id=exchange.id)
    if collected:
        return exchange
    if exchange.state is ExchangeState.CANCELLED:
        raise Conflict(PointsMallErrorCode.EXCHANGE_CANCELLED, "This exchange was cancelled.")
    raise Conflict(
        PointsMallErrorCode.ALREADY_COLLECTED,
        "This gift was already collected.",
        details={"collected_at": exchange.collected_at and exchange.collected_at.isoformat()},
    )
