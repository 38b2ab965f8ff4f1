"""Staff: who works for the brand, in which role and store."""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from api.core import audit
from api.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from api.core.pagination import paginate
from api.core.unset import UNSET, Maybe, given
from api.wechat_callbacks import staff_binding

from .actor import staff_ref
from .error_codes import StaffErrorCode
from .models import Brand, Staff, StaffRole, Status, Store
from .passwords import hash_password
from .scope import StoreScope
from .staff_auth import remember_staff

# What a caller limited to some stores (a store manager) may hand out.
STORE_LEVEL_ROLES = frozenset({StaffRole.GUIDE, StaffRole.CASHIER})


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
    brand_id: int,
    scope: StoreScope,
    role: StaffRole,
    store_id: int | None,
    db: BaseDBAsyncClient | None = None,
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
    if not await Store.filter(id=store_id, brand_id=brand_id).using_db(db).exists():
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
    """Change a staff member's role, store, password or status.

    A password or role change, or disabling, raises the token version: every token the staff
    member holds stops working (401 `auth.token_revoked`). No change may leave the brand without
    an active head-office admin (409 `staff.last_hq_admin`).
    """
    changes = {
        field: value
        for field, value in given(
            name=name, role=role, store_id=store_id, guide_code=guide_code, status=status
        ).items()
        if value is not None or field in ("store_id", "guide_code")
    }
    password_hash = await hash_password(password) if password else None
    async with in_transaction() as db:
        if role is not None or status is not None:
            # Serialises the changes that could remove a brand's last active admin, so two
            # admins demoting each other at once cannot both see the other still active.
            await Brand.filter(id=brand_id).using_db(db).select_for_update().first()
        staff = await _staff(brand_id, scope).using_db(db).get_or_none(id=staff_id)
        if staff is None:
            raise NotFound(StaffErrorCode.NOT_FOUND, "No such staff member.")
        was_active_admin = staff.role == StaffRole.HQ_ADMIN and staff.status == Status.ACTIVE
        await _check_staff_fields(
            brand_id,
            scope,
            role or staff.role,
            staff.store_id if store_id is UNSET else store_id,
            db,
        )
        if actor == staff_ref(staff.id) and status == Status.DISABLED:
            raise Conflict(
                StaffErrorCode.CANNOT_DISABLE_SELF, "You cannot disable your own account."
            )
        disabling = status == Status.DISABLED and staff.status != Status.DISABLED
        ends_tokens = bool(password) or (role is not None and role != staff.role) or disabling
        if password_hash:
            staff.password_hash = password_hash
        staff.update_from_dict(changes)
        if ends_tokens:
            staff.token_version += 1
        try:
            await staff.save(using_db=db)
        except IntegrityError as exc:
            raise Conflict(
                StaffErrorCode.TAKEN, "That guide code is already used in this brand."
            ) from exc
        still_admin = staff.role == StaffRole.HQ_ADMIN and staff.status == Status.ACTIVE
        if was_active_admin and not still_admin:
            admins = Staff.filter(brand_id=brand_id, role=StaffRole.HQ_ADMIN, status=Status.ACTIVE)
            if not await admins.using_db(db).exists():
                raise Conflict(
                    StaffErrorCode.LAST_HQ_ADMIN,
                    "This is the brand's only active head-office admin; appoint another first.",
                )
        if disabling:
            # The staff menu and commands on the official account go with the account.
            await staff_binding.on_staff_disabled(db, brand_id=brand_id, staff_id=staff.id)
        await audit.record(
            brand_id=brand_id,
            actor=actor,
            action="staff.update",
            target=staff_ref(staff.id),
            details={**changes, "password_changed": bool(password)},
            connection=db,
        )
    await remember_staff(staff)
    return staff
