"""A small HTTP client over the app's ASGI interface that checks every answer it sees."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sanic import Sanic

# Keys that must never leave the server, whatever the route.
FORBIDDEN_KEYS = {
    "session_key",
    "secret",
    "password",
    "password_hash",
    "api_key",
    "api_v3_key",
    "private_key",
    "app_auth_token",
    "token_enc",
    "aes_key",
    "encoding_aes_key",
}


def _forbidden_keys(value: Any, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in FORBIDDEN_KEYS or key.endswith("_enc"):
                found.append(f"{path}.{key}")
            found.extend(_forbidden_keys(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_forbidden_keys(item, f"{path}[{index}]"))
    return found


UNPREFIXED = ("/api/", "/sandbox", "/healthz", "/readyz", "/metrics", "/docs", "/callbacks")


class Answer:
    """One HTTP answer: status, headers, text and JSON."""

    def __init__(self, status: int, headers: Any, text: str) -> None:
        self.status = status
        self.headers = headers
        self.text = text

    @property
    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def error_code(self) -> str | None:
        try:
            return self.json["error"]["code"]
        except (ValueError, KeyError, TypeError):
            return None

    def __repr__(self) -> str:
        return f"<Answer {self.status} {self.text[:300]}>"


# One TLS context for every test client: building one reads the CA bundle, about a tenth of a
# second of CPU, and the suite makes a client in most tests.
TLS = ssl.create_default_context()


@asynccontextmanager
async def serve_asgi(app: Sanic) -> AsyncIterator[Sanic]:
    """Run the app's ASGI lifespan (start-up and shut-down listeners) around a block."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put)  # type: ignore[arg-type]
    )
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    assert started["type"] == "lifespan.startup.complete", started
    try:
        yield app
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await lifespan


class Api:
    """Calls the app like a client would; every JSON answer is scanned for secrets."""

    def __init__(self, client: httpx.AsyncClient, *, prefix: str = "/api/v1") -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    @asynccontextmanager
    async def over(cls, app: Sanic, *, prefix: str = "/api/v1") -> AsyncIterator[Api]:
        """A client speaking HTTP to the (already started) app through its ASGI interface."""
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(
            transport=transport, base_url="http://memberhub.test"
        ) as client:
            yield cls(client, prefix=prefix)

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json_body: Any = None,
        content: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Answer:
        url = path if path.startswith(UNPREFIXED) else self.prefix + path
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        kwargs: dict[str, Any] = {"headers": all_headers}
        if json_body is not None:
            kwargs["json"] = json_body
        if content is not None:
            kwargs["content"] = content
        if params is not None:
            kwargs["params"] = params
        if content is not None:
            kwargs.pop("content")
            kwargs["content"] = content.encode() if isinstance(content, str) else content
        response = await self.client.request(method, url, **kwargs)
        answer = Answer(response.status_code, response.headers, response.text)
        # The OpenAPI document names input fields such as `password`; it holds no values.
        scanned = answer.text and not url.startswith("/docs")  # HEAD answers carry no body
        if scanned and "json" in response.headers.get("content-type", ""):
            leaked = _forbidden_keys(answer.json)
            assert not leaked, f"{method} {url} answered with secret fields {leaked}"
            assert "session_key" not in answer.text, f"{method} {url} leaked a session_key"
        return answer

    async def get(self, path: str, **kw: Any) -> Answer:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> Answer:
        return await self.request("POST", path, json_body=json, **kw)

    async def put(self, path: str, json: Any = None, **kw: Any) -> Answer:
        return await self.request("PUT", path, json_body=json, **kw)

    async def patch(self, path: str, json: Any = None, **kw: Any) -> Answer:
        return await self.request("PATCH", path, json_body=json, **kw)

    async def delete(self, path: str, **kw: Any) -> Answer:
        return await self.request("DELETE", path, **kw)
