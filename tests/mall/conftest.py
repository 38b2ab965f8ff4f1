"""Every mall test runs against the database and cache, emptied afterwards (see `ports`)."""

from __future__ import annotations

import pytest

from api.core.ports import Ports


@pytest.fixture(autouse=True)
def _database(ports: Ports) -> None:
    return None
