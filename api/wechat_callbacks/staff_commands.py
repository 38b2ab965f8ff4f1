"""What bound staff ask the official account, answered inside WeChat's 5 seconds.

- `staff_today` (CLICK): today's figures, Asia/Shanghai day: new members, attributed sales
  (payments paid today, net of refunds), coupons written off. A guide's own (members bound to
  them, their members' payments, coupons they wrote off); a store manager's or cashier's store's
  (members won by the store, payments at the store, write-offs at the store); head office's the
  brand's (members first seen today).
- `staff_redeem` (`scancode_waitmsg`): the scanned coupon code is written off at the staff
  member's store through the coupons service, answered with the coupon's name or the reason.
- `staff_members` (CLICK): the members the guide (a store's staff: the store; head office: the
  brand) looks after: how many, the 10 newest masked, and the brand's `staff_members_url`.
- "查 5678" (text): members of the staff member's store (head office: the brand) whose phone
  ends in those 4 digits, masked, at most 10.

The sender is resolved on every command from the binding to an active staff member, read fresh:
a disabled or unbound user pressing a staff button gets `STAFF_ONLY` and no data; a "查" text
from them is an ordinary message (the keyword auto-replies answer it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Subquery
from tortoise.functions import Count, Sum
from tortoise.queryset import QuerySet
from wechatpy.messages import BaseMessage

from api.core.clock import shanghai_midnight, to_shanghai
from api.core.errors import DomainError
from api.core.money import fen_to_yuan
from api.core.ports import clock
from api.coupons.error_codes import CouponErrorCode
from api.coupons.models import Coupon, CouponState
from api.coupons.redeem import redeem_at_counter
from api.member_center import relations
from api.member_center.models import Member, MemberRelation, RelationSource
from api.org.models import Staff, StaffRole, Store
from api.org.scope import StoreScope
from api.payments.models import Payment, PaymentState

from .menus import STAFF_MEMBERS, STAFF_REDEEM, STAFF_TODAY
from .push import PushApp
from .staff_binding import bound_staff

STAFF_ONLY = "仅限员工使用"
LOOKUP = re.compile(r"^查\s*(\d{4})$")
LISTED = 10
# A payment counts towards sales once paid, refunds taken off again.
PAID_STATES = (PaymentState.PAID, PaymentState.PARTIALLY_REFUNDED, PaymentState.REFUNDED)

ROLE_NAMES = {
    StaffRole.HQ_ADMIN: "总部",
    StaffRole.STORE_MANAGER: "店长",
    StaffRole.GUIDE: "导购",
    StaffRole.CASHIER: "收银",
}

REASONS = {
    CouponErrorCode.NOT_FOUND: "没有这张券",
    CouponErrorCode.NOT_VALID_IN_STORE: "此券不能在本店使用",
    CouponErrorCode.CHANNEL_NOT_ALLOWED: "此券不能在门店使用",
    CouponErrorCode.EXPIRED: "此券已过期",
    CouponErrorCode.NOT_STARTED: "此券尚未到使用时间",
    CouponErrorCode.ALREADY_USED: "此券已被使用",
    CouponErrorCode.LOCKED_BY_ANOTHER_ORDER: "此券已被订单占用",
    CouponErrorCode.NOT_AVAILABLE: "此券不可用",
    CouponErrorCode.BELOW_THRESHOLD: "未达到此券的使用门槛",
}


@dataclass(frozen=True)
class Command:
    """A staff command a message asks for: its name, and what it carries (a code, 4 digits)."""

    name: str
    argument: str = ""
    button: bool = True  # a staff-menu button: answered `STAFF_ONLY` to anyone else


def command_of(message: BaseMessage) -> Command | None:
    """The staff command the message is, or None for anything else."""
    if message.type == "text":
        found = LOOKUP.match(str(getattr(message, "content", "") or "").strip())
        return Command("lookup", found.group(1), button=False) if found else None
    if message.type != "event":
        return None
    event = str(getattr(message, "event", "")).lower()
    key = str(getattr(message, "key", "") or "")
    if event == "click" and key in (STAFF_TODAY, STAFF_MEMBERS):
        return Command(key)
    if event == "scancode_waitmsg" and key == STAFF_REDEEM:
        info: Any = getattr(message, "scan_code_info", None) or {}
        result = info.get("ScanResult") if isinstance(info, dict) else None
        return Command(STAFF_REDEEM, str(result or "").strip())
    return None


async def answer(app: PushApp, openid: str, command: Command) -> str | None:
    """The reply to a staff command; None when the sender is not staff and it is no button."""
    staff = await bound_staff(app=app, openid=openid)
    if staff is None:
        return STAFF_ONLY if command.button else None
    if command.name == STAFF_TODAY:
        return await _today(app, staff)
    if command.name == STAFF_REDEEM:
        return await _redeem(app, staff, command.argument)
    if command.name == STAFF_MEMBERS:
        return await _members(app, staff)
    return await _lookup(app, staff, command.argument)


def _fen(amount: int) -> str:
    return f"¥{fen_to_yuan(amount)}"


def _mask(nickname: str) -> str:
    return f"{nickname[0]}**" if nickname else "会员"


async def _who(staff: Staff) -> str:
    if staff.role == StaffRole.HQ_ADMIN or staff.store_id is None:
        return f"总部 {staff.name}"
    store = await Store.get_or_none(id=staff.store_id)
    return f"{store.name if store else ''}{ROLE_NAMES[staff.role]} {staff.name}"


def _looked_after(app: PushApp, staff: Staff) -> QuerySet[Member]:
    """The members a staff member looks after: a guide's, a store's, or the brand's."""
    members = Member.filter(brand_id=app.brand_id, merged_into_id=None)
    if staff.role == StaffRole.GUIDE:
        return members.filter(guide_id=staff.id)
    if staff.role != StaffRole.HQ_ADMIN and staff.store_id is not None:
        return members.filter(home_store_id=staff.store_id)
    if staff.role == StaffRole.HQ_ADMIN:
        return members
    return members.filter(id=0)  # store staff without a store look after nobody


async def _today(app: PushApp, staff: Staff) -> str:
    now = to_shanghai(clock().now())
    since = shanghai_midnight(now.date())
    payments = Payment.filter(brand_id=app.brand_id, state__in=PAID_STATES, paid_at__gte=since)
    coupons = Coupon.filter(brand_id=app.brand_id, state=CouponState.USED, used_at__gte=since)
    if staff.role == StaffRole.GUIDE:
        new_members = (
            await relations.guide_performance(brand_id=app.brand_id, guide_id=staff.id)
        ).new_members_today
        payments = payments.filter(
            member_id__in=Subquery(Member.filter(guide_id=staff.id).values("id"))
        )
        coupons = coupons.filter(used_staff_id=staff.id)
    elif staff.role != StaffRole.HQ_ADMIN and staff.store_id is not None:
        new_members = (
            await MemberRelation.filter(
                brand_id=app.brand_id,
                store_id=staff.store_id,
                ended_at__isnull=True,
                started_at__gte=since,
            )
            .exclude(source=RelationSource.ADMIN)
            .count()
        )
        payments = payments.filter(store_id=staff.store_id)
        coupons = coupons.filter(used_store_id=staff.store_id)
    elif staff.role == StaffRole.HQ_ADMIN:
        new_members = await Member.filter(
            brand_id=app.brand_id, merged_into_id=None, created_at__gte=since
        ).count()
    else:
        return "您未归属门店，暂无数据。"
    totals = (
        await payments.annotate(
            paid=Sum("amount_fen"), refunded=Sum("refunded_fen"), orders=Count("id")
        )
        .first()
        .values("paid", "refunded", "orders")
    )
    sales = int((totals or {}).get("paid") or 0) - int((totals or {}).get("refunded") or 0)
    orders = int((totals or {}).get("orders") or 0)
    written_off = await coupons.count()
    return "\n".join(
        [
            f"今日数据（{now.month}月{now.day}日）",
            await _who(staff),
            f"新增会员：{new_members}",
            f"业绩：{_fen(sales)}（{orders}笔）",
            f"核销券：{written_off}张",
        ]
    )


async def _redeem(app: PushApp, staff: Staff, code: str) -> str:
    if staff.store_id is None:
        return "核销失败：您未归属门店，不能在门店核销。"
    if not code:
        return "核销失败：没有扫到券码。"
    try:
        redeemed = await redeem_at_counter(
            brand_id=app.brand_id,
            scope=StoreScope.stores(staff.store_id),
            staff_id=staff.id,
            store_id=staff.store_id,
            code=code[:64],
        )
    except DomainError as exc:
        reason = REASONS.get(CouponErrorCode(exc.code)) if exc.code in REASONS else None
        return f"核销失败：{reason or '此券不可用'}"
    return f"已核销：{redeemed.template.name}"


async def _members(app: PushApp, staff: Staff) -> str:
    members = _looked_after(app, staff)
    count = await members.count()
    newest = await members.order_by("-id").limit(LISTED)
    lines = [f"我的会员：共{count}位"]
    lines += [f"{_mask(member.nickname)} {member.phone_masked or '未留手机'}" for member in newest]
    link = app.brand_settings.get("staff_members_url")
    if isinstance(link, str) and link:
        lines.append(f"会员列表：{link}")
    return "\n".join(lines)


async def _lookup(app: PushApp, staff: Staff, digits: str) -> str:
    members = Member.filter(
        brand_id=app.brand_id, merged_into_id=None, phone_masked__endswith=digits
    )
    if staff.role != StaffRole.HQ_ADMIN:
        if staff.store_id is None:
            return "您未归属门店，不能查询会员。"
        members = members.filter(home_store_id=staff.store_id)
    found = await members.order_by("-id").limit(LISTED)
    if not found:
        return f"没有手机尾号{digits}的会员。"
    lines = [f"手机尾号{digits}的会员："]
    lines += [
        f"{_mask(member.nickname)} {member.phone_masked} 会员号{member.member_no}"
        for member in found
    ]
    return "\n".join(lines)
