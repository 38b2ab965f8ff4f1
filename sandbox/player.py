"""What the sandbox's routes share: their state, reading a player's JSON body, refusing it."""

from __future__ import annotations

import json
from typing import Any

from sanic import HTTPResponse, Request
from sanic.response import json as json_response

from .state import SandboxState


def route_state(request: Request) -> SandboxState:
    """The state of the sandbox the request's route belongs to (set by create_sandbox_blueprint)."""
    assert request.route is not None
    state: SandboxState = request.route.ctx.sandbox
    return state


def player_body(request: Request) -> dict[str, Any]:
    """The request's JSON object; an empty dict for anything else."""
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        data = None
    return data if isinstance(data, dict) else {}


def bad_player_request(message: str) -> HTTPResponse:
    return json_response({"error": {"code": "sandbox.invalid", "message": message}}, status=400)
