"""Head office issues a template to a list of members, or to every member with a tag, as a job.

`start_issue` fixes the members (a tag's members as they are at that moment), writes the issue
row and queues `run_issue`; `get_issue` is its progress. Each member is issued through
`issuing.issue_coupon` with the key `admin:<issue id>:<member id>`, so a rerun of the job (saq
retries, a worker that died mid-way) answers the coupons already issued instead of issuing new
ones, and counts them again as issued. A member who cannot have one is skipped and counted by
reason: the template ran out (then every member after is skipped the same way, without asking),
the member reached the template's limit, the member is gone (not the brand's, or merged), or
the template stopped issuing mid-way. None of these fails the job.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from tortoise.transactions import in_transaction

from api.core import audit, ports
from api.core.errors import Conflict, DomainError, InvalidInput, NotFound
from api.member_center.error_codes import MemberErrorCode, TagErrorCode
from api.member_center.models import Member, MemberStatus, MemberTag, Tag

from .error_codes import CouponErrorCode, CouponIssueErrorCode
from .issuing import issue_coupon
from .models import CouponIssue, CouponSource, IssueState, TemplateState
from .templates import get_template

log = logging.getLogger("memberhub.coupons")

ISSUE_JOB = "coupons.issue"
_FLUSH_EVERY = 50  # members between two progress writes

# What a skipped member is counted under, by the error `issue_coupon` answered.
SKIP_REASONS: dict[str, str] = {
    CouponErrorCode.OUT_OF_STOCK: "out_of_stock",
    CouponErrorCode.LIMIT_REACHED: "limit_reached",
    CouponErrorCode.DAILY_LIMIT_REACHED: "limit_reached",
    CouponErrorCode.TEMPLATE_NOT_ACTIVE: "template_not_active",
    CouponErrorCode.ISSUE_IN_PROGRESS: "issue_in_progress",
    CouponErrorCode.KEY_REUSED: "member_gone",
    MemberErrorCode.NOT_FOUND: "member_gone",
    MemberErrorCode.MERGED: "member_gone",
}


def issue_key(issue_id: int, member_id: int) -> str:
    """The issuing key of one member's coupon in one admin issue."""
    return f"admin:{issue_id}:{member_id}"


async def start_issue(
    *,
    brand_id: int,
    actor: str,
    template_id: int,
    member_ids: list[int] | None = None,
    tag_id: int | None = None,
) -> CouponIssue:
    """Queue the issue of the template to the members or the tag's members; 202-style, audited.

    404 `coupon_template.not_found`, `tag.not_found`; 409 `coupon.template_not_active`;
    422 `coupon_issue.target_invalid` (neither or both of member_ids and tag_id).
    """
    if (member_ids is None) == (tag_id is None) or member_ids == []:
        raise InvalidInput(CouponIssueErrorCode.TARGET_INVALID, "Give either member_ids or tag_id.")
    template = await get_template(brand_id=brand_id, template_id=template_id)
    if template.state is not TemplateState.ACTIVE:
        raise Conflict(CouponErrorCode.TEMPLATE_NOT_ACTIVE, "This coupon is not being issued.")
    if tag_id is not None:
        if not await Tag.filter(id=tag_id, brand_id=brand_id).exists():
            raise NotFound(TagErrorCode.NOT_FOUND, "No such tag.")
        rows = (
            await MemberTag.filter(brand_id=brand_id, tag_id=tag_id)
            .order_by("member_id")
            .values_list("member_id", flat=True)
        )
        targets: list[int] = [int(m) for m in rows]  # type: ignore[call-overload]
    else:
        assert member_ids is not None
        targets = list(dict.fromkeys(member_ids))
    async with in_transaction() as db:
        issue = await CouponIssue.create(
            using_db=db,
            brand_id=brand_id,
            template_id=template_id,
            actor=actor,
            tag_id=tag_id,
            member_ids=targets,
            total=len(targets),
        )
        await audit.record(
            brand_id=brand_id,
            actor=actor,
            action="coupon_issue.start",
            target=f"coupon_issue:{issue.id}",
            details={"template_id": template_id, "tag_id": tag_id, "members": len(targets)},
            connection=db,
        )
    await ports.queue().enqueue(ISSUE_JOB, key=f"coupon-issue:{issue.id}", issue_id=issue.id)
    return issue


async def get_issue(*, brand_id: int, issue_id: int) -> CouponIssue:
    """One admin issue of the brand with its progress; 404 `coupon_issue.not_found`."""
    issue = await CouponIssue.get_or_none(id=issue_id, brand_id=brand_id)
    if issue is None:
        raise NotFound(CouponIssueErrorCode.NOT_FOUND, "No such coupon issue.")
    return issue


async def _live_members(brand_id: int, member_ids: list[int]) -> set[int]:
    live: set[int] = set()
    for start in range(0, len(member_ids), 500):
        chunk = member_ids[start : start + 500]
        rows = await Member.filter(
            brand_id=brand_id,
            id__in=chunk,
            status__in=(MemberStatus.VISITOR, MemberStatus.MEMBER),
        ).values_list("id", flat=True)
        live.update(int(m) for m in rows)  # type: ignore[call-overload]
    return live


async def run_issue(*, issue_id: int) -> dict[str, Any]:
    """Issue to every member of a queued or interrupted issue; safe to run again at any point."""
    issue = await CouponIssue.get_or_none(id=issue_id)
    if issue is None or issue.state is IssueState.DONE:
        return {"state": issue.state.value if issue else "missing"}
    await CouponIssue.filter(id=issue.id, state__in=_RUNNING).update(
        state=IssueState.RUNNING, started_at=ports.clock().now()
    )
    issued = 0
    skipped: Counter[str] = Counter()
    live = await _live_members(issue.brand_id, issue.member_ids)
    sold_out = False
    for done, member_id in enumerate(issue.member_ids, start=1):
        if member_id not in live:
            skipped["member_gone"] += 1
        elif sold_out:
            skipped["out_of_stock"] += 1
        else:
            try:
                await issue_coupon(
                    brand_id=issue.brand_id,
                    template_id=issue.template_id,
                    member_id=member_id,
                    source=CouponSource.ADMIN,
                    key=issue_key(issue.id, member_id),
                )
                issued += 1
            except DomainError as error:
                reason = SKIP_REASONS.get(error.code)
                if reason is None:
                    raise
                skipped[reason] += 1
                sold_out = reason == "out_of_stock"
        if done % _FLUSH_EVERY == 0:
            await _progress(issue.id, issued, skipped)
    await CouponIssue.filter(id=issue.id, state=IssueState.RUNNING).update(
        state=IssueState.DONE,
        issued=issued,
        skipped=sum(skipped.values()),
        skipped_reasons=dict(skipped),
        finished_at=ports.clock().now(),
    )
    log.info("coupon issue %s: %s issued, %s", issue.id, issued, dict(skipped))
    return {"state": IssueState.DONE.value, "issued": issued, **skipped}


_RUNNING = (IssueState.QUEUED, IssueState.RUNNING)


async def _progress(issue_id: int, issued: int, skipped: Counter[str]) -> None:
    # A rerun counts from the start again: a coupon replayed by its key counts as issued.
    await CouponIssue.filter(id=issue_id, state=IssueState.RUNNING).update(
        issued=issued, skipped=sum(skipped.values()), skipped_reasons=dict(skipped)
    )
