"""Which stores a caller may act on, decided by the route layer and handed to services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from tortoise.models import Model
from tortoise.queryset import QuerySet

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class StoreScope:
    """Every store of the brand (`store_ids` None), or only the stores named.

    Services never look at a caller's role: they filter and check against the scope they are
    handed. A scope limited to some stores also means "not head office": such a caller sees no
    brand-wide rows (head-office staff, for instance, belong to no store).
    """

    store_ids: frozenset[int] | None = None

    @classmethod
    def brand(cls) -> StoreScope:
        """The whole brand: head office."""
        return cls(None)

    @classmethod
    def stores(cls, *store_ids: int | None) -> StoreScope:
        """Only these stores (a store-bound caller without a store gets none)."""
        return cls(frozenset(i for i in store_ids if i is not None))

    @property
    def whole_brand(self) -> bool:
        return self.store_ids is None

    def allows(self, store_id: int | None) -> bool:
        """Whether a row of this store (None: of no store, i.e. head office's) is in scope."""
        if self.store_ids is None:
            return True
        return store_id is not None and store_id in self.store_ids

    def limit(self, rows: QuerySet[M], field: str = "store_id") -> QuerySet[M]:
        """The rows of `rows` whose `field` names a store in scope."""
        if self.store_ids is None:
            return rows
        return rows.filter(**{f"{field}__in": sorted(self.store_ids)})
