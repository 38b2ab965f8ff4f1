"""Messages to members through the outbox: the channel chosen at send time, WeChat's refusals
and token errors handled, each message sent once, each app within its rate."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from api.core import outbox
from api.core.clock import FrozenClock
from api.core.models import OutboxMessage, OutboxStatus
from api.member_center.models import IdentityKind, Member, MemberIdentity
from api.org.models import Brand, WechatApp, WechatAppKind
from api.wechat_callbacks import messages
from api.wechat_callbacks.messages import MESSAGE_TOPIC, MemberMessageEvent
from api.wechat_callbacks.models import DeliveryStatus, WechatMessageDelivery
from config.settings import Settings
from sandbox.state import new_openid
from tests.factories import make_brand, make_member, make_staff, make_wechat_app, staff_token
from tests.payments.chain import make_chain, wechat_payment
from tests.support.api import Api
from tests.support.player import Player

pytestmark = pytest.mark.usefixtures("sandbox_url")

_keys = itertools.count(1)


@pytest.fixture(autouse=True)
def _handler(monkeypatch: pytest.MonkeyPatch) -> None:
    """The member messages' handler, registered for this test only."""
    monkeypatch.setattr(outbox, "_HANDLERS", {**outbox._HANDLERS})
    outbox.register_handler(MESSAGE_TOPIC, messages.send_member_message)


async def _member_in(app: WechatApp, brand: Brand) -> tuple[Member, str]:
    member = await make_member(brand=brand)
    openid = new_openid()
    await MemberIdentity.create(
        brand_id=brand.id,
        member_id=member.id,
        kind=IdentityKind.WECHAT_OPENID,
        app_id=app.appid,
        value=openid,
    )
    return member, openid


async def _queue(
    member: Member,
    event: MemberMessageEvent = MemberMessageEvent.POINTS_EARNED,
    fields: dict[str, str | int] | None = None,
) -> OutboxMessage:
    key = f"test:{next(_keys)}"
    async with in_transaction() as db:
        await messages.queue_member_message(
            db,
            brand_id=member.brand_id,
            member_id=member.id,
            event=event,
            fields=fields or {"points": 10, "balance": 110, "reason": "消费"},
            dedupe_key=key,
        )
    return await OutboxMessage.get(dedupe_key=f"{MESSAGE_TOPIC}:{event.value}:{key}")


async def _sent(player: Player, appid: str) -> list[dict[str, Any]]:
    return [m for m in await player.sent(appid) if m["kind"] in ("subscribe", "template")]


async def _grants(player: Player, appid: str) -> dict[str, Any]:
    answer = await player.http.get("/wechat/token-grants", params={"appid": appid})
    assert answer.status_code == 200, answer.text
    grants: dict[str, Any] = answer.json()
    return grants


async def _fail_sends(player: Player, appid: str, errcode: int, times: int = 1) -> None:
    answer = await player.http.post(
        "/wechat/fail-sends", json={"appid": appid, "errcode": errcode, "times": times}
    )
    assert answer.status_code == 200, answer.text


async def _delivery(message: OutboxMessage) -> WechatMessageDelivery:
    return await WechatMessageDelivery.get(key=message.dedupe_key)


@pytest.mark.usefixtures("live_url")
async def test_a_paid_payment_sends_one_subscribe_message_even_when_delivered_twice(
    player: Player,
) -> None:
    # given a payer who pays at a store of a brand with a mini-program
    chain = await make_chain()
    openid = new_openid()
    payment = await wechat_payment(
        chain, amount_fen=12_345, store_id=chain.direct_store_id, openid=openid
    )
    await player.pay(payment.out_trade_no)

    # when the outbox delivers, and a lease that ran out makes it deliver the same rows again
    await outbox.deliver_due()
    await OutboxMessage.filter(topic=MESSAGE_TOPIC).update(
        status=OutboxStatus.PENDING, next_attempt_at=datetime.now(UTC)
    )
    await outbox.deliver_due()

    # then the member got the payment message and the points message, once each
    sent = await _sent(player, chain.app.appid)
    by_template = Counter(m["payload"]["template_id"] for m in sent)
    assert by_template["memberhub-payment-success"] == 1
    assert by_template["memberhub-points-earned"] == 1
    [paid] = [m for m in sent if m["payload"]["template_id"] == "memberhub-payment-success"]
    assert paid["touser"] == openid
    assert paid["payload"]["data"]["amount1"] == {"value": "123.45元"}
    assert paid["payload"]["data"]["character_string4"] == {"value": payment.out_trade_no}
    statuses = await WechatMessageDelivery.all().values_list("status", flat=True)
    assert sorted(statuses) == [DeliveryStatus.SENT, DeliveryStatus.SENT]


async def test_twenty_deliveries_of_one_message_at_once_send_it_once(player: Player) -> None:
    brand = await make_brand()
    app = await make_wechat_app(brand=brand)
    member, _ = await _member_in(app, brand)
    message = await _queue(member)

    outcomes = await asyncio.gather(
        *(messages.send_member_message(message.payload) for _ in range(20)),
        return_exceptions=True,
    )

    assert len(await _sent(player, app.appid)) == 1
    assert all(o is None or isinstance(o, messages.MessageInFlight) for o in outcomes), outcomes
    assert (await _delivery(message)).status == DeliveryStatus.SENT


async def test_a_refusal_43101_is_recorded_and_not_retried(player: Player) -> None:
    brand = await make_brand()
    app = await make_wechat_app(brand=brand)
    member, _ = await _member_in(app, brand)
    message = await _queue(member)
    await _fail_sends(player, app.appid, 43101)

    first = await outbox.deliver_due()
    again = await outbox.deliver_due()

    row = await OutboxMessage.get(id=message.id)
    assert (first.sent, first.retried, again.sent + again.retried) == (1, 0, 0)
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 1)
    delivery = await _delivery(message)
    assert (delivery.status, delivery.errcode, delivery.appid) == (
        DeliveryStatus.REFUSED,
        43101,
        app.appid,
    )
    assert await _sent(player, app.appid) == []


@pytest.mark.parametrize("how", ["expired", "40001"])
async def test_a_refused_token_is_refreshed_once_and_the_message_sent(
    player: Player, how: str
) -> None:
    # given an app whose token is in use
    brand = await make_brand()
    app = await make_wechat_app(brand=brand)
    member, openid = await _member_in(app, brand)
    await _queue(member)
    await outbox.deliver_due()
    granted = len((await _grants(player, app.appid))["items"])

    # when WeChat refuses that token on the next send
    if how == "expired":
        await player.http.post("/wechat/expire-tokens", json={"appid": app.appid})
    else:
        await _fail_sends(player, app.appid, 40001)
    message = await _queue(member)
    report = await outbox.deliver_due()

    # then one new token was granted and the message went out in that same attempt
    assert granted == 1
    assert len((await _grants(player, app.appid))["items"]) == 2
    assert report.sent == 1
    assert (await OutboxMessage.get(id=message.id)).attempts == 1
    assert (await _delivery(message)).status == DeliveryStatus.SENT
    assert [m["touser"] for m in await _sent(player, app.appid)] == [openid, openid]


async def test_another_errcode_is_retried_by_the_outbox(player: Player, clock: FrozenClock) -> None:
    brand = await make_brand()
    app = await make_wechat_app(brand=brand)
    member, _ = await _member_in(app, brand)
    message = await _queue(member)
    await _fail_sends(player, app.appid, 45009)

    failed = await outbox.deliver_due()
    row = await OutboxMessage.get(id=message.id)
    clock.advance(seconds=10)
    retried = await outbox.deliver_due()

    assert (failed.retried, row.status, row.attempts) == (1, OutboxStatus.PENDING, 1)
    assert "45009" in row.last_error
    assert retried.sent == 1
    assert (await OutboxMessage.get(id=message.id)).attempts == 2
    assert (await _delivery(message)).status == DeliveryStatus.SENT
    assert len(await _sent(player, app.appid)) == 1


async def test_without_the_mini_program_a_follower_gets_a_template_message(
    player: Player,
) -> None:
    brand = await make_brand(
        settings={"message_templates": {"points_earned": {"official_account": "tmpl-points"}}}
    )
    await make_wechat_app(brand=brand)  # the mini-program they never signed in to
    account = await make_wechat_app(brand=brand, kind=WechatAppKind.OFFICIAL_ACCOUNT)
    follower, openid = await _member_in(account, brand)
    gone, _ = await _member_in(account, brand)
    await MemberIdentity.filter(member_id=gone.id).update(unsubscribed_at=datetime.now(UTC))
    stranger = await make_member(brand=brand)
    to_follower = await _queue(follower)
    to_gone, to_stranger = await _queue(gone), await _queue(stranger)

    report = await outbox.deliver_due()

    assert report.sent == 3
    [sent] = await _sent(player, account.appid)
    assert (sent["kind"], sent["touser"]) == ("template", openid)
    assert sent["payload"]["template_id"] == "tmpl-points"
    assert sent["payload"]["data"]["keyword1"] == {"value": "10"}
    assert (await _delivery(to_follower)).channel == "official_account"
    for nobody in (to_gone, to_stranger):
        assert (await _delivery(nobody)).status == DeliveryStatus.NO_RECIPIENT


async def test_an_app_sends_within_its_rate(
    player: Player, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an app allowed 5 messages a second and 12 messages to send
    monkeypatch.setattr(settings, "wechat_send_per_app_per_s", 5)
    brand = await make_brand()
    app = await make_wechat_app(brand=brand)
    member, _ = await _member_in(app, brand)
    for _ in range(12):
        await _queue(member)

    report = await outbox.deliver_due()

    # then every one went out, in at least three seconds of the platform's clock
    assert report.sent == 12
    sent = await _sent(player, app.appid)
    times = sorted(datetime.fromisoformat(m["sent_at"]) for m in sent)
    assert len(times) == 12
    assert len({t.replace(microsecond=0) for t in times}) >= 3
    assert (times[-1] - times[0]).total_seconds() >= 1.0


async def test_message_templates_of_unknown_events_are_refused(api: Api) -> None:
    brand = await make_brand()
    token = staff_token(await make_staff(brand=brand))

    bad_event = await api.patch(
        "/admin/brand",
        {"settings": {"message_templates": {"birthday": {"miniprogram": "x"}}}},
        token=token,
    )
    bad_channel = await api.patch(
        "/admin/brand",
        {"settings": {"message_templates": {"points_earned": {"sms": "x"}}}},
        token=token,
    )
    good = await api.patch(
        "/admin/brand",
        {"settings": {"message_templates": {"points_earned": {"miniprogram": "tmpl-1"}}}},
        token=token,
    )

    assert (bad_event.status, bad_event.error_code) == (422, "request.invalid")
    assert (bad_channel.status, bad_channel.error_code) == (422, "request.invalid")
    assert good.status == 200, good
    assert (await Brand.get(id=brand.id)).settings["message_templates"] == {
        "points_earned": {"miniprogram": "tmpl-1"}
    }
