"""The mall's HTTP routes, one module per concern."""

from sanic import Blueprint

from . import cart, catalogue, orders, reports

bp = Blueprint.group(catalogue.bp, cart.bp, orders.bp, reports.bp)
