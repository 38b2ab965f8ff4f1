"""What crosses the wire for coupons: templates, the coupon center, the wallet."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from api.core.fields import Change, Cursor, Id, Line, Omittable
from api.core.pagination import Page
from api.member_center.member_code import render_qr_svg

from .models import (
    Channel,
    CostBearer,
    Coupon,
    CouponKind,
    CouponTemplate,
    IssueState,
    TemplateState,
)
from .templates import TemplateSpec
from .wallet import Offer, WalletFilter

MONEY_MAX = 100_000_000  # one million yuan, in fen

Name = Annotated[str, Line, StringConstraints(min_length=1, max_length=64)]
Fen = Annotated[int, Field(ge=1, le=MONEY_MAX)]
Threshold = Annotated[int, Field(ge=0, le=MONEY_MAX)]
Percent = Annotated[int, Field(ge=1, le=99, description="percent taken off the price")]
Stock = Annotated[int, Field(ge=1, le=10_000_000)]
Limit = Annotated[int, Field(ge=1, le=100)]
Days = Annotated[int, Field(ge=1, le=3650)]
StoreIds = Annotated[list[Id], Field(max_length=500)]
Channels = Annotated[list[Channel], Field(min_length=1, max_length=2)]
CatalogueIds = Annotated[list[Id], Field(max_length=500)]
GiftName = Annotated[str, Line, StringConstraints(max_length=64)]


class TemplateIn(BaseModel):
    """A new coupon template (a draft): value by kind, validity as N days or a fixed window."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    kind: CouponKind
    value_fen: Fen | None = Field(default=None, description="cash_off: the amount taken off")
    percent_off: Percent | None = None
    cap_fen: Fen | None = Field(default=None, description="percent_off: the most taken off")
    threshold_fen: Threshold = Field(default=0, description="the order amount needed")
    total_stock: Stock
    per_member_limit: Limit = 1
    per_member_daily_limit: Limit | None = None
    valid_days: Days | None = Field(default=None, description="valid N days from issue")
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    store_ids: StoreIds = Field(default_factory=list, description="empty: every store")
    channels: Channels = Field(default_factory=lambda: [Channel.MALL, Channel.TILL])
    stacks_with_level_discount: bool = False
    stacks_with_coupons: bool = Field(default=False, description="usable beside other coupons")
    gift_name: GiftName = Field(default="", description="gift: what is handed over")
    product_ids: CatalogueIds = Field(default_factory=list, description="mall; empty: all")
    category_ids: CatalogueIds = Field(default_factory=list, description="mall; empty: all")
    cost_bearer: CostBearer = CostBearer.BRAND

    def spec(self) -> TemplateSpec:
        values = self.model_dump()
        for name in ("store_ids", "channels", "product_ids", "category_ids"):
            values[name] = tuple(values[name])
        return TemplateSpec(**values)


class TemplateUpdate(Change):
    """Change a draft; null clears value_fen, percent_off, cap_fen, the daily limit or validity."""

    name: Omittable[Name] = None
    kind: Omittable[CouponKind] = None
    value_fen: Fen | None = None
    percent_off: Percent | None = None
    cap_fen: Fen | None = None
    threshold_fen: Omittable[Threshold] = None
    total_stock: Omittable[Stock] = None
    per_member_limit: Omittable[Limit] = None
    per_member_daily_limit: Limit | None = None
    valid_days: Days | None = None
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    store_ids: Omittable[StoreIds] = None
    channels: Omittable[Channels] = None
    stacks_with_level_discount: Omittable[bool] = None
    stacks_with_coupons: Omittable[bool] = None
    gift_name: Omittable[GiftName] = None
    product_ids: Omittable[CatalogueIds] = None
    category_ids: Omittable[CatalogueIds] = None
    cost_bearer: Omittable[CostBearer] = None


class TemplateOut(BaseModel):
    id: int
    name: str
    kind: CouponKind
    value_fen: int | None
    percent_off: int | None
    cap_fen: int | None
    threshold_fen: int
    total_stock: int
    issued: int
    per_member_limit: int
    per_member_daily_limit: int | None
    valid_days: int | None
    valid_from: datetime | None
    valid_until: datetime | None
    store_ids: list[int]
    channels: list[Channel]
    stacks_with_level_discount: bool
    stacks_with_coupons: bool
    gift_name: str
    product_ids: list[int]
    category_ids: list[int]
    cost_bearer: CostBearer
    state: TemplateState
    created_at: datetime

    @classmethod
    def of(cls, template: CouponTemplate) -> TemplateOut:
        return cls(
            id=template.id,
            name=template.name,
            kind=template.kind,
            value_fen=template.value_fen,
            percent_off=template.percent_off,
            cap_fen=template.cap_fen,
            threshold_fen=template.threshold_fen,
            total_stock=template.total_stock,
            issued=template.issued,
            per_member_limit=template.per_member_limit,
            per_member_daily_limit=template.per_member_daily_limit,
            valid_days=template.valid_days,
            valid_from=template.valid_from,
            valid_until=template.valid_until,
            store_ids=list(template.store_ids),
            channels=[Channel(c) for c in template.channels],
            stacks_with_level_discount=template.stacks_with_level_discount,
            stacks_with_coupons=template.stacks_with_coupons,
            gift_name=template.gift_name,
            product_ids=list(template.product_ids),
            category_ids=list(template.category_ids),
            cost_bearer=template.cost_bearer,
            state=template.state,
            created_at=template.created_at,
        )


class TemplatePage(Page[TemplateOut]):
    pass


class TemplateQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: TemplateState | None = None
    cursor: Cursor | None = None
    limit: int = Field(default=20, ge=1, le=100)


class OfferOut(BaseModel):
    """A coupon the member can claim now."""

    template_id: int
    name: str
    kind: CouponKind
    value_fen: int | None
    percent_off: int | None
    cap_fen: int | None
    threshold_fen: int
    valid_days: int | None
    valid_from: datetime | None
    valid_until: datetime | None
    channels: list[Channel]
    remaining_stock: int
    claimable: int = Field(description="how many more this member may claim")

    @classmethod
    def of(cls, offer: Offer) -> OfferOut:
        t = offer.template
        return cls(
            template_id=t.id,
            name=t.name,
            kind=t.kind,
            value_fen=t.value_fen,
            percent_off=t.percent_off,
            cap_fen=t.cap_fen,
            threshold_fen=t.threshold_fen,
            valid_days=t.valid_days,
            valid_from=t.valid_from,
            valid_until=t.valid_until,
            channels=[Channel(c) for c in t.channels],
            remaining_stock=offer.remaining_stock,
            claimable=offer.claimable,
        )


class CouponCenterOut(BaseModel):
    """Active coupons with stock left that the caller may still claim, newest first."""

    items: list[OfferOut]


class CouponOut(BaseModel):
    """One of the member's coupons, with its code and the code as a QR symbol for the counter."""

    id: int
    template_id: int
    name: str
    kind: CouponKind
    value_fen: int | None
    percent_off: int | None
    cap_fen: int | None
    threshold_fen: int
    code: str
    qr_svg: str
    state: str = Field(description="available, locked, used, expired or revoked")
    source: str
    valid_from: datetime
    valid_until: datetime
    used_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, coupon: Coupon, template: CouponTemplate) -> CouponOut:
        return cls(
            id=coupon.id,
            template_id=coupon.template_id,
            name=template.name,
            kind=template.kind,
            value_fen=template.value_fen,
            percent_off=template.percent_off,
            cap_fen=template.cap_fen,
            threshold_fen=template.threshold_fen,
            code=coupon.code,
            qr_svg=render_qr_svg(coupon.code),
            state=coupon.state.value,
            source=coupon.source.value,
            valid_from=coupon.valid_from,
            valid_until=coupon.valid_until,
            used_at=coupon.used_at,
            created_at=coupon.created_at,
        )


class CouponPage(Page[CouponOut]):
    pass


class WalletQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: WalletFilter = WalletFilter.AVAILABLE
    cursor: Cursor | None = None
    limit: int = Field(default=20, ge=1, le=100)


class IssueIn(BaseModel):
    """To whom: a list of member ids, or every member with a tag (as they are now)."""

    model_config = ConfigDict(extra="forbid")

    member_ids: Annotated[list[Id], Field(min_length=1, max_length=10_000)] | None = None
    tag_id: Id | None = None


class IssueOut(BaseModel):
    """An admin issue and its progress: issued + skipped reaches total when it is done."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    template_id: int
    tag_id: int | None
    state: IssueState = Field(description="queued, running or done")
    total: int
    issued: int
    skipped: int
    skipped_reasons: dict[str, int] = Field(
        description="out_of_stock, limit_reached, member_gone, template_not_active: members"
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
