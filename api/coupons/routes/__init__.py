"""The coupon domain's HTTP routes, one module per concern."""

from sanic import Blueprint

from . import center, issues, points_mall, pos, reports, templates, wallet

bp = Blueprint.group(
    templates.bp, center.bp, wallet.bp, issues.bp, points_mall.bp, reports.bp, pos.bp
)
