"""Staff sign-in, its rate limit, and every way a token is refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from api.core import ports
from api.core.auth import TokenKind, issue_token
from api.core.clock import FrozenClock
from api.org import staff_auth
from api.org.actor import Actor
from api.org.models import Staff, StaffRole, Status
from config.settings import Settings
from tests.factories import (
    PASSWORD,
    make_brand,
    make_member,
    make_staff,
    make_store,
    member_token,
    staff_token,
)
from tests.support.api import Api


async def test_staff_signs_in_with_brand_username_and_password(api: Api) -> None:
    brand = await make_brand(code="acme")
    staff = await make_staff(brand=brand, username="alice")

    answer = await api.post(
        "/auth/staff/login", {"brand": "acme", "username": "alice", "password": PASSWORD}
    )

    assert answer.status == 200, answer
    assert answer.json["staff"]["id"] == staff.id
    assert "password_hash" not in answer.text
    stores = await api.get("/admin/stores", token=answer.json["token"])
    assert stores.status == 200


async def test_wrong_password_and_unknown_user_look_the_same(api: Api) -> None:
    brand = await make_brand(code="acme")
    await make_staff(brand=brand, username="alice")

    wrong = await api.post(
        "/auth/staff/login", {"brand": "acme", "username": "alice", "password": "nope-nope"}
    )
    unknown = await api.post(
        "/auth/staff/login", {"brand": "acme", "username": "bob", "password": "nope-nope"}
    )

    assert (wrong.status, wrong.error_code) == (401, "auth.bad_credentials")
    assert (unknown.status, unknown.error_code) == (401, "auth.bad_credentials")
    assert wrong.json["error"]["message"] == unknown.json["error"]["message"]


async def test_repeated_failures_lock_the_name_out(api: Api, settings: Settings) -> None:
    brand = await make_brand(code="acme")
    await make_staff(brand=brand, username="alice")
    attempt = {"brand": "acme", "username": "alice", "password": "guess-guess"}

    statuses = [
        (await api.post("/auth/staff/login", attempt)).status
        for _ in range(settings.staff_login_max_failures)
    ]
    locked = await api.post("/auth/staff/login", {**attempt, "password": PASSWORD})

    assert statuses == [401] * settings.staff_login_max_failures
    assert (locked.status, locked.error_code) == (429, "auth.too_many_attempts")
    assert int(locked.headers["retry-after"]) > 0
    other = await make_staff(brand=brand, username="carol")
    ok = await api.post(
        "/auth/staff/login", {**attempt, "username": other.username, "password": PASSWORD}
    )
    assert ok.status == 200


async def test_disabled_staff_cannot_sign_in_nor_use_an_old_token(api: Api) -> None:
    brand = await make_brand(code="acme")
    staff = await make_staff(brand=brand, username="alice")
    token = staff_token(staff)
    staff.status = Status.DISABLED
    await staff.save()

    login = await api.post(
        "/auth/staff/login", {"brand": "acme", "username": "alice", "password": PASSWORD}
    )
    reuse = await api.get("/admin/stores", token=token)

    assert login.status == 401
    assert (reuse.status, reuse.error_code) == (401, "auth.staff_inactive")


async def test_login_input_is_validated(api: Api) -> None:
    answer = await api.post("/auth/staff/login", {"brand": "acme"})
    assert (answer.status, answer.error_code) == (422, "request.invalid")
    fields = {detail["field"] for detail in answer.json["error"]["details"]}
    assert {"username", "password"} <= fields
    malformed = await api.request(
        "POST",
        "/auth/staff/login",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert (malformed.status, malformed.error_code) == (400, "request.malformed_json")


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"", 422, "request.invalid"),  # empty: an object with no fields
        (b"null", 422, "request.invalid"),
        (b'["acme", "admin"]', 422, "request.invalid"),
        (b'{"brand": "acme"} trailing', 400, "request.malformed_json"),
        (b"\xff\xfe", 400, "request.malformed_json"),
    ],
)
async def test_a_body_that_is_not_a_json_object_is_refused(
    api: Api, raw: bytes, status: int, code: str
) -> None:
    answer = await api.request(
        "POST", "/auth/staff/login", content=raw, headers={"content-type": "application/json"}
    )
    assert (answer.status, answer.error_code) == (status, code)


async def test_missing_and_malformed_tokens_are_refused(api: Api) -> None:
    missing = await api.get("/admin/stores")
    garbage = await api.get("/admin/stores", token="not-a-jwt")
    assert (missing.status, missing.error_code) == (401, "auth.missing_token")
    assert (garbage.status, garbage.error_code) == (401, "auth.token_invalid")


async def test_expired_token_is_refused(api: Api, clock: FrozenClock, settings: Settings) -> None:
    brand = await make_brand()
    staff = await make_staff(brand=brand)
    clock.set(datetime.now(UTC) - timedelta(seconds=settings.staff_token_ttl_s + 60))
    token = staff_token(staff)
    clock.set(datetime.now(UTC))

    answer = await api.get("/admin/stores", token=token)

    assert (answer.status, answer.error_code) == (401, "auth.token_expired")


def _unsigned(claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


async def test_unsigned_tampered_and_foreign_key_tokens_are_refused(
    api: Api, settings: Settings
) -> None:
    brand = await make_brand()
    staff = await make_staff(brand=brand)
    token = staff_token(staff)
    claims = jwt.decode(token, options={"verify_signature": False})

    unsigned = _unsigned(claims)
    header, _payload, signature = token.split(".")
    forged_claims = {**claims, "role": "hq_admin", "sub": "999"}
    tampered = ".".join(
        [
            header,
            base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).decode().rstrip("="),
            signature,
        ]
    )
    foreign = jwt.encode(claims, "another-secret-of-at-least-thirty-two-bytes!", algorithm="HS256")
    other_audience = jwt.encode(
        {**claims, "aud": "someone-else"}, settings.secret_key.get_secret_value(), algorithm="HS256"
    )

    for bad in (unsigned, tampered, foreign, other_audience):
        answer = await api.get("/admin/stores", token=bad)
        assert (answer.status, answer.error_code) == (401, "auth.token_invalid"), bad


async def test_member_token_never_passes_for_staff_nor_the_reverse(api: Api) -> None:
    brand = await make_brand()
    staff = await make_staff(brand=brand)
    member = await make_member(brand=brand)

    as_member = await api.get("/admin/stores", token=member_token(member))
    as_staff = await api.get("/me", token=staff_token(staff))

    assert (as_member.status, as_member.error_code) == (403, "auth.wrong_token_kind")
    assert (as_staff.status, as_staff.error_code) == (403, "auth.wrong_token_kind")


async def test_token_naming_another_brand_is_refused(api: Api) -> None:
    brand_a, brand_b = await make_brand(), await make_brand()
    staff_a = await make_staff(brand=brand_a)
    forged = issue_token(kind=TokenKind.STAFF, subject_id=staff_a.id, brand_id=brand_b.id)

    answer = await api.get("/admin/stores", token=forged)

    assert answer.status == 401


async def test_roles_are_checked(api: Api) -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    guide = await make_staff(brand=brand, role=StaffRole.GUIDE, store=store)
    manager = await make_staff(brand=brand, role=StaffRole.STORE_MANAGER, store=store)

    as_guide = await api.get("/admin/stores", token=staff_token(guide))
    manager_creates_store = await api.post(
        "/admin/stores", {"code": "X1", "name": "x"}, token=staff_token(manager)
    )

    assert (as_guide.status, as_guide.error_code) == (403, "auth.role_forbidden")
    assert (manager_creates_store.status, manager_creates_store.error_code) == (
        403,
        "auth.role_forbidden",
    )


async def test_disabling_a_staff_member_takes_effect_at_once(api: Api) -> None:
    brand = await make_brand()
    admin = await make_staff(brand=brand)
    store = await make_store(brand=brand)
    manager = await make_staff(brand=brand, role=StaffRole.STORE_MANAGER, store=store)
    token = staff_token(manager)
    assert (await api.get("/admin/stores", token=token)).status == 200  # now cached

    disabled = await api.patch(
        f"/admin/staff/{manager.id}", {"status": "disabled"}, token=staff_token(admin)
    )
    after = await api.get("/admin/stores", token=token)

    assert disabled.status == 200
    assert (after.status, after.error_code) == (401, "auth.staff_inactive")


async def _signed_in_manager(api: Api) -> tuple[Staff, str]:
    """A store manager whose token has been used once, so their account is now cached."""
    brand = await make_brand()
    store = await make_store(brand=brand)
    manager = await make_staff(brand=brand, role=StaffRole.STORE_MANAGER, store=store)
    token = staff_token(manager)
    assert (await api.get("/admin/stores", token=token)).status == 200
    return manager, token


async def _disable_through_another_process(staff: Staff) -> None:
    # What `update_staff` in another API process changes: the row and the shared snapshot.
    await Staff.filter(id=staff.id).update(status=Status.DISABLED)
    await ports.cache().delete(staff_auth.snapshot_key(staff.id))


@pytest.mark.parametrize(("window_s", "status_at_once"), [(0.3, 200), (0, 401)])
async def test_a_staff_member_disabled_by_another_process_is_refused_after_the_local_window(
    api: Api,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    clock: FrozenClock,
    window_s: float,
    status_at_once: int,
) -> None:
    monkeypatch.setattr(settings, "staff_snapshot_local_s", window_s)
    manager, token = await _signed_in_manager(api)

    await _disable_through_another_process(manager)
    at_once = await api.get("/admin/stores", token=token)
    clock.advance(seconds=window_s + 0.05)
    after = await api.get("/admin/stores", token=token)

    assert at_once.status == status_at_once
    assert (after.status, after.error_code) == (401, "auth.staff_inactive")


@pytest.mark.usefixtures("ports")
async def test_the_acting_staff_member_round_trips_through_its_snapshot() -> None:
    brand = await make_brand()
    store = await make_store(brand=brand)
    staff = await make_staff(brand=brand, role=StaffRole.GUIDE, store=store, guide_code="G7")

    actor = Actor.of(staff)
    snapshot = actor.model_dump_json()

    assert Actor.from_json(snapshot) == actor
    assert Actor.from_json(snapshot) is Actor.from_json(snapshot)  # parsed once
    assert "password" not in snapshot
    assert (actor.role, actor.status, actor.store_id) == (StaffRole.GUIDE, Status.ACTIVE, store.id)
