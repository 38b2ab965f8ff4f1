"""Re-encrypt every stored secret and personal datum with the newest data key.

An encrypted column is, by convention, a model field whose name ends in `_enc` and whose value
came from `api.core.crypto.encrypt`. Every model the ORM knows is searched, so a new encrypted
column is rotated without being listed here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from tortoise import Tortoise
from tortoise.models import Model
from tortoise.transactions import in_transaction

from .crypto import reencrypt
from .errors import Conflict

log = logging.getLogger("memberhub.keyrotation")

ENCRYPTED_SUFFIX = "_enc"


@dataclass
class RotationReport:
    """What one run rewrote: values per `table.column`, and rows another writer changed first."""

    rewritten: dict[str, int] = field(default_factory=dict)
    changed_meanwhile: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "rewritten": self.rewritten,
            "total": sum(self.rewritten.values()),
            "changed_meanwhile": self.changed_meanwhile,
        }


def encrypted_columns() -> list[tuple[type[Model], list[str]]]:
    """Every model with encrypted columns, and those columns' field names."""
    found = []
    for models in Tortoise.apps.values():
        for model in models.values():
            names = sorted(n for n in model._meta.fields_map if n.endswith(ENCRYPTED_SUFFIX))
            if names:
                found.append((model, names))
    return sorted(found, key=lambda item: item[0]._meta.db_table)


async def rotate_data_key(*, batch_size: int = 500) -> RotationReport:
    """Rewrite every encrypted value that the newest data key cannot open; safe to run again.

    Rows are read in primary-key order, `batch_size` at a time, and each batch is written in
    one transaction. A value is replaced only if it is still the one read, so a value the
    application wrote meanwhile is never overwritten with an older one.
    """
    report = RotationReport()
    for model, columns in encrypted_columns():
        table = model._meta.db_table
        pk = model._meta.pk_attr
        for column in columns:
            report.rewritten[f"{table}.{column}"] = 0
        after: object = None
        while True:
            query = model.all() if after is None else model.filter(**{f"{pk}__gt": after})
            rows = await query.order_by(pk).limit(batch_size).values_list(pk, *columns)
            if not rows:
                break
            async with in_transaction() as db:
                for row_pk, *values in rows:
                    changes: dict[str, str] = {}
                    read: dict[str, str] = {}
                    for column, value in zip(columns, values, strict=True):
                        if value is None:
                            continue
                        try:
                            fresh = reencrypt(value)
                        except ValueError as exc:
                            raise Conflict(
                                "data_key.unreadable",
                                f"{table}.{column} of row {row_pk} opens with none of "
                                "MEMBERHUB_DATA_KEYS; add the key it was written with",
                            ) from exc
                        if fresh is not None:
                            changes[column] = fresh
                            read[column] = value
                    if not changes:
                        continue
                    guarded = model.filter(**{pk: row_pk}, **read).using_db(db)
                    if await guarded.update(**changes):
                        for column in changes:
                            report.rewritten[f"{table}.{column}"] += 1
                    else:
                        report.changed_meanwhile += 1
            after = rows[-1][0]
        log.info(
            "data key rotated",
            extra={
                "table": table,
                "rewritten": {c: report.rewritten[f"{table}.{c}"] for c in columns},
            },
        )
    return report
