"""What crosses the wire for the coupon report and the franchisee settlement."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from .models import CostBearer, CouponKind
from .reports import ChannelLine, CouponReport, SettlementLine, StoreLine, TemplateLine

Month = Annotated[str, StringConstraints(pattern=r"^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])$")]


class CouponReportQuery(BaseModel):
    month: Month = Field(description="the month (YYYY-MM, China time)")
    format: Literal["json", "csv"] = Field(default="json", description="json or csv")

    @property
    def first_day(self) -> date:
        year, month = self.month.split("-")
        return date(int(year), int(month), 1)


class TemplateReportOut(BaseModel):
    template_id: int
    name: str
    kind: CouponKind
    cost_bearer: CostBearer
    issued: int | None = Field(description="issued this month; null: not in the caller's scope")
    used: int
    expired: int | None
    redemption_rate: float | None = Field(
        description="of this month's issued coupons, the share used by now"
    )
    discount_fen: int

    @classmethod
    def of(cls, line: TemplateLine) -> TemplateReportOut:
        return cls(
            template_id=line.template.id,
            name=line.template.name,
            kind=line.template.kind,
            cost_bearer=line.template.cost_bearer,
            issued=line.issued,
            used=line.used,
            expired=line.expired,
            redemption_rate=line.redemption_rate,
            discount_fen=line.discount_fen,
        )


class StoreReportOut(BaseModel):
    store_id: int | None = Field(description="null: used online, at no store")
    store_name: str
    franchise: bool
    used: int
    discount_fen: int

    @classmethod
    def of(cls, line: StoreLine) -> StoreReportOut:
        return cls(
            store_id=line.store_id,
            store_name=line.store_name,
            franchise=line.franchise,
            used=line.uses.used,
            discount_fen=line.uses.discount_fen,
        )


class ChannelReportOut(BaseModel):
    channel: str = Field(description="till, mall, or unknown (a use recorded without it)")
    used: int
    discount_fen: int

    @classmethod
    def of(cls, line: ChannelLine) -> ChannelReportOut:
        return cls(channel=line.channel, used=line.uses.used, discount_fen=line.uses.discount_fen)


class SettlementOut(BaseModel):
    """One franchisee's month: discount given at its stores, by who bears it."""

    account_id: int | None = Field(description="the franchisee's merchant account; null: none")
    account_key: str
    account_name: str
    store_ids: list[int]
    used: int
    discount_fen: int
    brand_borne_fen: int = Field(description="brand coupons used there: head office owes it")
    franchisee_borne_fen: int = Field(description="its own coupons: its own cost")

    @classmethod
    def of(cls, line: SettlementLine) -> SettlementOut:
        return cls(
            account_id=line.account.id if line.account else None,
            account_key=line.account.key if line.account else "",
            account_name=line.account.name if line.account else "",
            store_ids=sorted(line.store_ids),
            used=line.uses.used,
            discount_fen=line.uses.discount_fen,
            brand_borne_fen=line.brand_borne_fen,
            franchisee_borne_fen=line.franchisee_borne_fen,
        )


class CouponReportOut(BaseModel):
    month: str
    issued: int | None
    used: int
    expired: int | None
    redemption_rate: float | None
    discount_fen: int
    brand_cost_fen: int
    franchisee_cost_fen: int
    templates: list[TemplateReportOut]
    stores: list[StoreReportOut]
    channels: list[ChannelReportOut]
    settlement: list[SettlementOut]

    @classmethod
    def of(cls, report: CouponReport) -> CouponReportOut:
        return cls(
            month=report.month,
            issued=report.issued,
            used=report.used,
            expired=report.expired,
            redemption_rate=report.redemption_rate,
            discount_fen=report.discount_fen,
            brand_cost_fen=report.brand_cost_fen,
            franchisee_cost_fen=report.franchisee_cost_fen,
            templates=[TemplateReportOut.of(t) for t in report.templates],
            stores=[StoreReportOut.of(s) for s in report.stores],
            channels=[ChannelReportOut.of(c) for c in report.channels],
            settlement=[SettlementOut.of(s) for s in report.settlement],
        )
