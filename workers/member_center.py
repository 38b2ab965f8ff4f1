"""Member-center schedules: points expiry every night, level requalification every new year."""

from __future__ import annotations

from api.core.queue import job, schedule
from api.member_center import levels, points
from api.org.models import Brand, Status
from config.settings import Settings

POINTS_EXPIRE = "points.expire"
LEVELS_REQUALIFY = "levels.requalify"


@job(POINTS_EXPIRE, timeout_s=3600)
async def expire_points() -> dict[str, int]:
    """Expire every lot whose expiry has passed, in every brand (safe to run twice)."""
    return {"lots_expired": await points.expire_points()}


@job(LEVELS_REQUALIFY, timeout_s=3600)
async def requalify_levels() -> dict[str, dict[str, int]]:
    """Yearly requalification of every active brand (keyed by year: a rerun changes nothing)."""
    results = {}
    for brand in await Brand.filter(status=Status.ACTIVE).order_by("id"):
        results[brand.code] = await levels.requalify_levels(brand_id=brand.id)
    return results


def register(settings: Settings) -> None:
    """Cron times are Asia/Shanghai: expiry just after midnight, requalification on 1 January."""
    schedule(POINTS_EXPIRE, cron="30 0 * * *")
    schedule(LEVELS_REQUALIFY, cron="0 3 1 1 *")
