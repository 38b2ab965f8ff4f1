"""WeChat callbacks' HTTP routes, one module per concern."""

from sanic import Blueprint

from . import auto_replies, callbacks

bp = Blueprint.group(callbacks.bp, auto_replies.bp)

from . import qrcodes  # noqa: E402

bp = Blueprint.group(bp, qrcodes.bp)
