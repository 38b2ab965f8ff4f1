"""Who may do what in the admin API: the store scope of a staff member, from their record."""

from __future__ import annotations

from .actor import Actor
from .models import StaffRole
from .scope import StoreScope


def scope_of(actor: Actor) -> StoreScope:
    """Head office acts on the whole brand; everyone else on their own store only."""
    if actor.role == StaffRole.HQ_ADMIN:
        return StoreScope.brand()
    return StoreScope.stores(actor.store_id)
