"""Fixtures for the benchmark, created through the same services the API uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api.org.demo import bootstrap_demo


async def seed(*, codes: int, codes_file: Path) -> dict[str, Any]:
    """The demo brand, its tokens and (when asked) a file of fresh member codes."""
    demo = await bootstrap_demo(once=True)
    codes_file.write_text("")
    return {"tokens": {"hq_admin": demo["hq_admin"]["token"]}, "ids": {}}
