"""What crosses the wire for mall orders, their payment and the store pickup."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from api.core.fields import Cursor, Id, Line
from api.core.pagination import Page
from api.payments.models import PaymentMethod

from .models import Fulfilment, MallOrder, MallOrderLine, MallRefund, OrderState, RefundRequestState
from .orders import OrderRequest, Quote
from .paying import OrderPayment

Quantity = Annotated[int, Field(ge=1, le=999)]
Text = Annotated[str, Line, StringConstraints(max_length=128)]
Phone = Annotated[str, StringConstraints(pattern=r"^1\d{10}$")]
GuideCode = Annotated[str, Line, StringConstraints(max_length=32)]


class ItemIn(BaseModel):
    # A price a client adds to a line is not read: the server prices every line.
    model_config = ConfigDict(extra="ignore")

    sku_id: Id
    quantity: Quantity


class AddressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Line, StringConstraints(min_length=1, max_length=32)]
    phone: Phone
    province: Text = ""
    city: Text = ""
    district: Text = ""
    detail: Annotated[str, Line, StringConstraints(min_length=1, max_length=255)]


class OrderIn(BaseModel):
    """An order: `items` or `from_cart` (the cart's selected lines). Every amount is the
    server's: amounts a client adds (`payable_fen`, `price_fen` …) are not read."""

    model_config = ConfigDict(extra="ignore")

    items: Annotated[list[ItemIn], Field(min_length=1, max_length=50)] | None = None
    from_cart: bool = False
    coupon_ids: Annotated[list[Id], Field(max_length=5)] = Field(default_factory=list)
    points_to_use: Annotated[int, Field(ge=0, le=100_000_000)] = 0
    fulfilment: Fulfilment
    address: AddressIn | None = None
    store_id: Id | None = None
    guide_code: GuideCode = ""

    def request(self) -> OrderRequest:
        return OrderRequest(
            fulfilment=self.fulfilment,
            items=None if self.items is None else [(i.sku_id, i.quantity) for i in self.items],
            from_cart=self.from_cart,
            coupon_ids=tuple(self.coupon_ids),
            points_to_use=self.points_to_use,
            address=self.address.model_dump() if self.address else None,
            store_id=self.store_id,
            guide_code=self.guide_code,
        )


class Amounts(BaseModel):
    list_fen: int
    member_price_discount_fen: int
    level_discount_fen: int
    coupon_discount_fen: int
    points_used: int
    points_discount_fen: int
    delivery_fee_fen: int
    payable_fen: int


class LineOut(BaseModel):
    sku_id: int
    name: str
    spec: dict[str, str]
    quantity: int
    list_fen: int
    member_price_fen: int
    level_discount_fen: int
    coupon_fen: int
    points_fen: int
    payable_fen: int

    @classmethod
    def of(cls, line: MallOrderLine) -> LineOut:
        return cls(
            sku_id=line.sku_id,
            name=line.name,
            spec=line.spec,
            quantity=line.quantity,
            list_fen=line.list_fen,
            member_price_fen=line.member_price_fen,
            level_discount_fen=line.level_discount_fen,
            coupon_fen=line.coupon_fen,
            points_fen=line.points_fen,
            payable_fen=line.payable_fen,
        )


class CouponUse(BaseModel):
    coupon_id: int
    discount_fen: int


class PreviewOut(BaseModel):
    """The order as it would be created now."""

    amounts: Amounts
    lines: list[LineOut]
    coupons: list[CouponUse]

    @classmethod
    def of(cls, quote: Quote) -> PreviewOut:
        b = quote.breakdown
        return cls(
            amounts=Amounts(
                list_fen=b.list_fen,
                member_price_discount_fen=b.member_price_discount_fen,
                level_discount_fen=b.level_discount_fen,
                coupon_discount_fen=b.coupon_discount_fen,
                points_used=b.points_used,
                points_discount_fen=b.points_discount_fen,
                delivery_fee_fen=b.delivery_fee_fen,
                payable_fen=b.payable_fen,
            ),
            lines=[
                LineOut(
                    sku_id=ln.sku.id,
                    name=ln.product.name,
                    spec=ln.sku.spec,
                    quantity=ln.quantity,
                    list_fen=p.list_fen,
                    member_price_fen=p.member_price_fen,
                    level_discount_fen=p.level_discount_fen,
                    coupon_fen=p.coupon_fen,
                    points_fen=p.points_fen,
                    payable_fen=p.payable_fen,
                )
                for ln, p in zip(quote.lines, b.lines, strict=True)
            ],
            coupons=[
                CouponUse(coupon_id=c.coupon_id, discount_fen=c.discount_fen) for c in b.coupons
            ],
        )


class OrderOut(BaseModel):
    id: int
    state: OrderState
    fulfilment: Fulfilment
    store_id: int | None
    address: dict[str, Any]
    guide_code: str
    amounts: Amounts
    lines: list[LineOut]
    payment_id: int | None
    pickup_code: str | None = Field(description="pickup, once paid: 6 digits shown at the store")
    expires_at: datetime = Field(description="closed unpaid after this")
    paid_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, order: MallOrder, lines: list[MallOrderLine]) -> OrderOut:
        return cls(
            id=order.id,
            state=order.state,
            fulfilment=order.fulfilment,
            store_id=order.store_id,
            address=order.address,
            guide_code=order.guide_code,
            amounts=Amounts(
                list_fen=order.list_fen,
                member_price_discount_fen=order.member_price_discount_fen,
                level_discount_fen=order.level_discount_fen,
                coupon_discount_fen=order.coupon_discount_fen,
                points_used=order.points_used,
                points_discount_fen=order.points_discount_fen,
                delivery_fee_fen=order.delivery_fee_fen,
                payable_fen=order.payable_fen,
            ),
            lines=[LineOut.of(ln) for ln in lines],
            payment_id=order.payment_id,
            pickup_code=order.pickup_code,
            expires_at=order.expires_at,
            paid_at=order.paid_at,
            created_at=order.created_at,
        )


class OrderPage(Page[OrderOut]):
    pass


class OrderQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: OrderState | None = None
    cursor: Cursor | None = None
    limit: int = Field(default=20, ge=1, le=100)


class PayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: Literal["wechat", "alipay", "wallet"]


class PayOut(BaseModel):
    order_id: int
    state: OrderState
    payment_id: int
    out_trade_no: str
    provider: PaymentMethod
    amount_fen: int
    pay_params: dict[str, str] = Field(
        description="WeChat: the `wx.requestPayment` parameters; Alipay: {trade_no}; "
        "wallet: empty (paid already)"
    )

    @classmethod
    def of(cls, paying: OrderPayment) -> PayOut:
        return cls(
            order_id=paying.order.id,
            state=paying.order.state,
            payment_id=paying.payment.id,
            out_trade_no=paying.payment.out_trade_no,
            provider=paying.payment.method,
            amount_fen=paying.payment.amount_fen,
            pay_params=paying.prepay.client_params if paying.prepay else {},
        )


class PickupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store_id: Id
    pickup_code: Annotated[str, StringConstraints(min_length=1, max_length=16)]


class PickupOut(BaseModel):
    order_id: int
    store_id: int | None
    member_id: int
    state: OrderState
    picked_up_at: datetime | None
    picked_up_staff_id: int | None

    @classmethod
    def of(cls, order: MallOrder) -> PickupOut:
        return cls(
            order_id=order.id,
            store_id=order.store_id,
            member_id=order.member_id,
            state=order.state,
            picked_up_at=order.picked_up_at,
            picked_up_staff_id=order.picked_up_staff_id,
        )


class RefundLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku_id: Id
    quantity: Quantity


class RefundIn(BaseModel):
    """Units of the order to refund (none: all that is left), and why."""

    model_config = ConfigDict(extra="forbid")

    lines: Annotated[list[RefundLineIn], Field(min_length=1, max_length=50)] | None = None
    reason: Annotated[str, Line, StringConstraints(min_length=1, max_length=80)]


class RefundOut(BaseModel):
    id: int
    order_id: int
    state: RefundRequestState
    lines: list[dict[str, int]] = Field(description="[{line_id, quantity}]")
    amount_fen: int
    points: int = Field(description="of the points the order used, given back when refunded")
    reason: str
    out_refund_no: str | None
    created_at: datetime
    decided_at: datetime | None
    refunded_at: datetime | None

    @classmethod
    def of(cls, refund: MallRefund) -> RefundOut:
        return cls(
            id=refund.id,
            order_id=refund.order_id,
            state=refund.state,
            lines=refund.lines,
            amount_fen=refund.amount_fen,
            points=refund.points,
            reason=refund.reason,
            out_refund_no=refund.out_refund_no,
            created_at=refund.created_at,
            decided_at=refund.decided_at,
            refunded_at=refund.refunded_at,
        )


class StaffOrderIn(BaseModel):
    """A guide's order for a member: delivered home from central stock, paid by the member."""

    model_config = ConfigDict(extra="ignore")

    member_id: Id
    items: Annotated[list[ItemIn], Field(min_length=1, max_length=50)]
    address: AddressIn
    coupon_ids: Annotated[list[Id], Field(max_length=5)] = Field(default_factory=list)

    def request(self) -> OrderRequest:
        return OrderRequest(
            fulfilment=Fulfilment.DELIVERY,
            items=[(i.sku_id, i.quantity) for i in self.items],
            coupon_ids=tuple(self.coupon_ids),
            address=self.address.model_dump(),
        )


class AdvanceIn(BaseModel):
    """The state the order moves to; a shipment names its carrier and tracking number."""

    model_config = ConfigDict(extra="forbid")

    to: Literal["shipped", "delivered", "completed"]
    carrier: Annotated[str, Line, StringConstraints(max_length=32)] = ""
    tracking_no: Annotated[str, Line, StringConstraints(max_length=64)] = ""

    @model_validator(mode="after")
    def _shipment(self) -> AdvanceIn:
        if self.to == "shipped" and not (self.carrier and self.tracking_no):
            raise ValueError("a shipment needs its carrier and tracking_no")
        return self


class AdvancedOut(BaseModel):
    order_id: int
    state: OrderState
    shipping: dict[str, Any]
    shipped_at: datetime | None
    shipping_uploaded_at: datetime | None  # when WeChat accepted the shipping (WeChat Pay)

    @classmethod
    def of(cls, order: MallOrder) -> AdvancedOut:
        return cls(
            order_id=order.id,
            state=order.state,
            shipping=order.shipping,
            shipped_at=order.shipped_at,
            shipping_uploaded_at=order.shipping_uploaded_at,
        )
