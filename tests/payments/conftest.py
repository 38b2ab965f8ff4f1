"""Every payments test runs against the database, emptied afterwards (see `ports`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from api.core.ports import Ports
from api.payments.models import PaymentRefund


@pytest.fixture(autouse=True)
async def _database(ports: Ports) -> AsyncIterator[None]:
    yield
    # A refund holds its payment (on delete RESTRICT): gone first, so the tables can be emptied.
    await PaymentRefund.all().delete()
