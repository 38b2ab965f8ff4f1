"""What the WeChat and Alipay player routes share: reading their JSON body, refusing it."""

from __future__ import annotations

import json
from typing import Any

from sanic import HTTPResponse, Request
from sanic.response import json as json_response


def player_body(request: Request) -> dict[str, Any]:
    """The request's JSON object; an empty dict for anything else."""
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        data = None
    return data if isinstance(data, dict) else {}


def bad_player_request(message: str) -> HTTPResponse:
    return json_response({"error": {"code": "sandbox.invalid", "message": message}}, status=400)
