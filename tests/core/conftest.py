"""Fixtures for the core tests: an isolated outbox handler table and an SMTP catcher."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from api.core import outbox


@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> dict[str, outbox.Handler]:
    """An empty handler table for this test only; register_handler writes into it."""
    table: dict[str, outbox.Handler] = {}
    monkeypatch.setattr(outbox, "_HANDLERS", table)
    return table


class _Collector:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


class SmtpCatcher:
    """A real SMTP server on loopback that keeps what it receives."""

    def __init__(self, host: str, port: int, collector: _Collector) -> None:
        self.host = host
        self.port = port
        self._collector = collector

    @property
    def messages(self) -> list[Message]:
        return self._collector.messages

    @property
    def envelopes(self) -> list[Any]:
        return self._collector.envelopes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[SmtpCatcher]:
    """An aiosmtpd server on a free loopback port, for one test."""
    collector = _Collector()
    port = _free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpCatcher("127.0.0.1", port, collector)
    finally:
        controller.stop()
