"""The staff member acting on a request: a plain, immutable value, not a database row."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from functools import lru_cache

from .models import Staff, StaffRole, Status


@dataclass(frozen=True, slots=True)
class Actor:
    """What a staff request knows of who sent it; no password hash, nothing to save."""

    id: int
    brand_id: int
    username: str
    name: str
    role: StaffRole
    store_id: int | None
    guide_code: str | None
    status: Status

    @classmethod
    def of(cls, staff: Staff) -> Actor:
        return cls(**{field.name: getattr(staff, field.name) for field in fields(cls)})

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @staticmethod
    @lru_cache(maxsize=4096)
    def from_json(text: str) -> Actor:
        """The actor a snapshot describes. Snapshots repeat on every request of the same staff
        member and an `Actor` never changes, so each distinct text is parsed only once."""
        data = json.loads(text)
        return Actor(**data | {"role": StaffRole(data["role"]), "status": Status(data["status"])})
