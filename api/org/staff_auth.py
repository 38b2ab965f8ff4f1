"""Staff sign-in, staff tokens, and the staff member behind a token (a cached snapshot)."""

from __future__ import annotations

from api.core.auth import Role, TokenKind, issue_token
from api.core.cache import hit_rate_limit, rate_limit_key
from api.core.errors import RateLimited, Unauthorized
from api.core.ports import cache, clock, local_cache
from config.settings import get_settings

from .actor import Actor
from .error_codes import AuthErrorCode
from .models import Staff, Status
from .passwords import verify_password

STAFF_SNAPSHOT_TTL_S = 60


async def login_staff(*, brand_code: str, username: str, password: str) -> tuple[str, Staff]:
    """Check a staff password and sign a staff token; repeated failures lock the name out."""
    settings = get_settings()
    limit_key = f"staff-login:{brand_code}:{username.lower()}"
    failures = await cache().get(rate_limit_key(limit_key))
    if failures is not None and int(failures) >= settings.staff_login_max_failures:
        raise RateLimited(
            AuthErrorCode.TOO_MANY_ATTEMPTS,
            "Too many failed sign-ins; wait a few minutes and retry.",
            retry_after_s=settings.staff_login_window_s,
        )
    staff = await Staff.filter(
        brand__code=brand_code, username=username, status=Status.ACTIVE, brand__status=Status.ACTIVE
    ).first()
    if not await verify_password(staff.password_hash if staff else None, password) or staff is None:
        await hit_rate_limit(
            cache(),
            limit_key,
            limit=settings.staff_login_max_failures,
            window_s=settings.staff_login_window_s,
        )
        raise Unauthorized(AuthErrorCode.BAD_CREDENTIALS, "Wrong brand, username or password.")
    await cache().delete(rate_limit_key(limit_key))
    staff.last_login_at = clock().now()
    await staff.save(update_fields=["last_login_at"])
    return staff_token(staff), staff


def staff_token(staff: Staff) -> str:
    """A signed staff token for this staff member."""
    return issue_token(
        kind=TokenKind.STAFF,
        subject_id=staff.id,
        brand_id=staff.brand_id,
        role=Role(staff.role),
    )


def _staff_key(staff_id: int) -> str:
    return f"staff:{staff_id}"


async def load_active_staff(*, brand_id: int, staff_id: int) -> Actor:
    """The staff member behind a token; a disabled or foreign-brand account is refused.

    Every staff request needs this, so a read-only snapshot (no password hash) is kept in the
    shared cache for a minute and dropped whenever the staff member is changed through
    `staff.update_staff`. Each process also keeps its own copy for `staff_snapshot_local_s` (2 s
    by default): a change made through another process reaches this one within that time.
    """
    snapshot = await _staff_snapshot(staff_id)
    actor = None if snapshot is None else Actor.from_json(snapshot)
    if actor is None or actor.brand_id != brand_id or actor.status != Status.ACTIVE:
        raise Unauthorized(AuthErrorCode.STAFF_INACTIVE, "This staff account is not active.")
    return actor


async def _staff_snapshot(staff_id: int) -> str | None:
    key = _staff_key(staff_id)
    local_ttl_s = get_settings().staff_snapshot_local_s
    snapshot = await local_cache().get(key) if local_ttl_s > 0 else None
    if snapshot is None:
        snapshot = await cache().get(key)
        if snapshot is None:
            staff = await Staff.get_or_none(id=staff_id)
            if staff is None:
                return None
            snapshot = Actor.of(staff).model_dump_json()
            await cache().set(key, snapshot, ttl_s=STAFF_SNAPSHOT_TTL_S)
        if local_ttl_s > 0:
            await local_cache().set(key, snapshot, ttl_s=local_ttl_s)
    return snapshot


async def forget_staff_snapshot(staff_id: int) -> None:
    """Drop the cached snapshot of a staff member: call it after every change to their row."""
    await cache().delete(_staff_key(staff_id))
    await local_cache().delete(_staff_key(staff_id))
