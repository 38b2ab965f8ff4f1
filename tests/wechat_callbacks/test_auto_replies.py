"""Head office's keyword auto-replies: CRUD, its refusals, and who may use it."""

from __future__ import annotations

from api.core.models import AuditLog
from api.org.models import StaffRole
from api.wechat_callbacks.models import WechatAutoReply
from tests.factories import make_brand, make_staff, make_store, staff_token
from tests.support.api import Api

PATH = "/admin/wechat-auto-replies"


async def rows() -> list[tuple[str, str, str, bool]]:
    return [
        (rule.keyword, rule.match.value, rule.reply_text, rule.active)
        for rule in await WechatAutoReply.all().order_by("id")
    ]


async def test_head_office_adds_changes_lists_and_removes_rules(api: Api) -> None:
    brand = await make_brand()
    token = staff_token(await make_staff(brand=brand))

    created = await api.post(
        PATH, {"keyword": "会员", "reply_text": "会员中心 {member_center_url}"}, token=token
    )
    assert created.status == 201, created
    rule_id = created.json["id"]
    assert created.json["match"] == "exact" and created.json["active"] is True

    changed = await api.patch(
        f"{PATH}/{rule_id}", {"match": "contains", "active": False}, token=token
    )
    assert changed.status == 200 and changed.json["match"] == "contains"
    listed = await api.get(PATH, token=token)
    assert [item["id"] for item in listed.json["items"]] == [rule_id]

    removed = await api.delete(f"{PATH}/{rule_id}", token=token)
    assert removed.status == 200 and removed.json["items"] == []
    actions = await AuditLog.filter(brand_id=brand.id).values_list("action", flat=True)
    assert sorted(actions) == [
        "wechat_auto_reply.create",
        "wechat_auto_reply.delete",
        "wechat_auto_reply.update",
    ]


async def test_bad_input_is_refused_with_stable_codes_and_changes_nothing(api: Api) -> None:
    brand = await make_brand()
    other = await make_brand()
    token = staff_token(await make_staff(brand=brand))
    other_token = staff_token(await make_staff(brand=other))
    first = await api.post(PATH, {"keyword": "营业", "reply_text": "9-22"}, token=token)
    before = await rows()

    cases = [
        ({"keyword": "", "reply_text": "x"}, 422, "request.invalid"),
        ({"keyword": "k" * 33, "reply_text": "x"}, 422, "request.invalid"),
        ({"keyword": "a\nb", "reply_text": "x"}, 422, "request.invalid"),
        ({"keyword": "k", "reply_text": ""}, 422, "request.invalid"),
        ({"keyword": "k", "reply_text": "x" * 601}, 422, "request.invalid"),
        ({"keyword": "k", "reply_text": "x\x00"}, 422, "request.invalid"),
        ({"keyword": "k", "reply_text": "x", "match": "regex"}, 422, "request.invalid"),
        ({"keyword": "k", "reply_text": "x", "extra": 1}, 422, "request.invalid"),
        ({"keyword": 5, "reply_text": "x"}, 422, "request.invalid"),
        ({"keyword": "营业", "reply_text": "again"}, 409, "wechat_auto_reply.keyword_taken"),
    ]
    for payload, status, code in cases:
        answer = await api.post(PATH, payload, token=token)
        assert (answer.status, answer.error_code) == (status, code), (payload, answer)

    second = await api.post(PATH, {"keyword": "会员", "reply_text": "x"}, token=token)
    clash = await api.patch(f"{PATH}/{second.json['id']}", {"keyword": "营业"}, token=token)
    null = await api.patch(f"{PATH}/{first.json['id']}", {"reply_text": None}, token=token)
    missing = await api.patch(f"{PATH}/999999", {"active": False}, token=token)
    foreign = await api.patch(f"{PATH}/{first.json['id']}", {"active": False}, token=other_token)
    foreign_delete = await api.delete(f"{PATH}/{first.json['id']}", token=other_token)

    assert (clash.status, clash.error_code) == (409, "wechat_auto_reply.keyword_taken")
    assert (null.status, null.error_code) == (422, "request.invalid")
    assert (missing.status, missing.error_code) == (404, "wechat_auto_reply.not_found")
    assert (foreign.status, foreign.error_code) == (404, "wechat_auto_reply.not_found")
    assert foreign_delete.status == 404
    assert await rows() == [*before, ("会员", "exact", "x", True)]


async def test_only_head_office_manages_rules(api: Api) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    manager = staff_token(await make_staff(brand=brand, role=StaffRole.STORE_MANAGER, store=store))

    listed = await api.get(PATH, token=manager)
    created = await api.post(PATH, {"keyword": "k", "reply_text": "x"}, token=manager)
    anonymous = await api.get(PATH)

    assert (listed.status, created.status, anonymous.status) == (403, 403, 401)
    assert await rows() == []
