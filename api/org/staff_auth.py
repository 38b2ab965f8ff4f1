"""Staff sign-in, staff tokens, and the staff member behind a token (a cached snapshot)."""

from __future__ import annotations

import ipaddress
import math

from api.core.auth import Principal, TokenKind, issue_token
from api.core.cache import rate_limit_key
from api.core.errors import RateLimited, Unauthorized
from api.core.ports import cache, clock, local_cache
from config.settings import get_settings

from .actor import Actor
from .error_codes import AuthErrorCode
from .models import Staff, Status
from .passwords import verify_password

STAFF_SNAPSHOT_TTL_S = 60


async def login_staff(
    *, brand_code: str, username: str, password: str, client_address: str
) -> tuple[str, Staff]:
    """Check a staff password and sign a staff token; repeated failures are refused for a while.

    Failures count twice: per name and client address (`staff_login_max_failures`), and per
    client address alone (`staff_login_max_failures_per_address`, higher). Nothing counts per
    name alone, so someone guessing at a name from their address never locks its owner out at
    theirs. Each attempt is counted before its password is checked, so a burst of parallel
    attempts cannot all slip under a limit; a sign-in that succeeds takes its count back.
    """
    settings = get_settings()
    window_s = settings.staff_login_window_s
    address = client_network(client_address)
    address_key = rate_limit_key(f"staff-login-address:{address}")
    name_key = rate_limit_key(f"staff-login:{brand_code}:{username.lower()}:{address}")
    await _count_attempt(address_key, settings.staff_login_max_failures_per_address, window_s)
    await _count_attempt(name_key, settings.staff_login_max_failures, window_s)
    staff = await Staff.filter(
        brand__code=brand_code, username=username, status=Status.ACTIVE, brand__status=Status.ACTIVE
    ).first()
    if not await verify_password(staff.password_hash if staff else None, password) or staff is None:
        raise Unauthorized(AuthErrorCode.BAD_CREDENTIALS, "Wrong brand, username or password.")
    await cache().delete(name_key)
    await cache().decr(address_key)
    staff.last_login_at = clock().now()
    await staff.save(update_fields=["last_login_at"])
    return staff_token(staff), staff


async def _count_attempt(key: str, limit: int, window_s: int) -> None:
    if await cache().incr(key, ttl_s=window_s) <= limit:
        return
    left_s = await cache().ttl(key)
    raise RateLimited(
        AuthErrorCode.TOO_MANY_ATTEMPTS,
        "Too many failed sign-ins; wait a few minutes and retry.",
        retry_after_s=window_s if left_s is None else math.ceil(left_s),
    )


def client_network(address: str) -> str:
    """What sign-in failures are counted against: the IPv4 address, or the IPv6 /64.

    One IPv6 subscriber is usually given a whole /64, so counting single IPv6 addresses would
    give one attacker billions of fresh counters.
    """
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address[:64] or "unknown"  # a UNIX socket name, or no address at all
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.version == 6:
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def staff_token(staff: Staff) -> str:
    """A signed staff token for this staff member, valid until their token version changes."""
    return issue_token(
        kind=TokenKind.STAFF,
        subject_id=staff.id,
        brand_id=staff.brand_id,
        version=staff.token_version,
    )


def snapshot_key(staff_id: int) -> str:
    """The shared-cache key of a staff member's snapshot."""
    return f"staff-snapshot:{staff_id}"


async def load_active_staff(*, brand_id: int, staff_id: int, token_version: int = 0) -> Actor:
    """The staff member behind a token; a disabled or foreign-brand account, or a token signed
    before the staff member's last password or role change, is refused.

    Every staff request needs this, so a read-only snapshot (no password hash) is kept in the
    shared cache for a minute and replaced whenever the staff member is changed through
    `staff.update_staff`. Each process also keeps its own copy for `staff_snapshot_local_s` (2 s
    by default): a change made through another process reaches this one within that time.
    """
    snapshot = await _staff_snapshot(staff_id)
    actor = None if snapshot is None else Actor.from_json(snapshot)
    if actor is None or actor.brand_id != brand_id or actor.status != Status.ACTIVE:
        raise Unauthorized(AuthErrorCode.STAFF_INACTIVE, "This staff account is not active.")
    if actor.token_version != token_version:
        raise Unauthorized(
            AuthErrorCode.TOKEN_REVOKED, "This token was ended by a password or role change."
        )
    return actor


async def resolve_staff(principal: Principal) -> Actor:
    """The token resolver for staff tokens (registered by `api.wiring`)."""
    return await load_active_staff(
        brand_id=principal.brand_id, staff_id=principal.subject_id, token_version=principal.version
    )


async def _staff_snapshot(staff_id: int) -> str | None:
    key = snapshot_key(staff_id)
    local_ttl_s = get_settings().staff_snapshot_local_s
    snapshot = await local_cache().get(key) if local_ttl_s > 0 else None
    if snapshot is None:
        snapshot = await cache().get(key)
        if snapshot is None:
            staff = await Staff.get_or_none(id=staff_id)
            if staff is None:
                return None
            snapshot = Actor.of(staff).model_dump_json()
            # Only if absent: a snapshot written meanwhile by `remember_staff` (after a change)
            # is newer than the row read here and must not be overwritten by it.
            if not await cache().add(key, snapshot, ttl_s=STAFF_SNAPSHOT_TTL_S):
                snapshot = await cache().get(key) or snapshot
        if local_ttl_s > 0:
            await local_cache().set(key, snapshot, ttl_s=local_ttl_s)
    return snapshot


async def remember_staff(staff: Staff) -> None:
    """Replace the cached snapshot of a staff member: call it after every committed change.

    Written over whatever is cached (readers only add a snapshot when none is there), so a
    request that read the row before the change cannot put the old role back into the cache.
    """
    key = snapshot_key(staff.id)
    await cache().set(key, Actor.of(staff).model_dump_json(), ttl_s=STAFF_SNAPSHOT_TTL_S)
    await local_cache().delete(key)
