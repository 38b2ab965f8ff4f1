"""Every payments test runs against the database, emptied afterwards (see `ports`)."""

from __future__ import annotations

import pytest

from api.core.ports import Ports


@pytest.fixture(autouse=True)
def _database(ports: Ports) -> None:
    return None
