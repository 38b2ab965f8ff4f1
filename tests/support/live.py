"""The test app on a real loopback port, so that the sandbox process can call it back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from sanic import Sanic


@asynccontextmanager
async def serve_http(app: Sanic, port: int) -> AsyncIterator[str]:
    """Serve an app whose ASGI lifespan has already run (see `serve_asgi`) on 127.0.0.1:port."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises why it could not start
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
