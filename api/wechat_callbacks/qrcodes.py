"""Store and guide QR codes: an official account's permanent parametric QR code, or a
mini-program code, carrying the store's `s=<code>` or the guide's `g=<guide_code>` scene.

A code is made once per app, scene and page and kept (the image with it): WeChat allows an
official account 100,000 permanent QR codes in all, so asking again answers the stored one, and
a lock in the shared cache keeps two requests for the same new code from both calling WeChat.
The official-account image is drawn here from the URL WeChat answers, which is what the image
WeChat's `showqrcode` serves encodes; the mini-program code is WeChat's own PNG.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass

import segno
from tortoise.transactions import in_transaction

from api.core import audit, ports, wechat
from api.core.errors import Conflict, InvalidInput, NotFound, UpstreamError
from api.member_center.relations import guide_scene, store_scene
from api.org.apps import wechat_credentials
from api.org.models import Brand, Staff, Status, Store, WechatApp, WechatAppKind
from api.org.scope import StoreScope
from api.org.staff import get_staff
from api.org.stores import get_store

from .error_codes import QrCodeErrorCode
from .models import QrTarget, WechatQrCode

_UNSAFE_IN_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


@dataclass(frozen=True)
class MadeQrCode:
    """A QR code and whether this call made it (False: it was already stored)."""

    qrcode: WechatQrCode
    created: bool


async def create_store_qrcode(
    *,
    brand_id: int,
    scope: StoreScope,
    actor: str,
    store_id: int,
    kind: WechatAppKind,
    appid: str | None = None,
) -> MadeQrCode:
    """The store's QR code in the brand's app of `kind` (made and stored on first asking)."""
    store = await get_store(brand_id=brand_id, scope=scope, store_id=store_id)
    app = await _app(brand_id=brand_id, kind=kind, appid=appid)
    return await _qrcode(
        app=app,
        actor=actor,
        target=QrTarget.STORE,
        store_id=store.id,
        staff_id=None,
        scene=store_scene(store),
    )


async def create_guide_qrcode(
    *,
    brand_id: int,
    scope: StoreScope,
    actor: str,
    staff_id: int,
    kind: WechatAppKind,
    appid: str | None = None,
) -> MadeQrCode:
    """The guide's QR code in the brand's app of `kind`; 422 when they have no guide code."""
    staff = await get_staff(brand_id=brand_id, scope=scope, staff_id=staff_id)
    scene = guide_scene(staff)
    app = await _app(brand_id=brand_id, kind=kind, appid=appid)
    return await _qrcode(
        app=app,
        actor=actor,
        target=QrTarget.GUIDE,
        store_id=staff.store_id,
        staff_id=staff.id,
        scene=scene,
    )


async def get_qrcode(*, brand_id: int, scope: StoreScope, qrcode_id: int) -> WechatQrCode:
    """A stored QR code of a store or guide in scope."""
    qrcode = await WechatQrCode.get_or_none(id=qrcode_id, brand_id=brand_id)
    if qrcode is None or not scope.allows(qrcode.store_id):
        raise NotFound(QrCodeErrorCode.NOT_FOUND, "No such QR code.")
    return qrcode


async def zip_qrcodes(
    *,
    brand_id: int,
    scope: StoreScope,
    actor: str,
    kind: WechatAppKind,
    include_guides: bool = False,
) -> bytes:
    """A zip of every active store's code in scope (`<code>-<name>.png`), made where missing;
    with include_guides, every active guide's too, under `guides/`."""
    app = await _app(brand_id=brand_id, kind=kind, appid=None)
    files: list[tuple[str, bytes]] = []
    stores = scope.limit(Store.filter(brand_id=brand_id, status=Status.ACTIVE), "id").order_by(
        "code"
    )
    for store in await stores:
        made = await _qrcode(
            app=app,
            actor=actor,
            target=QrTarget.STORE,
            store_id=store.id,
            staff_id=None,
            scene=store_scene(store),
        )
        files.append((f"{_file_name(store.code)}-{_file_name(store.name)}.png", made.qrcode.png))
    if include_guides:
        guides = scope.limit(
            Staff.filter(brand_id=brand_id, status=Status.ACTIVE, guide_code__isnull=False)
        ).order_by("guide_code")
        for guide in await guides:
            made = await _qrcode(
                app=app,
                actor=actor,
                target=QrTarget.GUIDE,
                store_id=guide.store_id,
                staff_id=guide.id,
                scene=guide_scene(guide),
            )
            name = f"{_file_name(guide.guide_code or '')}-{_file_name(guide.name)}.png"
            files.append((f"guides/{name}", made.qrcode.png))
    buffer = io.BytesIO()
    # PNGs are compressed already: stored as they are.
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, png in files:
            archive.writestr(name, png)
    return buffer.getvalue()


def _file_name(text: str) -> str:
    return _UNSAFE_IN_NAME.sub("_", text).strip() or "_"


async def _app(*, brand_id: int, kind: WechatAppKind, appid: str | None) -> WechatApp:
    """The brand's active app of kind: the one named, else the first one registered."""
    apps = WechatApp.filter(brand_id=brand_id, kind=kind, status=Status.ACTIVE)
    if appid is not None:
        app = await apps.filter(appid=appid).first()
        if app is None:
            raise InvalidInput(
                QrCodeErrorCode.UNKNOWN_APP,
                f"The brand has no active {kind.value} with this appid.",
                details=[{"loc": ["appid"], "msg": "not an active app of the brand"}],
            )
        return app
    app = await apps.order_by("id").first()
    if app is None:
        raise Conflict(QrCodeErrorCode.NO_APP, f"The brand has no active {kind.value}.")
    return app


async def _qrcode(
    *,
    app: WechatApp,
    actor: str,
    target: QrTarget,
    store_id: int | None,
    staff_id: int | None,
    scene: str,
) -> MadeQrCode:
    """The stored code of this app, scene and page, else a new one from WeChat, stored."""
    page = ""
    if app.kind == WechatAppKind.MINIPROGRAM:
        brand = await Brand.get(id=app.brand_id)
        page = str(brand.setting("miniprogram_qrcode_page"))
    found = await WechatQrCode.get_or_none(appid=app.appid, scene=scene, page=page)
    if found is not None:
        return MadeQrCode(found, created=False)
    async with ports.cache().lock(f"wechat:qrcode:{app.appid}:{scene}:{page}", ttl_s=30, wait_s=30):
        found = await WechatQrCode.get_or_none(appid=app.appid, scene=scene, page=page)
        if found is not None:
            return MadeQrCode(found, created=False)
        creds = wechat_credentials(app)
        ticket = url = ""
        if app.kind == WechatAppKind.OFFICIAL_ACCOUNT:
            answer = await wechat.create_qrcode_scene(creds, scene)
            ticket, url = str(answer.get("ticket") or ""), str(answer.get("url") or "")
            png = _png(url)
        else:
            png = await wechat.wxacode_unlimited(creds, scene, page=page)
        async with in_transaction() as db:
            qrcode = await WechatQrCode.create(
                using_db=db,
                brand_id=app.brand_id,
                kind=app.kind.value,
                target=target,
                store_id=store_id,
                staff_id=staff_id,
                appid=app.appid,
                scene=scene,
                ticket=ticket,
                url=url,
                page=page,
                png=png,
            )
            await audit.record(
                brand_id=app.brand_id,
                actor=actor,
                action="wechat_qrcode.create",
                target=f"wechat_qrcode:{qrcode.id}",
                details={"kind": app.kind.value, "appid": app.appid, "scene": scene},
                connection=db,
            )
    return MadeQrCode(qrcode, created=True)


def _png(content: str) -> bytes:
    """A QR code image of content, as WeChat's showqrcode draws an official-account code."""
    if not content:
        raise UpstreamError("wechat.upstream", "WeChat's answer carried no QR code URL.")
    buffer = io.BytesIO()
    segno.make(content, error="m").save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()
