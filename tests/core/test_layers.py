"""Layer rules that ruff's TID251 cannot hold alone.

TID251 is one rule for every banned name, so the files allowed to import Sanic (routes, api/web,
api/app.py, api/cli.py, sandbox) are exempt from the os.environ ban too. This keeps environment
reads in config/settings.py there as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.stack_independent

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "config", "workers", "sandbox")
SETTINGS = ROOT / "config" / "settings.py"
READERS = {"environ", "environb", "getenv"}
# Variables of a library's own, which it reads itself; memberhub only hands them on.
LIBRARY_VARIABLES = {"PROMETHEUS_MULTIPROC_DIR"}


def _environment_reads(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(), filename=str(path))
    handed_on = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Subscript)
        and isinstance(node.slice, ast.Constant)
        and node.slice.value in LIBRARY_VARIABLES
    }
    lines = []
    for node in ast.walk(tree):
        attribute = (
            id(node) not in handed_on
            and isinstance(node, ast.Attribute)
            and node.attr in READERS
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        )
        imported = (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(alias.name in READERS for alias in node.names)
        )
        if attribute or imported:
            lines.append(node.lineno)
    return lines


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = [
        f"{path.relative_to(ROOT)}:{line}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != SETTINGS
        for line in _environment_reads(path)
    ]

    assert not readers, f"read settings through config.settings instead: {readers}"


def test_the_check_sees_an_environment_read(tmp_path: Path) -> None:
    module = tmp_path / "routes.py"
    module.write_text(
        "import os\nfrom os import getenv\nTOKEN = os.environ['X']\n"
        "os.environ['PROMETHEUS_MULTIPROC_DIR'] = '/tmp/m'\n"
    )

    assert _environment_reads(module) == [2, 3]
