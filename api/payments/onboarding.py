"""Bulk onboarding of franchise stores: one CSV file → stores, franchisee accounts and routes.

The file is UTF-8 CSV, its first line the header, one store per line after it:

    store_code,name,city,kind,wechat_sub_mchid,wechat_sub_appid,alipay_app_auth_token

`store_code` and `name` are required columns; the others may be left out; the order is free.
- `kind`: `franchise` (also when empty) or `direct`.
- A franchise line names at least one franchisee account: `wechat_sub_mchid` (10 digits; with an
  optional `wechat_sub_appid`, the franchisee's own mini-program) and/or `alipay_app_auth_token`
  (the token the franchisee's authorisation of the brand's Alipay app gave). The store's route
  for that provider points at the franchisee's account; an empty column leaves the store's route
  for that provider as it is.
- A direct line names no account: its routes to franchisee (partner / ISV) accounts are
  disabled, so its money goes to head office.

The franchisee accounts are made from the brand's service-provider accounts: the brand's first
active WeChat Pay v3 `partner` account (its mch_id is the sp_mchid, its app_id the sp_appid, its
keys sign) and its first active `direct` Alipay account (the app that acts with each
franchisee's app_auth_token). One account per (provider, sub_mchid) and per (provider, Alipay
merchant), reused when it exists.

`start_onboarding` takes the file as a whole and refuses, with 422 and nothing queued, what is
not a file of stores at all (not UTF-8 CSV, wrong header, no line, too many lines, a missing
service-provider account). Everything about single lines is the job's (`run_onboarding`): it
validates every line, checks every account with its platform, and only when every line is good
writes everything in one transaction; otherwise the job ends `failed` with every bad line in
`errors` and nothing is written.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from secrets import token_hex
from typing import Any, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from api.core import audit, ports
from api.core.crypto import decrypt, encrypt
from api.core.errors import InvalidInput, NotFound
from api.org.accounts import account_secrets
from api.org.models import (
    AccountMode,
    MerchantAccount,
    PaymentProvider,
    Status,
    Store,
    StoreKind,
    StorePaymentRoute,
)
from config.settings import get_settings

from .error_codes import OnboardingErrorCode
from .models import OnboardingJob, OnboardingState
from .providers import provider_for
from .providers.base import ProviderInputError, ProviderUnavailable

log = logging.getLogger("memberhub.payments.onboarding")

ONBOARDING_JOB = "payments.onboard"
REQUIRED_COLUMNS = ("store_code", "name")
OPTIONAL_COLUMNS = ("city", "kind", "wechat_sub_mchid", "wechat_sub_appid", "alipay_app_auth_token")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
# Lines per file: 5,000 stores are written in seconds; more would hold the one transaction (and
# on SQLite every other write) for longer than an import should.
MAX_LINES = 5000
# Rows per statement when writing.
BATCH = 500
# A platform that does not answer is asked again this many times before the line fails.
CHECK_ATTEMPTS = 3
CHECK_RETRY_S = 0.5
# Progress is written at most this often.
PROGRESS_EVERY_S = 0.25
# The write holds the brand's onboarding lock: two files of one brand never write at once.
LOCK_TTL_S = 600

STORE_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
SUB_MCHID = re.compile(r"^[0-9]{10}$")
WECHAT_APPID = re.compile(r"^wx[0-9a-f]{16}$")
APP_AUTH_TOKEN = re.compile(r"^[0-9]{6}BB[0-9A-Za-z]{16,64}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

T = TypeVar("T")


@dataclass
class _Line:
    number: int
    store_code: str
    name: str
    city: str
    kind: StoreKind
    sub_mchid: str = ""
    sub_appid: str = ""
    app_auth_token: str = field(default="", repr=False)
    seller_id: str = ""  # the Alipay merchant behind the token, from its check


def _problem(line: int, message: str) -> dict[str, Any]:
    return {"line": line, "message": message}


# Reading the file -----------------------------------------------------------------------------


def _read(csv_data: bytes) -> list[tuple[int, dict[str | None, Any]]]:
    """The file's data lines with their line numbers; InvalidInput when it is not a file of
    stores at all (see the module doc)."""
    try:
        text = csv_data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            OnboardingErrorCode.UNREADABLE, f"The file is not UTF-8 text (byte {exc.start})."
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in reader.fieldnames or ()]
        reader.fieldnames = header
        unknown = sorted(set(header) - set(COLUMNS))
        missing = [name for name in REQUIRED_COLUMNS if name not in header]
        if unknown or missing or len(set(header)) != len(header):
            raise InvalidInput(
                OnboardingErrorCode.BAD_HEADER,
                "The first line must name the columns: store_code,name and any of "
                + ",".join(OPTIONAL_COLUMNS)
                + ", each once.",
                details=[_problem(1, f"unknown column {name!r}") for name in unknown]
                + [_problem(1, f"missing column {name!r}") for name in missing],
            )
        rows: list[tuple[int, dict[str | None, Any]]] = []
        for row in reader:
            if len(rows) == MAX_LINES:
                raise InvalidInput(
                    OnboardingErrorCode.TOO_MANY_LINES,
                    f"An onboarding takes at most {MAX_LINES} stores; split the file.",
                    details=[_problem(reader.line_num, f"line {MAX_LINES + 1} of stores")],
                )
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise InvalidInput(
            OnboardingErrorCode.UNREADABLE,
            "The file is not readable CSV.",
            # line_num counts the lines parsed; the one that failed is the next.
            details=[_problem(reader.line_num + 1, str(exc))],
        ) from None
    if not rows:
        raise InvalidInput(OnboardingErrorCode.EMPTY, "The file names no store.")
    return rows


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _validate(
    rows: Sequence[tuple[int, dict[str | None, Any]]],
) -> tuple[list[_Line], list[dict[str, Any]]]:
    """The well-formed lines, and a problem for each line that is not."""
    lines: list[_Line] = []
    problems: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    sub_appids: dict[str, tuple[str, int]] = {}
    for number, row in rows:
        said: list[str] = []
        if None in row:
            said.append("more fields than the header names")
        if any(value is None for key, value in row.items() if key is not None):
            said.append("fewer fields than the header names")
        code, name, city = (
            _text(row.get("store_code")),
            _text(row.get("name")),
            _text(row.get("city")),
        )
        kind_text = _text(row.get("kind")) or StoreKind.FRANCHISE.value
        sub_mchid, sub_appid = (
            _text(row.get("wechat_sub_mchid")),
            _text(row.get("wechat_sub_appid")),
        )
        token = _text(row.get("alipay_app_auth_token"))
        if not STORE_CODE.match(code):
            said.append("store_code must be 1 to 32 letters, digits, - or _")
        elif code in first_line:
            said.append(f"store {code} again (first on line {first_line[code]})")
        else:
            first_line[code] = number
        if not name or len(name) > 64 or CONTROL.search(name):
            said.append("name must be 1 to 64 characters on one line")
        if len(city) > 32 or CONTROL.search(city):
            said.append("city must be at most 32 characters on one line")
        if kind_text not in (StoreKind.FRANCHISE.value, StoreKind.DIRECT.value):
            said.append("kind must be franchise or direct")
        kind = StoreKind.DIRECT if kind_text == StoreKind.DIRECT.value else StoreKind.FRANCHISE
        if sub_mchid and not SUB_MCHID.match(sub_mchid):
            said.append("wechat_sub_mchid must be 10 digits")
        if sub_appid and not WECHAT_APPID.match(sub_appid):
            said.append("wechat_sub_appid must be wx and 16 hex digits")
        if sub_appid and not sub_mchid:
            said.append("wechat_sub_appid needs a wechat_sub_mchid")
        if token and not APP_AUTH_TOKEN.match(token):
            said.append("alipay_app_auth_token is not shaped like an app_auth_token")
        if kind is StoreKind.FRANCHISE and not (sub_mchid or token):
            said.append("a franchise store needs wechat_sub_mchid or alipay_app_auth_token")
        if kind is StoreKind.DIRECT and (sub_mchid or token):
            said.append(
                "a direct store is paid into head office's accounts: leave "
                "wechat_sub_mchid and alipay_app_auth_token empty"
            )
        if sub_mchid and SUB_MCHID.match(sub_mchid):
            earlier = sub_appids.setdefault(sub_mchid, (sub_appid, number))
            if earlier[0] != sub_appid:
                said.append(
                    f"sub-merchant {sub_mchid} has another wechat_sub_appid on line {earlier[1]}"
                )
        if said:
            problems.append(_problem(number, "; ".join(said)))
            continue
        lines.append(_Line(number, code, name, city, kind, sub_mchid, sub_appid, token))
    return lines, problems


async def _service_providers(
    brand_id: int, *, wechat: bool, alipay: bool
) -> tuple[MerchantAccount | None, MerchantAccount | None]:
    """The brand's WeChat Pay service-provider account and Alipay ISV app account, when needed;
    InvalidInput `payment_onboarding.no_service_provider` naming what is missing."""
    wanted = (
        (wechat, PaymentProvider.WECHATPAY_V3, AccountMode.PARTNER,
         "wechat_sub_mchid needs the brand's WeChat Pay service-provider account: an active "
         "wechatpay_v3 account in partner mode"),
        (alipay, PaymentProvider.ALIPAY, AccountMode.DIRECT,
         "alipay_app_auth_token needs the brand's Alipay app: an active alipay account in "
         "direct mode"),
    )  # fmt: skip
    found: list[MerchantAccount | None] = []
    missing: list[dict[str, str]] = []
    for needed, provider, mode, message in wanted:
        account = None
        if needed:
            account = (
                await MerchantAccount.filter(
                    brand_id=brand_id, provider=provider, mode=mode, status=Status.ACTIVE
                )
                .order_by("id")
                .first()
            )
            if account is None:
                missing.append({"provider": provider.value, "message": message})
        found.append(account)
    if missing:
        raise InvalidInput(
            OnboardingErrorCode.NO_SERVICE_PROVIDER,
            "The brand lacks the service-provider accounts the file needs.",
            details=missing,
        )
    return found[0], found[1]


# The request ----------------------------------------------------------------------------------


async def start_onboarding(*, brand_id: int, actor: str, csv_data: bytes) -> OnboardingJob:
    """Queue the onboarding of the stores in `csv_data` (see the module doc); the job's state
    and progress are then read with `get_onboarding`."""
    rows = _read(csv_data)
    wechat_account, alipay_account = await _service_providers(
        brand_id,
        wechat=any(_text(row.get("wechat_sub_mchid")) for _, row in rows),
        alipay=any(_text(row.get("alipay_app_auth_token")) for _, row in rows),
    )
    async with in_transaction() as db:
        job = await OnboardingJob.create(
            using_db=db,
            brand_id=brand_id,
            actor=actor,
            csv_enc=encrypt(csv_data.decode("utf-8-sig")),
            wechat_account_id=wechat_account.id if wechat_account else None,
            alipay_account_id=alipay_account.id if alipay_account else None,
            total=len(rows),
            created_at=ports.clock().now(),
        )
        await audit.record(
            brand_id=brand_id,
            actor=actor,
            action="payment_onboarding.submit",
            target=f"payment_onboarding:{job.id}",
            details={"lines": len(rows)},
            connection=db,
        )
    await ports.queue().enqueue(ONBOARDING_JOB, key=f"payment-onboarding:{job.id}", job_id=job.id)
    return job


async def get_onboarding(*, brand_id: int, job_id: int) -> OnboardingJob:
    """One onboarding of the brand: its state, progress and outcome; 404 otherwise."""
    job = await OnboardingJob.get_or_none(id=job_id, brand_id=brand_id)
    if job is None:
        raise NotFound(OnboardingErrorCode.NOT_FOUND, "No such onboarding.")
    return job


# The job --------------------------------------------------------------------------------------


async def run_onboarding(*, job_id: int) -> dict[str, Any]:
    """Validate, check and (all good) write one queued onboarding; safe to run twice: an ended
    job is left as it is, and only one run can mark it done."""
    job = await OnboardingJob.get_or_none(id=job_id)
    if job is None or job.state in (OnboardingState.DONE, OnboardingState.FAILED):
        return {"state": job.state.value if job else "missing"}
    now = ports.clock().now()
    await OnboardingJob.filter(id=job.id, state__in=_RUNNING).update(
        state=OnboardingState.CHECKING, started_at=now, checked=0
    )
    try:
        problems, counts = await _onboard(job)
    except Exception:
        log.exception("onboarding %s failed", job.id)
        problems, counts = [_problem(0, "the onboarding failed unexpectedly; run it again")], {}
    if problems:
        problems.sort(key=lambda p: p["line"])
        await OnboardingJob.filter(id=job.id, state__in=_RUNNING).update(
            state=OnboardingState.FAILED,
            errors=problems,
            csv_enc=None,
            finished_at=ports.clock().now(),
        )
        return {"state": OnboardingState.FAILED.value, "errors": len(problems)}
    return {"state": OnboardingState.DONE.value, **counts}


_RUNNING = (OnboardingState.QUEUED, OnboardingState.CHECKING, OnboardingState.WRITING)


async def _onboard(job: OnboardingJob) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """(problems, {}) when any line is bad, else ([], the counts written)."""
    if job.csv_enc is None:
        return [_problem(0, "the file is no longer stored; send it again")], {}
    rows = _read(decrypt(job.csv_enc).encode())
    lines, problems = _validate(rows)
    wechat = await _account(job.brand_id, job.wechat_account_id)
    alipay = await _account(job.brand_id, job.alipay_account_id)
    if (any(line.sub_mchid for line in lines) and wechat is None) or (
        any(line.app_auth_token for line in lines) and alipay is None
    ):
        return [*problems, _problem(0, "a service-provider account was disabled meanwhile")], {}
    progress = _Progress(job.id, done=len(problems))
    checking_since = time.monotonic()
    problems += await _check(lines, wechat, alipay, progress)
    await progress.flush()
    check_ms = int((time.monotonic() - checking_since) * 1000)
    if problems:
        return problems, {}
    await OnboardingJob.filter(id=job.id, state=OnboardingState.CHECKING).update(
        state=OnboardingState.WRITING
    )
    async with ports.cache().lock(
        f"payment-onboarding:{job.brand_id}", ttl_s=LOCK_TTL_S, wait_s=LOCK_TTL_S
    ):
        try:
            counts = await _write(job, lines, wechat, alipay, check_ms=check_ms)
        except IntegrityError:
            log.warning("onboarding %s collided with another change", job.id, exc_info=True)
            return [
                _problem(0, "stores or routes changed while the file was written; run it again")
            ], {}
    return [], counts


async def _account(brand_id: int, account_id: int | None) -> MerchantAccount | None:
    if account_id is None:
        return None
    return await MerchantAccount.get_or_none(id=account_id, brand_id=brand_id, status=Status.ACTIVE)


class _Progress:
    """Lines checked so far, written to the job now and then (never backwards)."""

    def __init__(self, job_id: int, *, done: int) -> None:
        self.job_id = job_id
        self.done = done
        self._written_at = 0.0

    async def add(self) -> None:
        self.done += 1
        if time.monotonic() - self._written_at >= PROGRESS_EVERY_S:
            await self.flush()

    async def flush(self) -> None:
        self._written_at = time.monotonic()
        done = self.done
        await OnboardingJob.filter(id=self.job_id, checked__lt=done).update(checked=done)


# Checking with the platforms ------------------------------------------------------------------


async def _check(
    lines: list[_Line],
    wechat: MerchantAccount | None,
    alipay: MerchantAccount | None,
    progress: _Progress,
) -> list[dict[str, Any]]:
    """Check every sub-merchant and token once, at most `payment_onboarding_concurrency` calls
    at a time; a problem per line whose account the platform does not confirm."""
    # The platforms' SDKs load on first use (see providers/__init__.py).
    from .providers.alipay import AlipayProvider, check_app_auth
    from .providers.wechatpay import WechatPayV3, check_sub_merchant

    try:
        wechat_sp = provider_for(wechat) if wechat else None
        alipay_app = provider_for(alipay) if alipay else None
    except ProviderInputError as exc:
        return [_problem(0, f"a service-provider account cannot be used: {exc.message}")]
    assert wechat_sp is None or isinstance(wechat_sp, WechatPayV3)
    assert alipay_app is None or isinstance(alipay_app, AlipayProvider)
    gate = asyncio.Semaphore(get_settings().payment_onboarding_concurrency)
    sub_merchants: dict[str, asyncio.Task[str | None]] = {}
    tokens: dict[str, asyncio.Task[tuple[str | None, str]]] = {}

    def once(
        tasks: dict[str, asyncio.Task[Any]], value: str, call: Callable[[], Awaitable[Any]]
    ) -> asyncio.Task[Any]:
        if value not in tasks:
            tasks[value] = asyncio.ensure_future(_gated(gate, call))
        return tasks[value]

    async def check_line(line: _Line) -> dict[str, Any] | None:
        said: list[str] = []
        try:
            if line.sub_mchid and wechat_sp is not None:
                sp = wechat_sp
                problem = await once(
                    sub_merchants, line.sub_mchid, lambda: check_sub_merchant(sp, line.sub_mchid)
                )
                if problem:
                    said.append(f"wechat_sub_mchid {line.sub_mchid}: {problem}")
            if line.app_auth_token and alipay_app is not None:
                app, token = alipay_app, line.app_auth_token
                seller_id, problem = await once(tokens, token, lambda: check_app_auth(app, token))
                if seller_id:
                    line.seller_id = seller_id
                else:
                    said.append(f"alipay_app_auth_token: {problem}")
        except ProviderUnavailable as exc:
            said.append(f"could not be checked ({exc.message}); run the onboarding again")
        await progress.add()
        return _problem(line.number, "; ".join(said)) if said else None

    results = await asyncio.gather(*(check_line(line) for line in lines))
    problems = [result for result in results if result is not None]
    # Two tokens of one Alipay merchant would make two accounts of it.
    by_seller: dict[str, _Line] = {}
    for line in lines:
        if not line.seller_id:
            continue
        first = by_seller.setdefault(line.seller_id, line)
        if first.app_auth_token != line.app_auth_token:
            problems.append(
                _problem(
                    line.number,
                    f"alipay_app_auth_token: another token of the same merchant is on line "
                    f"{first.number}",
                )
            )
    return problems


async def _gated(gate: asyncio.Semaphore, call: Callable[[], Awaitable[T]]) -> T:
    for attempt in range(1, CHECK_ATTEMPTS + 1):
        try:
            async with gate:
                return await call()
        except ProviderUnavailable:
            if attempt == CHECK_ATTEMPTS:
                raise
            await asyncio.sleep(CHECK_RETRY_S * attempt)
    raise AssertionError("unreachable")


# Writing --------------------------------------------------------------------------------------


def _chunks(values: Sequence[T]) -> Iterable[Sequence[T]]:
    for start in range(0, len(values), BATCH):
        yield values[start : start + BATCH]


async def _write(
    job: OnboardingJob,
    lines: list[_Line],
    wechat: MerchantAccount | None,
    alipay: MerchantAccount | None,
    *,
    check_ms: int,
) -> dict[str, int]:
    """Everything in one transaction, with the job marked done in it: (the counts, and how long
    the checks and the writing took)."""
    counts: dict[str, int] = {}
    writing_since = time.monotonic()
    async with in_transaction() as db:
        store_ids = await _write_stores(db, job.brand_id, lines, counts)
        wechat_ids = await _write_wechat_accounts(db, job.brand_id, lines, wechat, counts)
        alipay_ids = await _write_alipay_accounts(db, job.brand_id, lines, alipay, counts)
        wanted: dict[tuple[int, PaymentProvider], int] = {}
        direct: list[int] = []
        for line in lines:
            store_id = store_ids[line.store_code]
            if line.kind is StoreKind.DIRECT:
                direct.append(store_id)
            if line.sub_mchid:
                wanted[(store_id, PaymentProvider.WECHATPAY_V3)] = wechat_ids[line.sub_mchid]
            if line.seller_id:
                wanted[(store_id, PaymentProvider.ALIPAY)] = alipay_ids[line.seller_id]
        await _write_routes(db, job.brand_id, wanted, direct, counts)
        counts.update(check_ms=check_ms, write_ms=int((time.monotonic() - writing_since) * 1000))
        await audit.record(
            brand_id=job.brand_id,
            actor=job.actor,
            action="payment_onboarding.write",
            target=f"payment_onboarding:{job.id}",
            details={"lines": len(lines), **counts},
            connection=db,
        )
        marked = (
            await OnboardingJob.filter(id=job.id, state=OnboardingState.WRITING)
            .using_db(db)
            .update(
                state=OnboardingState.DONE,
                written=len(lines),
                checked=len(lines),
                result=counts,
                csv_enc=None,
                finished_at=ports.clock().now(),
            )
        )
        if not marked:
            # Another run of this job ended it meanwhile: roll this one back.
            raise IntegrityError(f"onboarding {job.id} is no longer being written")
    return counts


async def _write_stores(
    db: BaseDBAsyncClient, brand_id: int, lines: list[_Line], counts: dict[str, int]
) -> dict[str, int]:
    """Create the new stores, update the changed ones: {store code: store id}."""
    codes = [line.store_code for line in lines]
    existing: dict[str, Store] = {}
    for chunk in _chunks(codes):
        for store in await Store.filter(brand_id=brand_id, code__in=chunk).using_db(db):
            existing[store.code] = store
    new: list[Store] = []
    changed: list[Store] = []
    for line in lines:
        current = existing.get(line.store_code)
        if current is None:
            new.append(
                Store(
                    brand_id=brand_id,
                    code=line.store_code,
                    name=line.name,
                    city=line.city,
                    kind=line.kind,
                )
            )
        elif (current.name, current.city, current.kind) != (line.name, line.city, line.kind):
            current.name, current.city, current.kind = line.name, line.city, line.kind
            changed.append(current)
    await Store.bulk_create(new, batch_size=BATCH, using_db=db)
    if changed:
        await Store.bulk_update(
            changed, fields=["name", "city", "kind"], batch_size=BATCH, using_db=db
        )
    ids = {code: store.id for code, store in existing.items()}
    created = [store.code for store in new]
    for chunk in _chunks(created):
        rows = (
            await Store.filter(brand_id=brand_id, code__in=chunk)
            .using_db(db)
            .values_list("code", "id")
        )
        ids.update({str(code): int(store_id) for code, store_id in rows})
    counts.update(
        stores_created=len(new),
        stores_updated=len(changed),
        stores_unchanged=len(existing) - len(changed),
    )
    return ids


def _new_account(brand_id: int, **fields: Any) -> MerchantAccount:
    secrets: dict[str, str] = fields.pop("secrets")
    return MerchantAccount(
        brand_id=brand_id,
        key=token_hex(8),
        secrets_enc=encrypt(json.dumps(secrets)),
        secret_names=sorted(secrets),
        status=Status.ACTIVE,
        **fields,
    )


async def _created_ids(db: BaseDBAsyncClient, accounts: list[MerchantAccount]) -> dict[str, int]:
    """{key: id} of accounts just bulk-created."""
    ids: dict[str, int] = {}
    keys = [account.key for account in accounts]
    for chunk in _chunks(keys):
        rows = await MerchantAccount.filter(key__in=chunk).using_db(db).values_list("key", "id")
        ids.update({str(key): int(account_id) for key, account_id in rows})
    return ids


async def _write_wechat_accounts(
    db: BaseDBAsyncClient,
    brand_id: int,
    lines: list[_Line],
    service_provider: MerchantAccount | None,
    counts: dict[str, int],
) -> dict[str, int]:
    """One partner account per sub_mchid under the service provider: {sub_mchid: account id}."""
    wanted = {line.sub_mchid: line.sub_appid for line in lines if line.sub_mchid}
    counts.update(wechat_accounts_created=0, wechat_accounts_updated=0)
    if not wanted or service_provider is None:
        return {}
    existing: dict[str, MerchantAccount] = {}
    for chunk in _chunks(sorted(wanted)):
        found = (
            MerchantAccount.filter(
                brand_id=brand_id,
                provider=PaymentProvider.WECHATPAY_V3,
                mode=AccountMode.PARTNER,
                mch_id=service_provider.mch_id,
                sub_mchid__in=chunk,
                status=Status.ACTIVE,
            )
            .order_by("-id")  # the oldest of several wins
            .using_db(db)
        )
        for account in await found:
            existing[account.sub_mchid] = account
    keys = account_secrets(service_provider)
    new: list[MerchantAccount] = []
    changed: list[MerchantAccount] = []
    for sub_mchid, sub_appid in wanted.items():
        current = existing.get(sub_mchid)
        if current is None:
            new.append(
                _new_account(
                    brand_id,
                    name=f"WeChat Pay sub-merchant {sub_mchid}",
                    provider=PaymentProvider.WECHATPAY_V3,
                    mode=AccountMode.PARTNER,
                    mch_id=service_provider.mch_id,
                    app_id=service_provider.app_id,
                    sub_mchid=sub_mchid,
                    sub_appid=sub_appid,
                    secrets=keys,
                )
            )
        elif sub_appid and current.sub_appid != sub_appid:
            current.sub_appid = sub_appid
            changed.append(current)
    await MerchantAccount.bulk_create(new, batch_size=BATCH, using_db=db)
    if changed:
        await MerchantAccount.bulk_update(
            changed, fields=["sub_appid"], batch_size=BATCH, using_db=db
        )
    created = await _created_ids(db, new)
    counts.update(wechat_accounts_created=len(new), wechat_accounts_updated=len(changed))
    ids = {sub_mchid: account.id for sub_mchid, account in existing.items()}
    ids.update({account.sub_mchid: created[account.key] for account in new})
    return ids


async def _write_alipay_accounts(
    db: BaseDBAsyncClient,
    brand_id: int,
    lines: list[_Line],
    isv_app: MerchantAccount | None,
    counts: dict[str, int],
) -> dict[str, int]:
    """One ISV account per Alipay merchant (seller id) on the brand's app, its token the file's:
    {seller id: account id}."""
    wanted = {line.seller_id: line.app_auth_token for line in lines if line.seller_id}
    counts.update(alipay_accounts_created=0, alipay_accounts_updated=0)
    if not wanted or isv_app is None:
        return {}
    existing: dict[str, MerchantAccount] = {}
    for chunk in _chunks(sorted(wanted)):
        found = (
            MerchantAccount.filter(
                brand_id=brand_id,
                provider=PaymentProvider.ALIPAY,
                mode=AccountMode.ISV,
                app_id=isv_app.app_id,
                mch_id__in=chunk,
                status=Status.ACTIVE,
            )
            .order_by("-id")
            .using_db(db)
        )
        for account in await found:
            existing[account.mch_id] = account
    app_keys = account_secrets(isv_app)
    keys = {name: app_keys[name] for name in ("private_key", "alipay_public_key")}
    new: list[MerchantAccount] = []
    changed: list[MerchantAccount] = []
    for seller_id, token in wanted.items():
        current = existing.get(seller_id)
        if current is None:
            new.append(
                _new_account(
                    brand_id,
                    name=f"Alipay merchant {seller_id}",
                    provider=PaymentProvider.ALIPAY,
                    mode=AccountMode.ISV,
                    mch_id=seller_id,
                    app_id=isv_app.app_id,
                    secrets=keys | {"app_auth_token": token},
                )
            )
            continue
        stored = account_secrets(current)
        if stored.get("app_auth_token") != token:
            stored["app_auth_token"] = token
            current.secrets_enc = encrypt(json.dumps(stored))
            current.secret_names = sorted(stored)
            changed.append(current)
    await MerchantAccount.bulk_create(new, batch_size=BATCH, using_db=db)
    if changed:
        await MerchantAccount.bulk_update(
            changed, fields=["secrets_enc", "secret_names"], batch_size=BATCH, using_db=db
        )
    created = await _created_ids(db, new)
    counts.update(alipay_accounts_created=len(new), alipay_accounts_updated=len(changed))
    ids = {seller_id: account.id for seller_id, account in existing.items()}
    ids.update({account.mch_id: created[account.key] for account in new})
    return ids


async def _write_routes(
    db: BaseDBAsyncClient,
    brand_id: int,
    wanted: dict[tuple[int, PaymentProvider], int],
    direct: list[int],
    counts: dict[str, int],
) -> None:
    """Create or re-point the franchise stores' routes; disable the direct stores' routes to
    franchisee accounts."""
    store_ids = sorted({store_id for store_id, _ in wanted})
    existing: dict[tuple[int, PaymentProvider], StorePaymentRoute] = {}
    for chunk in _chunks(store_ids):
        for route in await StorePaymentRoute.filter(brand_id=brand_id, store_id__in=chunk).using_db(
            db
        ):
            existing[(route.store_id, route.provider)] = route
    new: list[StorePaymentRoute] = []
    repointed: list[StorePaymentRoute] = []
    for (store_id, provider), account_id in wanted.items():
        current = existing.get((store_id, provider))
        if current is None:
            new.append(
                StorePaymentRoute(
                    brand_id=brand_id, store_id=store_id, provider=provider, account_id=account_id
                )
            )
        elif current.account_id != account_id or current.status != Status.ACTIVE:
            current.account_id, current.status = account_id, Status.ACTIVE
            repointed.append(current)
    await StorePaymentRoute.bulk_create(new, batch_size=BATCH, using_db=db)
    if repointed:
        await StorePaymentRoute.bulk_update(
            repointed, fields=["account_id", "status"], batch_size=BATCH, using_db=db
        )
    to_disable: list[int] = []
    for chunk in _chunks(direct):
        to_disable += await (  # type: ignore[arg-type]
            StorePaymentRoute.filter(
                brand_id=brand_id,
                store_id__in=chunk,
                status=Status.ACTIVE,
                account__mode__in=[AccountMode.PARTNER, AccountMode.ISV],
            )
            .using_db(db)
            .values_list("id", flat=True)
        )
    for ids in _chunks(to_disable):
        await StorePaymentRoute.filter(id__in=ids).using_db(db).update(status=Status.DISABLED)
    counts.update(
        routes_created=len(new),
        routes_repointed=len(repointed),
        routes_unchanged=sum(1 for pair in wanted if pair in existing) - len(repointed),
        routes_disabled=len(to_disable),
    )
