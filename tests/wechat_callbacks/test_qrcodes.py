"""Store and guide QR codes: made once per app and scene through WeChat (the sandbox), kept
with their image, downloadable one by one and in bulk, within the caller's brand and stores."""

from __future__ import annotations

import asyncio
import io
import zipfile
from typing import Any

import pytest
import segno

from api.core.models import AuditLog
from api.org.models import Brand, Staff, StaffRole, Status, WechatApp, WechatAppKind
from api.wechat_callbacks.models import WechatQrCode
from tests.factories import make_brand, make_staff, make_store, make_wechat_app, staff_token
from tests.support.api import Answer, Api
from tests.support.player import Player

pytestmark = pytest.mark.usefixtures("sandbox_url")

PNG = b"\x89PNG\r\n\x1a\n"


def _png(content: str, *, border: int) -> bytes:
    buffer = io.BytesIO()
    segno.make(content, error="m").save(buffer, kind="png", scale=8, border=border)
    return buffer.getvalue()


async def _calls(player: Player, appid: str) -> list[dict[str, Any]]:
    answer = await player.http.get("/wechat/qrcodes", params={"appid": appid})
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def _brand_with_apps() -> tuple[Brand, WechatApp, WechatApp, str]:
    brand = await make_brand()
    account = await make_wechat_app(brand=brand, kind=WechatAppKind.OFFICIAL_ACCOUNT)
    mini = await make_wechat_app(brand=brand, kind=WechatAppKind.MINIPROGRAM)
    admin = await make_staff(brand=brand)
    return brand, account, mini, staff_token(admin)


async def _download(
    api: Api, path: str, token: str, params: dict[str, str] | None = None
) -> tuple[int, str, bytes]:
    """GET a binary answer → status, content type, bytes."""
    response = await api.client.get(
        "/api/v1" + path.removeprefix("/api/v1"),
        headers={"Authorization": f"Bearer {token}"},
        params=params,
    )
    return response.status_code, response.headers.get("content-type", ""), response.content


async def _post(api: Api, path: str, token: str, **payload: Any) -> Answer:
    return await api.post(path, payload, token=token)


async def test_a_stores_official_account_code_is_a_permanent_qr_of_its_scene(
    api: Api, player: Player
) -> None:
    brand, account, _, token = await _brand_with_apps()
    store = await make_store(brand=brand, code="SH001")

    made = await _post(api, f"/admin/stores/{store.id}/qrcodes", token, kind="official_account")

    assert made.status == 201, made
    body = made.json
    assert (body["kind"], body["target"], body["store_id"], body["staff_id"]) == (
        "official_account",
        "store",
        store.id,
        None,
    )
    assert (body["scene"], body["appid"], body["page"]) == ("s=SH001", account.appid, None)
    [call] = await _calls(player, account.appid)
    assert call["scene"] == {"scene_str": "s=SH001"}
    assert call["expire_seconds"] is None  # QR_LIMIT_STR_SCENE: permanent
    assert (body["ticket"], body["url"]) == (call["ticket"], call["url"])
    status, content_type, image = await _download(api, body["image_url"], token)
    assert (status, content_type) == (200, "image/png")
    assert image.startswith(PNG)
    # the image encodes the URL WeChat answered, as showqrcode's does
    assert image == _png(call["url"], border=4)
    assert await AuditLog.filter(action="wechat_qrcode.create", brand_id=brand.id).count() == 1


async def test_a_stores_mini_program_code_opens_the_brands_page_with_its_scene(
    api: Api, player: Player
) -> None:
    brand, _, mini, token = await _brand_with_apps()
    brand.settings = {"miniprogram_qrcode_page": "pages/store/index"}
    await brand.save()
    store = await make_store(brand=brand, code="BJ002")

    made = await _post(api, f"/admin/stores/{store.id}/qrcodes", token, kind="miniprogram")

    assert made.status == 201, made
    assert (made.json["scene"], made.json["page"], made.json["url"]) == (
        "s=BJ002",
        "pages/store/index",
        None,
    )
    assert await _calls(player, mini.appid) == [
        {"kind": "wxacode", "scene": "s=BJ002", "page": "pages/store/index"}
    ]
    stored = await WechatQrCode.get(id=made.json["id"])
    assert stored.png.startswith(PNG)
    assert stored.png == _png(
        f"sandbox-wxacode:{mini.appid}:pages/store/index?scene=s=BJ002", border=2
    )


@pytest.mark.parametrize("kind", ["official_account", "miniprogram"])
async def test_a_guides_code_carries_their_guide_code(api: Api, player: Player, kind: str) -> None:
    brand, account, mini, token = await _brand_with_apps()
    store = await make_store(brand=brand)
    guide = await make_staff(brand=brand, role=StaffRole.GUIDE, store=store, guide_code="G0042")

    made = await _post(api, f"/admin/staff/{guide.id}/qrcodes", token, kind=kind)

    assert made.status == 201, made
    assert (made.json["target"], made.json["staff_id"], made.json["store_id"]) == (
        "guide",
        guide.id,
        store.id,
    )
    assert made.json["scene"] == "g=G0042"
    appid = account.appid if kind == "official_account" else mini.appid
    [call] = await _calls(player, appid)
    assert call["scene"] in ({"scene_str": "g=G0042"}, "g=G0042")
    status, _, image = await _download(api, f"/admin/qrcodes/{made.json['id']}/image.png", token)
    assert status == 200 and image.startswith(PNG)


@pytest.mark.parametrize("kind", ["official_account", "miniprogram"])
async def test_asking_twice_asks_wechat_once(api: Api, player: Player, kind: str) -> None:
    brand, account, mini, token = await _brand_with_apps()
    store = await make_store(brand=brand)

    first = await _post(api, f"/admin/stores/{store.id}/qrcodes", token, kind=kind)
    second = await _post(api, f"/admin/stores/{store.id}/qrcodes", token, kind=kind)

    assert (first.status, second.status) == (201, 200)
    assert first.json == second.json
    appid = account.appid if kind == "official_account" else mini.appid
    assert len(await _calls(player, appid)) == 1
    assert await WechatQrCode.filter(brand_id=brand.id).count() == 1
    assert await AuditLog.filter(action="wechat_qrcode.create", brand_id=brand.id).count() == 1


async def test_five_asking_at_once_ask_wechat_once(api: Api, player: Player) -> None:
    brand, account, _, token = await _brand_with_apps()
    store = await make_store(brand=brand)
    path = f"/admin/stores/{store.id}/qrcodes"

    answers = await asyncio.gather(
        *(_post(api, path, token, kind="official_account") for _ in range(5))
    )

    assert sorted(a.status for a in answers) == [200, 200, 200, 200, 201]
    assert len({a.json["id"] for a in answers}) == 1
    assert len(await _calls(player, account.appid)) == 1
    assert await WechatQrCode.filter(brand_id=brand.id).count() == 1


async def test_the_zip_holds_one_code_per_active_store(api: Api, player: Player) -> None:
    brand, account, _, token = await _brand_with_apps()
    one = await make_store(brand=brand, code="A01", name="人民广场店")
    two = await make_store(brand=brand, code="A02", name="Xu/Hui")
    await make_store(brand=brand, code="A03", status=Status.DISABLED)
    made = await _post(api, f"/admin/stores/{one.id}/qrcodes", token, kind="official_account")
    await make_staff(brand=brand, role=StaffRole.GUIDE, store=two, guide_code="G7", name="Li")

    status, content_type, body = await _download(
        api, "/admin/qrcodes.zip", token, {"kind": "official_account"}
    )
    _, _, with_guides = await _download(
        api, "/admin/qrcodes.zip", token, {"kind": "official_account", "include_guides": "true"}
    )

    assert (status, content_type) == (200, "application/zip")
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.namelist() == ["A01-人民广场店.png", "A02-Xu_Hui.png"]
    stored = await WechatQrCode.get(id=made.json["id"])
    assert archive.read("A01-人民广场店.png") == stored.png
    assert all(archive.read(name).startswith(PNG) for name in archive.namelist())
    # the store that had a code kept it; the other got one; the guide one only when asked
    assert len(await _calls(player, account.appid)) == 3
    assert zipfile.ZipFile(io.BytesIO(with_guides)).namelist() == [
        "A01-人民广场店.png",
        "A02-Xu_Hui.png",
        "guides/G7-Li.png",
    ]


async def test_another_brands_store_or_staff_is_not_found(api: Api, player: Player) -> None:
    _, account, _, token = await _brand_with_apps()
    other = await make_brand()
    their_store = await make_store(brand=other)
    their_guide = await make_staff(
        brand=other, role=StaffRole.GUIDE, store=their_store, guide_code="G1"
    )

    store = await _post(api, f"/admin/stores/{their_store.id}/qrcodes", token, kind="miniprogram")
    guide = await _post(api, f"/admin/staff/{their_guide.id}/qrcodes", token, kind="miniprogram")

    assert (store.status, store.error_code) == (404, "store.not_found")
    assert (guide.status, guide.error_code) == (404, "staff.not_found")
    assert await WechatQrCode.all().count() == 0
    assert await _calls(player, account.appid) == []


async def test_a_staff_member_without_a_guide_code_is_refused(api: Api) -> None:
    brand, _, _, token = await _brand_with_apps()
    cashier = await make_staff(
        brand=brand, role=StaffRole.CASHIER, store=await make_store(brand=brand)
    )

    answer = await _post(api, f"/admin/staff/{cashier.id}/qrcodes", token, kind="miniprogram")

    assert (answer.status, answer.error_code) == (422, "relation.no_guide_code")
    assert await WechatQrCode.all().count() == 0


async def test_a_brand_without_an_app_of_the_kind_gets_a_conflict(api: Api) -> None:
    brand = await make_brand()
    await make_wechat_app(brand=brand, kind=WechatAppKind.MINIPROGRAM)
    token = staff_token(await make_staff(brand=brand))
    store = await make_store(brand=brand)

    answer = await _post(api, f"/admin/stores/{store.id}/qrcodes", token, kind="official_account")

    assert (answer.status, answer.error_code) == (409, "wechat_qrcode.no_app")


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"kind": "alipay"},
        {"kind": "miniprogram", "appid": "not-an-appid"},
        {"kind": "miniprogram", "extra": 1},
    ],
)
async def test_bad_input_is_refused_and_changes_nothing(api: Api, payload: dict[str, Any]) -> None:
    brand, _, _, token = await _brand_with_apps()
    store = await make_store(brand=brand)

    answer = await api.post(f"/admin/stores/{store.id}/qrcodes", payload, token=token)

    assert (answer.status, answer.error_code) == (422, "request.invalid")
    assert await WechatQrCode.all().count() == 0


async def test_an_appid_of_another_kind_or_brand_is_refused(api: Api) -> None:
    brand, account, _, token = await _brand_with_apps()
    foreign = await make_wechat_app(brand=await make_brand(), kind=WechatAppKind.MINIPROGRAM)
    store = await make_store(brand=brand)
    path = f"/admin/stores/{store.id}/qrcodes"

    wrong_kind = await _post(api, path, token, kind="miniprogram", appid=account.appid)
    wrong_brand = await _post(api, path, token, kind="miniprogram", appid=foreign.appid)

    assert (wrong_kind.status, wrong_kind.error_code) == (422, "wechat_qrcode.unknown_app")
    assert (wrong_brand.status, wrong_brand.error_code) == (422, "wechat_qrcode.unknown_app")


async def test_a_store_manager_makes_and_sees_their_own_stores_codes_only(api: Api) -> None:
    brand, _, _, admin_token = await _brand_with_apps()
    mine, theirs = await make_store(brand=brand), await make_store(brand=brand)
    manager: Staff = await make_staff(brand=brand, role=StaffRole.STORE_MANAGER, store=mine)
    token = staff_token(manager)
    their_code = await _post(
        api, f"/admin/stores/{theirs.id}/qrcodes", admin_token, kind="miniprogram"
    )

    own = await _post(api, f"/admin/stores/{mine.id}/qrcodes", token, kind="miniprogram")
    other = await _post(api, f"/admin/stores/{theirs.id}/qrcodes", token, kind="miniprogram")
    image_status, _, _ = await _download(
        api, f"/admin/qrcodes/{their_code.json['id']}/image.png", token
    )
    _, _, archive = await _download(api, "/admin/qrcodes.zip", token, {"kind": "miniprogram"})

    assert own.status == 201, own
    assert (other.status, other.error_code) == (404, "store.not_found")
    assert image_status == 404
    assert zipfile.ZipFile(io.BytesIO(archive)).namelist() == [f"{mine.code}-{mine.name}.png"]


async def test_a_guide_may_not_make_codes(api: Api) -> None:
    brand, _, _, _ = await _brand_with_apps()
    store = await make_store(brand=brand)
    guide = await make_staff(brand=brand, role=StaffRole.GUIDE, store=store, guide_code="G9")

    answer = await _post(
        api, f"/admin/stores/{store.id}/qrcodes", staff_token(guide), kind="miniprogram"
    )

    assert answer.status == 403
