"""Fixtures of the integration tests that share one server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.member_center_demo import member_center_server


@pytest.fixture(scope="session")
def member_center_demo(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """One `memberhub serve` with the sandbox and the completed demo brand, for the client page
    tests (the mini-program's and the H5 page's): its URL and the demo's description."""
    with member_center_server(tmp_path_factory.mktemp("member-center")) as (process, demo):
        yield process.url, demo
