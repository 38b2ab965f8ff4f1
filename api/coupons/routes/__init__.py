"""The coupon domain's HTTP routes, one module per concern."""

from sanic import Blueprint

from . import center, reports, templates, wallet

bp = Blueprint.group(templates.bp, center.bp, wallet.bp, reports.bp)
