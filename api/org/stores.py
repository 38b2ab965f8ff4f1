"""Stores: the brand's shops, directly operated or franchised."""

from __future__ import annotations

from decimal import Decimal

from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet

from api.core import audit
from api.core.errors import Conflict, Forbidden, NotFound
from api.core.pagination import paginate
from api.core.unset import UNSET, Maybe, given

from .error_codes import StoreErrorCode
from .models import Status, Store, StoreKind
from .scope import StoreScope


def _stores(brand_id: int, scope: StoreScope) -> QuerySet[Store]:
    return scope.limit(Store.filter(brand_id=brand_id), "id")


async def list_stores(
    *,
    brand_id: int,
    scope: StoreScope,
    status: Status | None = None,
    kind: StoreKind | None = None,
    city: str | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> tuple[list[Store], str | None]:
    """The stores in scope, newest first."""
    stores = _stores(brand_id, scope)
    if status:
        stores = stores.filter(status=status)
    if kind:
        stores = stores.filter(kind=kind)
    if city:
        stores = stores.filter(city=city)
    return await paginate(stores, cursor=cursor, limit=limit)


async def get_store(*, brand_id: int, scope: StoreScope, store_id: int) -> Store:
    """One store in scope; 404 otherwise (another brand's store does not exist here)."""
    store = await _stores(brand_id, scope).get_or_none(id=store_id)
    if store is None:
        raise NotFound(StoreErrorCode.NOT_FOUND, "No such store.")
    return store


async def create_store(
    *,
    brand_id: int,
    actor: str,
    code: str,
    name: str,
    city: str = "",
    address: str = "",
    lat: Decimal | None = None,
    lng: Decimal | None = None,
    kind: StoreKind = StoreKind.DIRECT,
) -> Store:
    """Open a store; its code is unique within the brand."""
    try:
        store = await Store.create(
            brand_id=brand_id,
            code=code,
            name=name,
            city=city,
            address=address,
            lat=lat,
            lng=lng,
            kind=kind,
        )
    except IntegrityError as exc:
        raise Conflict(StoreErrorCode.CODE_TAKEN, f"Store code {code!r} is already used.") from exc
    await audit.record(
        brand_id=brand_id, actor=actor, action="store.create", target=f"store:{store.id}"
    )
    return store


async def update_store(
    *,
    brand_id: int,
    scope: StoreScope,
    actor: str,
    store_id: int,
    name: str | None = None,
    city: str | None = None,
    address: str | None = None,
    lat: Maybe[Decimal | None] = UNSET,
    lng: Maybe[Decimal | None] = UNSET,
    kind: StoreKind | None = None,
    status: Status | None = None,
) -> Store:
    """Change a store's details, or disable it (`status: disabled`).

    A caller limited to some stores edits their details only: kind and status are head office's.
    """
    store = await get_store(brand_id=brand_id, scope=scope, store_id=store_id)
    changes = {
        field: value
        for field, value in given(
            name=name, city=city, address=address, lat=lat, lng=lng, kind=kind, status=status
        ).items()
        if value is not None or field in ("lat", "lng")
    }
    if not scope.whole_brand and ({"status", "kind"} & changes.keys()):
        raise Forbidden(
            StoreErrorCode.OUT_OF_SCOPE_CHANGE,
            "Only head office may change a store's kind or status.",
        )
    store.update_from_dict(changes)
    await store.save()
    await audit.record(
        brand_id=brand_id,
        actor=actor,
        action="store.update",
        target=f"store:{store.id}",
        details={k: (str(v) if isinstance(v, Decimal) else v) for k, v in changes.items()},
    )
    return store
