"""Head office issues a template to members or to a tag as a job: progress to follow, each member
issued once however often the job runs, a template running out reported rather than failed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from api.core.models import AuditLog
from api.core.queue import Registry, SaqQueue
from api.coupons import campaigns, wallet
from api.coupons.campaigns import ISSUE_JOB, issue_key, run_issue
from api.coupons.models import Coupon, CouponIssue, CouponSource, CouponTemplate, IssueState
from api.member_center.models import Member, MemberStatus, MemberTag, Tag
from api.org.models import Brand, StaffRole
from config.settings import Settings
from tests.factories import make_brand, make_member, make_staff, make_store, staff_token
from tests.support.api import Api
from workers.coupons import issue_to_members

from .support import active_template


@asynccontextmanager
async def issue_worker(settings: Settings) -> AsyncIterator[None]:
    """On the Redis stack, a saq worker in this process that runs the issue job; the in-process
    queue of the embedded stack runs it in the API's own process."""
    if not settings.redis_url:
        yield
        return
    registry = Registry()
    registry.job(ISSUE_JOB, timeout_s=3600)(issue_to_members)
    worker = SaqQueue(
        settings.redis_url,
        registry,
        run_worker=True,
        name=settings.queue_name,
        concurrency=2,
        shutdown_grace_s=1,
    )
    await worker.start()
    try:
        yield
    finally:
        await worker.stop()


@pytest.fixture
async def _worker(settings: Settings, app: object) -> AsyncIterator[None]:
    async with issue_worker(settings):
        yield


async def _hq(brand: Brand) -> str:
    return staff_token(await make_staff(brand=brand, role=StaffRole.HQ_ADMIN))


async def _members(brand: Brand, count: int) -> list[int]:
    return [(await make_member(brand=brand)).id for _ in range(count)]


async def _follow(api: Api, token: str, issue_id: int, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = await api.get(f"/admin/coupon-issues/{issue_id}", token=token)
        assert answer.status == 200, answer
        if answer.json["state"] == "done":
            return answer.json
        assert time.monotonic() < deadline, f"issue {issue_id} still {answer.json['state']}"
        await asyncio.sleep(0.05)


async def _issue(api: Api, token: str, template_id: int, target: dict[str, Any]) -> dict[str, Any]:
    started = await api.post(f"/admin/coupon-templates/{template_id}/issue", target, token=token)
    assert started.status == 202, started
    assert started.json["state"] == "queued"
    return await _follow(api, token, started.json["id"])


@pytest.mark.usefixtures("_worker")
async def test_an_issue_to_members_runs_as_a_job_and_counts_who_was_skipped_and_why(
    api: Api,
) -> None:
    brand = await make_brand()
    token = await _hq(brand)
    template = await active_template(brand, total_stock=100, per_member_limit=1)
    members = await _members(brand, 12)
    holder = members[0]
    await wallet.claim_coupon(
        brand_id=brand.id, member_id=holder, template_id=template.id, request_key="r1"
    )
    merged = await make_member(brand=brand, status=MemberStatus.MERGED)
    foreign = await make_member(brand=await make_brand())

    job = await _issue(api, token, template.id, {"member_ids": [*members, merged.id, foreign.id]})

    assert job["total"] == 14
    assert job["issued"] == 11 and job["skipped"] == 3
    assert job["skipped_reasons"] == {"limit_reached": 1, "member_gone": 2}
    assert job["finished_at"] is not None
    admin = Coupon.filter(template_id=template.id, source=CouponSource.ADMIN)
    assert sorted(await admin.values_list("member_id", flat=True)) == members[1:]
    assert await admin.filter(key=issue_key(job["id"], members[1])).count() == 1
    assert (await CouponTemplate.get(id=template.id)).issued == 12
    entry = await AuditLog.get(action="coupon_issue.start")
    assert entry.target == f"coupon_issue:{job['id']}"


@pytest.mark.usefixtures("_worker")
async def test_an_issue_to_a_tag_reaches_its_members_only(api: Api) -> None:
    brand = await make_brand()
    token = await _hq(brand)
    template = await active_template(brand)
    tag = await Tag.create(brand_id=brand.id, name="沉睡顾客")
    tagged = await _members(brand, 5)
    untagged = await _members(brand, 3)
    for member_id in tagged:
        await MemberTag.create(brand_id=brand.id, member_id=member_id, tag_id=tag.id)

    job = await _issue(api, token, template.id, {"tag_id": tag.id})

    assert (job["tag_id"], job["total"], job["issued"], job["skipped"]) == (tag.id, 5, 5, 0)
    holders = await Coupon.filter(template_id=template.id).values_list("member_id", flat=True)
    assert sorted(holders) == tagged
    assert not set(holders) & set(untagged)


@pytest.mark.usefixtures("_worker")
async def test_a_template_running_out_mid_job_is_reported_not_failed(api: Api) -> None:
    brand = await make_brand()
    token = await _hq(brand)
    template = await active_template(brand, total_stock=5)
    members = await _members(brand, 12)

    job = await _issue(api, token, template.id, {"member_ids": members})

    assert job["state"] == "done"
    assert (job["issued"], job["skipped"]) == (5, 7)
    assert job["skipped_reasons"] == {"out_of_stock": 7}
    assert await Coupon.filter(template_id=template.id).count() == 5
    assert (await CouponTemplate.get(id=template.id)).issued == 5


async def test_a_rerun_and_a_crashed_job_picked_up_again_issue_no_second_coupon() -> None:
    brand = await make_brand()
    template = await active_template(brand, total_stock=100, per_member_limit=3)
    members = await _members(brand, 8)
    issue = await campaigns.start_issue(
        brand_id=brand.id, actor="staff:1", template_id=template.id, member_ids=members
    )
    first = await run_issue(issue_id=issue.id)
    # A worker that died after its coupons were written, before it marked the issue done.
    await CouponIssue.filter(id=issue.id).update(state=IssueState.RUNNING, issued=3)

    resumed = await run_issue(issue_id=issue.id)
    again = await run_issue(issue_id=issue.id)

    assert first == {"state": "done", "issued": 8}
    assert resumed == first
    assert again == {"state": "done"}
    done = await CouponIssue.get(id=issue.id)
    assert (done.state, done.issued, done.skipped) == (IssueState.DONE, 8, 0)
    assert await Coupon.filter(template_id=template.id).count() == 8
    assert (await CouponTemplate.get(id=template.id)).issued == 8


async def test_twenty_runs_of_one_issue_at_once_issue_each_member_once() -> None:
    brand = await make_brand()
    template = await active_template(brand, total_stock=100, per_member_limit=5)
    members = await _members(brand, 6)
    issue = await campaigns.start_issue(
        brand_id=brand.id, actor="staff:1", template_id=template.id, member_ids=members
    )

    await asyncio.gather(*(run_issue(issue_id=issue.id) for _ in range(20)), return_exceptions=True)
    await run_issue(issue_id=issue.id)  # whatever a busy run left behind

    rows = await Coupon.filter(template_id=template.id).values_list("member_id", flat=True)
    assert sorted(rows) == members
    assert (await CouponTemplate.get(id=template.id)).issued == 6
    assert (await CouponIssue.get(id=issue.id)).state == IssueState.DONE


async def test_bad_issue_requests_are_refused_with_their_codes_and_change_nothing(
    api: Api,
) -> None:
    brand = await make_brand()
    token = await _hq(brand)
    store = await make_store(brand=brand)
    manager = staff_token(await make_staff(brand=brand, role=StaffRole.STORE_MANAGER, store=store))
    template = await active_template(brand)
    paused_template = await active_template(brand)
    await CouponTemplate.filter(id=paused_template.id).update(state="paused")
    foreign = await active_template(await make_brand())
    member = await make_member(brand=brand)
    url = f"/admin/coupon-templates/{template.id}/issue"

    neither = await api.post(url, {}, token=token)
    both = await api.post(url, {"member_ids": [member.id], "tag_id": 1}, token=token)
    empty = await api.post(url, {"member_ids": []}, token=token)
    no_tag = await api.post(url, {"tag_id": 999_999}, token=token)
    paused = await api.post(
        f"/admin/coupon-templates/{paused_template.id}/issue",
        {"member_ids": [member.id]},
        token=token,
    )
    theirs = await api.post(
        f"/admin/coupon-templates/{foreign.id}/issue", {"member_ids": [member.id]}, token=token
    )
    by_manager = await api.post(url, {"member_ids": [member.id]}, token=manager)
    unknown = await api.get("/admin/coupon-issues/999999", token=token)

    assert (neither.status, neither.error_code) == (422, "coupon_issue.target_invalid")
    assert (both.status, both.error_code) == (422, "coupon_issue.target_invalid")
    assert empty.status == 422
    assert (no_tag.status, no_tag.error_code) == (404, "tag.not_found")
    assert (paused.status, paused.error_code) == (409, "coupon.template_not_active")
    assert (theirs.status, theirs.error_code) == (404, "coupon_template.not_found")
    assert by_manager.status == 403
    assert (unknown.status, unknown.error_code) == (404, "coupon_issue.not_found")
    assert await CouponIssue.all().count() == 0
    assert await Coupon.all().count() == 0
    assert await Member.filter(id=member.id).exists()
