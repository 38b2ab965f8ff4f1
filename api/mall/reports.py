"""The sales report: paid sales of the mall and the till over a span of days (China time), by
day, store, channel and guide; the members' share and the average order value.

A sale is a mall order once paid (its payable, less what its refunds gave back; credited to
its attributed store, else the store it is picked up at; a delivery from central stock has no
store) or a till order once paid (its payable). A store manager sees their stores' sales only.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from api.core.clock import shanghai_midnight, to_shanghai
from api.org.scope import StoreScope
from api.payments.models import PosOrder, PosOrderState

from .attribution import PAID_STATES
from .models import MallOrder, MallRefund, OrderState, RefundRequestState


@dataclass
class Bucket:
    orders: int = 0
    amount_fen: int = 0

    def add(self, amount_fen: int) -> None:
        self.orders += 1
        self.amount_fen += amount_fen


@dataclass
class SalesReport:
    since: date
    until: date  # exclusive
    total: Bucket = field(default_factory=Bucket)
    members: Bucket = field(default_factory=Bucket)
    days: dict[str, Bucket] = field(default_factory=lambda: defaultdict(Bucket))
    stores: dict[int | None, Bucket] = field(default_factory=lambda: defaultdict(Bucket))
    channels: dict[str, Bucket] = field(default_factory=lambda: defaultdict(Bucket))
    guides: dict[int | None, Bucket] = field(default_factory=lambda: defaultdict(Bucket))

    @property
    def average_order_fen(self) -> int:
        return self.total.amount_fen // self.total.orders if self.total.orders else 0

    @property
    def member_share_pct(self) -> float:
        if not self.total.amount_fen:
            return 0.0
        return round(100 * self.members.amount_fen / self.total.amount_fen, 2)


async def sales_report(
    *, brand_id: int, scope: StoreScope, since: date, until: date
) -> SalesReport:
    """Paid sales from `since` to `until` (exclusive), China days (see the module doc)."""
    start, end = shanghai_midnight(since), shanghai_midnight(until)
    report = SalesReport(since, until)

    def count(
        *,
        at: object,
        store_id: int | None,
        channel: str,
        guide_id: int | None,
        member: bool,
        fen: int,
    ) -> None:
        if not scope.allows(store_id):
            return
        report.total.add(fen)
        if member:
            report.members.add(fen)
        report.days[to_shanghai(at).date().isoformat()].add(fen)  # type: ignore[arg-type]
        report.stores[store_id].add(fen)
        report.channels[channel].add(fen)
        report.guides[guide_id].add(fen)

    mall = await MallOrder.filter(
        brand_id=brand_id, state__in=PAID_STATES, paid_at__gte=start, paid_at__lt=end
    )
    refunded: dict[int, int] = defaultdict(int)
    for order_id, fen in await MallRefund.filter(
        order_id__in=[o.id for o in mall], state=RefundRequestState.REFUNDED
    ).values_list("order_id", "amount_fen"):
        refunded[int(order_id)] += int(fen)
    for order in mall:
        if order.state is OrderState.REFUNDED:
            continue  # every unit given back: no sale
        count(
            at=order.paid_at,
            store_id=order.attributed_store_id or order.store_id,
            channel="mall",
            guide_id=order.guide_id,
            member=True,
            fen=order.payable_fen - refunded[order.id],
        )
    for sale in await PosOrder.filter(
        brand_id=brand_id, state=PosOrderState.PAID, paid_at__gte=start, paid_at__lt=end
    ):
        count(
            at=sale.paid_at,
            store_id=sale.store_id,
            channel="till",
            guide_id=None,
            member=sale.member_id is not None,
            fen=sale.payable_fen,
        )
    return report


def report_csv(report: SalesReport) -> str:
    """The report as one CSV table: `section,key,orders,amount_fen`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["section", "key", "orders", "amount_fen"])
    writer.writerow(["total", "", report.total.orders, report.total.amount_fen])
    writer.writerow(["members", "", report.members.orders, report.members.amount_fen])
    sections: list[tuple[str, dict[object, Bucket]]] = [
        ("day", report.days),  # type: ignore[list-item]
        ("store", report.stores),  # type: ignore[list-item]
        ("channel", report.channels),  # type: ignore[list-item]
        ("guide", report.guides),  # type: ignore[list-item]
    ]
    for section, buckets in sections:
        for key, bucket in sorted(buckets.items(), key=lambda kv: str(kv[0])):
            writer.writerow([section, "" if key is None else key, bucket.orders, bucket.amount_fen])
    return buffer.getvalue()
