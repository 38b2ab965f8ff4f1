"""Merchant accounts (where a store's money goes), store payment routes, and their CSV import."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from secrets import token_hex
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from api.core import audit
from api.core.crypto import decrypt, encrypt
from api.core.errors import Conflict, InvalidInput, NotFound
from api.core.pagination import paginate
from config.settings import get_settings

from .error_codes import MerchantAccountErrorCode, PaymentRouteErrorCode, StoreErrorCode
from .models import (
    AccountMode,
    MerchantAccount,
    PaymentProvider,
    Status,
    Store,
    StorePaymentRoute,
)
from .schemas import RouteCsvRow
from .scope import StoreScope

REQUIRED_SECRETS: dict[PaymentProvider, tuple[str, ...]] = {
    PaymentProvider.WECHATPAY_V3: ("api_v3_key", "private_key", "cert_serial_no"),
    PaymentProvider.WECHATPAY_V2: ("api_key",),
    PaymentProvider.ALIPAY: ("private_key", "alipay_public_key"),
}

ROUTE_CSV_HEADER = ("store_code", "provider", "account_key")


# Merchant accounts ---------------------------------------------------------------------------


def _check_account(
    provider: PaymentProvider,
    mode: AccountMode,
    *,
    mch_id: str | None,
    app_id: str | None,
    sub_mchid: str | None,
    secrets: Mapping[str, str],
) -> None:
    problems: list[dict[str, str]] = []

    def need(field: str, message: str) -> None:
        problems.append({"field": field, "message": message, "type": "missing"})

    if provider is PaymentProvider.ALIPAY:
        if mode is AccountMode.PARTNER:
            need("mode", "Alipay accounts are direct or isv.")
        if not app_id or not app_id.startswith("20"):
            need("app_id", "An Alipay account needs its Alipay app_id.")
        if not mch_id or not mch_id.startswith("2088"):
            need("mch_id", "An Alipay account needs its seller id (the PID, 2088…).")
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
            MerchantAccountErrorCode.INVALID, "The account is incomplete.", details=problems
        )


def account_secrets(account: MerchantAccount) -> dict[str, str]:
    """The decrypted keys of an account, for the payment providers only."""
    return dict(json.loads(decrypt(account.secrets_enc)))


def notify_url(account: MerchantAccount) -> str:
    """Where the platform sends this account's notifications."""
    kind = "alipay" if account.provider is PaymentProvider.ALIPAY else "wechatpay"
    return f"{get_settings().public_base_url}/callbacks/{kind}/{account.key}"


async def list_accounts(
    *,
    brand_id: int,
    provider: PaymentProvider | None = None,
    status: Status | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> tuple[list[MerchantAccount], str | None]:
    """The brand's merchant accounts, newest first."""
    accounts = MerchantAccount.filter(brand_id=brand_id)
    if provider:
        accounts = accounts.filter(provider=provider)
    if status:
        accounts = accounts.filter(status=status)
    return await paginate(accounts, cursor=cursor, limit=limit)


async def get_account(*, brand_id: int, account_id: int) -> MerchantAccount:
    """One merchant account of the brand; 404 otherwise."""
    account = await MerchantAccount.get_or_none(id=account_id, brand_id=brand_id)
    if account is None:
        raise NotFound(MerchantAccountErrorCode.NOT_FOUND, "No such merchant account.")
    return account


async def create_account(
    *,
    brand_id: int,
    actor: str,
    name: str,
    provider: PaymentProvider,
    secrets: Mapping[str, str | None],
    mode: AccountMode = AccountMode.DIRECT,
    mch_id: str | None = None,
    app_id: str | None = None,
    sub_mchid: str | None = None,
    sub_appid: str | None = None,
) -> MerchantAccount:
    """Add a merchant account; its keys are encrypted and never shown again."""
    keys = {name: value for name, value in secrets.items() if value is not None}
    _check_account(provider, mode, mch_id=mch_id, app_id=app_id, sub_mchid=sub_mchid, secrets=keys)
    async with in_transaction() as db:
        account = await MerchantAccount.create(
            brand_id=brand_id,
            key=token_hex(8),
            name=name,
            provider=provider,
            mode=mode,
            mch_id=mch_id or "",
            app_id=app_id or "",
            sub_mchid=sub_mchid or "",
            sub_appid=sub_appid or "",
            secrets_enc=encrypt(json.dumps(keys)),
            secret_names=sorted(keys),
            using_db=db,
        )
        await audit.record(
            brand_id=brand_id,
            actor=actor,
            action="merchant_account.create",
            target=f"merchant_account:{account.key}",
            details={"provider": account.provider.value, "mode": account.mode.value},
            connection=db,
        )
    return account


async def update_account(
    *,
    brand_id: int,
    actor: str,
    account_id: int,
    name: str | None = None,
    sub_mchid: str | None = None,
    sub_appid: str | None = None,
    secrets: Mapping[str, str | None] | None = None,
    status: Status | None = None,
) -> MerchantAccount:
    """Rotate keys (merged into the stored ones), change the sub-merchant, or disable."""
    account = await get_account(brand_id=brand_id, account_id=account_id)
    stored = account_secrets(account)
    if secrets is not None:
        stored.update({key: value for key, value in secrets.items() if value is not None})
    new_sub_mchid = sub_mchid if sub_mchid is not None else account.sub_mchid
    _check_account(
        account.provider,
        account.mode,
        mch_id=account.mch_id,
        app_id=account.app_id,
        sub_mchid=new_sub_mchid,
        secrets=stored,
    )
    account.secrets_enc = encrypt(json.dumps(stored))
    account.secret_names = sorted(stored)
    account.sub_mchid = new_sub_mchid
    fields = {
        "name": name,
        "sub_mchid": sub_mchid,
        "sub_appid": sub_appid,
        "secrets": secrets,
        "status": status,
    }
    for field in ("name", "sub_appid", "status"):
        if fields[field] is not None:
            setattr(account, field, fields[field])
    async with in_transaction() as db:
        await account.save(using_db=db)
        await audit.record(
            brand_id=brand_id,
            actor=actor,
            action="merchant_account.update",
            target=f"merchant_account:{account.key}",
            details={"fields": sorted(k for k, v in fields.items() if v is not None)},
            connection=db,
        )
    return account


# Lookups for payments: no staff member involved (a callback or a worker calls them) ----------


async def get_account_by_key(*, key: str) -> MerchantAccount:
    """The account a callback URL names, whatever its status (a payment made before it was
    disabled still gets its notifications); 404 `merchant_account.not_found` otherwise."""
    account = await MerchantAccount.get_or_none(key=key)
    if account is None:
        raise NotFound(MerchantAccountErrorCode.NOT_FOUND, "No such merchant account.")
    return account


async def head_office_account(*, brand_id: int, provider: PaymentProvider) -> MerchantAccount:
    """The brand's own account for a provider: its active `direct` account (the first one
    added, if there are several); 404 `merchant_account.no_head_office` when it has none."""
    account = (
        await MerchantAccount.filter(
            brand_id=brand_id, provider=provider, mode=AccountMode.DIRECT, status=Status.ACTIVE
        )
        .order_by("id")
        .first()
    )
    if account is None:
        raise NotFound(
            MerchantAccountErrorCode.NO_HEAD_OFFICE,
            f"The brand has no active direct {provider.value} account.",
        )
    return account


async def account_for_store(
    *, brand_id: int, provider: PaymentProvider, store_id: int | None
) -> MerchantAccount:
    """The account a payment at this store (None: no store, e.g. the online mall) is made on.

    A store's active route names it; without a store, or for a store with no route or a
    disabled one, the money goes to head office (`head_office_account`). A route to a disabled
    account is refused (409 `payment_route.account_disabled`) rather than sent to head office:
    a franchisee's sale must not land in the brand's account by accident.
    """
    if store_id is not None:
        if not await Store.exists(id=store_id, brand_id=brand_id):
            raise NotFound(StoreErrorCode.NOT_FOUND, "No such store.")
        route = await StorePaymentRoute.get_or_none(
            brand_id=brand_id, store_id=store_id, provider=provider, status=Status.ACTIVE
        ).prefetch_related("account")
        if route is not None:
            if route.account.status != Status.ACTIVE:
                raise Conflict(
                    PaymentRouteErrorCode.ROUTED_ACCOUNT_DISABLED,
                    "The store's payment route names a disabled account.",
                )
            return route.account
    return await head_office_account(brand_id=brand_id, provider=provider)


# Store payment routes ------------------------------------------------------------------------


async def _routable_account(brand_id: int, provider: PaymentProvider, account_id: int) -> None:
    account = await MerchantAccount.get_or_none(id=account_id, brand_id=brand_id)
    if account is None:
        raise InvalidInput(
            PaymentRouteErrorCode.UNKNOWN_ACCOUNT, "The account does not exist in this brand."
        )
    if account.provider is not provider:
        raise InvalidInput(
            PaymentRouteErrorCode.PROVIDER_MISMATCH,
            f"The account is a {account.provider.value} account, not {provider.value}.",
        )
    if account.status != Status.ACTIVE:
        raise InvalidInput(PaymentRouteErrorCode.ACCOUNT_DISABLED, "The account is disabled.")


async def list_routes(
    *,
    brand_id: int,
    scope: StoreScope,
    store_id: int | None = None,
    provider: PaymentProvider | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> tuple[list[StorePaymentRoute], str | None]:
    """Which account each store in scope sends its money to, per provider."""
    routes = scope.limit(StorePaymentRoute.filter(brand_id=brand_id))
    if store_id:
        routes = routes.filter(store_id=store_id)
    if provider:
        routes = routes.filter(provider=provider)
    return await paginate(routes, cursor=cursor, limit=limit)


async def create_route(
    *, brand_id: int, actor: str, store_id: int, provider: PaymentProvider, account_id: int
) -> StorePaymentRoute:
    """Send a store's money for one provider to an account of the same brand and provider."""
    if not await Store.exists(id=store_id, brand_id=brand_id):
        raise InvalidInput(
            PaymentRouteErrorCode.UNKNOWN_STORE, "The store does not exist in this brand."
        )
    await _routable_account(brand_id, provider, account_id)
    try:
        async with in_transaction() as db:
            route = await StorePaymentRoute.create(
                brand_id=brand_id,
                store_id=store_id,
                provider=provider,
                account_id=account_id,
                using_db=db,
            )
            await audit.record(
                brand_id=brand_id,
                actor=actor,
                action="payment_route.create",
                target=f"payment_route:{route.id}",
                details={
                    "store_id": store_id,
                    "provider": provider.value,
                    "account_id": account_id,
                },
                connection=db,
            )
    except IntegrityError as exc:
        raise Conflict(
            PaymentRouteErrorCode.EXISTS,
            "This store already has a route for this provider; update it.",
        ) from exc
    return route


async def update_route(
    *,
    brand_id: int,
    actor: str,
    route_id: int,
    account_id: int | None = None,
    status: Status | None = None,
) -> StorePaymentRoute:
    """Point a route at another account, or disable it."""
    route = await StorePaymentRoute.get_or_none(id=route_id, brand_id=brand_id)
    if route is None:
        raise NotFound(PaymentRouteErrorCode.NOT_FOUND, "No such payment route.")
    if account_id is not None:
        await _routable_account(brand_id, route.provider, account_id)
        route.account_id = account_id
    if status is not None:
        route.status = status
    async with in_transaction() as db:
        await route.save(using_db=db)
        await audit.record(
            brand_id=brand_id,
            actor=actor,
            action="payment_route.update",
            target=f"payment_route:{route.id}",
            details={
                "fields": sorted(
                    k
                    for k, v in {"account_id": account_id, "status": status}.items()
                    if v is not None
                ),
                "account_id": route.account_id,
                "status": route.status.value,
            },
            connection=db,
        )
    return route


# At most this many lines per import. 5,000 routes are written in a few seconds; a larger file
# would hold its transaction, and with it every other write on SQLite, for much longer.
MAX_IMPORT_ROWS = 5000
# Rows written per statement.
IMPORT_BATCH = 500


def _csv_header(reader: csv.DictReader[str]) -> Sequence[str] | None:
    try:
        return reader.fieldnames
    except csv.Error as exc:
        raise _unreadable_csv(reader, exc) from exc


def _csv_rows(reader: csv.DictReader[str]) -> Iterator[dict[str, str]]:
    try:
        yield from reader
    except csv.Error as exc:
        raise _unreadable_csv(reader, exc) from exc


def _unreadable_csv(reader: csv.DictReader[str], exc: csv.Error) -> InvalidInput:
    return InvalidInput(
        PaymentRouteErrorCode.IMPORT_INVALID,
        "The file is not readable CSV.",
        # line_num counts the lines parsed; the one that failed is the next.
        details=[{"line": reader.line_num + 1, "message": str(exc)}],
    )


async def import_routes(*, brand_id: int, actor: str, csv_text: str) -> tuple[int, int]:
    """Create or update routes from CSV lines `store_code,provider,account_key`, all or nothing.

    Refused (422 `route_import.invalid`, nothing written) with every bad line listed: unknown
    store or account, wrong provider, a (store, provider) pair already on an earlier line, or a
    line past `MAX_IMPORT_ROWS`. Written in batches, a few statements per batch.
    """
    reader = csv.DictReader(io.StringIO(csv_text.strip(), newline=""))
    if _csv_header(reader) is None or set(reader.fieldnames or ()) != set(ROUTE_CSV_HEADER):
        raise InvalidInput(
            PaymentRouteErrorCode.IMPORT_BAD_HEADER,
            "The first line must be: " + ",".join(ROUTE_CSV_HEADER),
        )
    stores = {s.code: s for s in await Store.filter(brand_id=brand_id)}
    accounts = {a.key: a for a in await MerchantAccount.filter(brand_id=brand_id)}
    wanted: dict[tuple[int, PaymentProvider], MerchantAccount] = {}
    first_line: dict[tuple[str, PaymentProvider], int] = {}
    problems: list[dict[str, Any]] = []
    for index, raw in enumerate(_csv_rows(reader)):
        line_no = reader.line_num
        if index == MAX_IMPORT_ROWS:
            problems.append(
                {
                    "line": line_no,
                    "message": f"an import takes at most {MAX_IMPORT_ROWS} rows; split the file",
                }
            )
            break
        try:
            row = RouteCsvRow.model_validate(raw)
        except ValueError:  # pydantic's ValidationError is one
            problems.append(
                {"line": line_no, "message": "store_code, provider, account_key required"}
            )
            continue
        pair = (row.store_code, row.provider)
        if pair in first_line:
            problems.append(
                {
                    "line": line_no,
                    "message": f"store {row.store_code!r} and {row.provider.value} again "
                    f"(first on line {first_line[pair]})",
                }
            )
            continue
        first_line[pair] = line_no
        store, account = stores.get(row.store_code), accounts.get(row.account_key)
        if store is None:
            problems.append({"line": line_no, "message": f"unknown store {row.store_code!r}"})
        elif account is None:
            problems.append({"line": line_no, "message": f"unknown account {row.account_key!r}"})
        elif account.provider is not row.provider or account.status != Status.ACTIVE:
            problems.append({"line": line_no, "message": "account provider mismatch or disabled"})
        else:
            wanted[(store.id, row.provider)] = account
    if problems or not wanted:
        raise InvalidInput(
            PaymentRouteErrorCode.IMPORT_INVALID,
            "Nothing was imported; fix these lines.",
            details=problems,
        )
    try:
        async with in_transaction() as db:
            created, updated = await _write_routes(db, brand_id, wanted)
            await audit.record(
                brand_id=brand_id,
                actor=actor,
                action="payment_route.import",
                target=f"brand:{brand_id}",
                details={"rows": len(wanted), "created": created, "updated": updated},
                connection=db,
            )
    except IntegrityError as exc:  # another request created one of these routes meanwhile
        raise Conflict(
            PaymentRouteErrorCode.EXISTS, "Routes changed during the import; try again."
        ) from exc
    return created, updated


async def _write_routes(
    db: BaseDBAsyncClient, brand_id: int, wanted: dict[tuple[int, PaymentProvider], MerchantAccount]
) -> tuple[int, int]:
    """Insert the new routes and re-point the existing ones; (created, updated)."""
    store_ids = sorted({store_id for store_id, _ in wanted})
    existing: dict[tuple[int, PaymentProvider], StorePaymentRoute] = {}
    for chunk in _chunks(store_ids):
        routes = StorePaymentRoute.filter(brand_id=brand_id, store_id__in=chunk).using_db(db)
        for route in await routes:
            if (route.store_id, route.provider) in wanted:  # not the store's other providers
                existing[(route.store_id, route.provider)] = route
    new_routes = [
        StorePaymentRoute(
            brand_id=brand_id, store_id=store_id, provider=provider, account_id=account.id
        )
        for (store_id, provider), account in wanted.items()
        if (store_id, provider) not in existing
    ]
    await StorePaymentRoute.bulk_create(new_routes, batch_size=IMPORT_BATCH, using_db=db)
    # Existing routes that change, grouped by the account they now point at: one UPDATE per
    # account and batch.
    repoint: dict[int, list[int]] = defaultdict(list)
    for pair, route in existing.items():
        account_id = wanted[pair].id
        if route.account_id != account_id or route.status != Status.ACTIVE:
            repoint[account_id].append(route.id)
    for account_id, route_ids in repoint.items():
        for chunk in _chunks(route_ids):
            await (
                StorePaymentRoute.filter(id__in=chunk)
                .using_db(db)
                .update(account_id=account_id, status=Status.ACTIVE)
            )
    return len(new_routes), len(existing)


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[start : start + IMPORT_BATCH] for start in range(0, len(ids), IMPORT_BATCH)]
