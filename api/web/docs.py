"""`/docs`: Swagger UI served from the installed package, and `/docs/openapi.json`.

Nothing is loaded from a CDN: the page works on a machine with no internet, and a browser
shows the document as this very process describes it.
"""

from __future__ import annotations

import json

import openapi_ui_bundles
from sanic import Blueprint, HTTPResponse, Request

from .openapi import build_document

ASSETS = "/docs/assets"

PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>memberhub API</title>
  <link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{ASSETS}/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{ASSETS}/swagger-ui-bundle.js"></script>
  <script src="/docs/swagger-init.js"></script>
</body>
</html>
"""

# A file of its own rather than an inline script, so the page runs under a strict
# Content-Security-Policy. validatorUrl: null keeps Swagger UI from calling its online validator.
INIT = """window.ui = SwaggerUIBundle({
  url: "/docs/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
});
"""


def docs_blueprint(*, title: str, version: str, description: str) -> Blueprint:
    """The interactive page, its assets and the document, under /docs."""
    bp = Blueprint("docs", url_prefix="/docs")
    built: list[bytes] = []

    @bp.get("/", strict_slashes=False)
    async def docs_page(request: Request) -> HTTPResponse:
        return HTTPResponse(PAGE, content_type="text/html; charset=utf-8")

    @bp.get("/swagger-init.js")
    async def docs_init(request: Request) -> HTTPResponse:
        return HTTPResponse(INIT, content_type="text/javascript; charset=utf-8")

    @bp.get("/openapi.json")
    async def docs_document(request: Request) -> HTTPResponse:
        # The routes do not change while the process runs: build the document once.
        if not built:
            document = build_document(
                request.app, title=title, version=version, description=description
            )
            built.append(json.dumps(document, ensure_ascii=False).encode())
        return HTTPResponse(built[0], content_type="application/json")

    bp.static("/assets", openapi_ui_bundles.swagger_ui.static_path, name="docs_assets")
    return bp
