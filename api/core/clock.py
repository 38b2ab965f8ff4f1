"""The clock port: services ask it for the time so expiry logic can be tested."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock:
    """Wall-clock time, always timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock(Clock):
    """A clock that only moves when told to (tests)."""

    def __init__(self, at: datetime | None = None) -> None:
        self._at = at or datetime.now(UTC)

    def now(self) -> datetime:
        return self._at

    def advance(self, **delta: float) -> datetime:
        self._at += timedelta(**delta)
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at


def to_shanghai(moment: datetime) -> datetime:
    """Shown times are in Asia/Shanghai."""
    return moment.astimezone(SHANGHAI)


def shanghai_midnight(day: date) -> datetime:
    """The instant (UTC) a day starts in Asia/Shanghai: where shown days begin and end."""
    return datetime.combine(day, time.min, tzinfo=SHANGHAI).astimezone(UTC)
