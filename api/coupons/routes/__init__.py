"""The coupon domain's HTTP routes, one module per concern."""

from sanic import Blueprint

from . import center, templates, wallet

bp = Blueprint.group(templates.bp, center.bp, wallet.bp)

from . import pos  # noqa: E402

bp.append(pos.bp)
