"""The member's own profile: edit with validation, birthday once, export, erasure."""

from __future__ import annotations

from api.member_center import points
from api.member_center.models import Member, MemberIdentity, MemberStatus, PointsEntry
from api.org.models import WechatAppKind
from tests.factories import make_brand, make_wechat_app
from tests.support.api import Api
from tests.support.player import Player

PHONE = "13900001111"


async def _member(api: Api, player: Player):  # type: ignore[no-untyped-def]
    brand = await make_brand()
    wxa = await make_wechat_app(brand=brand, kind=WechatAppKind.MINIPROGRAM)
    code = await player.login_code(wxa.appid)
    login = await api.post("/auth/wxa/login", {"appid": wxa.appid, "code": code["code"]})
    token = login.json["token"]
    await api.post(
        "/auth/wxa/phone", {"code": await player.phone_code(wxa.appid, PHONE)}, token=token
    )
    return brand, wxa, token, code


async def test_profile_edits_are_validated(api: Api, player: Player) -> None:
    _, _, token, _ = await _member(api, player)

    ok = await api.patch(
        "/me",
        {"nickname": "小林", "gender": "female", "avatar_url": "https://img.example.com/a.png"},
        token=token,
    )
    bad = await api.patch(
        "/me",
        {"nickname": "", "gender": "other", "avatar_url": "javascript:alert(1)", "points": 999},
        token=token,
    )

    assert ok.status == 200, ok
    assert ok.json["nickname"] == "小林" and ok.json["gender"] == "female"
    assert (bad.status, bad.error_code) == (422, "request.invalid")
    fields = {d["field"] for d in bad.json["error"]["details"]}
    assert {"nickname", "gender", "avatar_url", "points"} <= fields
    assert (await api.get("/me", token=token)).json["nickname"] == "小林"


async def test_birthday_can_be_set_once(api: Api, player: Player) -> None:
    _, _, token, _ = await _member(api, player)

    first = await api.patch("/me", {"birthday": "1990-05-20"}, token=token)
    same = await api.patch("/me", {"birthday": "1990-05-20"}, token=token)
    change = await api.patch("/me", {"birthday": "1991-01-01"}, token=token)
    future = await api.patch("/me", {"birthday": "2999-01-01"}, token=token)

    assert first.status == 200 and first.json["birthday"] == "1990-05-20"
    assert same.status == 200
    assert (change.status, change.error_code) == (409, "member.birthday_locked")
    assert future.status == 422
    assert (await api.get("/me", token=token)).json["birthday"] == "1990-05-20"


async def test_export_holds_everything_about_me(api: Api, player: Player) -> None:
    brand, _, token, code = await _member(api, player)
    member_id = (await api.get("/me", token=token)).json["id"]
    await points.earn_points(brand_id=brand.id, member_id=member_id, amount=10, key="t:earn")

    export = await api.get("/me/export", token=token)

    assert export.status == 200
    body = export.json
    assert body["member"]["phone"] == PHONE  # the owner sees their own number
    assert {i["kind"] for i in body["identities"]} == {"wechat_openid", "phone"}
    assert code["openid"] in export.text
    assert [e["delta"] for e in body["points_entries"]] == [10]


async def test_erasure_anonymises_and_frees_identities_but_keeps_ledgers(
    api: Api, player: Player
) -> None:
    brand, wxa, token, code = await _member(api, player)
    member_id = (await api.get("/me", token=token)).json["id"]
    await points.earn_points(brand_id=brand.id, member_id=member_id, amount=10, key="t:earn")

    erased = await api.delete("/me", token=token)
    after = await api.get("/me", token=token)

    assert erased.status == 200 and erased.json == {"erased": True}
    assert (after.status, after.error_code) == (401, "auth.member_gone")
    member = await Member.get(id=member_id)
    assert member.status == MemberStatus.ERASED
    assert member.phone_enc is None and member.phone_masked == "" and member.nickname == ""
    assert await MemberIdentity.filter(member_id=member_id).count() == 0
    assert await PointsEntry.filter(member_id=member_id).count() == 1
    again = await player.login_code(wxa.appid, openid=code["openid"])
    fresh = await api.post("/auth/wxa/login", {"appid": wxa.appid, "code": again["code"]})
    assert fresh.status == 200
    assert (await api.get("/me", token=fresh.json["token"])).json["id"] != member_id
