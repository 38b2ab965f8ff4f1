"""Who is this person: logins through WeChat and Alipay, phone binding, one member per person.

Every channel ends in `attach_identities`: the identity rows are unique per brand, so two
concurrent logins of the same person race on that constraint and the loser simply reads what
the winner wrote. Identities that turn out to belong to two members merge them.
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError, TransactionManagementError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from api.core import alipay, wechat
from api.core.auth import TokenKind, issue_token
from api.core.crypto import decrypt, encrypt, lookup_hash
from api.core.errors import Conflict, InvalidInput, NotFound
from api.core.ports import cache, clock
from api.org.apps import wechat_credentials
from api.org.models import AlipayApp, Brand, Status, WechatApp, WechatAppKind

from . import relations
from .error_codes import MemberErrorCode, SignInErrorCode
from .members import mask_phone, new_member_no
from .merge import choose_survivor, merge_members
from .models import IdentityKind, Level, Member, MemberIdentity, MemberStatus

ATTACH_ATTEMPTS = 6
SESSION_KEY_TTL_S = 3 * 24 * 3600


@dataclass(frozen=True)
class IdentityKey:
    kind: IdentityKind
    value: str
    app_id: str = ""


@dataclass(frozen=True)
class Login:
    token: str
    member: Member


def phone_key(phone: str) -> IdentityKey:
    """A phone identity is found by its keyed hash; the number itself is never a key."""
    return IdentityKey(IdentityKind.PHONE, lookup_hash(phone, purpose="phone"))


def member_token(member: Member) -> str:
    return issue_token(kind=TokenKind.MEMBER, subject_id=member.id, brand_id=member.brand_id)


async def attach_identities(*, brand_id: int, keys: list[IdentityKey]) -> Member:
    """The one member these identities belong to: found, created as a visitor, or merged."""
    for _ in range(ATTACH_ATTEMPTS):
        try:
            async with in_transaction() as db:
                return await _attach(db, brand_id, keys)
        except (IntegrityError, TransactionManagementError):
            continue  # a concurrent login wrote one of these identities first; read it again
    raise Conflict(MemberErrorCode.BUSY, "This account is being updated; please retry.")


async def _attach(db: BaseDBAsyncClient, brand_id: int, keys: list[IdentityKey]) -> Member:
    match = Q()
    for key in keys:
        match |= Q(kind=key.kind, app_id=key.app_id, value=key.value)
    found = await MemberIdentity.filter(match, brand_id=brand_id).using_db(db)
    member_ids = sorted({row.member_id for row in found})
    if not member_ids:
        member = await Member.create(
            using_db=db, brand_id=brand_id, member_no=new_member_no(), status=MemberStatus.VISITOR
        )
    else:
        candidates = await Member.filter(id__in=member_ids).using_db(db)
        member = choose_survivor(list(candidates))
        for other in candidates:
            if other.id != member.id:
                member = await merge_members(
                    brand_id=brand_id,
                    survivor_id=member.id,
                    loser_id=other.id,
                    reason="shared identity",
                    connection=db,
                )
    known = {(row.kind, row.app_id, row.value) for row in found}
    for key in keys:
        if (key.kind, key.app_id, key.value) not in known:
            await MemberIdentity.create(
                using_db=db,
                brand_id=brand_id,
                member_id=member.id,
                kind=key.kind,
                app_id=key.app_id,
                value=key.value,
            )
    return member


async def member_for_payer(
    *, brand_id: int, kind: str, app_id: str, value: str, unionid: str | None = None
) -> Member:
    """The member behind a payer the platform named: found, or created as a visitor.

    kind is "wechat_openid" (app_id: the appid the openid belongs to) or "alipay_user"
    (app_id: the Alipay app; value: the buyer id). This is how a payment becomes membership.
    """
    if kind == IdentityKind.WECHAT_OPENID:
        keys = _wechat_keys(app_id, value, unionid)
    elif kind == IdentityKind.ALIPAY_USER:
        # A user id (2088…) is one across apps; an open id belongs to its app (as at login).
        keys = [IdentityKey(IdentityKind.ALIPAY_USER, value, "" if value.isdigit() else app_id)]
    else:
        raise ValueError(f"not a payer identity: {kind}")
    return await attach_identities(brand_id=brand_id, keys=keys)


# WeChat -------------------------------------------------------------------------------------


async def _wechat_app(appid: str, kind: WechatAppKind) -> WechatApp:
    app = await WechatApp.get_or_none(appid=appid, kind=kind, status=Status.ACTIVE)
    if app is None or not await _brand_active(app.brand_id):
        raise NotFound(
            SignInErrorCode.WECHAT_APP_NOT_FOUND, f"No active {kind.value} with this appid."
        )
    return app


async def _brand_active(brand_id: int) -> bool:
    return await Brand.exists(id=brand_id, status=Status.ACTIVE)


def _wechat_keys(appid: str, openid: str, unionid: str | None) -> list[IdentityKey]:
    keys = [IdentityKey(IdentityKind.WECHAT_OPENID, openid, appid)]
    if unionid:
        keys.append(IdentityKey(IdentityKind.WECHAT_UNIONID, unionid))
    return keys


async def login_wxa(*, appid: str, code: str, scene: str | None = None) -> Login:
    """Mini-program login: code2session, then the member behind the OpenID (and UnionID)."""
    app = await _wechat_app(appid, WechatAppKind.MINIPROGRAM)
    session = await wechat.code_to_session(wechat_credentials(app), code)
    # The session_key stays here, encrypted, for the platform calls that need it.
    await cache().set(
        f"wxa-session:{appid}:{session.openid}",
        encrypt(session.session_key),
        ttl_s=SESSION_KEY_TTL_S,
    )
    member = await attach_identities(
        brand_id=app.brand_id, keys=_wechat_keys(appid, session.openid, session.unionid)
    )
    await relations.apply_scene(brand_id=app.brand_id, member_id=member.id, scene=scene)
    return Login(token=member_token(member), member=await _reload(member))


async def login_oa(*, appid: str, code: str, scene: str | None = None) -> Login:
    """Official-account web authorization, for the H5 member center."""
    app = await _wechat_app(appid, WechatAppKind.OFFICIAL_ACCOUNT)
    user = await wechat.oauth_exchange(wechat_credentials(app), code)
    member = await attach_identities(
        brand_id=app.brand_id, keys=_wechat_keys(appid, user.openid, user.unionid)
    )
    await relations.apply_scene(brand_id=app.brand_id, member_id=member.id, scene=scene)
    return Login(token=member_token(member), member=await _reload(member))


async def login_alipay(*, app_id: str, auth_code: str) -> Login:
    """Alipay mini-program login through alipay.system.oauth.token."""
    app = await AlipayApp.get_or_none(app_id=app_id, status=Status.ACTIVE)
    if app is None or not await _brand_active(app.brand_id):
        raise NotFound(
            SignInErrorCode.ALIPAY_APP_NOT_FOUND, "No active Alipay app with this app_id."
        )
    user = await alipay.oauth_token(_alipay_credentials(app), auth_code)
    user_key = user.user_id or user.open_id
    if not user_key:
        raise InvalidInput(SignInErrorCode.ALIPAY_NO_USER, "Alipay did not name the user.")
    member = await attach_identities(
        brand_id=app.brand_id,
        keys=[
            IdentityKey(IdentityKind.ALIPAY_USER, user_key, app.app_id if not user.user_id else "")
        ],
    )
    return Login(token=member_token(member), member=await _reload(member))


async def bind_alipay_phone(
    *, brand_id: int, member_id: int, response: str, sign: str, app_id: str | None = None
) -> Login:
    """Bind the phone from my.getPhoneNumber()'s signed, encrypted answer."""
    apps = AlipayApp.filter(brand_id=brand_id, status=Status.ACTIVE)
    if app_id is not None:
        apps = apps.filter(app_id=app_id)
    found = await apps.limit(2)
    if len(found) != 1:
        if app_id is not None:
            raise NotFound(
                SignInErrorCode.ALIPAY_APP_NOT_FOUND, "No such Alipay app in this brand."
            )
        raise InvalidInput(SignInErrorCode.APP_ID_REQUIRED, "Name the Alipay app_id.")
    app = found[0]
    if app.aes_key_enc is None:
        raise InvalidInput(
            SignInErrorCode.ALIPAY_NO_AES_KEY, "This Alipay app has no content encryption key."
        )
    phone = alipay.decrypt_phone(
        _alipay_credentials(app),
        aes_key=decrypt(app.aes_key_enc),
        response=response,
        sign=sign,
    )
    member = await bind_phone(brand_id=brand_id, member_id=member_id, phone=phone)
    return Login(token=member_token(member), member=await _reload(member))


def _alipay_credentials(app: AlipayApp) -> alipay.AlipayCredentials:
    return alipay.AlipayCredentials(
        app_id=app.app_id,
        app_private_key_pem=decrypt(app.private_key_enc),
        alipay_public_key_pem=app.alipay_public_key,
    )


async def bind_wxa_phone(
    *, brand_id: int, member_id: int, code: str, appid: str | None = None, scene: str | None = None
) -> Login:
    """Bind the phone from getPhoneNumber's code: registers the member, merging a known phone."""
    if appid is None:
        apps = await WechatApp.filter(
            brand_id=brand_id, kind=WechatAppKind.MINIPROGRAM, status=Status.ACTIVE
        ).limit(2)
        if len(apps) != 1:
            raise InvalidInput(SignInErrorCode.APPID_REQUIRED, "Name the mini-program's appid.")
        app = apps[0]
    else:
        app = await _wechat_app(appid, WechatAppKind.MINIPROGRAM)
        if app.brand_id != brand_id:
            raise NotFound(
                SignInErrorCode.WECHAT_APP_NOT_FOUND, "No such mini-program in this brand."
            )
    phone = await wechat.get_phone_number(wechat_credentials(app), code)
    member = await bind_phone(brand_id=brand_id, member_id=member_id, phone=phone)
    await relations.apply_scene(brand_id=brand_id, member_id=member.id, scene=scene)
    return Login(token=member_token(member), member=await _reload(member))


async def bind_phone(*, brand_id: int, member_id: int, phone: str) -> Member:
    """Give the member this (verified) phone: they become a registered member.

    When another member already holds the phone, that member is the established one and
    survives; the caller's member is merged into it.
    """
    key = phone_key(phone)
    for _ in range(ATTACH_ATTEMPTS):
        try:
            async with in_transaction() as db:
                return await _bind_phone(db, brand_id, member_id, phone, key)
        except (IntegrityError, TransactionManagementError):
            continue
    raise Conflict(MemberErrorCode.BUSY, "This account is being updated; please retry.")


async def _bind_phone(
    db: BaseDBAsyncClient, brand_id: int, member_id: int, phone: str, key: IdentityKey
) -> Member:
    holder = (
        await MemberIdentity.filter(brand_id=brand_id, kind=key.kind, app_id="", value=key.value)
        .using_db(db)
        .first()
    )
    member = await Member.filter(id=member_id, brand_id=brand_id).using_db(db).get()
    if holder is not None and holder.member_id != member.id:
        member = await merge_members(
            brand_id=brand_id,
            survivor_id=holder.member_id,
            loser_id=member.id,
            reason="phone bound",
            connection=db,
        )
    elif holder is None:
        # A member changing their phone keeps one phone identity: the new one.
        await (
            MemberIdentity.filter(member_id=member.id, kind=IdentityKind.PHONE)
            .using_db(db)
            .delete()
        )
        await MemberIdentity.create(
            using_db=db,
            brand_id=brand_id,
            member_id=member.id,
            kind=key.kind,
            app_id="",
            value=key.value,
        )
    changes: dict[str, object] = {
        "phone_enc": encrypt(phone),
        "phone_masked": mask_phone(phone),
    }
    joined = member.status != MemberStatus.MEMBER
    if joined:
        changes |= await registration_changes(brand_id, member, db)
    await Member.filter(id=member.id).using_db(db).update(**changes)
    if joined:
        # Imported here: the coupon domain builds on the member center, not the other way.
        from api.coupons.rewards import queue_new_member_gift

        brand = await Brand.get(id=brand_id, using_db=db)
        await queue_new_member_gift(db, brand=brand, member_id=member.id)
    return await Member.filter(id=member.id).using_db(db).get()


async def registration_changes(
    brand_id: int, member: Member, db: BaseDBAsyncClient
) -> dict[str, object]:
    """What becoming a member sets: the status, the date, and the entry level if none yet."""
    changes: dict[str, object] = {
        "status": MemberStatus.MEMBER,
        "registered_at": member.registered_at or clock().now(),
    }
    if member.level_id is None:
        entry = (
            await Level.filter(brand_id=brand_id, active=True).using_db(db).order_by("rank").first()
        )
        if entry is not None:
            changes["level_id"] = entry.id
    return changes


async def _reload(member: Member) -> Member:
    return await Member.get(id=member.id)
