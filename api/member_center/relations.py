"""Store and guide relations: which store and which shopping guide a member belongs to."""

from __future__ import annotations


async def apply_scene(*, brand_id: int, member_id: int, scene: str | None) -> None:
    """Bind the member to the store or guide a QR scene names, under the brand's attribution policy."""
    return None
