"""What crosses the wire for payments: recharge, head office's payment list and detail, refunds."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.core.fields import Cursor, Id
from api.core.pagination import Page

from .models import PaymentMethod, PaymentPurpose, PaymentState
from .payments import PaymentDetail
from .recharge import Recharge
from .refunds import RefundResult

if TYPE_CHECKING:
    from api.coupons.rewards import PaymentResult


class RechargeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    package_id: Id | None = Field(default=None, description="a recharge package on offer")
    amount_fen: int | None = Field(
        default=None, ge=1, le=100_000_000, description="an amount of your own, in fen"
    )
    provider: Literal["wechat", "alipay"] = Field(description="how the member pays")


class RechargeOut(BaseModel):
    payment_id: int
    out_trade_no: str
    provider: PaymentMethod
    amount_fen: int
    bonus_fen: int
    expires_at: datetime
    pay_params: dict[str, str] = Field(
        description="WeChat: the `wx.requestPayment` parameters (appId, timeStamp, nonceStr, "
        "package, signType, paySign); Alipay: {trade_no} for my.tradePay"
    )

    @classmethod
    def of(cls, recharge: Recharge) -> RechargeOut:
        payment = recharge.payment
        return cls(
            payment_id=payment.id,
            out_trade_no=payment.out_trade_no,
            provider=payment.method,
            amount_fen=payment.amount_fen,
            bonus_fen=recharge.bonus_fen,
            expires_at=payment.expires_at,
            pay_params=recharge.prepay.client_params,
        )


class PaymentFilter(BaseModel):
    cursor: Cursor | None = None
    limit: int = Field(default=20, ge=1, le=100)
    store_id: Id | None = None
    account_id: Id | None = Field(default=None, description="the merchant account's id")
    provider: PaymentMethod | None = None
    state: PaymentState | None = None
    since: AwareDatetime | None = Field(default=None, description="created at or after")
    until: AwareDatetime | None = Field(default=None, description="created before")


class PaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    id: int
    out_trade_no: str
    provider: PaymentMethod = Field(validation_alias="method")
    purpose: PaymentPurpose
    state: PaymentState
    amount_fen: int
    refunded_fen: int
    store_id: int | None
    account_id: int | None
    member_id: int | None
    transaction_id: str | None
    points_earned: int
    description: str
    created_at: datetime
    paid_at: datetime | None
    closed_at: datetime | None


class PaymentPage(Page[PaymentOut]):
    pass


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    received_at: datetime
    kind: str
    verified: bool
    outcome: str
    reason: str
    notification_id: str
    body_sha256: str


class RefundOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    out_refund_no: str
    amount_fen: int
    state: str
    refund_id: str | None
    reason: str
    failure: str
    points_clawed_back: int
    points_unrecovered: int
    growth_clawed_back: int
    created_at: datetime
    succeeded_at: datetime | None


class PaymentDetailOut(PaymentOut):
    account_key: str | None
    deliveries: list[DeliveryOut]
    refunds: list[RefundOut]

    @classmethod
    def of(cls, detail: PaymentDetail) -> PaymentDetailOut:
        base = PaymentOut.model_validate(detail.payment).model_dump()
        return cls(
            **base,
            account_key=detail.account_key,
            deliveries=[DeliveryOut.model_validate(d) for d in detail.deliveries],
            refunds=[RefundOut.model_validate(r) for r in detail.refunds],
        )


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out_refund_no: str | None = Field(
        default=None,
        pattern=r"^[0-9A-Za-z_\-|*@]{1,64}$",
        description="the refund's number: the same number again is the same refund (retry "
        "safely); made up when left out",
    )
    amount_fen: int | None = Field(
        default=None,
        ge=1,
        le=100_000_000,
        description="how much to refund, in fen; left out: all that is left of the payment",
    )
    reason: str = Field(min_length=1, max_length=80, description="shown to the payer")


class PaymentRefundOut(BaseModel):
    """A refund: `processing` until the platform confirms it (WeChat Pay), then `succeeded`
    (or `failed`), with the points and growth it clawed back and the stored value it moved."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    payment_id: int
    out_refund_no: str
    amount_fen: int
    reason: str
    state: str
    refund_id: str | None = Field(description="the platform's refund id")
    failure: str = Field(description="why it failed: the platform's code")
    points_clawed_back: int
    points_unrecovered: int = Field(
        description="points due back that the member had already spent: not taken"
    )
    growth_clawed_back: int
    wallet_principal_fen: int = Field(
        description="stored value given back (a wallet payment) or taken out (a recharge)"
    )
    wallet_bonus_fen: int
    payment_state: PaymentState
    payment_refunded_fen: int = Field(description="refunds of the payment succeeded or in progress")
    created_at: datetime
    succeeded_at: datetime | None

    @classmethod
    def of(cls, result: RefundResult) -> PaymentRefundOut:
        refund = result.refund
        return cls.model_validate(
            {
                **{
                    name: getattr(refund, name)
                    for name in cls.model_fields
                    if hasattr(refund, name)
                },
                "payment_state": result.payment.state,
                "payment_refunded_fen": result.payment.refunded_fen,
            }
        )


class RewardCouponOut(BaseModel):
    """A coupon the payment earned, as the wallet shows it."""

    id: int
    template_id: int
    name: str
    kind: str
    value_fen: int | None
    percent_off: int | None
    cap_fen: int | None
    threshold_fen: int
    code: str
    valid_until: datetime


class MyPaymentOut(BaseModel):
    """The payment result the mini-program shows: the payment and the coupons it earned."""

    id: int
    out_trade_no: str
    purpose: PaymentPurpose
    state: PaymentState
    amount_fen: int
    points_earned: int
    paid_at: datetime | None
    reward_coupons: list[RewardCouponOut]
    rewards_pending: bool = Field(
        description="reward coupons are still being issued: ask again in a moment"
    )

    @classmethod
    def of(cls, result: PaymentResult) -> MyPaymentOut:
        payment = result.payment
        return cls(
            id=payment.id,
            out_trade_no=payment.out_trade_no,
            purpose=payment.purpose,
            state=payment.state,
            amount_fen=payment.amount_fen,
            points_earned=payment.points_earned,
            paid_at=payment.paid_at,
            reward_coupons=[
                RewardCouponOut(
                    id=coupon.id,
                    template_id=template.id,
                    name=template.name,
                    kind=template.kind.value,
                    value_fen=template.value_fen,
                    percent_off=template.percent_off,
                    cap_fen=template.cap_fen,
                    threshold_fen=template.threshold_fen,
                    code=coupon.code,
                    valid_until=coupon.valid_until,
                )
                for coupon, template in result.coupons
            ],
            rewards_pending=result.pending,
        )
