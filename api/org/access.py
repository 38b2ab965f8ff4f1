"""Who may call what: the one place staff roles are checked.

`staff_required` guards a route with the roles allowed to call it, judged on the staff member's
current record (the `Actor` snapshot `load_active_staff` loads for every request), never on
anything the token says. It also computes the caller's store scope and puts it on
`request.ctx.scope`, for the route to hand to services, which filter and check by scope and
never look at a role themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.core.auth import Handler, TokenKind, guard
from api.core.errors import Forbidden

from .actor import Actor
from .error_codes import AuthErrorCode
from .models import StaffRole
from .scope import StoreScope

HQ = (StaffRole.HQ_ADMIN,)
ADMINS = (StaffRole.HQ_ADMIN, StaffRole.STORE_MANAGER)
ALL_STAFF = tuple(StaffRole)


def scope_of(actor: Actor) -> StoreScope:
    """Head office acts on the whole brand; everyone else on their own store only."""
    if actor.role == StaffRole.HQ_ADMIN:
        return StoreScope.brand()
    return StoreScope.stores(actor.store_id)


def staff_required(*roles: StaffRole) -> Callable[[Handler], Handler]:
    """Route decorator: an active staff member whose current role is one of `roles` (any if none)."""
    allowed = frozenset(roles or ALL_STAFF)

    def admit(request: Any, actor: Actor) -> None:
        if actor.role not in allowed:
            raise Forbidden(AuthErrorCode.ROLE_FORBIDDEN, "Your role may not do this.")
        request.ctx.scope = scope_of(actor)

    return guard(TokenKind.STAFF, admit, roles=allowed if roles else None)
