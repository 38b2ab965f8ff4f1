"""Tokens and who may call what. Role checks live here and nowhere else."""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import wraps
from typing import Any

import jwt

from config.settings import get_settings

from .errors import Forbidden, Unauthorized
from .ports import clock

ALGORITHM = "HS256"

Handler = Callable[..., Awaitable[Any]]


class TokenKind(StrEnum):
    MEMBER = "member"
    STAFF = "staff"


class Role(StrEnum):
    HQ_ADMIN = "hq_admin"
    STORE_MANAGER = "store_manager"
    GUIDE = "guide"
    CASHIER = "cashier"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the verified claims of their token."""

    kind: TokenKind
    subject_id: int
    brand_id: int
    role: Role | None
    jti: str


def issue_token(
    *, kind: TokenKind, subject_id: int, brand_id: int, role: Role | None = None
) -> str:
    """Sign a token of this kind for a member or a staff member of one brand."""
    settings = get_settings()
    now = int(clock().now().timestamp())
    ttl = settings.member_token_ttl_s if kind is TokenKind.MEMBER else settings.staff_token_ttl_s
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(subject_id),
        "brand": brand_id,
        "kind": kind.value,
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    if role is not None:
        claims["role"] = role.value
    return jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm=ALGORITHM)


# Verified tokens, by their text: checking an HMAC signature and the claims costs more than the
# rest of a hot request. Only tokens that passed every check are kept, with their expiry, which
# is checked again on every use; the entry is worth nothing to another process.
_VERIFIED: OrderedDict[str, tuple[Principal, int]] = OrderedDict()
_VERIFIED_MAX = 10_000


def verify_token(token: str) -> Principal:
    """Check signature, algorithm, issuer, audience and expiry; refuse anything else."""
    known = _VERIFIED.get(token)
    if known is not None:
        principal, expires = known
        if time.time() < expires:
            return principal
        _VERIFIED.pop(token, None)
    principal, expires = _verify(token)
    _VERIFIED[token] = (principal, expires)
    if len(_VERIFIED) > _VERIFIED_MAX:
        _VERIFIED.popitem(last=False)
    return principal


def _verify(token: str) -> tuple[Principal, int]:
    settings = get_settings()
    try:
        claims = jwt.decode(
            token,
            settings.secret_key.get_secret_value(),
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "sub", "iss", "aud", "jti"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("auth.token_expired", "The token has expired.") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("auth.token_invalid", "The token is not valid.") from exc
    try:
        kind = TokenKind(claims["kind"])
        role = Role(claims["role"]) if kind is TokenKind.STAFF else None
        principal = Principal(
            kind=kind,
            subject_id=int(claims["sub"]),
            brand_id=int(claims["brand"]),
            role=role,
            jti=str(claims["jti"]),
        )
        return principal, int(claims["exp"])
    except (KeyError, ValueError, TypeError) as exc:
        raise Unauthorized("auth.token_invalid", "The token is not valid.") from exc


def bearer_token(headers: Any) -> str:
    value = headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "auth.missing_token", "An 'Authorization: Bearer <token>' header is required."
        )
    return token.strip()


def authorize(
    principal: Principal, *, kind: TokenKind, roles: frozenset[Role] | None = None
) -> None:
    """Refuse a token of the wrong kind or a staff role outside `roles`."""
    if principal.kind is not kind:
        raise Forbidden("auth.wrong_token_kind", f"This needs a {kind.value} token.")
    if roles is not None and principal.role not in roles:
        raise Forbidden("auth.role_forbidden", "Your role may not do this.")


def _guard(kind: TokenKind, roles: frozenset[Role] | None) -> Callable[[Handler], Handler]:
    def decorator(handler: Handler) -> Handler:
        @wraps(handler)
        async def wrapped(request: Any, *args: Any, **kwargs: Any) -> Any:
            principal = verify_token(bearer_token(request.headers))
            authorize(principal, kind=kind, roles=roles)
            request.ctx.principal = principal
            request.ctx.brand_id = principal.brand_id
            resolver = _RESOLVERS.get(kind)
            if resolver is not None:
                await resolver(request, principal)
            return await handler(request, *args, **kwargs)

        wrapped.__memberhub_auth__ = (kind, roles)  # type: ignore[attr-defined]
        return wrapped

    return decorator


_RESOLVERS: dict[TokenKind, Any] = {}


def register_resolver(kind: TokenKind, resolver: Any) -> None:
    """Let a domain load the caller's row (and refuse disabled or merged ones) for every request."""
    _RESOLVERS[kind] = resolver


def member_required() -> Callable[[Handler], Handler]:
    """Route decorator: a member token of the route's brand."""
    return _guard(TokenKind.MEMBER, None)


def staff_required(*roles: Role) -> Callable[[Handler], Handler]:
    """Route decorator: a staff token, optionally limited to some roles."""
    return _guard(TokenKind.STAFF, frozenset(roles) if roles else None)


ALL_STAFF = (Role.HQ_ADMIN, Role.STORE_MANAGER, Role.GUIDE, Role.CASHIER)
ADMINS = (Role.HQ_ADMIN, Role.STORE_MANAGER)
