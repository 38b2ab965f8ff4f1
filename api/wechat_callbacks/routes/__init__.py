"""WeChat callbacks' HTTP routes, one module per concern."""

from sanic import Blueprint

from . import auto_replies, callbacks

bp = Blueprint.group(callbacks.bp, auto_replies.bp)
