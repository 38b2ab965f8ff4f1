"""A member merge moves the loser's coupons to the survivor (a merge step, see `api/wiring.py`).

Every coupon moves, whatever its state: used ones are the survivor's history, locked ones stay
with their order. Codes and keys do not change, so a coupon already shown at a counter still
works, and a purpose key (`payment:<id>` …) still answers the coupon it issued.

The Redis counters (see `issuing`) move with them, per template, by one script that adds the
moved count to the survivor's counters and takes it off the loser's, and only where the
template's counters are loaded (unloaded ones are read from the rows when first needed). It
runs inside the merge transaction, before the commit: a merge that then rolls back leaves the
survivor's counter higher than the rows, which only refuses a claim too many, never allows
one; `issuing.reconcile_stock` sets it right. The survivor may end up holding more coupons of
a template than its per-member limit: a merge is not an issue, and a limit only stops new ones.
"""

from __future__ import annotations

from collections import Counter

from tortoise.backends.base.client import BaseDBAsyncClient

from api.core.clock import to_shanghai
from api.core.ports import clock

from .issuing import day_key, issued_key, member_key, redis_cache
from .models import Coupon

# KEYS: issued, survivor's count, loser's count, survivor's today, loser's today.
# ARGV: moved in all, moved of today, day key ttl ms.
_MOVE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local moved = tonumber(ARGV[1])
redis.call('INCRBY', KEYS[2], moved)
if tonumber(redis.call('DECRBY', KEYS[3], moved)) <= 0 then redis.call('DEL', KEYS[3]) end
local today = tonumber(ARGV[2])
if today > 0 then
  redis.call('INCRBY', KEYS[4], today)
  redis.call('PEXPIRE', KEYS[4], ARGV[3])
  if tonumber(redis.call('DECRBY', KEYS[5], today)) <= 0 then redis.call('DEL', KEYS[5]) end
end
return 1
"""
DAY_KEY_TTL_MS = 2 * 86_400_000


async def move_coupons_for_merge(
    *, brand_id: int, loser_id: int, survivor_id: int, connection: BaseDBAsyncClient
) -> None:
    """Give the loser's coupons to the survivor, and their Redis counters with them."""
    rows = (
        await Coupon.filter(brand_id=brand_id, member_id=loser_id)
        .using_db(connection)
        .values_list("template_id", "issued_on")
    )
    if not rows:
        return
    await (
        Coupon.filter(brand_id=brand_id, member_id=loser_id)
        .using_db(connection)
        .update(member_id=survivor_id)
    )
    cache = redis_cache()
    if cache is None:
        return
    today = to_shanghai(clock().now()).date()
    moved = Counter(int(t) for t, _ in rows)
    moved_today = Counter(int(t) for t, day in rows if day == today)
    for template_id, count in sorted(moved.items()):
        await cache.eval_script(
            _MOVE,
            keys=[
                issued_key(template_id),
                member_key(template_id, survivor_id),
                member_key(template_id, loser_id),
                day_key(template_id, survivor_id, today),
                day_key(template_id, loser_id, today),
            ],
            args=[count, moved_today[template_id], DAY_KEY_TTL_MS],
        )
