"""The staff member acting on a request: a plain, immutable value, not a database row."""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, ConfigDict

from api.core import audit

from .models import Staff, StaffRole, Status


def staff_ref(staff_id: int) -> str:
    """How audit rows, ledgers and tags name a staff member, as actor or as target: "staff:12"."""
    return audit.actor_of("staff", staff_id)


class Actor(BaseModel):
    """What a staff request knows of who sent it; no password hash, nothing to save."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: int
    brand_id: int
    username: str
    name: str
    role: StaffRole
    store_id: int | None
    guide_code: str | None
    status: Status
    token_version: int = 0

    @property
    def audit_name(self) -> str:
        """How audit rows and ledgers name this staff member: "staff:12"."""
        return staff_ref(self.id)

    @classmethod
    def of(cls, staff: Staff) -> Actor:
        return cls.model_validate(staff)

    @staticmethod
    @lru_cache(maxsize=4096)
    def from_json(text: str) -> Actor:
        """The actor a snapshot (`model_dump_json()`) describes. Snapshots repeat on every
        request of the same staff member and an `Actor` never changes, so each distinct text is
        parsed only once."""
        return Actor.model_validate_json(text)
