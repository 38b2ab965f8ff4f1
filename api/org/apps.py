"""The brand's WeChat apps (mini-programs, official accounts) and Alipay mini-programs."""

from __future__ import annotations

from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from api.core import audit, wechat
from api.core.crypto import decrypt, encrypt
from api.core.errors import Conflict, NotFound

from .brands import get_brand_by_code
from .error_codes import AlipayAppErrorCode, WechatAppErrorCode
from .models import AlipayApp, MessageMode, Status, WechatApp, WechatAppKind


def wechat_credentials(app: WechatApp) -> wechat.WechatCredentials:
    """The app's appid and AppSecret (decrypted), for WeChat's server APIs."""
    return wechat.WechatCredentials(appid=app.appid, secret=decrypt(app.secret_enc))


async def _save_changes(
    app: WechatApp | AlipayApp,
    *,
    brand_id: int,
    actor: str,
    action: str,
    target: str,
    secrets: dict[str, tuple[str, str | None]],
    plain: dict[str, Any],
) -> None:
    """Apply the fields given (secrets encrypted into their columns) and audit their names."""
    for column, value in secrets.values():
        if value:
            setattr(app, column, encrypt(value))
    app.update_from_dict({name: value for name, value in plain.items() if value is not None})
    changed = [name for name, (_, value) in secrets.items() if value is not None]
    changed += [name for name, value in plain.items() if value is not None]
    async with in_transaction() as db:
        await app.save(using_db=db)
        await audit.record(
            brand_id=brand_id,
            actor=actor,
            action=action,
            target=target,
            details={"fields": sorted(changed)},
            connection=db,
        )


# WeChat apps ---------------------------------------------------------------------------------


async def list_wechat_apps(*, brand_id: int) -> list[WechatApp]:
    """The brand's mini-programs and official accounts."""
    return await WechatApp.filter(brand_id=brand_id).order_by("id")


async def create_wechat_app(
    *,
    brand_id: int,
    actor: str,
    kind: WechatAppKind,
    appid: str,
    name: str,
    app_secret: str,
    push_token: str | None = None,
    encoding_aes_key: str | None = None,
    message_mode: MessageMode = MessageMode.PLAIN,
) -> WechatApp:
    """Register a mini-program or official account; its secrets are stored encrypted."""
    try:
        async with in_transaction() as db:
            app = await WechatApp.create(
                brand_id=brand_id,
                kind=kind,
                appid=appid,
                name=name,
                secret_enc=encrypt(app_secret),
                token_enc=encrypt(push_token) if push_token else None,
                aes_key_enc=encrypt(encoding_aes_key) if encoding_aes_key else None,
                message_mode=message_mode,
                using_db=db,
            )
            await audit.record(
                brand_id=brand_id,
                actor=actor,
                action="wechat_app.create",
                target=f"wechat_app:{app.appid}",
                connection=db,
            )
    except IntegrityError as exc:
        raise Conflict(WechatAppErrorCode.TAKEN, "This appid is already registered.") from exc
    return app


async def update_wechat_app(
    *,
    brand_id: int,
    actor: str,
    app_id: int,
    name: str | None = None,
    app_secret: str | None = None,
    push_token: str | None = None,
    encoding_aes_key: str | None = None,
    message_mode: MessageMode | None = None,
    status: Status | None = None,
) -> WechatApp:
    """Rotate an app's secrets, change its message mode or disable it."""
    app = await WechatApp.get_or_none(id=app_id, brand_id=brand_id)
    if app is None:
        raise NotFound(WechatAppErrorCode.NOT_FOUND, "No such WeChat app.")
    await _save_changes(
        app,
        brand_id=brand_id,
        actor=actor,
        action="wechat_app.update",
        target=f"wechat_app:{app.appid}",
        secrets={
            "app_secret": ("secret_enc", app_secret),
            "push_token": ("token_enc", push_token),
            "encoding_aes_key": ("aes_key_enc", encoding_aes_key),
        },
        plain={"name": name, "message_mode": message_mode, "status": status},
    )
    return app


async def find_wechat_app(*, brand_id: int, appid: str) -> WechatApp:
    """An active WeChat app of the brand, by appid; 404 `wechat_app.not_found` otherwise."""
    app = await WechatApp.get_or_none(appid=appid, brand_id=brand_id, status=Status.ACTIVE)
    if app is None:
        raise NotFound(
            WechatAppErrorCode.NOT_FOUND, "This appid is not an active app of the brand."
        )
    return app


async def find_official_account(*, brand_code: str) -> WechatApp:
    """The brand's active official account (the oldest, if several), by the brand's code; 404
    `brand.not_found` or `wechat_app.not_found` otherwise."""
    brand = await get_brand_by_code(code=brand_code)
    app = (
        await WechatApp.filter(
            brand_id=brand.id, kind=WechatAppKind.OFFICIAL_ACCOUNT, status=Status.ACTIVE
        )
        .order_by("id")
        .first()
    )
    if app is None:
        raise NotFound(WechatAppErrorCode.NOT_FOUND, "The brand has no active official account.")
    return app


# Alipay apps ---------------------------------------------------------------------------------


async def list_alipay_apps(*, brand_id: int) -> list[AlipayApp]:
    """The brand's Alipay mini-programs."""
    return await AlipayApp.filter(brand_id=brand_id).order_by("id")


async def create_alipay_app(
    *,
    brand_id: int,
    actor: str,
    app_id: str,
    name: str,
    app_private_key: str,
    alipay_public_key: str,
    aes_key: str | None = None,
) -> AlipayApp:
    """Register an Alipay mini-program; its private key is stored encrypted."""
    try:
        async with in_transaction() as db:
            app = await AlipayApp.create(
                brand_id=brand_id,
                app_id=app_id,
                name=name,
                private_key_enc=encrypt(app_private_key),
                alipay_public_key=alipay_public_key,
                aes_key_enc=encrypt(aes_key) if aes_key else None,
                using_db=db,
            )
            await audit.record(
                brand_id=brand_id,
                actor=actor,
                action="alipay_app.create",
                target=f"alipay_app:{app.app_id}",
                connection=db,
            )
    except IntegrityError as exc:
        raise Conflict(AlipayAppErrorCode.TAKEN, "This app_id is already registered.") from exc
    return app


async def update_alipay_app(
    *,
    brand_id: int,
    actor: str,
    app_id: int,
    name: str | None = None,
    app_private_key: str | None = None,
    alipay_public_key: str | None = None,
    aes_key: str | None = None,
    status: Status | None = None,
) -> AlipayApp:
    """Rotate an Alipay app's keys or disable it."""
    app = await AlipayApp.get_or_none(id=app_id, brand_id=brand_id)
    if app is None:
        raise NotFound(AlipayAppErrorCode.NOT_FOUND, "No such Alipay app.")
    await _save_changes(
        app,
        brand_id=brand_id,
        actor=actor,
        action="alipay_app.update",
        target=f"alipay_app:{app.app_id}",
        secrets={
            "app_private_key": ("private_key_enc", app_private_key),
            "aes_key": ("aes_key_enc", aes_key),
        },
        plain={"name": name, "alipay_public_key": alipay_public_key, "status": status},
    )
    return app
