"""What crosses the wire when staff write a coupon off at the counter, and the coupons the till
shows for a member."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from api.core.fields import Id, Len, Line

from .models import Coupon, CouponKind, CouponTemplate


class RedeemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    coupon_code: Annotated[str, Line, Len(1, 32)] = Field(
        description="the code the member shows (`C` + 11 characters; case does not matter)"
    )
    store_id: Id = Field(description="the store writing it off: the caller's own, or any for HQ")
    order_id: Id | None = Field(
        default=None,
        description="a till order of that store it is written off against: the coupon is "
        "priced on it (threshold checked, the discount recorded)",
    )


class RedeemOut(BaseModel):
    """A coupon written off: what it was, where, by whom, and what it took off."""

    coupon_id: int
    code: str
    template_id: int
    name: str
    kind: CouponKind
    value_fen: int | None
    percent_off: int | None
    cap_fen: int | None
    gift_name: str = Field(description="a gift coupon: what to hand over ('' otherwise)")
    state: str
    member_id: int
    store_id: int | None
    staff_id: int | None
    channel: str | None
    discount_fen: int = Field(description="what it took off, for settlement")
    cost_bearer: str
    used_at: datetime | None

    @classmethod
    def of(cls, coupon: Coupon, template: CouponTemplate) -> RedeemOut:
        return cls(
            coupon_id=coupon.id,
            code=coupon.code,
            template_id=template.id,
            name=template.name,
            kind=template.kind,
            value_fen=template.value_fen,
            percent_off=template.percent_off,
            cap_fen=template.cap_fen,
            gift_name=template.gift_name,
            state=coupon.state.value,
            member_id=coupon.member_id,
            store_id=coupon.used_store_id,
            staff_id=coupon.used_staff_id,
            channel=coupon.used_channel,
            discount_fen=coupon.discount_fen,
            cost_bearer=template.cost_bearer.value,
            used_at=coupon.used_at,
        )


def till_coupon(coupon: Coupon) -> dict[str, object]:
    """A coupon as the till's member summary lists it."""
    template = coupon.template
    return {
        "id": coupon.id,
        "code": coupon.code,
        "name": template.name,
        "kind": template.kind.value,
        "value_fen": template.value_fen,
        "percent_off": template.percent_off,
        "cap_fen": template.cap_fen,
        "threshold_fen": template.threshold_fen,
        "gift_name": template.gift_name,
        "stacks_with_level_discount": template.stacks_with_level_discount,
        "stacks_with_coupons": template.stacks_with_coupons,
        "valid_until": coupon.valid_until.isoformat(),
    }
