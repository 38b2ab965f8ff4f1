"""Every callback test runs against the database and cache, emptied afterwards (see `ports`).

Jobs the callback queues (the UnionID lookup) run in this process on both stacks, so that a
test can wait for them with `ports.queue.join()`.
"""

from __future__ import annotations

import pytest

from api.core.ports import Ports
from api.core.queue import LocalQueue


@pytest.fixture(autouse=True)
def _database(ports: Ports) -> None:
    ports.queue = LocalQueue()
    return None
