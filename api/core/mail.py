"""E-mail: sent over SMTP (aiosmtplib), queued through the outbox so nothing is lost on a crash."""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from typing import Any

import aiosmtplib
from tortoise.backends.base.client import BaseDBAsyncClient

from config.settings import get_settings

from . import outbox
from .models import OutboxMessage

MAIL_TOPIC = "mail.send"


def _recipients(to: str | Sequence[str]) -> list[str]:
    return [to] if isinstance(to, str) else list(to)


def build_message(
    *, to: str | Sequence[str], subject: str, text: str, html: str | None = None
) -> EmailMessage:
    """The MIME message: plain text, with an HTML alternative when given."""
    message = EmailMessage()
    message["From"] = get_settings().mail_from
    message["To"] = ", ".join(_recipients(to))
    message["Subject"] = subject
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


async def send_mail(
    *,
    to: str | Sequence[str],
    subject: str,
    text: str,
    html: str | None = None,
    host: str | None = None,
    port: int | None = None,
) -> None:
    """Send one e-mail now through the configured SMTP server (host/port override it)."""
    settings = get_settings()
    await aiosmtplib.send(
        build_message(to=to, subject=subject, text=text, html=html),
        hostname=host or settings.smtp_host,
        port=port or settings.smtp_port,
        timeout=settings.smtp_timeout_s,
    )


async def enqueue_mail(
    *,
    to: str | Sequence[str],
    subject: str,
    text: str,
    html: str | None = None,
    brand_id: int | None = None,
    dedupe_key: str | None = None,
    connection: BaseDBAsyncClient | None = None,
) -> OutboxMessage:
    """Queue an e-mail in the outbox, inside the caller's transaction; a worker sends it."""
    payload: dict[str, Any] = {
        "to": _recipients(to),
        "subject": subject,
        "text": text,
        "html": html,
    }
    return await outbox.enqueue(
        topic=MAIL_TOPIC,
        payload=payload,
        brand_id=brand_id,
        dedupe_key=dedupe_key,
        connection=connection,
    )


async def handle_mail_send(payload: dict[str, Any]) -> None:
    """Outbox handler for `mail.send`: the payload written by `enqueue_mail`."""
    await send_mail(
        to=payload["to"],
        subject=payload["subject"],
        text=payload["text"],
        html=payload.get("html"),
    )
