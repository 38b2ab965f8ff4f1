"""The sandbox as Sanic routes: mounted under /sandbox by memberhub, or run on its own."""

from __future__ import annotations

import itertools

from sanic import Blueprint, HTTPResponse, Request, Sanic
from sanic.blueprint_group import BlueprintGroup
from sanic.response import json

from .alipay import create_alipay_blueprint
from .alipay_trade import ALIPAY
from .payments import REGISTRY, create_payments_blueprint
from .player import route_state
from .state import SandboxState
from .wechat import create_wechat_blueprint
from .wechat_push import create_wechat_push_blueprint
from .wechatpay import WECHATPAY_V2, WECHATPAY_V3, create_wechatpay_blueprint

URL_PREFIX = "/sandbox"
_serial = itertools.count(1)


async def reset(request: Request) -> HTTPResponse:
    """POST /sandbox/reset: forget every token, code, message and menu."""
    await route_state(request).reset()
    return json({"reset": True})


async def index(request: Request) -> HTTPResponse:
    """GET /sandbox/: what this is, so a person who opens it in a browser knows."""
    return json(
        {"sandbox": "memberhub WeChat/Alipay stand-in", "wechat": "/wechat", "alipay": "/alipay"}
    )


def create_sandbox_blueprint(state: SandboxState | None = None) -> BlueprintGroup:
    """Every sandbox route under /sandbox, as fresh blueprints (safe to call once per app).

    The routes remember in `state`; by default, in a state of their own in this process.
    """
    state = state or SandboxState()
    REGISTRY.register(WECHATPAY_V3)
    REGISTRY.register(WECHATPAY_V2)
    REGISTRY.register(ALIPAY)
    serial = next(_serial)
    root = Blueprint(f"sandbox_root_{serial}")
    root.add_route(reset, "/reset", methods=["POST"], name="reset", ctx_sandbox=state)
    root.add_route(index, "/", methods=["GET"], name="index")
    return Blueprint.group(
        root,
        create_wechat_blueprint(f"sandbox_wechat_{serial}", state),
        create_wechat_push_blueprint(f"sandbox_wechat_push_{serial}", state),
        create_alipay_blueprint(f"sandbox_alipay_{serial}", state),
        create_payments_blueprint(f"sandbox_payments_{serial}", state),
        create_wechatpay_blueprint(f"sandbox_wechatpay_{serial}", state),
        url_prefix=URL_PREFIX,
    )


def create_sandbox_app(name: str = "sandbox", *, app_url: str | None = None) -> Sanic:
    """The sandbox as an app of its own (`python -m sandbox`); `app_url`: memberhub's public
    base URL, where message pushes go."""
    app = Sanic(name)
    app.config.ACCESS_LOG = False  # query strings carry (sandbox) secrets and codes
    app.blueprint(create_sandbox_blueprint(SandboxState(app_url=app_url)))
    return app
