"""The member center's HTTP routes, one module per concern."""

from sanic import Blueprint

from . import admin_members, auth, levels, me, member_code, points, staff, wallet

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
