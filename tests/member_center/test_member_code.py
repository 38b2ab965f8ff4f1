"""The dynamic member code: its shape, the till's resolve, single use, expiry and brand walls."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import zlib
from datetime import datetime

import pytest
import segno

from api.core.cache import RedisCache
from api.core.clock import FrozenClock
from api.core.crypto import encrypt
from api.core.ports import Ports
from api.member_center import levels, member_code, points, wallet
from api.member_center.members import mask_phone
from api.member_center.models import Member, MemberStatus
from api.org.models import Brand, StaffRole
from config.settings import Settings
from tests.factories import (
    make_brand,
    make_member,
    make_staff,
    make_store,
    member_token,
    staff_token,
)
from tests.support.api import Api

PHONE = "13812345678"
RESOLVE = "/pos/member-code/resolve"


async def make_cashier_token(brand: Brand, role: StaffRole = StaffRole.CASHIER) -> str:
    store = await make_store(brand=brand)
    # These staff never sign in: an unusable hash spares an argon2 round per till.
    staff = await make_staff(brand=brand, role=role, store=store, password_hash="!")
    return staff_token(staff)


async def make_phone_member(brand: Brand) -> Member:
    return await make_member(brand=brand, phone_enc=encrypt(PHONE), phone_masked=mask_phone(PHONE))


async def fresh_code(api: Api, member: Member) -> str:
    answer = await api.get("/me/code", token=member_token(member))
    assert answer.status == 200, answer
    return answer.json["code"]


# ---------------------------------------------------------------- the code


async def test_code_is_18_digits_with_a_non_payment_prefix_and_svg_images(
    api: Api, clock: FrozenClock
) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)

    answer = await api.get("/me/code", token=member_token(member))

    assert answer.status == 200, answer
    data = answer.json
    code = data["code"]
    assert len(code) == 18 and code.isdigit() and code.startswith("68")
    # Not a WeChat (10–15) nor an Alipay (25–30) payment code.
    assert not 10 <= int(code[:2]) <= 15 and not 25 <= int(code[:2]) <= 30
    assert "<svg" in data["qr_svg"] and data["qr_svg"].rstrip().endswith("</svg>")
    assert "<svg" in data["barcode_svg"] and data["barcode_svg"].rstrip().endswith("</svg>")
    expires_at = datetime.fromisoformat(data["expires_at"])
    assert expires_at.utcoffset() is not None
    assert abs((expires_at - clock.now()).total_seconds() - 60) < 1


def png_pixels(png: bytes) -> tuple[int, int, list[list[int]]]:
    """Width, height and rows of 0/1 pixels of a 1-bit greyscale PNG (0 is black)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: dict[bytes, bytes] = {}
    position = 8
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        chunks[kind] = chunks.get(kind, b"") + png[position + 8 : position + 8 + length]
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour, interlace) == (1, 0, 0), "1-bit greyscale, not interlaced"
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = (width + 7) // 8
    rows, previous = [], bytes(stride)
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        kind, data = line[0], bytearray(line[1:])
        for i in range(stride):  # PNG filters on whole bytes; one byte per "pixel" at depth 1
            left = data[i - 1] if i else 0
            up = previous[i]
            upper_left = previous[i - 1] if i else 0
            if kind == 1:
                data[i] = (data[i] + left) & 0xFF
            elif kind == 2:
                data[i] = (data[i] + up) & 0xFF
            elif kind == 3:
                data[i] = (data[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - upper_left
                # the nearest of left, up, upper-left; ties go to them in that order
                nearest = min(
                    (abs(guess - left), 0, left),
                    (abs(guess - up), 1, up),
                    (abs(guess - upper_left), 2, upper_left),
                )[2]
                data[i] = (data[i] + nearest) & 0xFF
        previous = bytes(data)
        rows.append([(data[x // 8] >> (7 - x % 8)) & 1 for x in range(width)])
    return width, height, rows


async def test_the_png_is_the_qr_symbol_of_the_code(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)

    data = (await api.get("/me/code", token=member_token(member))).json
    width, height, pixels = png_pixels(base64.b64decode(data["qr_png_base64"]))

    # 18 digits fit a version-1 symbol: 21 modules, a quiet zone of 2, 8 px per module
    assert (width, height) == (200, 200)
    dark = [[pixel == 0 for pixel in row] for row in pixels]
    symbol = segno.make(data["code"], micro=False)
    assert dark == [
        [bool(module) for module in row] for row in symbol.matrix_iter(scale=8, border=2)
    ]
    # and, read without segno, the three finder patterns sit in their corners
    for left, top in ((2, 2), (16, 2), (2, 16)):
        ring = [dark[(top + y) * 8 + 4][(left + x) * 8 + 4] for y in range(7) for x in range(7)]
        expected = [max(abs(x - 3), abs(y - 3)) in (3, 1, 0) for y in range(7) for x in range(7)]
        assert ring == expected


async def test_each_request_gets_a_new_code_valid_for_the_brand_ttl(
    api: Api, clock: FrozenClock
) -> None:
    brand = await make_brand(settings={"member_code_ttl_s": 90})
    member = await make_member(brand=brand)

    first = (await api.get("/me/code", token=member_token(member))).json
    second = (await api.get("/me/code", token=member_token(member))).json

    assert first["code"] != second["code"]
    expires_at = datetime.fromisoformat(first["expires_at"])
    assert abs((expires_at - clock.now()).total_seconds() - 90) < 1


async def test_a_staff_token_gets_no_member_code(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    answer = await api.get("/me/code", token=await make_cashier_token(brand))
    assert answer.status == 403


# ---------------------------------------------------------------- resolve


async def test_resolve_returns_the_masked_summary_with_level_points_and_wallet(
    api: Api, clock: FrozenClock
) -> None:
    # given a member with a level, points and stored value, and a cashier of the brand
    brand = await make_brand()
    silver = await levels.create_level(
        brand_id=brand.id, name="普卡", rank=0, growth_threshold=0, discount_pct=95
    )
    member = await make_phone_member(brand)
    await Member.filter(id=member.id).update(level_id=silver.id)
    await points.earn_points(brand_id=brand.id, member_id=member.id, amount=120, key="p1")
    await wallet.recharge_wallet(
        brand_id=brand.id, member_id=member.id, principal_fen=50_000, bonus_fen=5_000, key="w1"
    )
    code = await fresh_code(api, member)

    # when the till resolves the code
    answer = await api.post(RESOLVE, {"code": code}, token=await make_cashier_token(brand))

    # then it sees who it is, the phone masked only
    assert answer.status == 200, answer
    assert answer.json == {
        "member_id": member.id,
        "member_no": member.member_no,
        "nickname": member.nickname,
        "phone_masked": "138****5678",
        "status": "member",
        "level": {"id": silver.id, "name": "普卡", "discount_pct": 95},
        "points_balance": 120,
        "wallet_principal_fen": 50_000,
        "wallet_bonus_fen": 5_000,
        "wallet_total_fen": 55_000,
        "coupons": [],
    }
    assert PHONE not in answer.text


@pytest.mark.parametrize(
    "role", [StaffRole.CASHIER, StaffRole.GUIDE, StaffRole.STORE_MANAGER, StaffRole.HQ_ADMIN]
)
async def test_every_staff_role_may_resolve(api: Api, clock: FrozenClock, role: StaffRole) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    code = await fresh_code(api, member)

    answer = await api.post(RESOLVE, {"code": code}, token=await make_cashier_token(brand, role))

    assert answer.status == 200, answer
    assert answer.json["member_id"] == member.id
    assert answer.json["level"] is None


async def test_a_code_resolves_once(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    token = await make_cashier_token(brand)
    code = await fresh_code(api, member)

    first = await api.post(RESOLVE, {"code": code}, token=token)
    second = await api.post(RESOLVE, {"code": code}, token=token)

    assert first.status == 200
    assert (second.status, second.error_code) == (409, "member_code.used")


async def test_twenty_tills_resolving_one_code_at_once_get_one_member(
    api: Api, clock: FrozenClock
) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    tokens = [await make_cashier_token(brand) for _ in range(20)]
    code = await fresh_code(api, member)

    answers = await asyncio.gather(
        *(api.post(RESOLVE, {"code": code}, token=token) for token in tokens)
    )

    statuses = sorted(answer.status for answer in answers)
    assert statuses == [200] + [409] * 19, answers
    assert {a.error_code for a in answers if a.status == 409} == {"member_code.used"}


async def test_an_expired_code_is_gone(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    token = await make_cashier_token(brand)
    code = await fresh_code(api, member)

    clock.advance(seconds=61)
    first = await api.post(RESOLVE, {"code": code}, token=token)
    again = await api.post(RESOLVE, {"code": code}, token=token)

    assert (first.status, first.error_code) == (410, "member_code.expired")
    # A second scan of an expired code still says expired, not used.
    assert (again.status, again.error_code) == (410, "member_code.expired")


async def test_a_code_just_before_its_expiry_resolves(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    token = await make_cashier_token(brand)
    code = await fresh_code(api, member)

    clock.advance(seconds=59)
    answer = await api.post(RESOLVE, {"code": code}, token=token)

    assert answer.status == 200, answer


async def test_an_unknown_code_is_not_found(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    answer = await api.post(
        RESOLVE, {"code": "680000000000000000"}, token=await make_cashier_token(brand)
    )
    assert (answer.status, answer.error_code) == (404, "member_code.not_found")


async def test_another_brand_cannot_see_or_burn_a_code(api: Api, clock: FrozenClock) -> None:
    # given a code of brand A
    brand_a, brand_b = await make_brand(), await make_brand()
    member = await make_member(brand=brand_a)
    code = await fresh_code(api, member)

    # when brand B's cashier scans it
    foreign = await api.post(RESOLVE, {"code": code}, token=await make_cashier_token(brand_b))

    # then B learns nothing and A's till can still use it
    assert (foreign.status, foreign.error_code) == (404, "member_code.not_found")
    own = await api.post(RESOLVE, {"code": code}, token=await make_cashier_token(brand_a))
    assert own.status == 200, own
    assert own.json["member_id"] == member.id


async def test_a_member_token_cannot_resolve(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    code = await fresh_code(api, member)

    answer = await api.post(RESOLVE, {"code": code}, token=member_token(member))

    assert answer.status == 403
    # and the code was not burnt by the refused call
    ok = await api.post(RESOLVE, {"code": code}, token=await make_cashier_token(brand))
    assert ok.status == 200


async def test_resolve_needs_a_token(api: Api, clock: FrozenClock) -> None:
    answer = await api.post(RESOLVE, {"code": "680000000000000000"})
    assert answer.status == 401


@pytest.mark.parametrize(
    "code",
    ["68000000000000000", "6800000000000000000", "68000000000000000a", "", 680000000000000000,
     "６８００００００００００００００００", None],
)  # fmt: skip
async def test_a_malformed_code_is_refused(api: Api, clock: FrozenClock, code: object) -> None:
    brand = await make_brand()
    answer = await api.post(RESOLVE, {"code": code}, token=await make_cashier_token(brand))
    assert (answer.status, answer.error_code) == (422, "request.invalid")


async def test_a_merged_members_code_resolves_to_the_survivor(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    loser, survivor = await make_member(brand=brand), await make_member(brand=brand)
    code = await fresh_code(api, loser)
    # (the state merge_members leaves behind, set directly to keep this test about codes)
    await Member.filter(id=loser.id).update(status=MemberStatus.MERGED, merged_into_id=survivor.id)

    answer = await api.post(RESOLVE, {"code": code}, token=await make_cashier_token(brand))

    assert answer.status == 200, answer
    assert answer.json["member_id"] == survivor.id


async def test_an_erased_members_code_is_not_found(api: Api, clock: FrozenClock) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)
    code = await fresh_code(api, member)
    await Member.filter(id=member.id).update(status=MemberStatus.ERASED)

    answer = await api.post(RESOLVE, {"code": code}, token=await make_cashier_token(brand))

    assert (answer.status, answer.error_code) == (404, "member_code.not_found")


async def test_resolves_per_staff_are_rate_limited(
    api: Api, clock: FrozenClock, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a limit of 3 scans a minute per staff member
    monkeypatch.setattr(settings, "member_code_resolve_per_minute", 3)
    brand = await make_brand()
    member = await make_member(brand=brand)
    token, other = await make_cashier_token(brand), await make_cashier_token(brand)
    code = await fresh_code(api, member)

    # when one cashier scans unknown codes up to the limit
    for n in range(3):
        answer = await api.post(RESOLVE, {"code": f"68{n:016d}"}, token=token)
        assert answer.status == 404
    limited = await api.post(RESOLVE, {"code": code}, token=token)

    # then the next scan is refused without burning the code, and other cashiers are not limited
    assert (limited.status, limited.error_code) == (429, "member_code.rate_limited")
    assert int(limited.headers["retry-after"]) > 0
    answer = await api.post(RESOLVE, {"code": code}, token=other)
    assert answer.status == 200, answer


# ---------------------------------------------------------------- storage


async def test_the_cache_entry_names_the_brand_and_holds_member_and_expiry(
    ports: Ports, clock: FrozenClock
) -> None:
    brand = await make_brand()
    member = await make_member(brand=brand)

    issued = await member_code.create_member_code(brand_id=brand.id, member_id=member.id)

    stored = await ports.cache.get(f"member-code:{brand.id}:{issued.code}")
    assert stored is not None
    assert json.loads(stored) == {
        "member_id": member.id,
        "expires_at": clock.now().timestamp() + 60,
    }
    assert await ports.cache.get(f"member-code:{brand.id + 1}:{issued.code}") is None


async def test_swap_replaces_only_existing_keys(ports: Ports) -> None:
    cache = ports.cache
    assert await cache.swap("swap-test", "x") is None
    assert await cache.get("swap-test") is None

    await cache.set("swap-test", "a", ttl_s=60)
    assert await cache.swap("swap-test", "b") == "a"
    assert await cache.swap("swap-test", "c") == "b"
    assert await cache.get("swap-test") == "c"


async def test_swap_keeps_the_expiry(ports: Ports, clock: FrozenClock) -> None:
    cache = ports.cache
    await cache.set("swap-ttl", "a", ttl_s=60)
    await cache.swap("swap-ttl", "b")

    if isinstance(cache, RedisCache):
        # Redis keeps its own time: the swapped key still carries the expiry it was set with.
        assert 0 < await cache.redis.pttl("mh:swap-ttl") <= 60_000
        return
    clock.advance(seconds=59)
    assert await cache.get("swap-ttl") == "b"
    clock.advance(seconds=2)
    assert await cache.get("swap-ttl") is None


# ---------------------------------------------------------------- the resolve's hand-written SQL


async def _card_row_through_the_orm(*, brand_id: int, member_id: int) -> dict[str, object] | None:
    member = await Member.filter(id=member_id, brand_id=brand_id).select_related("level").first()
    if member is None:
        return None
    level = member.level if member.level_id is not None else None
    return {
        "id": member.id,
        "member_no": member.member_no,
        "nickname": member.nickname,
        "phone_masked": member.phone_masked,
        "status": member.status,
        "merged_into_id": member.merged_into_id,
        "points_balance": member.points_balance,
        "wallet_principal_fen": member.wallet_principal_fen,
        "wallet_bonus_fen": member.wallet_bonus_fen,
        "level_id": member.level_id,
        "level_name": level.name if level is not None else None,
        "level_discount_pct": level.discount_pct if level is not None else None,
    }


async def test_the_resolve_sql_reads_what_the_orm_reads(clock: FrozenClock) -> None:
    # given members with and without a level, with balances, merged and erased, and a foreign one
    brand = await make_brand()
    other = await make_brand()
    silver = await levels.create_level(
        brand_id=brand.id, name="普卡", rank=0, growth_threshold=0, discount_pct=95
    )
    plain = await make_member(brand=brand, nickname="plain")
    rich = await make_phone_member(brand)
    await Member.filter(id=rich.id).update(level_id=silver.id)
    await points.earn_points(brand_id=brand.id, member_id=rich.id, amount=12, key="p")
    await wallet.recharge_wallet(
        brand_id=brand.id, member_id=rich.id, principal_fen=300, bonus_fen=30, key="w"
    )
    merged = await make_member(brand=brand)
    await Member.filter(id=merged.id).update(status=MemberStatus.MERGED, merged_into_id=rich.id)
    erased = await make_member(brand=brand, status=MemberStatus.ERASED)
    foreign = await make_member(brand=other)

    # when each is read by the hand-written query and by the ORM, on this run's database
    cases = [(brand.id, m.id) for m in (plain, rich, merged, erased, foreign)]
    cases += [(other.id, foreign.id), (brand.id, foreign.id + 1000)]
    for brand_id, member_id in cases:
        by_hand = await member_code._card_row(brand_id=brand_id, member_id=member_id)
        by_orm = await _card_row_through_the_orm(brand_id=brand_id, member_id=member_id)

        # then both answer the same row, or both nothing
        assert by_hand == by_orm, (brand_id, member_id)
    assert await member_code._card_row(brand_id=brand.id, member_id=rich.id) is not None
