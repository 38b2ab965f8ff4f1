"""What crosses the wire for the dynamic member code and the till's resolve."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.member_center.member_code import CardLevel, MemberCard, MemberCode
from api.member_center.models import MemberStatus

# [0-9], not \d: the schema's regex engine counts other scripts' digits as \d too.
Code = Annotated[str, StringConstraints(pattern=r"^[0-9]{18}$")]


class MemberCodeOut(BaseModel):
    code: str = Field(description="18 digits starting 68; never a WeChat or Alipay payment code")
    qr_svg: str = Field(description="the code as a QR symbol, an SVG document")
    qr_png_base64: str = Field(
        description="the same QR symbol as a PNG image (8 px per module), base64-encoded"
    )
    barcode_svg: str = Field(description="the code as a Code 128 barcode, an SVG document")
    expires_at: datetime

    @classmethod
    def of(cls, code: MemberCode) -> MemberCodeOut:
        return cls(
            code=code.code,
            qr_svg=code.qr_svg,
            qr_png_base64=code.qr_png_base64,
            barcode_svg=code.barcode_svg,
            expires_at=code.expires_at,
        )


class MemberCodeResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code = Field(description="the 18 digits scanned from the member's phone")


class CardLevelOut(BaseModel):
    id: int
    name: str
    discount_pct: int

    @classmethod
    def of(cls, level: CardLevel) -> CardLevelOut:
        return cls(id=level.id, name=level.name, discount_pct=level.discount_pct)


class MemberSummaryOut(BaseModel):
    """Who is at the till: enough to price an order, never the phone number in clear."""

    member_id: int
    member_no: str
    nickname: str
    phone_masked: str
    status: MemberStatus
    level: CardLevelOut | None
    points_balance: int
    wallet_principal_fen: int
    wallet_bonus_fen: int
    wallet_total_fen: int
    coupons: list[dict[str, object]] = Field(
        default_factory=list,
        description="the coupons usable now at the till of the caller's store, soonest to expire first",
    )

    @classmethod
    def of(cls, card: MemberCard) -> MemberSummaryOut:
        return cls(
            member_id=card.member_id,
            member_no=card.member_no,
            nickname=card.nickname,
            phone_masked=card.phone_masked,
            status=card.status,
            level=CardLevelOut.of(card.level) if card.level is not None else None,
            points_balance=card.points_balance,
            wallet_principal_fen=card.wallet_principal_fen,
            wallet_bonus_fen=card.wallet_bonus_fen,
            wallet_total_fen=card.wallet_principal_fen + card.wallet_bonus_fen,
            coupons=[],
        )
