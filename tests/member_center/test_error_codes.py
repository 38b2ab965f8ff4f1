"""The member center's error codes live in error_codes.py: well-formed, unique, never inline."""

from __future__ import annotations

import ast
import re
from enum import StrEnum
from pathlib import Path

from api.member_center import error_codes

PACKAGE = Path(error_codes.__file__).parent
ERRORS = {
    "BadRequest",
    "Conflict",
    "Forbidden",
    "Gone",
    "InvalidInput",
    "NotFound",
    "RateLimited",
    "Unauthorized",
    "UpstreamError",
}
# Role and store-scope checks that are on their way out of the services into api/core/auth.
ROLE_CHECKS = {"auth.role_forbidden", "guide.not_in_your_store", "member.not_in_your_store"}


def _enums() -> list[type[StrEnum]]:
    return [
        value
        for value in vars(error_codes).values()
        if isinstance(value, type) and issubclass(value, StrEnum) and value is not StrEnum
    ]


def test_codes_are_dotted_lowercase_and_unique() -> None:
    codes = [member.value for enum in _enums() for member in enum]

    assert codes
    assert all(re.fullmatch(r"[a-z_]+\.[a-z_]+", code) for code in codes), codes
    assert len(codes) == len(set(codes))


def test_no_service_raises_a_code_written_inline() -> None:
    inline = []
    for path in sorted(PACKAGE.glob("*.py")):  # the services; routes raise request.* codes
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) in ERRORS):
                continue
            code = node.args[0] if node.args else None
            if isinstance(code, ast.JoinedStr) or (
                isinstance(code, ast.Constant) and code.value not in ROLE_CHECKS
            ):
                inline.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")

    assert not inline, "use api/member_center/error_codes.py: " + ", ".join(inline)
