"""Staff passwords are hashed and checked off the event loop, a few at a time."""

from __future__ import annotations

import asyncio
import threading

import pytest
from argon2 import PasswordHasher

from api.org import passwords
from tests.factories import make_brand, make_staff
from tests.support.api import Api

pytestmark = pytest.mark.stack_independent

LOGIN = "/auth/staff/login"


def attempt(username: str = "alice", password: str = "guess-guess") -> dict[str, str]:
    return {"brand": "acme", "username": username, "password": password}


async def test_passwords_are_checked_off_the_event_loop_and_a_few_at_a_time(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_staff(brand=await make_brand(code="acme"), username="alice")
    loop_thread = threading.get_ident()
    first_started, healthz_answered = threading.Event(), threading.Event()
    guard = threading.Lock()
    seen = {"now": 0, "most": 0}
    threads: list[int] = []
    waited_for_healthz: list[bool] = []
    real_verify = passwords._verify

    def verify(password_hash: str | None, password: str) -> bool:
        # Holds each check until /healthz has been answered: on the event loop, it never is.
        with guard:
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
            threads.append(threading.get_ident())
        first_started.set()
        try:
            answered = healthz_answered.wait(timeout=3)
            waited_for_healthz.append(answered)
            healthz_answered.set()  # after one timeout, let the others through at once
            return real_verify(password_hash, password)
        finally:
            with guard:
                seen["now"] -= 1

    monkeypatch.setattr(passwords, "_verify", verify)

    logins = [asyncio.create_task(api.post(LOGIN, attempt(f"name{n}"))) for n in range(20)]
    assert await asyncio.to_thread(first_started.wait, 10)
    healthz = await api.get("/healthz")
    healthz_answered.set()
    answers = await asyncio.gather(*logins)

    assert healthz.status == 200
    assert [a.status for a in answers] == [401] * 20
    assert len(threads) == 20 and loop_thread not in threads
    assert all(waited_for_healthz)
    assert 1 <= seen["most"] <= passwords.hash_concurrency()


class _ThreadSpy:
    """argon2's hasher, noting the thread of every hash and check."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self.hasher = hasher
        self.threads: list[int] = []

    def hash(self, password: str) -> str:
        self.threads.append(threading.get_ident())
        return self.hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        self.threads.append(threading.get_ident())
        return self.hasher.verify(password_hash, password)


async def test_new_passwords_are_hashed_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spy = _ThreadSpy(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", spy)

    stored = await passwords.hash_password("a new password")

    assert len(spy.threads) == 1 and threading.get_ident() not in spy.threads
    assert await passwords.verify_password(stored, "a new password")
    assert not await passwords.verify_password(stored, "another one")
