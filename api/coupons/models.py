"""Coupon templates (what head office offers) and coupons (one member's copy of a template)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from api.member_center.models import Member
    from api.org.models import Brand


class CouponKind(StrEnum):
    CASH_OFF = "cash_off"  # value_fen off when the order reaches threshold_fen
    PERCENT_OFF = "percent_off"  # percent_off % off, at most cap_fen
    FREE_DELIVERY = "free_delivery"
    GIFT = "gift"  # a product or service handed over


class TemplateState(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"


class CostBearer(StrEnum):
    BRAND = "brand"
    FRANCHISEE = "franchisee"


class Channel(StrEnum):
    MALL = "mall"
    TILL = "till"


class CouponSource(StrEnum):
    CLAIM = "claim"
    ADMIN = "admin"
    NEW_MEMBER = "new_member"
    PAYMENT_REWARD = "payment_reward"
    POINTS_EXCHANGE = "points_exchange"
    COMPENSATION = "compensation"


class CouponState(StrEnum):
    AVAILABLE = "available"
    LOCKED = "locked"  # held by an order (order_ref) until it is paid or given up
    USED = "used"
    EXPIRED = "expired"
    REVOKED = "revoked"


class CouponTemplate(Model):
    """A kind of coupon a brand offers, its stock and its limits."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    name = fields.CharField(max_length=64)
    kind = fields.CharEnumField(CouponKind, max_length=16)
    value_fen = fields.IntField(null=True)
    percent_off = fields.IntField(null=True)
    cap_fen = fields.IntField(null=True)
    threshold_fen = fields.IntField(default=0)
    total_stock = fields.IntField()
    issued = fields.IntField(default=0)  # never above total_stock (guarded update)
    per_member_limit = fields.IntField(default=1)
    per_member_daily_limit = fields.IntField(null=True)
    valid_days = fields.IntField(null=True)  # N days from issue, or the fixed window below
    valid_from = fields.DatetimeField(null=True)
    valid_until = fields.DatetimeField(null=True)
    store_ids: list[int] = fields.JSONField(default=list)
    channels: list[str] = fields.JSONField(default=list)
    stacks_with_level_discount = fields.BooleanField(default=False)
    stacks_with_coupons = fields.BooleanField(default=False)  # usable beside other coupons
    gift_name = fields.CharField(max_length=64, default="")  # gift: what is handed over
    # The mall's products and categories it applies to (empty: all); the till has no products.
    product_ids: list[int] = fields.JSONField(default=list)
    category_ids: list[int] = fields.JSONField(default=list)
    cost_bearer = fields.CharEnumField(CostBearer, max_length=16, default=CostBearer.BRAND)
    state = fields.CharEnumField(TemplateState, max_length=16, default=TemplateState.DRAFT)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "cp_template"
        indexes = (Index(fields=("brand_id", "state")),)


class Coupon(Model):
    """One coupon of one member, from one template, issued once per (template, key)."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    template: fields.ForeignKeyRelation[CouponTemplate] = fields.ForeignKeyField(
        "memberhub.CouponTemplate", related_name=False
    )
    template_id: int
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "memberhub.Member", related_name=False
    )
    member_id: int
    code = fields.CharField(max_length=12, unique=True)
    key = fields.CharField(max_length=128)
    source = fields.CharEnumField(CouponSource, max_length=16)
    state = fields.CharEnumField(CouponState, max_length=16, default=CouponState.AVAILABLE)
    issued_on = fields.DateField()
    valid_from = fields.DatetimeField()
    valid_until = fields.DatetimeField()
    order_ref = fields.CharField(max_length=64, null=True)
    locked_at = fields.DatetimeField(null=True)
    used_at = fields.DatetimeField(null=True)
    # Where, by whom and through which channel it was used, and what it took off: the
    # settlement of its cost (template.cost_bearer) is read from these.
    used_store_id = fields.IntField(null=True)
    used_staff_id = fields.IntField(null=True)
    used_channel = fields.CharField(max_length=8, null=True)  # a Channel value
    discount_fen = fields.IntField(default=0)
    reminded_at = fields.DatetimeField(null=True)  # the expiry reminder was queued
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "cp_coupon"
        unique_together = (("template", "key"),)
        indexes = (
            Index(fields=("member_id", "state")),
            Index(fields=("template_id", "member_id")),
            Index(fields=("state", "valid_until")),
            Index(fields=("brand_id", "used_at")),
        )


class IssueState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"


class CouponIssue(Model):
    """Head office issuing one template to a list of members or to a tag, run as a job.

    Every member is issued with the key `admin:<issue id>:<member id>`, so a rerun or a crashed
    job picked up again issues nobody a second coupon. The counts are the job's progress.
    """

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    template: fields.ForeignKeyRelation[CouponTemplate] = fields.ForeignKeyField(
        "memberhub.CouponTemplate", related_name=False
    )
    template_id: int
    actor = fields.CharField(max_length=64)
    tag_id = fields.IntField(null=True)  # the tag the members were taken from, if any
    member_ids: list[int] = fields.JSONField(default=list)  # fixed when the issue is asked for
    state = fields.CharEnumField(IssueState, max_length=16, default=IssueState.QUEUED)
    total = fields.IntField(default=0)
    issued = fields.IntField(default=0)  # members who hold the issue's coupon
    skipped = fields.IntField(default=0)
    skipped_reasons: dict[str, int] = fields.JSONField(default=dict)  # reason: members
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "cp_issue"
        indexes = (Index(fields=("brand_id", "id")),)


class MallItemKind(StrEnum):
    COUPON = "coupon"  # a coupon of `template`, issued on exchange
    GIFT = "gift"  # a physical gift from the item's own stock, collected at a store


class ExchangeState(StrEnum):
    ISSUING = "issuing"  # coupon: points spent, the coupon being issued
    ISSUED = "issued"  # coupon: in the member's wallet
    FAILED = "failed"  # coupon: could not be issued, the points given back
    AWAITING_PICKUP = "awaiting_pickup"  # gift: waiting at the chosen store
    COLLECTED = "collected"  # gift: handed over at that store
    CANCELLED = "cancelled"  # gift: cancelled uncollected, points and stock given back


class MallItem(Model):
    """Something a member can get for points: a coupon of a template, or a gift with stock."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    kind = fields.CharEnumField(MallItemKind, max_length=16)
    name = fields.CharField(max_length=64)
    description = fields.CharField(max_length=255, default="")
    image_url = fields.CharField(max_length=512, default="")
    points_price = fields.IntField()
    template: fields.ForeignKeyNullableRelation[CouponTemplate] = fields.ForeignKeyField(
        "memberhub.CouponTemplate", related_name=False, null=True
    )
    template_id: int | None
    # Gifts only: units left, taken and given back by guarded updates (never below zero).
    stock_left = fields.IntField(default=0)
    per_member_limit = fields.IntField(null=True)  # exchanges a member may hold, None: any
    on_shelf = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "pm_item"
        indexes = (Index(fields=("brand_id", "on_shelf")),)


class MallExchange(Model):
    """One exchange of points for a mall item, once per (brand, key)."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "memberhub.Brand", related_name=False
    )
    brand_id: int
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "memberhub.Member", related_name=False
    )
    member_id: int
    item: fields.ForeignKeyRelation[MallItem] = fields.ForeignKeyField(
        "memberhub.MallItem", related_name=False
    )
    item_id: int
    kind = fields.CharEnumField(MallItemKind, max_length=16)
    key = fields.CharField(max_length=128)
    points = fields.IntField()  # the price paid
    state = fields.CharEnumField(ExchangeState, max_length=16)
    coupon_id = fields.IntField(null=True)
    failure_code = fields.CharField(max_length=64, null=True)  # why the coupon was not issued
    store_id = fields.IntField(null=True)  # gift: where it is collected
    pickup_code = fields.CharField(max_length=12, null=True, unique=True)
    collected_at = fields.DatetimeField(null=True)
    collected_staff_id = fields.IntField(null=True)
    cancelled_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "pm_exchange"
        unique_together = (("brand", "key"),)
        indexes = (Index(fields=("member_id", "item_id")), Index(fields=("state", "updated_at")))


class OrderCoupon(Model):
    """A coupon an order was priced with, and what it takes off that order.

    The order (`order_ref`, e.g. `pos:<till order id>`) holds the coupon while it is open and
    uses it when it is paid. The row stays when the coupon is released, so a later attempt to
    pay the same order can hold it again at the same price.
    """

    id = fields.IntField(primary_key=True)
    brand_id = fields.IntField()
    order_ref = fields.CharField(max_length=64)
    coupon_id = fields.IntField()
    discount_fen = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "cp_order_coupon"
        unique_together = (("order_ref", "coupon_id"),)
