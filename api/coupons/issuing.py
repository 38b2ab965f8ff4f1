"""Issuing: every coupon, whatever asked for it, comes out of `issue_coupon` and one stock rule.

No over-issue, ever, on either path:

- With Redis (`ports.cache()` is a RedisCache), a template's issued count, each member's count
  and each member's count of the day live under keys sharing the hash tag `{ct:<id>}`, and one
  Lua script checks and takes all of them at once. Only then is the coupon row written, with
  the guarded `issued + 1 <= total_stock` update of the template in the same transaction as a
  second fence. A unit taken in Redis whose database write fails is given back. The per-request
  reservation key `{ct:<id>}:r:<key>` makes a retry of the same key replay instead of taking a
  second unit. `reconcile_stock` puts Redis back in line with the database.
  A sold-out template is answered from Redis alone, before any row is read: its issuing terms
  (brand, state, stock, end of window) are cached under the same hash tag (`{ct:<id>}:terms`,
  written when the template changes state and whenever a claim has read the row), and one script
  compares them with the issued counter. Only "out of stock" is answered from the cache; any
  other answer, and any doubt (no terms cached, not active there, window closed, this key's
  reservation present), goes on to the rows. A replay whose reservation has expired (after
  RESERVATION_TTL_MS) on a sold-out template is answered out of stock, not with its coupon.
- Without Redis, one transaction locks the member row (PostgreSQL: `SELECT … FOR UPDATE`;
  SQLite serialises transactions), counts the member's coupons of the template, takes a unit by
  the guarded update and writes the row: the limits and the stock hold together.

`key` names the purpose (`claim:<member>:<request>`, `admin:<batch>:<member>` …): issuing twice
with one key answers the first coupon.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from api.core import ports
from api.core.cache import RedisCache
from api.core.clock import to_shanghai
from api.core.errors import Conflict, InvalidInput, NotFound
from api.member_center.error_codes import MemberErrorCode
from api.member_center.ledger import lock_member
from api.member_center.models import Member, MemberStatus

from .error_codes import CouponErrorCode, CouponTemplateErrorCode
from .models import Coupon, CouponSource, CouponState, CouponTemplate, TemplateState

# Coupon codes: "C" and 11 characters of a 32-letter alphabet without I, O, 0 and 1 (55 bits).
# A member code is 18 digits, a WeChat payment code 18 digits and an Alipay one 28 digits, so a
# till that routes scans by their first character can never take a coupon for either.
log = logging.getLogger("memberhub.coupons")

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_PREFIX = "C"
CODE_BODY_LENGTH = 11
KEY_MAX = 128
_WRITE_ATTEMPTS = 3  # fresh codes drawn when one collides (1 in 2^55 per live coupon)
DAY_KEY_TTL_MS = 2 * 86_400_000
RESERVATION_TTL_MS = 86_400_000
TERMS_TTL_S = 600  # bounds how long terms written by a claim that raced a state change live

# KEYS: issued, member's count, member's count today, reservation.
# ARGV: total stock, per-member limit, daily limit (0: none), day key ttl ms, reservation ttl ms.
# Returns 1 taken, 2 this key already took its unit, -1 counters not loaded, -3 member limit,
# -4 member's daily limit, -2 out of stock (the limits first, as on the database path).
_TAKE = """
local issued = redis.call('GET', KEYS[1])
if not issued then return -1 end
if redis.call('EXISTS', KEYS[4]) == 1 then return 2 end
if tonumber(redis.call('GET', KEYS[2]) or '0') + 1 > tonumber(ARGV[2]) then return -3 end
local daily = tonumber(ARGV[3])
if daily > 0 and tonumber(redis.call('GET', KEYS[3]) or '0') + 1 > daily then return -4 end
if tonumber(issued) + 1 > tonumber(ARGV[1]) then return -2 end
redis.call('INCR', KEYS[1])
redis.call('INCR', KEYS[2])
if daily > 0 then
  redis.call('INCR', KEYS[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
end
redis.call('SET', KEYS[4], '1', 'PX', ARGV[5])
return 1
"""

# KEYS and ARGV[3] as _TAKE's: give one unit back and forget the reservation.
_GIVE_BACK = """
if redis.call('DEL', KEYS[4]) == 0 then return 0 end
redis.call('DECR', KEYS[1])
redis.call('DECR', KEYS[2])
if tonumber(ARGV[1]) > 0 and redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('DECR', KEYS[3])
end
return 1
"""

# KEYS: terms, issued, member's count, member's count today, reservation.
# ARGV: brand id, now (ms since the epoch).
# Returns 1 sold out (answer it), 0 go on to the rows, -1 terms not cached. A member at a limit
# goes on to the rows too, which answer the limit first.
_SOLD_OUT = """
if redis.call('EXISTS', KEYS[5]) == 1 then return 0 end
local terms = redis.call('GET', KEYS[1])
if not terms then return -1 end
local brand, state, total, limit, daily, ends =
  string.match(terms, '^(%d+):(%a+):(%d+):(%d+):(%d+):(%d+)$')
if brand ~= ARGV[1] or state ~= 'active' then return 0 end
if tonumber(ends) > 0 and tonumber(ends) <= tonumber(ARGV[2]) then return 0 end
local issued = redis.call('GET', KEYS[2])
if not issued or tonumber(issued) < tonumber(total) then return 0 end
if tonumber(redis.call('GET', KEYS[3]) or '0') >= tonumber(limit) then return 0 end
daily = tonumber(daily)
if daily > 0 and tonumber(redis.call('GET', KEYS[4]) or '0') >= daily then return 0 end
return 1
"""

# KEYS: issued. ARGV: the count. Loaded once: a count already there is left alone.
_LOAD_ISSUED = """
return redis.call('SET', KEYS[1], ARGV[1], 'NX') and 1 or 0
"""


@dataclass(frozen=True)
class Issued:
    """The coupon, and whether this call issued it (False: the key's earlier coupon)."""

    coupon: Coupon
    created: bool


@dataclass(frozen=True)
class Reconciled:
    """What `reconcile_stock` found in Redis and put right."""

    issued_in_database: int
    issued_in_redis: int | None  # None: the counters were not loaded
    members_repaired: int
    days_repaired: int

    @property
    def drifted(self) -> bool:
        return (
            self.issued_in_redis != self.issued_in_database
            or self.members_repaired > 0
            or self.days_repaired > 0
        )


def new_coupon_code() -> str:
    """A fresh code: "C" and 11 characters from CODE_ALPHABET, from the system's CSPRNG."""
    return CODE_PREFIX + "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_BODY_LENGTH))


def is_coupon_code(text: str) -> bool:
    """Whether `text` has the shape of a coupon code (not whether one exists)."""
    return (
        len(text) == 1 + CODE_BODY_LENGTH
        and text.startswith(CODE_PREFIX)
        and all(c in CODE_ALPHABET for c in text[1:])
    )


# ---------------------------------------------------------------- keys


def _tag(template_id: int) -> str:
    return f"{{ct:{template_id}}}"


def issued_key(template_id: int) -> str:
    """The Redis counter of a template's issued coupons."""
    return f"{_tag(template_id)}:issued"


def member_key(template_id: int, member_id: int) -> str:
    """The Redis counter of one member's coupons of a template."""
    return f"{_tag(template_id)}:m:{member_id}"


def day_key(template_id: int, member_id: int, day: date) -> str:
    """The Redis counter of one member's coupons of a template issued on one Shanghai day."""
    return f"{_tag(template_id)}:d:{day:%Y%m%d}:{member_id}"


def terms_key(template_id: int) -> str:
    """The Redis copy of a template's issuing terms (brand, state, stock, limits, end of window)."""
    return f"{_tag(template_id)}:terms"


def _terms(template: CouponTemplate) -> str:
    until = template.valid_until
    ends = 0 if until is None else int(until.timestamp() * 1000)
    return ":".join(
        str(part)
        for part in (
            template.brand_id,
            template.state.value,
            template.total_stock,
            template.per_member_limit,
            template.per_member_daily_limit or 0,
            ends,
        )
    )


async def cache_terms(template: CouponTemplate) -> None:
    """Write the template's issuing terms to Redis (its state changed, or a claim read it)."""
    cache = redis_cache()
    if cache is not None:
        await cache.set(terms_key(template.id), _terms(template), ttl_s=TERMS_TTL_S)


async def template_changed(template: CouponTemplate) -> None:
    """Cache the template's new terms; an active one also gets its counters loaded now, so the
    first burst of claims does not queue on the loading lock.

    Redis failing here does not fail the state change, already committed: claims load both on
    a miss, and stale terms (at most TERMS_TTL_S old) only change which refusal a sold-out
    template answers (out of stock rather than not active), never whether a coupon is issued.
    """
    try:
        await cache_terms(template)
        if template.state is TemplateState.ACTIVE:
            await load_counters(template.id)
    except Exception:
        log.warning("coupon template %s: issuing terms not cached", template.id, exc_info=True)


async def _sold_out(
    cache: RedisCache, *, brand_id: int, template_id: int, member_id: int, key: str
) -> int:
    """1 when Redis alone knows the template is sold out, 0 when the rows must say, -1 no terms."""
    now = ports.clock().now()
    keys = [terms_key(template_id), *_keys(template_id, member_id, to_shanghai(now).date(), key)]
    args = [brand_id, int(now.timestamp() * 1000)]
    return int(await cache.eval_script(_SOLD_OUT, keys=keys, args=args))


def _reservation_key(template_id: int, key: str) -> str:
    return f"{_tag(template_id)}:r:{key}"


def _keys(template_id: int, member_id: int, day: date, key: str) -> list[str]:
    return [
        issued_key(template_id),
        member_key(template_id, member_id),
        day_key(template_id, member_id, day),
        _reservation_key(template_id, key),
    ]


def redis_cache() -> RedisCache | None:
    """The installed cache when it is Redis (the counters' home), else None."""
    cache = ports.cache()
    return cache if isinstance(cache, RedisCache) else None


# ---------------------------------------------------------------- checks


def _check(source: str, key: str) -> CouponSource:
    if not isinstance(key, str) or not 1 <= len(key) <= KEY_MAX or not key.isprintable():
        raise InvalidInput(CouponErrorCode.INVALID_KEY, f"key must be 1 to {KEY_MAX} characters.")
    try:
        return CouponSource(source)
    except ValueError as exc:
        raise InvalidInput(CouponErrorCode.INVALID_SOURCE, "No such coupon source.") from exc


async def _replay(template_id: int, member_id: int, key: str) -> Coupon | None:
    coupon = await Coupon.filter(template_id=template_id, key=key).first()
    if coupon is not None and coupon.member_id != member_id:
        raise Conflict(CouponErrorCode.KEY_REUSED, "This key was already used for another member.")
    return coupon


def _window(template: CouponTemplate, now: datetime) -> tuple[datetime, datetime]:
    if template.valid_days is not None:
        return now, now + timedelta(days=template.valid_days)
    assert template.valid_from is not None and template.valid_until is not None
    return template.valid_from, template.valid_until


def _refuse_inactive(template: CouponTemplate, now: datetime) -> None:
    if template.state is not TemplateState.ACTIVE:
        raise Conflict(CouponErrorCode.TEMPLATE_NOT_ACTIVE, "This coupon is not being issued.")
    if template.valid_until is not None and template.valid_until <= now:
        raise Conflict(CouponErrorCode.TEMPLATE_NOT_ACTIVE, "This coupon's window has closed.")


async def _write_coupon(
    db: BaseDBAsyncClient,
    *,
    template: CouponTemplate,
    member_id: int,
    source: CouponSource,
    key: str,
    now: datetime,
) -> Coupon:
    """Take one unit by the guarded update and write the row; 409 out_of_stock when none is left."""
    taken = (
        await CouponTemplate.filter(
            id=template.id, state=TemplateState.ACTIVE, issued__lte=template.total_stock - 1
        )
        .using_db(db)
        .update(issued=F("issued") + 1)
    )
    if not taken:
        raise Conflict(CouponErrorCode.OUT_OF_STOCK, "This coupon is all gone.")
    valid_from, valid_until = _window(template, now)
    return await Coupon.create(
        using_db=db,
        brand_id=template.brand_id,
        template_id=template.id,
        member_id=member_id,
        code=new_coupon_code(),
        key=key,
        source=source,
        state=CouponState.AVAILABLE,
        issued_on=to_shanghai(now).date(),
        valid_from=valid_from,
        valid_until=valid_until,
    )


# ---------------------------------------------------------------- the service


async def issue_coupon(
    *, brand_id: int, template_id: int, member_id: int, source: str, key: str
) -> Issued:
    """Issue one coupon of the template to the member, once per (template, key).

    404 `coupon_template.not_found`, `member.not_found`; 409 `coupon.template_not_active`,
    `coupon.out_of_stock`, `coupon.limit_reached`, `coupon.daily_limit_reached`,
    `coupon.key_reused` (the key issued to another member), `coupon.issue_in_progress` (the
    same key is being issued right now); 422 `coupon.invalid_key`, `coupon.invalid_source`.
    """
    kind = _check(source, key)
    cache = redis_cache()
    cached = 0
    if cache is not None:
        cached = await _sold_out(
            cache, brand_id=brand_id, template_id=template_id, member_id=member_id, key=key
        )
        if cached == 1:
            raise Conflict(CouponErrorCode.OUT_OF_STOCK, "This coupon is all gone.")
    template = await CouponTemplate.filter(id=template_id, brand_id=brand_id).first()
    if template is None:
        raise NotFound(CouponTemplateErrorCode.NOT_FOUND, "No such coupon template.")
    if cached == -1:
        await cache_terms(template)
    earlier = await _replay(template_id, member_id, key)
    if earlier is not None:
        return Issued(earlier, created=False)
    now = ports.clock().now()
    _refuse_inactive(template, now)
    if cache is None:
        return await _issue_in_database(template, member_id, kind, key, now)
    return await _issue_with_redis(cache, template, member_id, kind, key, now)


async def _issue_in_database(
    template: CouponTemplate, member_id: int, source: CouponSource, key: str, now: datetime
) -> Issued:
    today = to_shanghai(now).date()
    for _ in range(_WRITE_ATTEMPTS):
        try:
            async with in_transaction() as db:
                await lock_member(db, brand_id=template.brand_id, member_id=member_id)
                mine = Coupon.filter(template_id=template.id, member_id=member_id).using_db(db)
                if await mine.count() >= template.per_member_limit:
                    raise Conflict(
                        CouponErrorCode.LIMIT_REACHED, "You already have as many as allowed."
                    )
                daily = template.per_member_daily_limit
                if daily is not None and await mine.filter(issued_on=today).count() >= daily:
                    raise Conflict(
                        CouponErrorCode.DAILY_LIMIT_REACHED, "That is all for today; try tomorrow."
                    )
                coupon = await _write_coupon(
                    db, template=template, member_id=member_id, source=source, key=key, now=now
                )
            return Issued(coupon, created=True)
        except IntegrityError:
            earlier = await _replay(template.id, member_id, key)
            if earlier is not None:
                return Issued(earlier, created=False)
    raise RuntimeError("could not draw an unused coupon code")


async def _live_member(brand_id: int, member_id: int) -> None:
    status = await Member.filter(id=member_id, brand_id=brand_id).values_list("status", flat=True)
    if not status:
        raise NotFound(MemberErrorCode.NOT_FOUND, "No such member.")
    if status[0] == MemberStatus.MERGED:
        raise Conflict(MemberErrorCode.MERGED, "This member was merged into another one.")


async def _issue_with_redis(
    cache: RedisCache,
    template: CouponTemplate,
    member_id: int,
    source: CouponSource,
    key: str,
    now: datetime,
) -> Issued:
    await _live_member(template.brand_id, member_id)
    keys = _keys(template.id, member_id, to_shanghai(now).date(), key)
    daily = template.per_member_daily_limit or 0
    args = [template.total_stock, template.per_member_limit, daily]
    taken = await cache.eval_script(
        _TAKE, keys=keys, args=[*args, DAY_KEY_TTL_MS, RESERVATION_TTL_MS]
    )
    if taken == -1:
        await load_counters(template.id)
        taken = await cache.eval_script(
            _TAKE, keys=keys, args=[*args, DAY_KEY_TTL_MS, RESERVATION_TTL_MS]
        )
    if taken == 2:
        earlier = await _replay(template.id, member_id, key)
        if earlier is not None:
            return Issued(earlier, created=False)
        raise Conflict(CouponErrorCode.ISSUE_IN_PROGRESS, "This coupon is being issued; retry.")
    if taken == -2:
        raise Conflict(CouponErrorCode.OUT_OF_STOCK, "This coupon is all gone.")
    if taken == -3:
        raise Conflict(CouponErrorCode.LIMIT_REACHED, "You already have as many as allowed.")
    if taken == -4:
        raise Conflict(CouponErrorCode.DAILY_LIMIT_REACHED, "That is all for today; try tomorrow.")
    if taken != 1:
        raise RuntimeError(f"coupon counters of template {template.id} not loaded")
    try:
        for _ in range(_WRITE_ATTEMPTS):
            try:
                async with in_transaction() as db:
                    coupon = await _write_coupon(
                        db, template=template, member_id=member_id, source=source, key=key, now=now
                    )
                return Issued(coupon, created=True)
            except IntegrityError:
                earlier = await _replay(template.id, member_id, key)
                if earlier is not None:
                    return Issued(earlier, created=False)
        raise RuntimeError("could not draw an unused coupon code")
    except BaseException:
        # A commit whose answer was lost may still have written the row: then the unit is used.
        if not await _written(template.id, key):
            await cache.eval_script(_GIVE_BACK, keys=keys, args=[daily])
        raise


async def _written(template_id: int, key: str) -> bool:
    """Whether the row of (template, key) is known to exist; False when the database cannot say."""
    try:
        return await Coupon.filter(template_id=template_id, key=key).exists()
    except Exception:
        return False


# ---------------------------------------------------------------- counters


async def _database_counts(
    template_id: int, today: date
) -> tuple[int, dict[int, int], dict[int, int]]:
    """Issued coupons of the template: in all, per member, per member today."""
    rows = (
        await Coupon.filter(template_id=template_id)
        .annotate(n=Count("id"))
        .group_by("member_id")
        .values_list("member_id", "n")
    )
    per_member = {int(member): int(n) for member, n in rows}
    rows = (
        await Coupon.filter(template_id=template_id, issued_on=today)
        .annotate(n=Count("id"))
        .group_by("member_id")
        .values_list("member_id", "n")
    )
    per_day = {int(member): int(n) for member, n in rows}
    return sum(per_member.values()), per_member, per_day


async def load_counters(template_id: int) -> None:
    """Load a template's Redis counters from the database, once (under a lock; idempotent).

    Claims wait while the issued counter is absent (the script answers "not loaded"), so the
    member counters written here are complete before the first unit is taken.
    """
    cache = redis_cache()
    if cache is None or await cache.get(issued_key(template_id)) is not None:
        return
    async with cache.lock(f"coupon-counters:{template_id}", ttl_s=30, wait_s=10):
        if await cache.get(issued_key(template_id)) is not None:
            return
        today = to_shanghai(ports.clock().now()).date()
        total, per_member, per_day = await _database_counts(template_id, today)
        for member_id, n in per_member.items():
            await cache.set(member_key(template_id, member_id), str(n))
        for member_id, n in per_day.items():
            await cache.set(
                day_key(template_id, member_id, today), str(n), ttl_s=DAY_KEY_TTL_MS / 1000
            )
        await cache.eval_script(_LOAD_ISSUED, keys=[issued_key(template_id)], args=[total])


async def reconcile_stock(*, brand_id: int, template_id: int) -> Reconciled:
    """Compare a template's Redis counters with its coupon rows and set Redis to the rows.

    Also sets the template's `issued` column to the rows' count. Run it while the template is
    paused or quiet: a claim between its Redis take and its row is counted as drift. Without
    Redis only the column is checked.
    """
    template = await CouponTemplate.filter(id=template_id, brand_id=brand_id).first()
    if template is None:
        raise NotFound(CouponTemplateErrorCode.NOT_FOUND, "No such coupon template.")
    cache = redis_cache()
    today = to_shanghai(ports.clock().now()).date()
    total, per_member, per_day = await _database_counts(template_id, today)
    await CouponTemplate.filter(id=template_id).update(issued=total)
    if cache is None:
        return Reconciled(total, None, 0, 0)
    async with cache.lock(f"coupon-counters:{template_id}", ttl_s=30, wait_s=10):
        in_redis = await cache.get(issued_key(template_id))
        members = await _repair(cache, f"{_tag(template_id)}:m:*", per_member, template_id, None)
        days = await _repair(
            cache, f"{_tag(template_id)}:d:{today:%Y%m%d}:*", per_day, template_id, today
        )
        await cache.set(issued_key(template_id), str(total))
    return Reconciled(total, None if in_redis is None else int(in_redis), members, days)


async def _repair(
    cache: RedisCache,
    pattern: str,
    counts: dict[int, int],
    template_id: int,
    day: date | None,
) -> int:
    """Set every member counter matching `pattern` to `counts`; how many were off."""

    def key_of(member_id: int) -> str:
        if day is None:
            return member_key(template_id, member_id)
        return day_key(template_id, member_id, day)

    present = {int(key.rsplit(":", 1)[1]) for key in await cache.keys_matching(pattern)}
    members = sorted(present | set(counts))
    values = await cache.get_many([key_of(m) for m in members])
    repaired = 0
    for member_id, value in zip(members, values, strict=True):
        want = counts.get(member_id, 0)
        if int(value or 0) == want:
            continue
        repaired += 1
        if want == 0:
            await cache.delete(key_of(member_id))
        elif day is None:
            await cache.set(key_of(member_id), str(want))
        else:
            await cache.set(key_of(member_id), str(want), ttl_s=DAY_KEY_TTL_MS / 1000)
    return repaired
