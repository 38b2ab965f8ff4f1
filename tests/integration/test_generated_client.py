"""Front-end teams generate their client types from /docs/openapi.json with openapi-typescript.

The types must say what the API does: a field that is always there is not optional, and a
field that may be null is `X | null`, not `unknown`.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from api.member_center.schemas.profile import MemberOut
from tests.support.api import Api

pytestmark = pytest.mark.stack_independent

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "node_modules" / "openapi-typescript" / "bin" / "cli.js"
TSC = ROOT / "node_modules" / "typescript" / "bin" / "tsc"


def _node() -> str:
    """The node binary; a skip on a developer's machine without it, a failure under CI."""
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        reason = (
            "node and npm are not installed, so openapi-typescript cannot run "
            "(Debian: apt-get install nodejs npm, then make venv)"
        )
        if os.environ.get("CI", "").lower() in {"", "0", "false", "no"}:
            pytest.skip(reason)
        pytest.fail(f"CI is set: {reason}")
    if not GENERATOR.exists():
        pytest.fail("openapi-typescript is not installed: `make node-tools` runs npm ci")
    return node


async def _run(*args: str | Path) -> str:
    process = await asyncio.create_subprocess_exec(
        *map(str, args),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    text = output.decode(errors="replace")
    assert process.returncode == 0, f"{args[1]} failed:\n{text}"
    return text


def _block(source: str, opening: str) -> str:
    """The text of the `{ … }` block that starts at the line `opening`."""
    start = source.index(opening)
    depth = 0
    for index in range(start + len(opening) - 1, len(source)):
        depth += {"{": 1, "}": -1}.get(source[index], 0)
        if depth == 0:
            return source[start : index + 1]
    raise AssertionError(f"unclosed block {opening!r}")


def _fields(block: str) -> dict[str, str]:
    """`name: type;` and `name?: type;` lines of a type block → {"name" or "name?": type}."""
    body = block.split("\n", 1)[1]
    return {
        match["name"]: match["type"]
        for match in re.finditer(r"^ {12}(?P<name>\w+\??): (?P<type>[^;\n]+);$", body, re.M)
    }


@pytest.fixture
async def generated(api: Api, tmp_path: Path) -> str:
    node = _node()
    document = (await api.get("/docs/openapi.json")).json
    source, target = tmp_path / "openapi.json", tmp_path / "api.d.ts"
    source.write_text(json.dumps(document))

    await _run(node, GENERATOR, source, "--output", target)

    return target.read_text()


async def test_get_me_types_required_fields_as_required_and_nullable_ones_as_null(
    generated: str,
) -> None:
    operation = _block(generated, "    getMyProfile: {")
    member = _block(generated, "        MemberOut: {")
    fields = _fields(member)
    schema = MemberOut.model_json_schema(mode="serialization")
    nullable = {
        name
        for name, prop in schema["properties"].items()
        if {"type": "null"} in prop.get("anyOf", [])
    }

    assert '"application/json": components["schemas"]["MemberOut"];' in operation
    assert set(fields) == set(schema["properties"]), fields  # no `name?:` anywhere
    for name, type_ in fields.items():
        if name in nullable:
            assert type_.endswith(" | null"), (name, type_)
            assert not type_.startswith("unknown"), (name, type_)
        else:
            assert "null" not in type_ and "unknown" not in type_, (name, type_)
    assert fields["birthday"] == "string | null"
    assert fields["level"] == 'components["schemas"]["LevelBrief"] | null'
    assert fields["points"] == "number"
    assert {"birthday", "level", "home_store", "guide", "registered_at"} <= nullable


async def test_bodies_queries_and_errors_come_out_typed(generated: str) -> None:
    login = _fields(_block(generated, "        WxaLoginIn: {"))
    profile_update = _block(generated, "        ProfileUpdate: {")
    entries = _block(generated, "    listMyPointsEntries: {")
    error = _fields(_block(generated, "        ErrorBody: {"))

    assert set(login) == {"appid", "code", "scene?"}
    assert "model_config" not in profile_update
    assert "limit?: number;" in entries
    assert "cursor?: string;" in entries
    assert 'default: components["responses"]["Error"];' in entries
    assert set(error) == {"code", "message", "details?"}


async def test_the_generated_types_compile(generated: str, tmp_path: Path) -> None:
    node = _node()
    (tmp_path / "api.d.ts").write_text(generated)
    (tmp_path / "use.ts").write_text(
        'import type { components, operations } from "./api";\n'
        'type Member = components["schemas"]["MemberOut"];\n'
        "export const nickname = (m: Member): string => m.nickname;\n"
        "export const birthday = (m: Member): string | null => m.birthday;\n"
        'type Me = operations["getMyProfile"]["responses"][200]["content"]["application/json"];\n'
        "export const points = (m: Me): number => m.points;\n"
    )

    await _run(node, TSC, "--strict", "--noEmit", tmp_path / "use.ts")
