"""Logging: one JSON object per line on stderr, so any log shipper can read it and a command's
own output on stdout stays clean.

Every `extra=` field of a record is a top-level field of its line (`appid`, `errcode`,
`sub_code` …). A line written inside a request carries that request's id.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter

from api.core import context


class JsonFormatter(_BaseJsonFormatter):
    """`ts`, `level`, `logger`, `msg`, then the record's extra fields; an access-log message
    that is already a JSON object is merged into the line instead of quoted as `msg`."""

    def __init__(self) -> None:
        super().__init__(
            json_ensure_ascii=False, rename_fields={"message": "msg", "exc_info": "exc"}
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["ts"] = datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds"
        )
        log_data["level"] = record.levelname.lower()
        log_data["logger"] = record.name
        super().add_fields(log_data, record, message_dict)
        merged = _json_object(record.message)
        if merged is not None:
            del log_data["msg"]
            log_data.update(merged)
        if not log_data.get("request_id"):
            request_id = context.request_id.get()
            if request_id:
                log_data["request_id"] = request_id


def _json_object(message: str) -> dict[str, Any] | None:
    if not message.startswith("{"):
        return None
    try:
        value = json.loads(message)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def configure_logging(level: str = "INFO", *, stream: str = "ext://sys.stderr") -> None:
    """Route the app's, Sanic's and Tortoise's loggers to JSON lines on `stream` (stderr)."""
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"json": {"()": JsonFormatter}},
            "handlers": {
                "console": {
                    "class": "logging.StreamHandler",
                    "formatter": "json",
                    "stream": stream,
                }
            },
            "root": {"handlers": ["console"], "level": level},
            "loggers": {
                "sanic.access": {"level": "WARNING"},
                "tortoise": {"level": "WARNING"},
                "aiosqlite": {"level": "WARNING"},
            },
        }
    )
