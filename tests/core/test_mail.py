"""E-mail over SMTP, sent directly and through the outbox, against a real SMTP catcher."""

from __future__ import annotations

from email.header import decode_header, make_header

import pytest

from api.core import outbox
from api.core.clock import FrozenClock
from api.core.mail import MAIL_TOPIC, enqueue_mail, handle_mail_send, send_mail
from api.core.models import OutboxMessage, OutboxStatus
from config.settings import Settings

from .conftest import SmtpCatcher, _free_port


async def test_send_mail_delivers_text_and_html(smtp: SmtpCatcher, settings: Settings) -> None:
    await send_mail(
        to=["a@example.com", "b@example.com"],
        subject="Welcome 欢迎",
        text="Hello, member.",
        html="<p>Hello, <b>member</b>.</p>",
        host=smtp.host,
        port=smtp.port,
    )

    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert smtp.envelopes[0].rcpt_tos == ["a@example.com", "b@example.com"]
    assert smtp.envelopes[0].mail_from == settings.mail_from
    assert str(make_header(decode_header(message["Subject"]))) == "Welcome 欢迎"
    parts = {part.get_content_type(): part.get_payload(decode=True) for part in message.walk()}
    assert isinstance(parts["text/plain"], bytes) and isinstance(parts["text/html"], bytes)
    assert "Hello, member." in parts["text/plain"].decode()
    assert "<b>member</b>" in parts["text/html"].decode()


async def test_mail_queued_in_the_outbox_is_delivered_by_the_handler(
    smtp: SmtpCatcher,
    clock: FrozenClock,
    handlers: dict[str, outbox.Handler],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "smtp_host", smtp.host)
    monkeypatch.setattr(settings, "smtp_port", smtp.port)
    outbox.register_handler(MAIL_TOPIC, handle_mail_send)
    message = await enqueue_mail(to="c@example.com", subject="Your code", text="123456", brand_id=1)

    report = await outbox.deliver_due()

    assert report.sent == 1
    assert [e.rcpt_tos for e in smtp.envelopes] == [["c@example.com"]]
    assert smtp.messages[0]["Subject"] == "Your code"
    row = await OutboxMessage.get(id=message.id)
    assert row.status is OutboxStatus.SENT


async def test_mail_to_an_unreachable_server_is_retried(
    clock: FrozenClock,
    handlers: dict[str, outbox.Handler],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "smtp_host", "127.0.0.1")
    monkeypatch.setattr(settings, "smtp_port", _free_port())  # nothing listens there
    outbox.register_handler(MAIL_TOPIC, handle_mail_send)
    message = await enqueue_mail(to="d@example.com", subject="s", text="t")

    report = await outbox.deliver_due()

    assert report.retried == 1
    row = await OutboxMessage.get(id=message.id)
    assert row.status is OutboxStatus.PENDING
    assert row.attempts == 1
    assert "SMTP" in row.last_error or "connect" in row.last_error.lower()
