"""The org domain's HTTP routes, one module per concern."""

from sanic import Blueprint

from . import accounts, apps, audit, auth, brand, staff, stores

bp = Blueprint.group(auth.bp, brand.bp, stores.bp, staff.bp, apps.bp, accounts.bp, audit.bp)
