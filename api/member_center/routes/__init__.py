"""The member center's HTTP routes, one module per concern."""

from sanic import Blueprint, Request

from api.core.auth import Principal, TokenKind, register_resolver
from api.member_center import members

from . import admin_members, auth, levels, me, member_code, points, staff, wallet


async def _resolve_member(request: Request, principal: Principal) -> None:
    member = await members.member_for_token(
        brand_id=principal.brand_id, member_id=principal.subject_id
    )
    request.ctx.member = member
    request.ctx.member_id = member.id


register_resolver(TokenKind.MEMBER, _resolve_member)

bp = Blueprint.group(
    auth.bp,
    me.bp,
    points.bp,
    wallet.bp,
    levels.bp,
    member_code.bp,
    staff.bp,
    admin_members.bp,
)
