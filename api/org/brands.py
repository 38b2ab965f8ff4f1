"""Brands: the tenant every other row belongs to, and its rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tortoise.exceptions import IntegrityError

from api.core import audit
from api.core.errors import Conflict, NotFound

from .error_codes import BrandErrorCode
from .models import Brand


async def get_brand(*, brand_id: int) -> Brand:
    """The brand."""
    return await Brand.get(id=brand_id)


async def get_brand_by_code(*, code: str) -> Brand:
    """A brand by its code (what staff type to sign in); 404 `brand.not_found` otherwise."""
    brand = await Brand.get_or_none(code=code)
    if brand is None:
        raise NotFound(BrandErrorCode.NOT_FOUND, f"No brand with code {code!r}.")
    return brand


async def create_brand(*, code: str, name: str) -> Brand:
    """Add a brand (a tenant) with the product's default rules; its code is unique."""
    try:
        return await Brand.create(code=code, name=name, settings={})
    except IntegrityError as exc:
        raise Conflict(BrandErrorCode.CODE_TAKEN, f"Brand code {code!r} is already used.") from exc


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
