"""Tokens, and the guard every authenticated route goes through.

A token says who is calling (kind, subject, brand) and nothing about what they may do: the
guard loads the caller's current record through the resolver registered for the token kind
(`api.wiring.wire()` registers them) and hands it to the route's own admission check, so a
role or store changed a second ago is what counts, not what the token was signed with.
"""

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


@dataclass(frozen=True)
class Principal:
    """Who is calling: the verified claims of their token."""

    kind: TokenKind
    subject_id: int
    brand_id: int
    jti: str
    # The subject's token version when the token was signed; raising the version on the record
    # (a password or role change) ends every token signed before.
    version: int = 0


# Loads the caller's current record for a verified token, or raises Unauthorized (disabled,
# merged, revoked); what it returns is put on `request.ctx.<kind>`.
Resolver = Callable[[Principal], Awaitable[Any]]
# A route's admission check on that record: raises Forbidden, and may put more on request.ctx.
Admit = Callable[[Any, Any], None]


def issue_token(*, kind: TokenKind, subject_id: int, brand_id: int, version: int = 0) -> str:
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
    if version:
        claims["ver"] = version
    return jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm=ALGORITHM)


# Verified tokens, by their text. The resolve benchmark (bench/RESULTS.md) spends more on the
# HMAC check and claim parsing than on the rest of a hot request, so a token that passed every
# check is kept with its expiry. Caching it is safe because the entry only says "this text was
# signed by us": expiry is checked again on every use, and whether the token still counts
# (revoked by a password or role change, subject disabled) and what its holder may do are read
# from the subject's record by the resolver on every request, never from this cache.
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
        principal = Principal(
            kind=TokenKind(claims["kind"]),
            subject_id=int(claims["sub"]),
            brand_id=int(claims["brand"]),
            jti=str(claims["jti"]),
            version=int(claims.get("ver", 0)),
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


_RESOLVERS: dict[TokenKind, Resolver] = {}


def register_resolver(kind: TokenKind, resolver: Resolver) -> None:
    """Say how to load the caller's record for tokens of this kind (see `api.wiring`)."""
    _RESOLVERS[kind] = resolver


def registered_resolvers() -> dict[TokenKind, Resolver]:
    """The resolvers registered so far, by token kind."""
    return dict(_RESOLVERS)


async def resolve(principal: Principal) -> Any:
    """The current record behind a verified token; refuses a kind nobody registered."""
    resolver = _RESOLVERS.get(principal.kind)
    if resolver is None:
        # A process that skipped api.wiring.wire() must fail loudly, not let tokens through.
        raise RuntimeError(f"no resolver for {principal.kind.value} tokens: call api.wiring.wire()")
    return await resolver(principal)


def guard(
    kind: TokenKind, admit: Admit | None = None, *, roles: frozenset[Any] | None = None
) -> Callable[[Handler], Handler]:
    """Route decorator: a valid token of `kind`, its subject's current record, then `admit`.

    Sets `request.ctx.principal`, `request.ctx.brand_id`, `request.ctx.<kind>` (the record)
    and `request.ctx.<kind>_id`. `roles` only describes `admit` for the OpenAPI document.
    """

    def decorator(handler: Handler) -> Handler:
        @wraps(handler)
        async def wrapped(request: Any, *args: Any, **kwargs: Any) -> Any:
            principal = verify_token(bearer_token(request.headers))
            if principal.kind is not kind:
                raise Forbidden("auth.wrong_token_kind", f"This needs a {kind.value} token.")
            subject = await resolve(principal)
            request.ctx.principal = principal
            request.ctx.brand_id = principal.brand_id
            setattr(request.ctx, kind.value, subject)
            setattr(request.ctx, f"{kind.value}_id", subject.id)
            if admit is not None:
                admit(request, subject)
            return await handler(request, *args, **kwargs)

        wrapped.__memberhub_auth__ = (kind, roles)  # type: ignore[attr-defined]
        return wrapped

    return decorator


def member_required() -> Callable[[Handler], Handler]:
    """Route decorator: a member token of the route's brand, for a live member."""
    return guard(TokenKind.MEMBER)
