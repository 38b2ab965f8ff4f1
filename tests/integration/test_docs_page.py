"""/docs works offline: the page loads Swagger UI from this process, never from a CDN."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from tests.support.api import Api

pytestmark = pytest.mark.stack_independent


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href"):
            if values.get(name):
                self.links.append(values[name] or "")
        self._in_script = tag == "script" and not values.get("src")

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


async def test_docs_page_references_only_assets_this_process_serves(api: Api) -> None:
    page = await api.get("/docs")
    links = _Links()
    links.feed(page.text)

    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    assert links.links, "the page loads nothing"
    assert not [link for link in links.links if not link.startswith("/docs/")], links.links
    assert links.inline_scripts == 0
    assert not re.search(r"https?://|//cdn|unpkg|jsdelivr", page.text)
    for link in links.links:
        asset = await api.get(link)
        assert asset.status == 200, link
        assert asset.text, link


async def test_swagger_ui_assets_are_the_bundled_files(api: Api) -> None:
    script = await api.get("/docs/assets/swagger-ui-bundle.js")
    style = await api.get("/docs/assets/swagger-ui.css")
    init = await api.get("/docs/swagger-init.js")

    assert "javascript" in script.headers["content-type"]
    assert "SwaggerUIBundle" in script.text
    assert style.headers["content-type"].startswith("text/css")
    assert "javascript" in init.headers["content-type"]
    # The initialiser reads our document and turns Swagger UI's online validator off.
    assert '"/docs/openapi.json"' in init.text
    assert "validatorUrl: null" in init.text
    assert not re.search(r"https?://", init.text)


async def test_the_document_is_served_as_json(api: Api) -> None:
    answer = await api.get("/docs/openapi.json")

    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json["openapi"] == "3.1.0"
