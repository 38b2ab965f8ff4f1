"""Staff: who works for the brand, in which role and store."""

from __future__ import annotations

from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet

from api.core import audit
from api.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from api.core.pagination import paginate
from api.core.unset import UNSET, Maybe, given

from .error_codes import StaffErrorCode
from .models import Staff, StaffRole, Status, Store
from .passwords import hash_password
from .scope import StoreScope
from .staff_auth import forget_staff_snapshot

# What a caller limited to some stores (a store manager) may hand out.
STORE_LEVEL_ROLES = frozenset({StaffRole.GUIDE, StaffRole.CASHIER})


def staff_ref(staff_id: int) -> str:
    """How audit rows name a staff member, as actor or as target: "staff:12"."""
    return audit.actor_of("staff", staff_id)


def _staff(brand_id: int, scope: StoreScope) -> QuerySet[Staff]:
    return scope.limit(Staff.filter(brand_id=brand_id))


async def list_staff(
    *,
    brand_id: int,
    scope: StoreScope,
    role: StaffRole | None = None,
    store_id: int | None = None,
    status: Status | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> tuple[list[Staff], str | None]:
    """The staff in scope, newest first."""
    staff = _staff(brand_id, scope)
    if role:
        staff = staff.filter(role=role)
    if store_id:
        staff = staff.filter(store_id=store_id)
    if status:
        staff = staff.filter(status=status)
    return await paginate(staff, cursor=cursor, limit=limit)


async def get_staff(*, brand_id: int, scope: StoreScope, staff_id: int) -> Staff:
    """One staff member in scope; 404 otherwise."""
    staff = await _staff(brand_id, scope).get_or_none(id=staff_id)
    if staff is None:
        raise NotFound(StaffErrorCode.NOT_FOUND, "No such staff member.")
    return staff


async def _check_staff_fields(
    brand_id: int, scope: StoreScope, role: StaffRole, store_id: int | None
) -> None:
    if not scope.whole_brand:
        if role not in STORE_LEVEL_ROLES:
            raise Forbidden(
                StaffErrorCode.OUT_OF_SCOPE, "Store managers manage guides and cashiers only."
            )
        if not scope.allows(store_id):
            raise Forbidden(
                StaffErrorCode.OUT_OF_SCOPE, "Store managers manage their own store only."
            )
    if role == StaffRole.HQ_ADMIN:
        if store_id is not None:
            raise InvalidInput(
                StaffErrorCode.STORE_NOT_ALLOWED, "Head office staff belong to no store."
            )
        return
    if store_id is None:
        raise InvalidInput(StaffErrorCode.STORE_REQUIRED, f"A {role.value} belongs to a store.")
    if not await Store.exists(id=store_id, brand_id=brand_id):
        raise InvalidInput(StaffErrorCode.UNKNOWN_STORE, "The store does not exist in this brand.")


async def create_staff(
    *,
    brand_id: int,
    scope: StoreScope,
    actor: str,
    username: str,
    name: str,
    role: StaffRole,
    password: str,
    store_id: int | None = None,
    guide_code: str | None = None,
) -> Staff:
    """Add a staff member with a password (hashed with argon2)."""
    await _check_staff_fields(brand_id, scope, role, store_id)
    if guide_code and role != StaffRole.GUIDE:
        raise InvalidInput(StaffErrorCode.GUIDE_CODE_FOR_GUIDES, "Only guides carry a guide code.")
    try:
        staff = await Staff.create(
            brand_id=brand_id,
            username=username,
            name=name,
            role=role,
            store_id=store_id,
            guide_code=guide_code,
            password_hash=await hash_password(password),
        )
    except IntegrityError as exc:
        raise Conflict(
            StaffErrorCode.TAKEN, "That username or guide code is already used in this brand."
        ) from exc
    await audit.record(
        brand_id=brand_id,
        actor=actor,
        action="staff.create",
        target=staff_ref(staff.id),
        details={"role": staff.role.value, "store_id": staff.store_id},
    )
    return staff


async def update_staff(
    *,
    brand_id: int,
    scope: StoreScope,
    actor: str,
    staff_id: int,
    name: str | None = None,
    role: StaffRole | None = None,
    store_id: Maybe[int | None] = UNSET,
    guide_code: Maybe[str | None] = UNSET,
    password: str | None = None,
    status: Status | None = None,
) -> Staff:
    """Change a staff member's role, store, password or status."""
    staff = await get_staff(brand_id=brand_id, scope=scope, staff_id=staff_id)
    new_role = role or staff.role
    new_store_id = staff.store_id if store_id is UNSET else store_id
    await _check_staff_fields(brand_id, scope, new_role, new_store_id)
    if actor == staff_ref(staff.id) and status == Status.DISABLED:
        raise Conflict(StaffErrorCode.CANNOT_DISABLE_SELF, "You cannot disable your own account.")
    changes = {
        field: value
        for field, value in given(
            name=name, role=role, store_id=store_id, guide_code=guide_code, status=status
        ).items()
        if value is not None or field in ("store_id", "guide_code")
    }
    if password:
        staff.password_hash = await hash_password(password)
    staff.update_from_dict(changes)
    try:
        await staff.save()
    except IntegrityError as exc:
        raise Conflict(
            StaffErrorCode.TAKEN, "That guide code is already used in this brand."
        ) from exc
    await forget_staff_snapshot(staff.id)
    await audit.record(
        brand_id=brand_id,
        actor=actor,
        action="staff.update",
        target=staff_ref(staff.id),
        details={**changes, "password_changed": bool(password)},
    )
    return staff
