"""Tables every domain shares: the outbox and the audit log."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class OutboxStatus(StrEnum):
    PENDING = "pending"  # waiting for (another) delivery attempt
    SENT = "sent"  # the handler returned without raising
    DEAD = "dead"  # gave up after `outbox_max_attempts`; needs a human


class OutboxMessage(Model):
    """A side effect outside the database, written in the business transaction, sent by workers."""

    id = fields.BigIntField(primary_key=True)
    # A plain integer, not a foreign key: system messages have no brand, and the outbox must
    # never block deleting or merging the rows it talks about.
    brand_id = fields.IntField(null=True)
    topic = fields.CharField(max_length=64)  # "mail.send", "wechat.template" …
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    dedupe_key = fields.CharField(max_length=191, null=True, unique=True)
    status = fields.CharEnumField(OutboxStatus, max_length=8, default=OutboxStatus.PENDING)
    attempts = fields.IntField(default=0)  # counted when a worker claims the row
    # Due time while pending; while a worker holds the row it is the end of that worker's lease.
    next_attempt_at = fields.DatetimeField()
    last_error = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "core_outbox"
        indexes = (("status", "next_attempt_at"),)

    def __str__(self) -> str:
        return f"OutboxMessage({self.id}, {self.topic}, {self.status})"


class AuditLog(Model):
    """Who did what to which row, kept for support and disputes (merges, manual adjustments …)."""

    id = fields.BigIntField(primary_key=True)
    brand_id = fields.IntField(null=True)  # None for deployment-wide actions
    actor = fields.CharField(max_length=64)  # "staff:12", "member:3", "system"
    action = fields.CharField(max_length=64)  # "member.merge", "points.adjust" …
    target = fields.CharField(max_length=128)  # "member:7"
    details: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    # The X-Request-Id of the HTTP request that made the change; empty for workers and commands.
    request_id = fields.CharField(max_length=64, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "core_audit"
        indexes = (("brand_id", "created_at"), ("target",))

    def __str__(self) -> str:
        return f"AuditLog({self.id}, {self.actor} {self.action} {self.target})"
