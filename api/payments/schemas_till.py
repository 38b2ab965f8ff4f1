"""What crosses the wire at the till: orders, their payment by code, the member's confirmation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.core.fields import Id, Len, Line, Verbatim
from api.coupons.pricing import MAX_COUPONS
from api.member_center.schemas.member_code import Code

from .models import PaymentState, PosOrderState
from .payments import MAX_AMOUNT_FEN
from .till import TillOrder

MAX_ITEMS = 200


class PosItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Annotated[str, Line, Len(0, 64)] = ""
    name: Annotated[str, Line, Len(1, 64)]
    quantity: int = Field(ge=1, le=9_999)
    price_fen: int = Field(ge=0, le=MAX_AMOUNT_FEN, description="the unit price")


class PosOrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store_id: Id = Field(description="the store ringing it up: the caller's own, or any for HQ")
    amount_fen: int = Field(ge=1, le=MAX_AMOUNT_FEN, description="the list price of the sale")
    items: list[PosItem] | None = Field(
        default=None,
        max_length=MAX_ITEMS,
        description="what was sold; when sent, quantity × price_fen must add up to amount_fen",
    )
    member_code: Code | None = Field(
        default=None,
        description="the member's code scanned from their phone: prices the order at their "
        "level's discount and remembers them on it; the code is used up",
    )
    coupon_ids: list[Id] | None = Field(
        default=None,
        max_length=MAX_COUPONS,
        description="the member's coupons to use (needs member_code): each must apply, and "
        "several only when all stack with other coupons; held by the order, used when it is paid",
    )


class PosPayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["wechat_code", "alipay_code", "member_code"] = Field(
        description="wechat_code: a WeChat payment code (micropay); alipay_code: an Alipay "
        "payment code (trade.pay); member_code: the member's code, paid from their stored value"
    )
    auth_code: Annotated[str, Verbatim, Len(1, 64)] = Field(
        description="the digits scanned: WeChat 18 starting 10-15, Alipay 16-30 starting 25-30, "
        "member code 18 starting 68"
    )


class PosOrderCouponOut(BaseModel):
    coupon_id: int
    discount_fen: int = Field(description="what this coupon takes off the order")


class PosOrderOut(BaseModel):
    """The order as the till shows it, with the payment of its current or last attempt."""

    id: int
    store_id: int
    staff_id: int
    member_id: int | None
    items: list[PosItem]
    amount_fen: int
    discount_pct: int = Field(
        description="the member's level discount applied (100: none, or a coupon that does "
        "not stack with it)"
    )
    discount_fen: int = Field(description="level and coupon discounts together")
    coupon_discount_fen: int = Field(description="what the coupons take off")
    coupons: list[PosOrderCouponOut] = Field(description="the coupons the order is priced with")
    payable_fen: int
    state: PosOrderState
    method: str = Field(description="how the current or last attempt pays ('' before any)")
    attempt: int
    payment_id: int | None
    payment_state: PaymentState | None
    account_id: int | None = Field(description="the merchant account the money went to")
    points_earned: int
    last_error: str = Field(description="why the last attempt failed ('' if it did not)")
    created_at: datetime
    paid_at: datetime | None

    @classmethod
    def of(cls, till_order: TillOrder) -> PosOrderOut:
        order, payment = till_order.order, till_order.payment
        return cls(
            id=order.id,
            store_id=order.store_id,
            staff_id=order.staff_id,
            member_id=order.member_id,
            items=[PosItem.model_validate(item) for item in order.items],
            amount_fen=order.amount_fen,
            discount_pct=order.discount_pct,
            discount_fen=order.discount_fen,
            coupon_discount_fen=sum(c.discount_fen for c in till_order.coupons),
            coupons=[
                PosOrderCouponOut(coupon_id=c.coupon_id, discount_fen=c.discount_fen)
                for c in till_order.coupons
            ],
            payable_fen=order.payable_fen,
            state=order.state,
            method=order.method,
            attempt=order.attempt,
            payment_id=order.payment_id,
            payment_state=payment.state if payment else None,
            account_id=payment.account_id if payment else None,
            points_earned=payment.points_earned if payment else 0,
            last_error=order.last_error,
            created_at=order.created_at,
            paid_at=order.paid_at,
        )


class MemberPaymentOut(BaseModel):
    """A payment of mine, as the mini-program shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    out_trade_no: str
    description: str
    amount_fen: int
    store_id: int | None
    state: PaymentState
    points_earned: int
    created_at: datetime
    expires_at: datetime = Field(description="unconfirmed by then, it is closed")
    paid_at: datetime | None


class MemberPaymentList(BaseModel):
    items: list[MemberPaymentOut]
