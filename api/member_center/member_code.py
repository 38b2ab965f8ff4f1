"""The dynamic member code: shown by the member's phone, scanned once at the till.

A code lives in the cache port only, under a key that names its brand, so a till of another
brand can neither see nor burn it. Its value holds the member and the expiry (epoch seconds from
the clock port); the cache keeps it an hour longer than that so a late scan still learns
"expired" instead of "unknown". Resolving swaps the value for a "used" marker in one atomic
step: of any number of tills scanning the same code at once, exactly one gets the member.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import barcode
import segno
from barcode.writer import SVGWriter

from api.core import ports
from api.core.cache import rate_limit_key
from api.core.errors import Conflict, Gone, NotFound, RateLimited
from api.org.models import Brand
from config.settings import get_settings

from .error_codes import MemberCodeErrorCode
from .members import MAX_MERGE_HOPS
from .models import Level, Member, MemberStatus

# WeChat payment codes start 10–15 and Alipay's 25–30: a till that routes scans by prefix must
# never take a member code for a payment code.
CODE_PREFIX = "68"
CODE_LENGTH = 18
GRACE_S = 3600  # an expired code answers 410 (not 404) for this long
USED = "used"
RATE_WINDOW_S = 60
_ISSUE_ATTEMPTS = 5


@dataclass(frozen=True)
class IssuedCode:
    """A fresh code and the moment it stops being accepted."""

    code: str
    expires_at: datetime


@dataclass(frozen=True)
class MemberCode:
    """A fresh code with its images, as the member center shows it."""

    code: str
    qr_svg: str
    qr_png: bytes
    barcode_svg: str
    expires_at: datetime

    @property
    def qr_png_base64(self) -> str:
        return base64.b64encode(self.qr_png).decode("ascii")


def code_key(*, brand_id: int, code: str) -> str:
    """The cache key of one brand's code."""
    return f"member-code:{brand_id}:{code}"


def new_code() -> str:
    """18 digits: the prefix, then 16 digits from the system's CSPRNG."""
    return CODE_PREFIX + f"{secrets.randbelow(10 ** (CODE_LENGTH - len(CODE_PREFIX))):016d}"


def _entry(*, member_id: int, expires_at: float) -> str:
    return json.dumps({"member_id": member_id, "expires_at": expires_at}, separators=(",", ":"))


async def store_member_code(*, brand_id: int, member_id: int, ttl_s: int, now: float) -> str:
    """Store a fresh code for the member, valid `ttl_s` from `now` (epoch seconds); the code."""
    cache = ports.cache()
    entry = _entry(member_id=member_id, expires_at=now + ttl_s)
    for _ in range(_ISSUE_ATTEMPTS):
        code = new_code()
        # Set-if-absent: a collision with a live code (1 in 10^16) takes another draw instead
        # of handing one code to two members.
        if await cache.add(code_key(brand_id=brand_id, code=code), entry, ttl_s=ttl_s + GRACE_S):
            return code
    raise RuntimeError("could not draw an unused member code")


async def create_member_code(*, brand_id: int, member_id: int) -> IssuedCode:
    """Store a fresh single-use code for a member, valid for the brand's `member_code_ttl_s`."""
    brand = await Brand.get(id=brand_id)
    ttl_s = int(brand.setting("member_code_ttl_s"))  # type: ignore[call-overload]
    now = ports.clock().now().timestamp()
    code = await store_member_code(brand_id=brand_id, member_id=member_id, ttl_s=ttl_s, now=now)
    return IssuedCode(code=code, expires_at=datetime.fromtimestamp(now + ttl_s, UTC))


QR_BORDER = 2  # modules of quiet zone around the symbol, in both images
QR_PNG_SCALE = 8  # pixels per module: a version-1 symbol (21 modules) is 200 × 200 px


def qr_symbol(code: str) -> segno.QRCode:
    """The code as a QR symbol (never a Micro QR, which phone scanners often miss)."""
    return segno.make(code, micro=False)


def render_qr_svg(code: str, symbol: segno.QRCode | None = None) -> str:
    """The code as a QR symbol, a standalone SVG document."""
    buffer = io.BytesIO()
    (symbol or qr_symbol(code)).save(buffer, kind="svg", scale=4, border=QR_BORDER, xmldecl=False)
    return buffer.getvalue().decode()


def render_qr_png(code: str, symbol: segno.QRCode | None = None) -> bytes:
    """The code as a QR symbol, a black-and-white PNG (segno writes it; no imaging library)."""
    buffer = io.BytesIO()
    (symbol or qr_symbol(code)).save(buffer, kind="png", scale=QR_PNG_SCALE, border=QR_BORDER)
    return buffer.getvalue()


def render_barcode_svg(code: str) -> str:
    """The code as a Code 128 barcode with its digits under it, an SVG document."""
    return barcode.Code128(code, writer=SVGWriter()).render().decode()


async def issue_member_code(*, brand_id: int, member_id: int) -> MemberCode:
    """A fresh single-use code for the member, with its QR (SVG and PNG) and barcode images."""
    issued = await create_member_code(brand_id=brand_id, member_id=member_id)
    symbol = qr_symbol(issued.code)
    return MemberCode(
        code=issued.code,
        qr_svg=render_qr_svg(issued.code, symbol),
        qr_png=render_qr_png(issued.code, symbol),
        barcode_svg=render_barcode_svg(issued.code),
        expires_at=issued.expires_at,
    )


@dataclass(frozen=True)
class CardLevel:
    id: int
    name: str
    discount_pct: int


@dataclass(frozen=True)
class MemberCard:
    """What the till learns about the member behind a code: no phone in clear, no ids of others."""

    member_id: int
    member_no: str
    nickname: str
    phone_masked: str
    status: MemberStatus
    level: CardLevel | None
    points_balance: int
    wallet_principal_fen: int
    wallet_bonus_fen: int


_CARD_SQL: dict[str, str] = {}
_PLACEHOLDERS = {"postgres": ("$1", "$2"), "sqlite": ("?", "?")}  # the two databases we run on


def _card_sql(dialect: str) -> str:
    # The till's hot path: building this query through the ORM cost 0.5-0.8 ms of Python per
    # call, running it 0.03 ms. Written once per dialect; test_member_code.py checks it answers
    # what the ORM's select_related would.
    sql = _CARD_SQL.get(dialect)
    if sql is None:
        first, second = _PLACEHOLDERS[dialect]
        sql = (
            "SELECT m.id, m.member_no, m.nickname, m.phone_masked, m.status, m.merged_into_id,"
            " m.points_balance, m.wallet_principal_fen, m.wallet_bonus_fen, m.level_id,"
            " l.name AS level_name, l.discount_pct AS level_discount_pct"
            f' FROM "{Member._meta.db_table}" m'
            f' LEFT OUTER JOIN "{Level._meta.db_table}" l ON l.id = m.level_id'
            f" WHERE m.id = {first} AND m.brand_id = {second}"
        )
        _CARD_SQL[dialect] = sql
    return sql


async def _card_row(*, brand_id: int, member_id: int) -> dict[str, Any] | None:
    db = Member._meta.db
    rows = await db.execute_query_dict(_card_sql(db.capabilities.dialect), [member_id, brand_id])
    return rows[0] if rows else None


async def load_member_card(*, brand_id: int, member_id: int) -> MemberCard:
    """The live member a code names, with its level, in one query; merges lead to the survivor."""
    row = await _card_row(brand_id=brand_id, member_id=member_id)
    hops = 0
    # A code shown just before a merge still names the absorbed member: follow it to the survivor.
    while row is not None and row["status"] == MemberStatus.MERGED and hops < MAX_MERGE_HOPS:
        row = await _card_row(brand_id=brand_id, member_id=row["merged_into_id"])
        hops += 1
    if row is None or row["status"] in (MemberStatus.MERGED, MemberStatus.ERASED):
        raise NotFound(MemberCodeErrorCode.NOT_FOUND, "No such member code.")
    return MemberCard(
        member_id=row["id"],
        member_no=row["member_no"],
        nickname=row["nickname"],
        phone_masked=row["phone_masked"],
        status=MemberStatus(row["status"]),
        level=CardLevel(
            id=row["level_id"], name=row["level_name"], discount_pct=row["level_discount_pct"]
        )
        if row["level_name"] is not None
        else None,
        points_balance=row["points_balance"],
        wallet_principal_fen=row["wallet_principal_fen"],
        wallet_bonus_fen=row["wallet_bonus_fen"],
    )


async def resolve_member_code(*, brand_id: int, staff_id: int, code: str) -> MemberCard:
    """The member behind a code scanned at a till of the brand; burns the code."""
    cache = ports.cache()
    key = code_key(brand_id=brand_id, code=code)
    # Counted before the lookup, unknown codes included: the limit is what stops a till (or a
    # stolen staff token) from guessing codes. Counting and swapping is one cache round trip.
    allowed, old = await cache.swap_within_limit(
        rate_limit_key(f"member-code-resolve:{staff_id}"),
        limit=get_settings().member_code_resolve_per_minute,
        window_s=RATE_WINDOW_S,
        key=key,
        value=USED,
    )
    if not allowed:
        raise RateLimited(
            MemberCodeErrorCode.RATE_LIMITED, "Too many member codes scanned; wait a bit."
        )
    if old is None:
        raise NotFound(MemberCodeErrorCode.NOT_FOUND, "No such member code.")
    if old == USED:
        raise Conflict(MemberCodeErrorCode.USED, "This member code has been used already.")
    entry = json.loads(old)
    if ports.clock().now().timestamp() >= entry["expires_at"]:
        # Put the entry back so a second scan of an expired code also says expired, not used.
        await cache.swap(key, old)
        raise Gone(MemberCodeErrorCode.EXPIRED, "This member code has expired; refresh it.")
    return await load_member_card(brand_id=brand_id, member_id=int(entry["member_id"]))
