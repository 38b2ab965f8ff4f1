"""Coupon templates: head office drafts one, then moves it draft → active ⇄ paused → ended.

A template is edited only while it is a draft, so the stock and limits the issuing service
guards are fixed once the first coupon can be issued. Every state change is one guarded update
(`WHERE state IN (…)`) with its audit row in the same transaction: of two admins pausing and
ending at once, each sees the state the other left.

Store managers draft and run templates for their own stores when the brand allows it (setting
`store_manager_coupon_templates`): every service takes the caller's `StoreScope`, and a scope
limited to some stores sees and acts only on templates whose `store_ids` are non-empty and all
within it. Such a template's `cost_bearer` is not the manager's choice: it is the brand's
setting `store_manager_coupon_cost_bearer` (default `franchisee`, the usual case of a
franchise store running its own offer), whatever the request says.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from api.core import audit
from api.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from api.core.pagination import paginate
from api.org.models import Brand, Store
from api.org.scope import StoreScope

from . import issuing
from .error_codes import CouponTemplateErrorCode
from .models import Channel, CostBearer, CouponKind, CouponTemplate, TemplateState

WINDOW_MIN = datetime(2000, 1, 1, tzinfo=UTC)
WINDOW_MAX = datetime(2100, 1, 1, tzinfo=UTC)

# What each action moves a template from, and to.
TRANSITIONS: dict[str, tuple[tuple[TemplateState, ...], TemplateState]] = {
    "activate": ((TemplateState.DRAFT, TemplateState.PAUSED), TemplateState.ACTIVE),
    "pause": ((TemplateState.ACTIVE,), TemplateState.PAUSED),
    "end": ((TemplateState.DRAFT, TemplateState.ACTIVE, TemplateState.PAUSED), TemplateState.ENDED),
}


@dataclass(frozen=True)
class TemplateSpec:
    """Everything a template says; the schema bounds each field, `check` the combinations."""

    name: str
    kind: CouponKind
    total_stock: int
    value_fen: int | None = None
    percent_off: int | None = None
    cap_fen: int | None = None
    threshold_fen: int = 0
    per_member_limit: int = 1
    per_member_daily_limit: int | None = None
    valid_days: int | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    store_ids: tuple[int, ...] = ()
    channels: tuple[Channel, ...] = (Channel.MALL, Channel.TILL)
    stacks_with_level_discount: bool = False
    stacks_with_coupons: bool = False
    gift_name: str = ""
    product_ids: tuple[int, ...] = ()
    category_ids: tuple[int, ...] = ()
    cost_bearer: CostBearer = CostBearer.BRAND

    @classmethod
    def of(cls, template: CouponTemplate) -> TemplateSpec:
        return cls(
            name=template.name,
            kind=template.kind,
            total_stock=template.total_stock,
            value_fen=template.value_fen,
            percent_off=template.percent_off,
            cap_fen=template.cap_fen,
            threshold_fen=template.threshold_fen,
            per_member_limit=template.per_member_limit,
            per_member_daily_limit=template.per_member_daily_limit,
            valid_days=template.valid_days,
            valid_from=template.valid_from,
            valid_until=template.valid_until,
            store_ids=tuple(template.store_ids),
            channels=tuple(Channel(c) for c in template.channels),
            stacks_with_level_discount=template.stacks_with_level_discount,
            stacks_with_coupons=template.stacks_with_coupons,
            gift_name=template.gift_name,
            product_ids=tuple(template.product_ids),
            category_ids=tuple(template.category_ids),
            cost_bearer=template.cost_bearer,
        )

    def columns(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["store_ids"] = sorted(set(self.store_ids))
        values["product_ids"] = sorted(set(self.product_ids))
        values["category_ids"] = sorted(set(self.category_ids))
        values["channels"] = sorted({Channel(c).value for c in self.channels})
        return values


def _refuse(code: CouponTemplateErrorCode, message: str) -> InvalidInput:
    return InvalidInput(code, message)


async def check_spec(*, brand_id: int, spec: TemplateSpec) -> None:
    """422 with a `coupon_template.*` code when the fields do not make one coupon together."""
    if spec.kind is CouponKind.CASH_OFF:
        if spec.value_fen is None:
            raise _refuse(
                CouponTemplateErrorCode.VALUE_REQUIRED, "A cash-off coupon needs value_fen."
            )
        if spec.percent_off is not None or spec.cap_fen is not None:
            raise _refuse(
                CouponTemplateErrorCode.VALUE_NOT_ALLOWED,
                "A cash-off coupon takes value_fen, not percent_off or cap_fen.",
            )
        if spec.threshold_fen and spec.value_fen > spec.threshold_fen:
            raise _refuse(
                CouponTemplateErrorCode.VALUE_NOT_ALLOWED,
                "value_fen may not exceed threshold_fen.",
            )
    elif spec.kind is CouponKind.PERCENT_OFF:
        if spec.percent_off is None or spec.cap_fen is None:
            raise _refuse(
                CouponTemplateErrorCode.PERCENT_REQUIRED,
                "A percent-off coupon needs percent_off and cap_fen.",
            )
        if spec.value_fen is not None:
            raise _refuse(
                CouponTemplateErrorCode.VALUE_NOT_ALLOWED,
                "A percent-off coupon takes percent_off and cap_fen, not value_fen.",
            )
    elif spec.value_fen is not None or spec.percent_off is not None or spec.cap_fen is not None:
        raise _refuse(
            CouponTemplateErrorCode.VALUE_NOT_ALLOWED,
            f"A {spec.kind.value} coupon takes no value_fen, percent_off or cap_fen.",
        )

    window = (spec.valid_from, spec.valid_until)
    if (spec.valid_days is None) == (window == (None, None)):
        raise _refuse(
            CouponTemplateErrorCode.VALIDITY_REQUIRED,
            "Give either valid_days or valid_from and valid_until.",
        )
    if spec.valid_days is None:
        if spec.valid_from is None or spec.valid_until is None:
            raise _refuse(
                CouponTemplateErrorCode.VALIDITY_REQUIRED,
                "A fixed window needs both valid_from and valid_until.",
            )
        for moment in window:
            if moment is None or moment.tzinfo is None or not WINDOW_MIN <= moment <= WINDOW_MAX:
                raise _refuse(
                    CouponTemplateErrorCode.WINDOW_INVALID,
                    "valid_from and valid_until carry a timezone and lie in 2000–2100.",
                )
        if spec.valid_from >= spec.valid_until:
            raise _refuse(
                CouponTemplateErrorCode.WINDOW_INVALID, "valid_from must be before valid_until."
            )

    if spec.per_member_limit > spec.total_stock:
        raise _refuse(
            CouponTemplateErrorCode.LIMIT_INVALID, "per_member_limit may not exceed total_stock."
        )
    daily = spec.per_member_daily_limit
    if daily is not None and daily > spec.per_member_limit:
        raise _refuse(
            CouponTemplateErrorCode.LIMIT_INVALID,
            "per_member_daily_limit may not exceed per_member_limit.",
        )
    if not spec.channels:
        raise _refuse(CouponTemplateErrorCode.LIMIT_INVALID, "Name at least one channel.")
    wanted = set(spec.store_ids)
    if wanted:
        found = await Store.filter(brand_id=brand_id, id__in=wanted).count()
        if found != len(wanted):
            raise _refuse(
                CouponTemplateErrorCode.STORE_NOT_FOUND, "A store in store_ids is not the brand's."
            )


BRAND = StoreScope.brand()


async def allow_stores(*, brand_id: int) -> Brand:
    """The brand, when it lets store managers run templates; 403
    `coupon_template.store_managers_not_allowed` otherwise."""
    brand = await Brand.get(id=brand_id)
    if brand.setting("store_manager_coupon_templates") is not True:
        raise Forbidden(
            CouponTemplateErrorCode.STORE_MANAGERS_NOT_ALLOWED,
            "Coupon templates are head office's in this brand.",
        )
    return brand


async def scoped_spec(*, brand_id: int, scope: StoreScope, spec: TemplateSpec) -> TemplateSpec:
    """The spec a caller of `scope` may write: a store scope needs the brand's permission,
    stores named and all in scope, and takes the brand's cost bearer.

    403 `coupon_template.store_managers_not_allowed`, `coupon_template.store_out_of_scope`;
    422 `coupon_template.stores_required`.
    """
    if scope.store_ids is None:
        return spec
    brand = await allow_stores(brand_id=brand_id)
    if not spec.store_ids:
        raise InvalidInput(
            CouponTemplateErrorCode.STORES_REQUIRED, "Name the stores this coupon is valid in."
        )
    if not set(spec.store_ids) <= scope.store_ids:
        raise Forbidden(
            CouponTemplateErrorCode.STORE_OUT_OF_SCOPE, "A store in store_ids is not yours."
        )
    bearer = CostBearer(str(brand.setting("store_manager_coupon_cost_bearer")))
    return replace(spec, cost_bearer=bearer)


def in_scope(template: CouponTemplate, scope: StoreScope) -> bool:
    """Whether a caller of `scope` may see and act on the template."""
    if scope.store_ids is None:
        return True
    return bool(template.store_ids) and set(template.store_ids) <= scope.store_ids


async def create_template(
    *, brand_id: int, actor: str, spec: TemplateSpec, scope: StoreScope = BRAND
) -> CouponTemplate:
    """A new template in `draft`, audited; 422 `coupon_template.*` when the fields clash.

    403 as `scoped_spec` says for a store scope.
    """
    spec = await scoped_spec(brand_id=brand_id, scope=scope, spec=spec)
    await check_spec(brand_id=brand_id, spec=spec)
    async with in_transaction() as db:
        template = await CouponTemplate.create(
            using_db=db, brand_id=brand_id, state=TemplateState.DRAFT, **spec.columns()
        )
        await audit.record(
            brand_id=brand_id,
            actor=actor,
            action="coupon_template.create",
            target=f"coupon_template:{template.id}",
            details={"name": template.name, "kind": template.kind.value},
            connection=db,
        )
    return template


async def get_template(
    *, brand_id: int, template_id: int, scope: StoreScope = BRAND
) -> CouponTemplate:
    """The brand's template in scope; 404 `coupon_template.not_found` (a store scope: 403 when
    the brand does not allow it)."""
    if scope.store_ids is not None:
        await allow_stores(brand_id=brand_id)
    template = await CouponTemplate.filter(id=template_id, brand_id=brand_id).first()
    if template is None or not in_scope(template, scope):
        raise NotFound(CouponTemplateErrorCode.NOT_FOUND, "No such coupon template.")
    return template


async def list_templates(
    *,
    brand_id: int,
    state: TemplateState | None,
    cursor: str | None,
    limit: int,
    scope: StoreScope = BRAND,
) -> tuple[list[CouponTemplate], str | None]:
    """The brand's templates in scope, newest first, optionally in one state."""
    queryset: QuerySet[CouponTemplate] = CouponTemplate.filter(brand_id=brand_id)
    if scope.store_ids is not None:
        await allow_stores(brand_id=brand_id)
        # store_ids is a JSON list, filtered here rather than in SQL (the same on SQLite and
        # PostgreSQL); a brand has hundreds of templates, not millions.
        rows = await queryset.values_list("id", "store_ids")
        mine = [i for i, stores in rows if stores and set(stores) <= scope.store_ids]
        queryset = queryset.filter(id__in=mine)
    if state is not None:
        queryset = queryset.filter(state=state)
    return await paginate(queryset, cursor=cursor, limit=limit)


async def update_template(
    *,
    brand_id: int,
    actor: str,
    template_id: int,
    changes: dict[str, Any],
    scope: StoreScope = BRAND,
) -> CouponTemplate:
    """Change a draft's fields (None clears a nullable one); 409 `coupon_template.not_draft`.

    A store scope: 403 as `scoped_spec` says.
    """
    template = await get_template(brand_id=brand_id, template_id=template_id, scope=scope)
    if template.state is not TemplateState.DRAFT:
        raise Conflict(CouponTemplateErrorCode.NOT_DRAFT, "Only a draft template can be changed.")
    if "store_ids" in changes:
        changes["store_ids"] = tuple(changes["store_ids"])
    for name in ("channels", "product_ids", "category_ids"):
        if name in changes:
            changes[name] = tuple(changes[name])
    spec = replace(TemplateSpec.of(template), **changes)
    spec = await scoped_spec(brand_id=brand_id, scope=scope, spec=spec)
    await check_spec(brand_id=brand_id, spec=spec)
    async with in_transaction() as db:
        updated = (
            await CouponTemplate.filter(id=template_id, state=TemplateState.DRAFT)
            .using_db(db)
            .update(**spec.columns())
        )
        if not updated:
            raise Conflict(
                CouponTemplateErrorCode.NOT_DRAFT, "Only a draft template can be changed."
            )
        await audit.record(
            brand_id=brand_id,
            actor=actor,
            action="coupon_template.update",
            target=f"coupon_template:{template_id}",
            details={"fields": sorted(changes)},
            connection=db,
        )
    return await get_template(brand_id=brand_id, template_id=template_id)


async def change_state(
    *, brand_id: int, actor: str, template_id: int, action: str, scope: StoreScope = BRAND
) -> CouponTemplate:
    """Apply `activate`, `pause` or `end`; 409 `coupon_template.invalid_transition` otherwise.

    Repeating the action that led to the current state answers the template unchanged. A store
    scope acts on its own templates only (404 otherwise), while the brand allows it (403).
    """
    sources, target = TRANSITIONS[action]
    template = await get_template(brand_id=brand_id, template_id=template_id, scope=scope)

    async with in_transaction() as db:
        moved = (
            await CouponTemplate.filter(id=template_id, brand_id=brand_id, state__in=sources)
            .using_db(db)
            .update(state=target)
        )
        if moved:
            await audit.record(
                brand_id=brand_id,
                actor=actor,
                action=f"coupon_template.{action}",
                target=f"coupon_template:{template_id}",
                details={"from": template.state.value, "to": target.value},
                connection=db,
            )
    current = await get_template(brand_id=brand_id, template_id=template_id)
    await issuing.template_changed(current)
    if not moved and current.state is not target:
        raise Conflict(
            CouponTemplateErrorCode.INVALID_TRANSITION,
            f"A {current.state.value} template cannot {action}.",
        )
    return current
