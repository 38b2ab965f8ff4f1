"""Brands: the tenant every other row belongs to, and its rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.core import audit

from .models import Brand


async def get_brand(*, brand_id: int) -> Brand:
    """The brand."""
    return await Brand.get(id=brand_id)


async def update_brand(
    *,
    brand_id: int,
    actor: str,
    name: str | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Brand:
    """Rename the brand or change its rules (member code lifetime, attribution, points expiry)."""
    brand = await Brand.get(id=brand_id)
    details: dict[str, Any] = {}
    if name is not None:
        brand.name = details["name"] = name
    if settings is not None:
        changes = {key: value for key, value in settings.items() if value is not None}
        brand.settings = {**brand.settings, **changes}
        details["settings"] = changes
    await brand.save()
    await audit.record(
        brand_id=brand.id,
        actor=actor,
        action="brand.update",
        target=f"brand:{brand.id}",
        details=details,
    )
    return brand
