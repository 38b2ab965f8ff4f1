"""The WeChat access token behind a lock: however many senders find it refused at once, in one
process or in several, one of them asks WeChat for a new one and the others use it."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from api.core import wechat
from api.core.crypto import decrypt
from api.core.ports import Ports
from api.member_center.models import IdentityKind, MemberIdentity
from api.org.models import Brand, WechatApp
from api.wechat_callbacks import messages
from api.wechat_callbacks.messages import MemberMessageEvent
from api.wechat_callbacks.models import DeliveryStatus, WechatMessageDelivery
from sandbox.keys import wechat_app_secret
from sandbox.state import new_openid
from tests.factories import make_brand, make_member, make_wechat_app
from tests.support.player import Player
from tests.support.worker_process import worker_process
from workers.jobs import OUTBOX_DELIVER

from .test_queue import eventually

TOKEN_DELAY_MS = 800


def _creds(app: WechatApp) -> wechat.WechatCredentials:
    return wechat.WechatCredentials(appid=app.appid, secret=decrypt(app.secret_enc))


async def _grants(player: Player, appid: str) -> dict[str, Any]:
    answer = await player.http.get("/wechat/token-grants", params={"appid": appid})
    assert answer.status_code == 200, answer.text
    grants: dict[str, Any] = answer.json()
    return grants


async def _token_delay(player: Player, appid: str, ms: int) -> None:
    answer = await player.http.post("/wechat/token-delay", json={"appid": appid, "ms": ms})
    assert answer.status_code == 200, answer.text


async def _send(creds: wechat.WechatCredentials, openid: str) -> Any:
    return await wechat.send_subscribe(
        creds, openid=openid, template_id="t", data={"thing1": {"value": "x"}}
    )


@pytest.mark.usefixtures("ports")
async def test_senders_finding_the_token_expired_at_once_refresh_it_once(
    player: Player,
) -> None:
    # given an app whose token is in use, then expired at WeChat, and slow token grants
    app = await make_wechat_app(brand=await make_brand())
    creds = _creds(app)
    await _send(creds, new_openid())
    await player.http.post("/wechat/expire-tokens", json={"appid": app.appid})
    await _token_delay(player, app.appid, TOKEN_DELAY_MS)

    # when eight sends find it expired at the same moment
    try:
        sent = await asyncio.gather(*(_send(creds, new_openid()) for _ in range(8)))
    finally:
        await _token_delay(player, app.appid, 0)

    # then all went out, and WeChat granted one new token, never two at a time
    grants = await _grants(player, app.appid)
    assert all(msgid for msgid in sent)
    assert len(grants["items"]) == 2
    assert grants["max_in_flight"] == 1


@pytest.mark.usefixtures("ports")
async def test_the_sandbox_counts_grants_in_flight(player: Player) -> None:
    app_id = (await make_wechat_app(brand=await make_brand())).appid
    secret = wechat_app_secret(app_id)
    await _token_delay(player, app_id, 300)
    params = {"grant_type": "client_credential", "appid": app_id, "secret": secret}

    try:
        answers = await asyncio.gather(
            *(player.http.get("/wechat/cgi-bin/token", params=params) for _ in range(3))
        )
    finally:
        await _token_delay(player, app_id, 0)

    assert all("access_token" in a.json() for a in answers)
    grants = await _grants(player, app_id)
    assert len(grants["items"]) >= 3
    assert grants["max_in_flight"] >= 2  # the sandbox sees overlapping grants when they happen


DATABASE_URL = os.environ.get("MEMBERHUB_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("MEMBERHUB_TEST_REDIS_URL")
MESSAGES = 16
WORKER_TOKEN_DELAY_MS = 2500


@pytest.mark.skipif(
    not (DATABASE_URL and REDIS_URL),
    reason="needs PostgreSQL and Redis: on the embedded stack (SQLite, in-process cache) one "
    "process holds the token, so there are no two processes to keep apart",
)
async def test_two_worker_processes_never_refresh_the_token_at_once(
    ports: Ports, player: Player
) -> None:
    # given a brand's mini-program whose token this process fetched and stored in Redis
    brand = await make_brand()
    app = await make_wechat_app(brand=brand)
    await _send(_creds(app), new_openid())
    # and then WeChat expired it, and grants a new one slowly
    await player.http.post("/wechat/expire-tokens", json={"appid": app.appid})
    await _token_delay(player, app.appid, WORKER_TOKEN_DELAY_MS)
    # two workers running one job at a time each, the outbox's own schedule out of the way
    # (saq runs one scheduled delivery at a time across processes)
    env = os.environ | {
        "MEMBERHUB_OUTBOX_POLL_S": "30",
        "MEMBERHUB_WORKER_CONCURRENCY": "1",
        "MEMBERHUB_WORKER_SHUTDOWN_GRACE_S": "1",
    }

    try:
        with worker_process(env=env) as one, worker_process(env=env) as two:

            def started() -> bool:
                assert one.alive(), one.output()[-3000:]
                assert two.alive(), two.output()[-3000:]
                return all("worker started" in w.output() for w in (one, two))

            await eventually(started, timeout_s=120)
            # when a batch of messages to members of that mini-program is queued, and two
            # delivery jobs at once (one in each process) deliver it
            await _queue_messages(brand, app.appid)
            for number in range(2):
                await ports.queue.enqueue(OUTBOX_DELIVER, key=f"lock-test-{app.appid}-{number}")

            async def all_sent() -> bool:
                assert one.alive() and two.alive()
                sent = WechatMessageDelivery.filter(status=DeliveryStatus.SENT)
                return await sent.count() == MESSAGES

            await eventually(all_sent, timeout_s=120)
    finally:
        await _token_delay(player, app.appid, 0)

    # then WeChat granted one token for the round (after the first), never two at a time
    grants = await _grants(player, app.appid)
    assert len(grants["items"]) == 2, grants
    assert grants["max_in_flight"] == 1
    sent = await player.sent(app.appid)
    assert len([m for m in sent if m["kind"] == "subscribe"]) == MESSAGES + 1


async def _queue_messages(brand: Brand, appid: str) -> None:
    """MESSAGES new members of the brand, each with an OpenID in appid and a message queued."""
    for _ in range(MESSAGES):
        member = await make_member(brand=brand)
        async with in_transaction() as db:
            await MemberIdentity.create(
                using_db=db,
                brand_id=brand.id,
                member_id=member.id,
                kind=IdentityKind.WECHAT_OPENID,
                app_id=appid,
                value=new_openid(),
            )
            await messages.queue_member_message(
                db,
                brand_id=brand.id,
                member_id=member.id,
                event=MemberMessageEvent.POINTS_EARNED,
                fields={"points": 1},
                dedupe_key=f"lock-test:{member.id}",
            )
