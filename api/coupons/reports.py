"""Coupon reports: a month's issuing, use and expiry, and who bears the discount given.

Per month (Asia/Shanghai):

- `issued`: coupons issued that month (`issued_on`), per template.
- `used`: coupons used that month (`used_at`), per template, per store and per channel, with
  the discount they took off (`discount_fen`).
- `expired`: coupons whose window closed that month and that were never used (swept to
  `expired`, or still `available` past their window), per template.
- `redemption_rate`: of the coupons issued that month, the share used by now (a cohort rate:
  never above 1, and it grows as that month's coupons are used later).

Issuing and expiry happen at no store and through no channel, so only uses are broken down by
store and channel.

Cost by bearer: a template's `cost_bearer` says who pays for its discount. `brand` coupons are
paid by head office wherever they are used; `franchisee` coupons by the franchisee of the
franchise store where they were used. A `franchisee` coupon used at a directly operated store,
or online (no store), is head office's own: there is no franchisee to bear it.

A franchisee has no row of its own: it is the merchant account its franchise stores' money is
routed to (`StorePaymentRoute`; with routes for several providers, the WeChat Pay v3 one, then
WeChat Pay v2, then Alipay). The settlement lists, per franchisee, the uses at its stores: the
discount of brand coupons given there (`brand_borne_fen`: what head office owes it) and of its
own coupons (`franchisee_borne_fen`: its own cost, for its records). A franchise store without
a route is listed on its own line with no account.

A store manager's report (a scope of some stores) counts only uses at their stores, and
issued / expired only for templates limited to their stores (null for the brand's others).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from tortoise.functions import Count, Sum
from tortoise.queryset import ValuesListQuery

from api.core import ports
from api.core.clock import shanghai_midnight
from api.org.models import MerchantAccount, PaymentProvider, Status, Store, StoreKind
from api.org.models import StorePaymentRoute as Route
from api.org.scope import StoreScope

from .models import CostBearer, Coupon, CouponState, CouponTemplate

# Which route names a franchisee when a store has several (one per provider).
PROVIDER_ORDER = (
    PaymentProvider.WECHATPAY_V3,
    PaymentProvider.WECHATPAY_V2,
    PaymentProvider.ALIPAY,
)
NO_CHANNEL = "unknown"  # a use recorded without its channel


@dataclass
class Uses:
    """How many coupons were used and what they took off."""

    used: int = 0
    discount_fen: int = 0

    def add(self, used: int, discount_fen: int) -> None:
        self.used += used
        self.discount_fen += discount_fen


@dataclass
class TemplateLine:
    template: CouponTemplate
    issued: int | None
    used: int
    expired: int | None
    redemption_rate: float | None
    discount_fen: int


@dataclass
class StoreLine:
    store_id: int | None  # None: used online, at no store
    store_name: str
    franchise: bool
    uses: Uses


@dataclass
class ChannelLine:
    channel: str
    uses: Uses


@dataclass
class SettlementLine:
    """One franchisee's month: the discount given at its stores, by who bears it."""

    account: MerchantAccount | None  # None: a franchise store without a payment route
    store_ids: list[int]
    uses: Uses = field(default_factory=Uses)
    brand_borne_fen: int = 0
    franchisee_borne_fen: int = 0


@dataclass
class CouponReport:
    month: str
    issued: int | None
    used: int
    expired: int | None
    redemption_rate: float | None
    discount_fen: int
    brand_cost_fen: int
    franchisee_cost_fen: int
    templates: list[TemplateLine]
    stores: list[StoreLine]
    channels: list[ChannelLine]
    settlement: list[SettlementLine]


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """The UTC instants a Shanghai month starts and ends (end excluded)."""
    first = month.replace(day=1)
    return shanghai_midnight(first), shanghai_midnight(_next_month(first))


def _rate(used: int, issued: int) -> float | None:
    return round(used / issued, 4) if issued else None


async def _per_template(rows: ValuesListQuery[Literal[False]]) -> dict[int, int]:
    return {int(t): int(n) for t, n in await rows}


async def franchisees_of(*, brand_id: int, store_ids: list[int]) -> dict[int, MerchantAccount]:
    """The franchisee (merchant account) of each franchise store among `store_ids` that has one."""
    routes = await Route.filter(
        brand_id=brand_id, store_id__in=store_ids, status=Status.ACTIVE
    ).prefetch_related("account")
    rank = {provider: n for n, provider in enumerate(PROVIDER_ORDER)}
    chosen: dict[int, Route] = {}
    for route in routes:
        best = chosen.get(route.store_id)
        if best is None or rank[route.provider] < rank[best.provider]:
            chosen[route.store_id] = route
    return {store_id: route.account for store_id, route in chosen.items()}


async def coupon_report(*, brand_id: int, scope: StoreScope, month: date) -> CouponReport:
    """The month's coupon report and franchisee settlement, limited to the caller's scope."""
    start, end = month_bounds(month)
    now = ports.clock().now()
    templates = {t.id: t for t in await CouponTemplate.filter(brand_id=brand_id).order_by("id")}
    countable = {
        t.id
        for t in templates.values()
        if scope.whole_brand or (t.store_ids and all(scope.allows(s) for s in t.store_ids))
    }
    mine = Coupon.filter(brand_id=brand_id, template_id__in=sorted(countable) or [0])
    first = month.replace(day=1)
    of_month = mine.filter(issued_on__gte=first, issued_on__lt=_next_month(first))
    issued = await _per_template(
        of_month.annotate(n=Count("id")).group_by("template_id").values_list("template_id", "n")
    )
    redeemed = await _per_template(
        of_month.filter(state=CouponState.USED)
        .annotate(n=Count("id"))
        .group_by("template_id")
        .values_list("template_id", "n")
    )
    expired = await _per_template(
        mine.filter(
            state__in=[CouponState.AVAILABLE, CouponState.EXPIRED],
            valid_until__gte=start,
            valid_until__lt=min(end, now),
        )
        .annotate(n=Count("id"))
        .group_by("template_id")
        .values_list("template_id", "n")
    )
    uses = scope.limit(
        Coupon.filter(
            brand_id=brand_id, state=CouponState.USED, used_at__gte=start, used_at__lt=end
        ),
        "used_store_id",
    )
    use_rows = [
        (int(t), s, c or NO_CHANNEL, int(n), int(d or 0))
        for t, s, c, n, d in await uses.annotate(n=Count("id"), d=Sum("discount_fen"))
        .group_by("template_id", "used_store_id", "used_channel")
        .values_list("template_id", "used_store_id", "used_channel", "n", "d")
    ]
    store_ids = sorted({s for _, s, _, _, _ in use_rows if s is not None})
    stores = {s.id: s for s in await Store.filter(brand_id=brand_id, id__in=store_ids or [0])}
    franchise_ids = [s for s, store in stores.items() if store.kind is StoreKind.FRANCHISE]
    accounts = await franchisees_of(brand_id=brand_id, store_ids=franchise_ids)

    by_template: dict[int, Uses] = defaultdict(Uses)
    by_store: dict[int | None, Uses] = defaultdict(Uses)
    by_channel: dict[str, Uses] = defaultdict(Uses)
    settlement: dict[tuple[int | None, int | None], SettlementLine] = {}
    brand_cost = franchisee_cost = 0
    for template_id, store_id, channel, n, discount in use_rows:
        by_template[template_id].add(n, discount)
        by_store[store_id].add(n, discount)
        by_channel[channel].add(n, discount)
        bearer = templates[template_id].cost_bearer
        if store_id is None or store_id not in franchise_ids:
            brand_cost += discount
            continue
        account = accounts.get(store_id)
        # A routed franchisee is one line for all its stores; an unrouted store one line each.
        line_key = (account.id, None) if account else (None, store_id)
        line = settlement.setdefault(line_key, SettlementLine(account, []))
        if store_id not in line.store_ids:
            line.store_ids.append(store_id)
        line.uses.add(n, discount)
        if bearer is CostBearer.FRANCHISEE:
            line.franchisee_borne_fen += discount
            franchisee_cost += discount
        else:
            line.brand_borne_fen += discount
            brand_cost += discount

    template_lines = [
        TemplateLine(
            template=template,
            issued=issued.get(tid, 0) if tid in countable else None,
            used=by_template[tid].used,
            expired=expired.get(tid, 0) if tid in countable else None,
            redemption_rate=_rate(redeemed.get(tid, 0), issued.get(tid, 0))
            if tid in countable
            else None,
            discount_fen=by_template[tid].discount_fen,
        )
        for tid, template in templates.items()
        if tid in countable or tid in by_template
    ]
    total_issued = sum(issued.values())
    return CouponReport(
        month=f"{month:%Y-%m}",
        issued=total_issued if scope.whole_brand else None,
        used=sum(u.used for u in by_template.values()),
        expired=sum(expired.values()) if scope.whole_brand else None,
        redemption_rate=_rate(sum(redeemed.values()), total_issued) if scope.whole_brand else None,
        discount_fen=brand_cost + franchisee_cost,
        brand_cost_fen=brand_cost,
        franchisee_cost_fen=franchisee_cost,
        templates=template_lines,
        stores=[
            StoreLine(
                store_id=sid,
                store_name=stores[sid].name if sid is not None else "",
                franchise=sid in franchise_ids,
                uses=u,
            )
            for sid, u in sorted(by_store.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
        ],
        channels=[ChannelLine(c, u) for c, u in sorted(by_channel.items())],
        settlement=sorted(
            settlement.values(),
            key=lambda line: (
                line.account is None,
                line.account.id if line.account else 0,
                line.store_ids,
            ),
        ),
    )


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


CSV_COLUMNS = (
    "section",
    "id",
    "name",
    "issued",
    "used",
    "expired",
    "redemption_rate",
    "discount_fen",
    "brand_borne_fen",
    "franchisee_borne_fen",
)


def report_csv(report: CouponReport) -> str:
    """The report as one CSV table, a `section` column telling its parts apart."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)

    def row(section: str, key: object, name: str, **values: object) -> None:
        writer.writerow(
            [section, "" if key is None else key, name]
            + ["" if values.get(c) is None else values[c] for c in CSV_COLUMNS[3:]]
        )

    row(
        "month",
        report.month,
        "",
        issued=report.issued,
        used=report.used,
        expired=report.expired,
        redemption_rate=report.redemption_rate,
        discount_fen=report.discount_fen,
        brand_borne_fen=report.brand_cost_fen,
        franchisee_borne_fen=report.franchisee_cost_fen,
    )
    for t in report.templates:
        row(
            "template",
            t.template.id,
            t.template.name,
            issued=t.issued,
            used=t.used,
            expired=t.expired,
            redemption_rate=t.redemption_rate,
            discount_fen=t.discount_fen,
        )
    for s in report.stores:
        row("store", s.store_id, s.store_name, used=s.uses.used, discount_fen=s.uses.discount_fen)
    for c in report.channels:
        row("channel", c.channel, c.channel, used=c.uses.used, discount_fen=c.uses.discount_fen)
    for line in report.settlement:
        row(
            "franchisee",
            line.account.id if line.account else None,
            line.account.name if line.account else "",
            used=line.uses.used,
            discount_fen=line.uses.discount_fen,
            brand_borne_fen=line.brand_borne_fen,
            franchisee_borne_fen=line.franchisee_borne_fen,
        )
    return buffer.getvalue()
