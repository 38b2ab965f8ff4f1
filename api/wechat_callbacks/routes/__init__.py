"""WeChat callbacks' HTTP routes, one module per concern."""

from sanic import Blueprint

from . import auto_replies, callbacks, menus, qrcodes, staff_wechat

bp = Blueprint.group(callbacks.bp, auto_replies.bp, menus.bp, staff_wechat.bp, qrcodes.bp)
