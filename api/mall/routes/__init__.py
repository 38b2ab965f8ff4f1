"""The mall's HTTP routes, one module per concern."""

from sanic import Blueprint

from . import cart, catalogue

bp = Blueprint.group(catalogue.bp, cart.bp)
