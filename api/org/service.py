"""Org operations: brands, stores, staff, platform apps, merchant accounts, payment routes.

Every function takes the acting staff member (`actor`) and scopes what it reads and writes to
the actor's brand; store managers are further limited to their own store.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from api.core import audit
from api.core.auth import Role, TokenKind, issue_token
from api.core.cache import hit_rate_limit, rate_limit_key
from api.core.crypto import decrypt, encrypt
from api.core.errors import Conflict, Forbidden, InvalidInput, NotFound, RateLimited, Unauthorized
from api.core.pagination import paginate
from api.core.ports import cache, clock, local_cache
from config.settings import get_settings

from . import schemas
from .actor import Actor
from .models import (
    AccountMode,
    AlipayApp,
    Brand,
    MerchantAccount,
    PaymentProvider,
    Staff,
    StaffRole,
    Status,
    Store,
    StorePaymentRoute,
    WechatApp,
)
from .passwords import hash_password, verify_password


def _actor_name(actor: Actor) -> str:
    return f"staff:{actor.id}"


def _is_manager(actor: Actor) -> bool:
    return actor.role == StaffRole.STORE_MANAGER


def _require_hq(actor: Actor) -> None:
    if actor.role != StaffRole.HQ_ADMIN:
        raise Forbidden("auth.role_forbidden", "Only head office may do this.")


# Staff sign-in -------------------------------------------------------------------------------


async def login_staff(*, brand_code: str, username: str, password: str) -> tuple[str, Staff]:
    """Check a staff password and sign a staff token; repeated failures lock the name out."""
    settings = get_settings()
    limit_key = f"staff-login:{brand_code}:{username.lower()}"
    failures = await cache().get(rate_limit_key(limit_key))
    if failures is not None and int(failures) >= settings.staff_login_max_failures:
        raise RateLimited(
            "auth.too_many_attempts",
            "Too many failed sign-ins; wait a few minutes and retry.",
            retry_after_s=settings.staff_login_window_s,
        )
    staff = await Staff.filter(
        brand__code=brand_code, username=username, status=Status.ACTIVE, brand__status=Status.ACTIVE
    ).first()
    if not verify_password(staff.password_hash if staff else None, password) or staff is None:
        await hit_rate_limit(
            cache(),
            limit_key,
            limit=settings.staff_login_max_failures,
            window_s=settings.staff_login_window_s,
        )
        raise Unauthorized("auth.bad_credentials", "Wrong brand, username or password.")
    await cache().delete(rate_limit_key(limit_key))
    staff.last_login_at = clock().now()
    await staff.save(update_fields=["last_login_at"])
    return staff_token(staff), staff


def staff_token(staff: Staff) -> str:
    """A signed staff token for this staff member, carrying their role."""
    return issue_token(
        kind=TokenKind.STAFF, subject_id=staff.id, brand_id=staff.brand_id, role=Role(staff.role)
    )


STAFF_SNAPSHOT_TTL_S = 60


def _staff_key(staff_id: int) -> str:
    return f"staff:{staff_id}"


async def load_active_staff(*, brand_id: int, staff_id: int) -> Actor:
    """The staff member behind a token; a disabled or foreign-brand account is refused.

    Every staff request needs this, so a read-only snapshot (no password hash) is kept in the
    shared cache for a minute and dropped whenever the staff member is changed through
    `update_staff`. Each process also keeps its own copy for `staff_snapshot_local_s` (2 s by
    default): a change made through another process reaches this one within that time.
    """
    snapshot = await _staff_snapshot(staff_id)
    actor = None if snapshot is None else Actor.from_json(snapshot)
    if actor is None or actor.brand_id != brand_id or actor.status != Status.ACTIVE:
        raise Unauthorized("auth.staff_inactive", "This staff account is not active.")
    return actor


async def _staff_snapshot(staff_id: int) -> str | None:
    key = _staff_key(staff_id)
    local_ttl_s = get_settings().staff_snapshot_local_s
    snapshot = await local_cache().get(key) if local_ttl_s > 0 else None
    if snapshot is None:
        snapshot = await cache().get(key)
        if snapshot is None:
            staff = await Staff.get_or_none(id=staff_id)
            if staff is None:
                return None
            snapshot = Actor.of(staff).model_dump_json()
            await cache().set(key, snapshot, ttl_s=STAFF_SNAPSHOT_TTL_S)
        if local_ttl_s > 0:
            await local_cache().set(key, snapshot, ttl_s=local_ttl_s)
    return snapshot


async def _forget_staff_snapshot(staff_id: int) -> None:
    await cache().delete(_staff_key(staff_id))
    await local_cache().delete(_staff_key(staff_id))


# Brand -------------------------------------------------------------------------------------


async def get_brand(*, actor: Actor) -> Brand:
    """The actor's brand."""
    return await Brand.get(id=actor.brand_id)


async def update_brand(*, actor: Actor, data: schemas.BrandUpdate) -> Brand:
    """Rename the brand or change its rules (member code lifetime, attribution, points expiry)."""
    _require_hq(actor)
    brand = await Brand.get(id=actor.brand_id)
    if data.name is not None:
        brand.name = data.name
    if data.settings is not None:
        changes = data.settings.model_dump(mode="json", exclude_none=True)
        brand.settings = {**brand.settings, **changes}
    await brand.save()
    await audit.record(
        brand_id=brand.id,
        actor=_actor_name(actor),
        action="brand.update",
        target=f"brand:{brand.id}",
        details=data.model_dump(mode="json", exclude_none=True),
    )
    return brand


# Stores ------------------------------------------------------------------------------------


def _stores(actor: Actor) -> QuerySet[Store]:
    stores = Store.filter(brand_id=actor.brand_id)
    if _is_manager(actor):
        stores = stores.filter(id=actor.store_id or 0)
    return stores


async def list_stores(
    *, actor: Actor, query: schemas.StoreFilter
) -> tuple[list[Store], str | None]:
    """The stores the actor may see, newest first."""
    stores = _stores(actor)
    if query.status:
        stores = stores.filter(status=query.status)
    if query.kind:
        stores = stores.filter(kind=query.kind)
    if query.city:
        stores = stores.filter(city=query.city)
    return await paginate(stores, cursor=query.cursor, limit=query.limit)


async def get_store(*, actor: Actor, store_id: int) -> Store:
    """One store the actor may see; 404 otherwise (another brand's store does not exist here)."""
    store = await _stores(actor).get_or_none(id=store_id)
    if store is None:
        raise NotFound("store.not_found", "No such store.")
    return store


async def create_store(*, actor: Actor, data: schemas.StoreCreate) -> Store:
    """Open a store; its code is unique within the brand."""
    _require_hq(actor)
    try:
        store = await Store.create(brand_id=actor.brand_id, **data.model_dump())
    except IntegrityError as exc:
        raise Conflict("store.code_taken", f"Store code {data.code!r} is already used.") from exc
    await audit.record(
        brand_id=actor.brand_id,
        actor=_actor_name(actor),
        action="store.create",
        target=f"store:{store.id}",
    )
    return store


async def update_store(*, actor: Actor, store_id: int, data: schemas.StoreUpdate) -> Store:
    """Change a store's details, or disable it (`status: disabled`)."""
    store = await get_store(actor=actor, store_id=store_id)
    changes = data.model_dump(exclude_unset=True)
    if _is_manager(actor) and ({"status", "kind"} & changes.keys()):
        raise Forbidden(
            "auth.role_forbidden", "Only head office may change a store's kind or status."
        )
    store.update_from_dict(changes)
    await store.save()
    await audit.record(
        brand_id=actor.brand_id,
        actor=_actor_name(actor),
        action="store.update",
        target=f"store:{store.id}",
        details=data.model_dump(mode="json", exclude_unset=True),
    )
    return store


# Staff -------------------------------------------------------------------------------------


def _staff(actor: Actor) -> QuerySet[Staff]:
    staff = Staff.filter(brand_id=actor.brand_id)
    if _is_manager(actor):
        staff = staff.filter(store_id=actor.store_id or 0)
    return staff


async def list_staff(*, actor: Actor, query: schemas.StaffFilter) -> tuple[list[Staff], str | None]:
    """The staff the actor may see, newest first."""
    staff = _staff(actor)
    if query.role:
        staff = staff.filter(role=query.role)
    if query.store_id:
        staff = staff.filter(store_id=query.store_id)
    if query.status:
        staff = staff.filter(status=query.status)
    return await paginate(staff, cursor=query.cursor, limit=query.limit)


async def get_staff(*, actor: Actor, staff_id: int) -> Staff:
    """One staff member the actor may see; 404 otherwise."""
    staff = await _staff(actor).get_or_none(id=staff_id)
    if staff is None:
        raise NotFound("staff.not_found", "No such staff member.")
    return staff


async def _check_staff_fields(actor: Actor, role: StaffRole, store_id: int | None) -> None:
    if _is_manager(actor):
        if role not in (StaffRole.GUIDE, StaffRole.CASHIER):
            raise Forbidden(
                "auth.role_forbidden", "Store managers manage guides and cashiers only."
            )
        if store_id != actor.store_id:
            raise Forbidden("auth.role_forbidden", "Store managers manage their own store only.")
    if role == StaffRole.HQ_ADMIN:
        if store_id is not None:
            raise InvalidInput("staff.store_not_allowed", "Head office staff belong to no store.")
        return
    if store_id is None:
        raise InvalidInput("staff.store_required", f"A {role.value} belongs to a store.")
    if not await Store.exists(id=store_id, brand_id=actor.brand_id):
        raise InvalidInput("staff.unknown_store", "The store does not exist in this brand.")


async def create_staff(*, actor: Actor, data: schemas.StaffCreate) -> Staff:
    """Add a staff member with a password (hashed with argon2)."""
    await _check_staff_fields(actor, data.role, data.store_id)
    if data.guide_code and data.role != StaffRole.GUIDE:
        raise InvalidInput("staff.guide_code_for_guides", "Only guides carry a guide code.")
    try:
        staff = await Staff.create(
            brand_id=actor.brand_id,
            username=data.username,
            name=data.name,
            role=data.role,
            store_id=data.store_id,
            guide_code=data.guide_code,
            password_hash=hash_password(data.password),
        )
    except IntegrityError as exc:
        raise Conflict(
            "staff.taken", "That username or guide code is already used in this brand."
        ) from exc
    await audit.record(
        brand_id=actor.brand_id,
        actor=_actor_name(actor),
        action="staff.create",
        target=f"staff:{staff.id}",
        details={"role": staff.role.value, "store_id": staff.store_id},
    )
    return staff


async def update_staff(*, actor: Actor, staff_id: int, data: schemas.StaffUpdate) -> Staff:
    """Change a staff member's role, store, password or status."""
    staff = await get_staff(actor=actor, staff_id=staff_id)
    changes = data.model_dump(exclude_unset=True)
    role = StaffRole(changes.get("role", staff.role))
    store_id = changes.get("store_id", staff.store_id)
    await _check_staff_fields(actor, role, store_id)
    if staff.id == actor.id and changes.get("status") == Status.DISABLED:
        raise Conflict("staff.cannot_disable_self", "You cannot disable your own account.")
    password = changes.pop("password", None)
    if password:
        staff.password_hash = hash_password(password)
    staff.update_from_dict(changes)
    try:
        await staff.save()
    except IntegrityError as exc:
        raise Conflict("staff.taken", "That guide code is already used in this brand.") from exc
    await _forget_staff_snapshot(staff.id)
    details = data.model_dump(mode="json", exclude_unset=True, exclude={"password"})
    await audit.record(
        brand_id=actor.brand_id,
        actor=_actor_name(actor),
        action="staff.update",
        target=f"staff:{staff.id}",
        details={**details, "password_changed": bool(password)},
    )
    return staff


# WeChat and Alipay apps --------------------------------------------------------------------


async def list_wechat_apps(*, actor: Actor) -> list[WechatApp]:
    """The brand's mini-programs and official accounts."""
    _require_hq(actor)
    return await WechatApp.filter(brand_id=actor.brand_id).order_by("id")


async def create_wechat_app(*, actor: Actor, data: schemas.WechatAppCreate) -> WechatApp:
    """Register a mini-program or official account; its secrets are stored encrypted."""
    _require_hq(actor)
    try:
        app = await WechatApp.create(
            brand_id=actor.brand_id,
            kind=data.kind,
            appid=data.appid,
            name=data.name,
            secret_enc=encrypt(data.app_secret),
            token_enc=encrypt(data.push_token) if data.push_token else None,
            aes_key_enc=encrypt(data.encoding_aes_key) if data.encoding_aes_key else None,
            message_mode=data.message_mode,
        )
    except IntegrityError as exc:
        raise Conflict("wechat_app.taken", "This appid is already registered.") from exc
    await audit.record(
        brand_id=actor.brand_id,
        actor=_actor_name(actor),
        action="wechat_app.create",
        target=f"wechat_app:{app.appid}",
    )
    return app


async def update_wechat_app(
    *, actor: Actor, app_id: int, data: schemas.WechatAppUpdate
) -> WechatApp:
    """Rotate an app's secrets, change its message mode or disable it."""
    _require_hq(actor)
    app = await WechatApp.get_or_none(id=app_id, brand_id=actor.brand_id)
    if app is None:
        raise NotFound("wechat_app.not_found", "No such WeChat app.")
    changes = data.model_dump(exclude_unset=True)
    if changes.get("app_secret"):
        app.secret_enc = encrypt(changes.pop("app_secret"))
    if changes.get("push_token"):
        app.token_enc = encrypt(changes.pop("push_token"))
    if changes.get("encoding_aes_key"):
        app.aes_key_enc = encrypt(changes.pop("encoding_aes_key"))
    app.update_from_dict({k: v for k, v in changes.items() if v is not None})
    await app.save()
    await audit.record(
        brand_id=actor.brand_id,
        actor=_actor_name(actor),
        action="wechat_app.update",
        target=f"wechat_app:{app.appid}",
        details={"fields": sorted(data.model_fields_set)},
    )
    return app


async def find_wechat_app(*, brand_id: int, appid: str) -> WechatApp:
    """An active WeChat app of the brand, by appid; 404 `wechat_app.not_found` otherwise."""
    app = await WechatApp.get_or_none(appid=appid, brand_id=brand_id, status=Status.ACTIVE)
    if app is None:
        raise NotFound("wechat_app.not_found", "This appid is not an active app of the brand.")
    return app


async def list_alipay_apps(*, actor: Actor) -> list[AlipayApp]:
    """The brand's Alipay mini-programs."""
    _require_hq(actor)
    return await AlipayApp.filter(brand_id=actor.brand_id).order_by("id")


async def create_alipay_app(*, actor: Actor, data: schemas.AlipayAppCreate) -> AlipayApp:
    """Register an Alipay mini-program; its private key is stored encrypted."""
    _require_hq(actor)
    try:
        app = await AlipayApp.create(
            brand_id=actor.brand_id,
            app_id=data.app_id,
            name=data.name,
            private_key_enc=encrypt(data.app_private_key),
            alipay_public_key=data.alipay_public_key,
            aes_key_enc=encrypt(data.aes_key) if data.aes_key else None,
        )
    except IntegrityError as exc:
        raise Conflict("alipay_app.taken", "This app_id is already registered.") from exc
    await audit.record(
        brand_id=actor.brand_id,
        actor=_actor_name(actor),
        action="alipay_app.create",
        target=f"alipay_app:{app.app_id}",
    )
    return app


async def update_alipay_app(
    *, actor: Actor, app_id: int, data: schemas.AlipayAppUpdate
) -> AlipayApp:
    """Rotate an Alipay app's keys or disable it."""
    _require_hq(actor)
    app = await AlipayApp.get_or_none(id=app_id, brand_id=actor.brand_id)
    if app is None:
        raise NotFound("alipay_app.not_found", "No such Alipay app.")
    changes = data.model_dump(exclude_unset=True)
    if changes.get("app_private_key"):
        app.private_key_enc = encrypt(changes.pop("app_private_key"))
    if changes.get("aes_key"):
        app.aes_key_enc = encrypt(changes.pop("aes_key"))
    app.update_from_dict({k: v for k, v in changes.items() if v is not None})
    await app.save()
    return app


# Merchant accounts -------------------------------------------------------------------------

REQUIRED_SECRETS: dict[PaymentProvider, tuple[str, ...]] = {
    PaymentProvider.WECHATPAY_V3: ("api_v3_key", "private_key", "cert_serial_no"),
    PaymentProvider.WECHATPAY_V2: ("api_key",),
    PaymentProvider.ALIPAY: ("private_key", "alipay_public_key"),
}


def _check_account(
    provider: PaymentProvider,
    mode: AccountMode,
    *,
    mch_id: str | None,
    app_id: str | None,
    sub_mchid: str | None,
    secrets: dict[str, str],
) -> None:
    problems: list[dict[str, str]] = []

    def need(field: str, message: str) -> None:
        problems.append({"field": field, "message": message, "type": "missing"})

    if provider is PaymentProvider.ALIPAY:
        if mode is AccountMode.PARTNER:
            need("mode", "Alipay accounts are direct or isv.")
        if not app_id or not app_id.startswith("20"):
            need("app_id", "An Alipay account needs its Alipay app_id.")
        if mode is AccountMode.ISV and not secrets.get("app_auth_token"):
            need("secrets.app_auth_token", "An ISV account needs the merchant's app_auth_token.")
    else:
        if mode is AccountMode.ISV:
            need("mode", "WeChat Pay accounts are direct or partner.")
        if not mch_id:
            need("mch_id", "A WeChat Pay account needs its mch_id.")
        if not app_id or not app_id.startswith("wx"):
            need("app_id", "A WeChat Pay account needs the appid it is paid through.")
        if mode is AccountMode.PARTNER and not sub_mchid:
            need("sub_mchid", "A partner (service-provider) account needs the sub_mchid.")
    for name in REQUIRED_SECRETS[provider]:
        if not secrets.get(name):
            need(f"secrets.{name}", f"A {provider.value} account needs {name}.")
    if problems:
        raise InvalidInput(
            "merchant_account.invalid", "The account is incomplete.", details=problems
        )


def account_secrets(account: MerchantAccount) -> dict[str, str]:
    """The decrypted keys of an account, for the payment providers only."""
    return dict(json.loads(decrypt(account.secrets_enc)))


def notify_url(account: MerchantAccount) -> str:
    """Where the platform sends this account's notifications."""
    kind = "alipay" if account.provider is PaymentProvider.ALIPAY else "wechatpay"
    return f"{get_settings().public_base_url}/callbacks/{kind}/{account.key}"


async def list_accounts(
    *, actor: Actor, query: schemas.AccountFilter
) -> tuple[list[MerchantAccount], str | None]:
    """The brand's merchant accounts, newest first."""
    _require_hq(actor)
    accounts = MerchantAccount.filter(brand_id=actor.brand_id)
    if query.provider:
        accounts = accounts.filter(provider=query.provider)
    if query.status:
        accounts = accounts.filter(status=query.status)
    return await paginate(accounts, cursor=query.cursor, limit=query.limit)


async def get_account(*, actor: Actor, account_id: int) -> MerchantAccount:
    """One merchant account of the brand; 404 otherwise."""
    _require_hq(actor)
    account = await MerchantAccount.get_or_none(id=account_id, brand_id=actor.brand_id)
    if account is None:
        raise NotFound("merchant_account.not_found", "No such merchant account.")
    return account


async def create_account(*, actor: Actor, data: schemas.MerchantAccountCreate) -> MerchantAccount:
    """Add a merchant account; its keys are encrypted and never shown again."""
    _require_hq(actor)
    secrets_in = data.secrets.model_dump(exclude_none=True)
    _check_account(
        data.provider,
        data.mode,
        mch_id=data.mch_id,
        app_id=data.app_id,
        sub_mchid=data.sub_mchid,
        secrets=secrets_in,
    )
    account = await MerchantAccount.create(
        brand_id=actor.brand_id,
        key=secrets.token_hex(8),
        name=data.name,
        provider=data.provider,
        mode=data.mode,
        mch_id=data.mch_id or "",
        app_id=data.app_id or "",
        sub_mchid=data.sub_mchid or "",
        sub_appid=data.sub_appid or "",
        secrets_enc=encrypt(json.dumps(secrets_in)),
        secret_names=sorted(secrets_in),
    )
    await audit.record(
        brand_id=actor.brand_id,
        actor=_actor_name(actor),
        action="merchant_account.create",
        target=f"merchant_account:{account.key}",
        details={"provider": account.provider.value, "mode": account.mode.value},
    )
    return account


async def update_account(
    *, actor: Actor, account_id: int, data: schemas.MerchantAccountUpdate
) -> MerchantAccount:
    """Rotate keys (merged into the stored ones), change the sub-merchant, or disable."""
    account = await get_account(actor=actor, account_id=account_id)
    stored = account_secrets(account)
    if data.secrets is not None:
        stored.update(data.secrets.model_dump(exclude_none=True))
    sub_mchid = data.sub_mchid if data.sub_mchid is not None else account.sub_mchid
    _check_account(
        account.provider,
        account.mode,
        mch_id=account.mch_id,
        app_id=account.app_id,
        sub_mchid=sub_mchid,
        secrets=stored,
    )
    account.secrets_enc = encrypt(json.dumps(stored))
    account.secret_names = sorted(stored)
    account.sub_mchid = sub_mchid
    for name in ("name", "sub_appid", "status"):
        value = getattr(data, name)
        if value is not None:
            setattr(account, name, value)
    await account.save()
    await audit.record(
        brand_id=actor.brand_id,
        actor=_actor_name(actor),
        action="merchant_account.update",
        target=f"merchant_account:{account.key}",
        details={"fields": sorted(data.model_fields_set)},
    )
    return account


# Payment routes ----------------------------------------------------------------------------


async def _routable_account(brand_id: int, provider: PaymentProvider, account_id: int) -> None:
    account = await MerchantAccount.get_or_none(id=account_id, brand_id=brand_id)
    if account is None:
        raise InvalidInput("route.unknown_account", "The account does not exist in this brand.")
    if account.provider is not provider:
        raise InvalidInput(
            "route.provider_mismatch",
            f"The account is a {account.provider.value} account, not {provider.value}.",
        )
    if account.status != Status.ACTIVE:
        raise InvalidInput("route.account_disabled", "The account is disabled.")


def _routes(actor: Actor) -> QuerySet[StorePaymentRoute]:
    routes = StorePaymentRoute.filter(brand_id=actor.brand_id)
    if _is_manager(actor):
        routes = routes.filter(store_id=actor.store_id or 0)
    return routes


async def list_routes(
    *, actor: Actor, query: schemas.RouteFilter
) -> tuple[list[StorePaymentRoute], str | None]:
    """Which account each store's money goes to, per provider."""
    routes = _routes(actor)
    if query.store_id:
        routes = routes.filter(store_id=query.store_id)
    if query.provider:
        routes = routes.filter(provider=query.provider)
    return await paginate(routes, cursor=query.cursor, limit=query.limit)


async def create_route(*, actor: Actor, data: schemas.RouteCreate) -> StorePaymentRoute:
    """Send a store's money for one provider to an account of the same brand and provider."""
    _require_hq(actor)
    if not await Store.exists(id=data.store_id, brand_id=actor.brand_id):
        raise InvalidInput("route.unknown_store", "The store does not exist in this brand.")
    await _routable_account(actor.brand_id, data.provider, data.account_id)
    try:
        route = await StorePaymentRoute.create(brand_id=actor.brand_id, **data.model_dump())
    except IntegrityError as exc:
        raise Conflict(
            "route.exists", "This store already has a route for this provider; update it."
        ) from exc
    return route


async def update_route(
    *, actor: Actor, route_id: int, data: schemas.RouteUpdate
) -> StorePaymentRoute:
    """Point a route at another account, or disable it."""
    _require_hq(actor)
    route = await StorePaymentRoute.get_or_none(id=route_id, brand_id=actor.brand_id)
    if route is None:
        raise NotFound("route.not_found", "No such payment route.")
    if data.account_id is not None:
        await _routable_account(actor.brand_id, route.provider, data.account_id)
        route.account_id = data.account_id
    if data.status is not None:
        route.status = data.status
    await route.save()
    return route


async def import_routes(*, actor: Actor, csv_text: str) -> tuple[int, int]:
    """Create or update routes from CSV lines `store_code,provider,account_key`, all or nothing."""
    _require_hq(actor)
    reader = csv.DictReader(io.StringIO(csv_text.strip()))
    if reader.fieldnames is None or set(reader.fieldnames) != {
        "store_code",
        "provider",
        "account_key",
    }:
        raise InvalidInput(
            "route_import.bad_header", "The first line must be: store_code,provider,account_key"
        )
    stores = {s.code: s for s in await Store.filter(brand_id=actor.brand_id)}
    accounts = {a.key: a for a in await MerchantAccount.filter(brand_id=actor.brand_id)}
    rows: list[tuple[Store, MerchantAccount]] = []
    problems: list[dict[str, Any]] = []
    for line_no, raw in enumerate(reader, start=2):
        try:
            row = schemas.RouteCsvRow.model_validate(raw)
        except ValueError:
            problems.append(
                {"line": line_no, "message": "store_code, provider, account_key required"}
            )
            continue
        store, account = stores.get(row.store_code), accounts.get(row.account_key)
        if store is None:
            problems.append({"line": line_no, "message": f"unknown store {row.store_code!r}"})
        elif account is None:
            problems.append({"line": line_no, "message": f"unknown account {row.account_key!r}"})
        elif account.provider is not row.provider or account.status != Status.ACTIVE:
            problems.append({"line": line_no, "message": "account provider mismatch or disabled"})
        else:
            rows.append((store, account))
    if problems or not rows:
        raise InvalidInput(
            "route_import.invalid", "Nothing was imported; fix these lines.", details=problems
        )
    created = updated = 0
    async with in_transaction():
        for store, account in rows:
            _, was_created = await StorePaymentRoute.update_or_create(
                defaults={
                    "account_id": account.id,
                    "status": Status.ACTIVE,
                    "brand_id": actor.brand_id,
                },
                store_id=store.id,
                provider=account.provider,
            )
            created += was_created
            updated += not was_created
    return created, updated
