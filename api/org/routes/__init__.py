"""The org domain's HTTP routes, one module per concern."""

from sanic import Blueprint, Request

from api.core.auth import Principal, TokenKind, register_resolver
from api.org import staff_auth

from . import accounts, apps, audit, auth, brand, staff, stores


async def _resolve_staff(request: Request, principal: Principal) -> None:
    request.ctx.staff = await staff_auth.load_active_staff(
        brand_id=principal.brand_id, staff_id=principal.subject_id
    )


register_resolver(TokenKind.STAFF, _resolve_staff)

bp = Blueprint.group(auth.bp, brand.bp, stores.bp, staff.bp, apps.bp, accounts.bp, audit.bp)
