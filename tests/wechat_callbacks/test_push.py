"""The push URL itself: URL check, signatures, modes, retries handled once, WeChat's sample."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime

import xmltodict
from wechatpy.crypto import PrpCrypto, WeChatCrypto

from api.core.clock import FrozenClock
from api.core.crypto import encrypt
from api.member_center.models import Member, MemberIdentity, MemberRelation
from api.org.models import MessageMode, WechatAppKind
from api.wechat_callbacks.models import MatchKind, WechatAutoReply, WechatMenuEvent
from sandbox.wechat_push import build_xml, push_aes_key, push_token, signature
from tests.factories import make_brand, make_store, make_wechat_app
from tests.support.api import Api
from tests.support.player import Player

from .support import follow, post_plain, push, push_app, signed_params

# WeChat's published safe-mode sample (its message encryption documentation and the sample
# code it ships, WXBizMsgCrypt): a text message "abcdteT" to gh_10f6c3c3ac5a.
SAMPLE_TOKEN = "spamtest"
SAMPLE_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SAMPLE_APPID = "wx2c2769f8efd9abc2"
SAMPLE_TIMESTAMP = "1409735669"
SAMPLE_NONCE = "1320562132"
SAMPLE_MSG_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
SAMPLE_XML = (
    "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA["
    "oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1409735668</CreateTime><MsgType>"
    "<![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728"
    "</MsgId><Encrypt><![CDATA[hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+"
    "LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41"
    "IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6K"
    "WwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1Dl"
    "D+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=]]>"
    "</Encrypt></xml>"
)


async def state_counts() -> tuple[int, int, int, int]:
    return (
        await Member.all().count(),
        await MemberIdentity.all().count(),
        await MemberRelation.all().count(),
        await WechatMenuEvent.all().count(),
    )


# --- URL verification -------------------------------------------------------------------------


async def test_url_check_answers_the_echostr_only_when_signed(api: Api) -> None:
    brand = await make_brand()
    app = await push_app(brand)
    token = push_token(app.appid)

    good = await api.get(
        f"/callbacks/wechat/{app.appid}", params={**signed_params(token), "echostr": "e-123"}
    )
    forged = await api.get(
        f"/callbacks/wechat/{app.appid}",
        params={**signed_params("not-the-token"), "echostr": "e-123"},
    )
    unknown = await api.get(
        "/callbacks/wechat/wx00000000000000ff", params={**signed_params(token), "echostr": "x"}
    )
    stale = await api.get(
        f"/callbacks/wechat/{app.appid}",
        params={**signed_params(token, timestamp="1409735669"), "echostr": "e-123"},
    )

    assert (good.status, good.text) == (200, "e-123")
    assert forged.status == 403 and "e-123" not in forged.text
    assert unknown.status == 404
    assert stale.status == 403


# --- refusals ----------------------------------------------------------------------------------


async def test_forged_or_undecryptable_pushes_are_refused_and_change_nothing(api: Api) -> None:
    # given a plain and a safe-mode official account and a store to scan
    brand = await make_brand()
    await make_store(brand=brand, code="SH001")
    plain = await push_app(brand, MessageMode.PLAIN)
    safe = await push_app(brand, MessageMode.SAFE)
    xml = build_xml(plain.appid, follow("o-forger", "s=SH001"))
    before = await state_counts()

    # a wrong token's signature
    forged = await post_plain(api, plain, xml, signed_params("guess"))
    # no signature at all
    unsigned = await post_plain(api, plain, xml, {"timestamp": "1", "nonce": "1"})
    # plain XML to an app that takes encrypted pushes only, correctly signed
    downgrade = await post_plain(api, safe, xml, signed_params(push_token(safe.appid)))
    # encrypted with another key, signed with the right token
    params = signed_params(push_token(safe.appid))
    other_key = base64.b64decode(push_aes_key(plain.appid) + "=")
    ciphertext = PrpCrypto(other_key).encrypt(xml, safe.appid).decode()
    params.update(
        encrypt_type="aes",
        msg_signature=signature(
            push_token(safe.appid), params["timestamp"], params["nonce"], ciphertext
        ),
    )
    wrong_key = await post_plain(
        api, safe, f"<xml><Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>", params
    )
    # the right ciphertext under a forged msg_signature
    good_key = base64.b64decode(push_aes_key(safe.appid) + "=")
    good_cipher = PrpCrypto(good_key).encrypt(xml, safe.appid).decode()
    params["msg_signature"] = "0" * 40
    bad_msg_signature = await post_plain(
        api, safe, f"<xml><Encrypt><![CDATA[{good_cipher}]]></Encrypt></xml>", params
    )

    for answer in (forged, unsigned, downgrade, wrong_key, bad_msg_signature):
        assert answer.status == 403, answer
        assert "success" not in answer.text
    assert await state_counts() == before


async def test_unknown_appid_is_404_and_malformed_signed_body_is_400(api: Api) -> None:
    brand = await make_brand()
    app = await push_app(brand)
    no_token = await make_wechat_app(brand=brand, kind=WechatAppKind.OFFICIAL_ACCOUNT)
    params = signed_params(push_token(app.appid))

    unknown = await api.request(
        "POST", "/callbacks/wechat/wx00000000000000ff", content="<xml/>", params=params
    )
    unconfigured = await post_plain(api, no_token, "<xml/>", params)
    malformed = await post_plain(api, app, "<xml><Content>hi</Content></xml>", params)
    not_xml = await post_plain(api, app, "\x00\x01 not xml", params)
    entity = await post_plain(
        api,
        app,
        '<!DOCTYPE xml [<!ENTITY a "aaaa">]><xml><MsgType>text</MsgType>'
        "<FromUserName>&a;</FromUserName></xml>",
        params,
    )

    assert (unknown.status, unconfigured.status) == (404, 404)
    assert (malformed.status, not_xml.status, entity.status) == (400, 400, 400)
    assert await state_counts() == (0, 0, 0, 0)


# --- retries -------------------------------------------------------------------------------------


async def test_the_same_push_three_times_is_handled_once_and_answered_the_same(
    api: Api,
) -> None:
    # given a safe-mode account, a store, and one subscribe push WeChat delivers three times
    brand = await make_brand()
    store = await make_store(brand=brand, code="SH001", name="静安店")
    app = await push_app(brand, MessageMode.PLAIN)
    xml = build_xml(app.appid, follow("o-thrice", "s=SH001", CreateTime=1_700_000_000))
    params = signed_params(push_token(app.appid))

    answers = [await post_plain(api, app, xml, params) for _ in range(3)]

    # then one visitor, one relation, and three identical welcomes
    assert {answer.status for answer in answers} == {200}
    contents = {answer.text.split("<Content>")[1].split("</Content>")[0] for answer in answers}
    assert len(contents) == 1 and store.name in contents.pop()
    assert await state_counts() == (1, 1, 1, 0)


async def test_three_concurrent_deliveries_are_handled_once(player: Player, live_url: str) -> None:
    # given one safe-mode follow through a store's code, delivered three times at once
    brand = await make_brand()
    await make_store(brand=brand, code="SH002")
    app = await push_app(brand, MessageMode.SAFE)
    subscribe = follow("o-race", "s=SH002", CreateTime=1_700_000_001)

    results = await asyncio.gather(*[push(player, live_url, app, subscribe) for _ in range(3)])

    # then one visitor, one identity, one relation, and every delivery answered
    assert {result["status"] for result in results} == {200}
    assert await state_counts() == (1, 1, 1, 0)
    welcomes = [result for result in results if result["reply"] != "success"]
    assert welcomes, results


async def test_twenty_concurrent_deliveries_of_a_follow_and_a_click_are_handled_once(
    api: Api,
) -> None:
    brand = await make_brand()
    await make_store(brand=brand, code="SH003")
    app = await push_app(brand)
    params = signed_params(push_token(app.appid))
    subscribe = build_xml(app.appid, follow("o-herd", "s=SH003", CreateTime=1_700_000_003))
    click = build_xml(
        app.appid,
        {
            "MsgType": "event",
            "Event": "CLICK",
            "EventKey": "K",
            "FromUserName": "o-herd",
            "CreateTime": 1_700_000_004,
        },
    )

    answers = await asyncio.gather(
        *[post_plain(api, app, subscribe, params) for _ in range(20)],
        *[post_plain(api, app, click, params) for _ in range(20)],
    )

    assert {answer.status for answer in answers} == {200}
    assert await state_counts() == (1, 1, 1, 1)


async def test_text_messages_with_the_same_msgid_are_one_message(api: Api) -> None:
    brand = await make_brand()
    app = await push_app(brand)
    click = {"MsgType": "event", "Event": "CLICK", "EventKey": "K", "FromUserName": "o-x"}
    params = signed_params(push_token(app.appid))
    first = build_xml(app.appid, {**click, "CreateTime": 1_700_000_010})
    later = build_xml(app.appid, {**click, "CreateTime": 1_700_000_011})

    for xml in (first, first, later):
        assert (await post_plain(api, app, xml, params)).status == 200

    assert await WechatMenuEvent.all().count() == 2


# --- WeChat's own sample -------------------------------------------------------------------------


async def test_wechats_published_safe_mode_sample_decrypts_through_the_endpoint(
    api: Api, clock: FrozenClock
) -> None:
    # given the sample's official account, in safe mode, and our clock at the sample's time
    clock.set(datetime.fromtimestamp(int(SAMPLE_TIMESTAMP), UTC))
    brand = await make_brand()
    await make_wechat_app(
        brand=brand,
        kind=WechatAppKind.OFFICIAL_ACCOUNT,
        appid=SAMPLE_APPID,
        token_enc=encrypt(SAMPLE_TOKEN),
        aes_key_enc=encrypt(SAMPLE_AES_KEY),
        message_mode=MessageMode.SAFE,
    )
    await WechatAutoReply.create(
        brand_id=brand.id, keyword="abcdtet", match=MatchKind.EXACT, reply_text="sample seen"
    )
    params = {
        "timestamp": SAMPLE_TIMESTAMP,
        "nonce": SAMPLE_NONCE,
        "encrypt_type": "aes",
        "msg_signature": SAMPLE_MSG_SIGNATURE,
    }

    # when WeChat's sample is posted as published
    answer = await api.request(
        "POST", f"/callbacks/wechat/{SAMPLE_APPID}", content=SAMPLE_XML, params=params
    )

    # then it decrypted to the text "abcdteT", whose keyword reply comes back encrypted
    assert answer.status == 200, answer
    crypto = WeChatCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_APPID)
    outer = xmltodict.parse(answer.text)["xml"]
    reply = crypto.decrypt_message(
        answer.text, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"]
    )
    fields = xmltodict.parse(reply)["xml"]
    assert fields["Content"] == "sample seen"
    assert fields["ToUserName"] == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
    assert fields["FromUserName"] == "gh_10f6c3c3ac5a"

    # and one byte less of ciphertext is refused
    tampered = SAMPLE_XML.replace("hyzAe4", "hyzAe5")
    refused = await api.request(
        "POST", f"/callbacks/wechat/{SAMPLE_APPID}", content=tampered, params=params
    )
    assert refused.status == 403


async def test_mini_program_json_pushes_are_read_and_answered_success(api: Api) -> None:
    # given a mini-program whose push is configured as JSON, in safe mode
    brand = await make_brand()
    wxa = await push_app(brand, MessageMode.SAFE, kind=WechatAppKind.MINIPROGRAM)
    fields = {
        "ToUserName": "gh_wxa",
        "FromUserName": "o-wxa-json",
        "CreateTime": 1_700_000_100,
        "MsgType": "event",
        "Event": "user_enter_tempsession",
        "SessionFrom": "",
    }
    params = signed_params(push_token(wxa.appid))
    key = base64.b64decode(push_aes_key(wxa.appid) + "=")
    ciphertext = PrpCrypto(key).encrypt(json.dumps(fields), wxa.appid).decode()
    params.update(
        encrypt_type="aes",
        msg_signature=signature(
            push_token(wxa.appid), params["timestamp"], params["nonce"], ciphertext
        ),
    )
    body = json.dumps({"ToUserName": "gh_wxa", "Encrypt": ciphertext})

    answer = await post_plain(api, wxa, body, params)
    forged = await post_plain(api, wxa, body, {**params, "msg_signature": "1" * 40})

    assert (answer.status, answer.text) == (200, "success")
    assert forged.status == 403
    assert await state_counts() == (0, 0, 0, 0)
