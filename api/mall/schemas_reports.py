"""What crosses the wire for the sales report."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from api.core.fields import Day

from .reports import SalesReport

MAX_DAYS = 366


class SalesQuery(BaseModel):
    """`since` to `until` (exclusive), China days, at most 366 of them."""

    model_config = ConfigDict(extra="forbid")

    since: Day
    until: Day
    format: Literal["json", "csv"] = "json"

    @model_validator(mode="after")
    def _span(self) -> SalesQuery:
        days = (self.until - self.since).days
        if not 0 < days <= MAX_DAYS:
            raise ValueError(f"until must be 1 to {MAX_DAYS} days after since")
        return self


class Figures(BaseModel):
    orders: int
    amount_fen: int


class DayFigures(Figures):
    day: date


class StoreFigures(Figures):
    store_id: int | None


class ChannelFigures(Figures):
    channel: str


class GuideFigures(Figures):
    guide_id: int | None


class SalesReportOut(BaseModel):
    since: date
    until: date
    orders: int
    amount_fen: int
    average_order_fen: int
    member_orders: int
    member_amount_fen: int
    member_share_pct: float
    days: list[DayFigures]
    stores: list[StoreFigures]
    channels: list[ChannelFigures]
    guides: list[GuideFigures]

    @classmethod
    def of(cls, report: SalesReport) -> SalesReportOut:
        return cls(
            since=report.since,
            until=report.until,
            orders=report.total.orders,
            amount_fen=report.total.amount_fen,
            average_order_fen=report.average_order_fen,
            member_orders=report.members.orders,
            member_amount_fen=report.members.amount_fen,
            member_share_pct=report.member_share_pct,
            days=[
                DayFigures(day=date.fromisoformat(k), orders=b.orders, amount_fen=b.amount_fen)
                for k, b in sorted(report.days.items())
            ],
            stores=[
                StoreFigures(store_id=k, orders=b.orders, amount_fen=b.amount_fen)
                for k, b in sorted(report.stores.items(), key=lambda kv: kv[0] or 0)
            ],
            channels=[
                ChannelFigures(channel=k, orders=b.orders, amount_fen=b.amount_fen)
                for k, b in sorted(report.channels.items())
            ],
            guides=[
                GuideFigures(guide_id=k, orders=b.orders, amount_fen=b.amount_fen)
                for k, b in sorted(report.guides.items(), key=lambda kv: kv[0] or 0)
            ],
        )
