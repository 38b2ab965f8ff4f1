"""Logins through every channel end in one member; phones and UnionIDs merge duplicates."""

from __future__ import annotations

import asyncio

from api.core import audit  # noqa: F401  (the audit table must exist)
from api.core.crypto import decrypt, encrypt
from api.core.models import AuditLog
from api.core.ports import Ports
from api.member_center import points, wallet
from api.member_center.models import (
    IdentityKind,
    Member,
    MemberIdentity,
    MemberStatus,
    PointsEntry,
    WalletEntry,
)
from api.org.models import AlipayApp, WechatAppKind
from sandbox.keys import alipay_aes_key, alipay_app_private_pem, alipay_platform_public_pem
from tests.factories import make_brand, make_wechat_app, member_token
from tests.support.api import Api
from tests.support.player import Player

PHONE = "13812345678"


async def _setup():  # type: ignore[no-untyped-def]
    brand = await make_brand()
    wxa = await make_wechat_app(brand=brand)
    oa = await make_wechat_app(brand=brand, kind=WechatAppKind.OFFICIAL_ACCOUNT)
    return brand, wxa, oa


async def _wxa_login(api: Api, player: Player, appid: str, **who: str):  # type: ignore[no-untyped-def]
    code = await player.login_code(appid, **who)
    answer = await api.post("/auth/wxa/login", {"appid": appid, "code": code["code"]})
    assert answer.status == 200, answer
    return answer


async def test_first_login_makes_a_visitor_and_keeps_the_session_key_on_the_server(
    api: Api, player: Player, ports: Ports
) -> None:
    _, wxa, _ = await _setup()
    code = await player.login_code(wxa.appid, unionid="union-1")

    answer = await api.post("/auth/wxa/login", {"appid": wxa.appid, "code": code["code"]})

    assert answer.status == 200, answer
    assert answer.json["is_member"] is False and answer.json["member"] is None
    me = await api.get("/me", token=answer.json["token"])
    assert me.json["status"] == "visitor"
    stored = await ports.cache.get(f"wxa-session:{wxa.appid}:{code['openid']}")
    assert stored is not None and decrypt(stored) and decrypt(stored) not in answer.text
    kinds = set(await MemberIdentity.all().values_list("kind", flat=True))
    assert kinds == {IdentityKind.WECHAT_OPENID, IdentityKind.WECHAT_UNIONID}


async def test_bad_or_reused_codes_are_refused_and_change_nothing(api: Api, player: Player) -> None:
    _, wxa, _ = await _setup()
    code = await player.login_code(wxa.appid)
    await api.post("/auth/wxa/login", {"appid": wxa.appid, "code": code["code"]})
    members_before = await Member.all().count()

    reused = await api.post("/auth/wxa/login", {"appid": wxa.appid, "code": code["code"]})
    bogus = await api.post("/auth/wxa/login", {"appid": wxa.appid, "code": "no-such-code"})
    unknown_app = await api.post("/auth/wxa/login", {"appid": "wx0000000000000bad", "code": "x"})
    malformed = await api.post("/auth/wxa/login", {"appid": "not-an-appid", "code": ""})

    assert (reused.status, reused.error_code) == (400, "wechat.invalid_code")
    assert (bogus.status, bogus.error_code) == (400, "wechat.invalid_code")
    assert (unknown_app.status, unknown_app.error_code) == (404, "wechat_app.not_found")
    assert (malformed.status, malformed.error_code) == (422, "request.invalid")
    assert await Member.all().count() == members_before


async def test_binding_the_phone_registers_the_member(api: Api, player: Player) -> None:
    _, wxa, _ = await _setup()
    login = await _wxa_login(api, player, wxa.appid)

    bound = await api.post(
        "/auth/wxa/phone",
        {"code": await player.phone_code(wxa.appid, PHONE)},
        token=login.json["token"],
    )

    assert bound.status == 200, bound
    assert bound.json["is_member"] is True
    assert bound.json["member"]["phone"] == "138****5678"
    assert PHONE not in bound.text
    member = await Member.get(id=bound.json["member"]["id"])
    assert member.status == MemberStatus.MEMBER and member.registered_at is not None
    assert PHONE not in (member.phone_enc or "") and decrypt(member.phone_enc or "") == PHONE
    phone_row = await MemberIdentity.get(kind=IdentityKind.PHONE)
    assert PHONE not in phone_row.value


async def test_mini_program_official_account_and_alipay_are_one_member(
    api: Api, player: Player
) -> None:
    brand, wxa, oa = await _setup()
    alipay_app = await AlipayApp.create(
        brand_id=brand.id,
        app_id="2021000000000777",
        name="alipay",
        private_key_enc=encrypt(alipay_app_private_pem()),
        alipay_public_key=alipay_platform_public_pem(),
        aes_key_enc=encrypt(alipay_aes_key("2021000000000777")),
    )
    wxa_login = await _wxa_login(api, player, wxa.appid, unionid="union-same")
    oa_code = await player.login_code(oa.appid, unionid="union-same")
    oa_login = await api.post("/auth/oa/oauth", {"appid": oa.appid, "code": oa_code["code"]})
    ali_code = await player.alipay_code(alipay_app.app_id)
    ali_login = await api.post(
        "/auth/alipay/login", {"app_id": alipay_app.app_id, "auth_code": ali_code["auth_code"]}
    )

    wxa_id = (await api.get("/me", token=wxa_login.json["token"])).json["id"]
    oa_id = (await api.get("/me", token=oa_login.json["token"])).json["id"]
    assert oa_login.status == 200 and wxa_id == oa_id
    assert ali_login.status == 200, ali_login
    ali_id = (await api.get("/me", token=ali_login.json["token"])).json["id"]
    assert ali_id != wxa_id

    # Both channels bind the same phone: the Alipay visitor folds into the registered member.
    await api.post(
        "/auth/wxa/phone",
        {"code": await player.phone_code(wxa.appid, PHONE)},
        token=wxa_login.json["token"],
    )
    ali_phone = await player.alipay_phone(alipay_app.app_id, PHONE)
    bound = await api.post("/auth/alipay/phone", ali_phone, token=ali_login.json["token"])
    assert bound.status == 200, bound
    assert bound.json["member"]["id"] == wxa_id

    live = await Member.filter(brand_id=brand.id, status=MemberStatus.MEMBER)
    assert [m.id for m in live] == [wxa_id]
    assert (await api.get("/me", token=ali_login.json["token"])).json["id"] == wxa_id
    assert await MemberIdentity.filter(member_id=wxa_id).count() == 5


async def test_twenty_concurrent_logins_of_one_person_make_one_member(
    api: Api, player: Player
) -> None:
    _, wxa, _ = await _setup()
    codes = [
        await player.login_code(wxa.appid, openid="o-same-person", unionid="u-same")
        for _ in range(20)
    ]

    answers = await asyncio.gather(
        *(api.post("/auth/wxa/login", {"appid": wxa.appid, "code": c["code"]}) for c in codes)
    )

    assert [a.status for a in answers] == [200] * 20, [a for a in answers if a.status != 200]
    assert await Member.filter(status=MemberStatus.VISITOR).count() == 1
    assert await MemberIdentity.all().count() == 2


async def test_merge_moves_balances_and_keeps_ledgers_equal_to_balances(
    api: Api, player: Player
) -> None:
    brand, wxa, _ = await _setup()
    # An established member with a phone, points and stored value.
    old = await _wxa_login(api, player, wxa.appid)
    await api.post(
        "/auth/wxa/phone",
        {"code": await player.phone_code(wxa.appid, PHONE)},
        token=old.json["token"],
    )
    old_id = (await api.get("/me", token=old.json["token"])).json["id"]
    await points.earn_points(brand_id=brand.id, member_id=old_id, amount=50, key="t:old:earn")
    # The same person on a new phone: a visitor who earned points and recharged.
    new = await _wxa_login(api, player, wxa.appid)
    new_id = (await api.get("/me", token=new.json["token"])).json["id"]
    await points.earn_points(brand_id=brand.id, member_id=new_id, amount=100, key="t:new:earn")
    await points.spend_points(
        brand_id=brand.id,
        member_id=new_id,
        amount=30,
        key="t:new:spend",
        reason="test",
        actor="test",
    )
    await wallet.recharge_wallet(
        brand_id=brand.id,
        member_id=new_id,
        principal_fen=50000,
        bonus_fen=5000,
        key="t:new:recharge",
        reason="test",
        actor="test",
    )

    merged = await api.post(
        "/auth/wxa/phone",
        {"code": await player.phone_code(wxa.appid, PHONE)},
        token=new.json["token"],
    )

    assert merged.status == 200, merged
    assert merged.json["member"]["id"] == old_id
    assert merged.json["member"]["points"] == 120
    assert merged.json["member"]["wallet"] == {
        "principal_fen": 50000,
        "bonus_fen": 5000,
        "total_fen": 55000,
    }
    for member in await Member.filter(brand_id=brand.id):
        entries = await PointsEntry.filter(member_id=member.id)
        assert sum(e.delta for e in entries) == member.points_balance
        moves = await WalletEntry.filter(member_id=member.id)
        assert sum(e.principal_delta_fen for e in moves) == member.wallet_principal_fen
        assert sum(e.bonus_delta_fen for e in moves) == member.wallet_bonus_fen
    loser = await Member.get(id=new_id)
    assert loser.status == MemberStatus.MERGED and loser.merged_into_id == old_id
    assert loser.points_balance == 0 and loser.wallet_principal_fen == 0
    assert (await api.get("/me", token=new.json["token"])).json["id"] == old_id
    record = await AuditLog.get(action="member.merge")
    assert record.details["loser_id"] == new_id and record.details["points_moved"] == 70


async def test_a_member_token_of_brand_a_is_refused_on_brand_b(api: Api, player: Player) -> None:
    _, wxa, _ = await _setup()
    other = await make_brand()
    login = await _wxa_login(api, player, wxa.appid)
    member = await Member.get(id=(await api.get("/me", token=login.json["token"])).json["id"])
    member.brand_id = other.id  # a token claiming the other brand for the same id

    answer = await api.get("/me", token=member_token(member))

    assert (answer.status, answer.error_code) == (401, "auth.member_gone")


async def test_a_forged_or_tampered_alipay_phone_answer_is_refused(
    api: Api, player: Player
) -> None:
    brand = await make_brand()
    app = await AlipayApp.create(
        brand_id=brand.id,
        app_id="2021000000000778",
        name="alipay",
        private_key_enc=encrypt(alipay_app_private_pem()),
        alipay_public_key=alipay_platform_public_pem(),
        aes_key_enc=encrypt(alipay_aes_key("2021000000000778")),
    )
    code = await player.alipay_code(app.app_id)
    login = await api.post(
        "/auth/alipay/login", {"app_id": app.app_id, "auth_code": code["auth_code"]}
    )
    token = login.json["token"]
    genuine = await player.alipay_phone(app.app_id, PHONE)
    other_app = await player.alipay_phone("2021000000000999", PHONE)  # another app's AES key

    tampered = await api.post(
        "/auth/alipay/phone",
        {**genuine, "response": genuine["response"][:-4] + "AAA="},
        token=token,
    )
    unsigned = await api.post(
        "/auth/alipay/phone", {**genuine, "sign": genuine["sign"][::-1]}, token=token
    )
    wrong_key = await api.post("/auth/alipay/phone", other_app, token=token)

    assert (tampered.status, tampered.error_code) == (400, "alipay.bad_signature")
    assert (unsigned.status, unsigned.error_code) == (400, "alipay.bad_signature")
    assert (wrong_key.status, wrong_key.error_code) == (400, "alipay.bad_phone_response")
    assert await Member.filter(status=MemberStatus.MEMBER).count() == 0
