"""`memberhub create-brand` and `memberhub create-admin`: how a deployment gets its first admin.

Each command runs as its own process, as an operator would run it, on a fresh migrated SQLite
database (the commands open and close the database themselves).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.org.passwords import verify_password

pytestmark = pytest.mark.stack_independent

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a long enough password"


class Cli:
    def __init__(self, database: Path) -> None:
        self.database = database

    def __call__(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "MEMBERHUB_DATABASE_URL": f"sqlite://{self.database}",
            "PYTHONWARNINGS": "ignore",
        }
        env.pop("MEMBERHUB_REDIS_URL", None)
        return subprocess.run(
            [sys.executable, "-m", "api.cli", *args],
            cwd=ROOT,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
        )

    def staff_row(self, username: str) -> tuple[str, str, int]:
        with sqlite3.connect(self.database) as db:
            row = db.execute(
                "SELECT role, password_hash, brand_id FROM org_staff WHERE username = ?",
                (username,),
            ).fetchone()
        return row  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    runner = Cli(tmp_path_factory.mktemp("cli") / "deploy.sqlite3")
    migrated = runner("migrate")
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    yield runner


def test_a_deployment_starts_with_a_brand_and_its_admin(cli: Cli) -> None:
    brand = cli("create-brand", "--code", "bakery", "--name", "Bakery 烘焙")
    admin = cli(
        "create-admin",
        "--brand",
        "bakery",
        "--username",
        "root",
        "--name",
        "Head office",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )

    assert brand.returncode == 0, brand.stderr
    made = json.loads(brand.stdout)["brand"]
    assert (made["code"], made["name"]) == ("bakery", "Bakery 烘焙")
    assert admin.returncode == 0, admin.stderr
    summary = json.loads(admin.stdout)
    assert summary["brand"]["id"] == made["id"]
    assert {k: summary["staff"][k] for k in ("username", "name", "role")} == {
        "username": "root",
        "name": "Head office",
        "role": "hq_admin",
    }
    role, password_hash, brand_id = cli.staff_row("root")
    assert (role, brand_id) == ("hq_admin", made["id"])
    assert asyncio.run(verify_password(password_hash, PASSWORD))
    assert PASSWORD not in admin.stdout + admin.stderr


def test_the_password_can_be_typed_twice_at_a_hidden_prompt(cli: Cli) -> None:
    cli("create-brand", "--code", "tea", "--name", "Tea")

    typed = cli(
        "create-admin", "--brand", "tea", "--username", "typist", stdin=f"{PASSWORD}\n{PASSWORD}\n"
    )
    mismatch = cli(
        "create-admin", "--brand", "tea", "--username", "sloppy", stdin=f"{PASSWORD}\nother\n" * 3
    )

    assert typed.returncode == 0, typed.stderr
    assert json.loads(typed.stdout)["staff"]["name"] == "typist"
    assert asyncio.run(verify_password(cli.staff_row("typist")[1], PASSWORD))
    assert mismatch.returncode != 0
    assert cli.staff_row("sloppy") is None


def test_refusals_change_nothing_and_say_why(cli: Cli) -> None:
    cli("create-brand", "--code", "fashion", "--name", "Fashion")

    twice = cli("create-brand", "--code", "fashion", "--name", "Again")
    bad_code = cli("create-brand", "--code", "no spaces!", "--name", "x")
    unknown_brand = cli(
        "create-admin", "--brand", "nope", "--username", "ghost", "--password-stdin", stdin=PASSWORD
    )
    short = cli(
        "create-admin", "--brand", "fashion", "--username", "shorty", "--password-stdin", stdin="x"
    )
    as_argument = cli(
        "create-admin", "--brand", "fashion", "--username", "leaky", "--password", PASSWORD
    )
    taken = [
        cli(
            "create-admin",
            "--brand",
            "fashion",
            "--username",
            "dup",
            "--password-stdin",
            stdin=PASSWORD,
        )
        for _ in range(2)
    ]

    assert twice.returncode == 1 and "brand.code_taken" in twice.stderr
    assert bad_code.returncode == 2 and "code" in bad_code.stderr
    assert unknown_brand.returncode == 1 and "brand.not_found" in unknown_brand.stderr
    assert short.returncode == 2 and "password" in short.stderr
    assert as_argument.returncode == 2 and "No such option" in as_argument.stderr
    assert taken[0].returncode == 0 and "staff.taken" in taken[1].stderr
    for name in ("ghost", "shorty", "leaky"):
        assert cli.staff_row(name) is None
