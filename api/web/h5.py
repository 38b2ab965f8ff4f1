"""`/h5/`: the H5 member center (miniprogram_stub/h5) as static files, beside the sandbox.

Mounted only with the sandbox on: a brand deploys the same files on its own host (they need no
build step) and points its official account's menu there (`member_center_url`).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import file, redirect

from api.org import apps

H5_DIR = Path(__file__).resolve().parents[2] / "miniprogram_stub" / "h5"
# Query parameters the member-center link may carry on to the page.
PASSED_ON = ("scene", "api")


def h5_blueprint(directory: Path = H5_DIR) -> Blueprint:
    """The page's files under /h5/, and /h5/member?brand=<code>, the link the official account
    sends, which opens the page for that brand's official account."""
    bp = Blueprint("h5", url_prefix="/h5")

    @bp.get("/member")
    async def h5_member_center(request: Request) -> HTTPResponse:
        brand_code = request.args.get("brand") or ""
        official_account = await apps.find_official_account(brand_code=brand_code)
        query = {"brand": brand_code, "appid": official_account.appid}
        query.update({key: request.args[key][0] for key in PASSED_ON if key in request.args})
        return redirect(f"/h5/?{urlencode(query)}", status=302)

    @bp.get("/", strict_slashes=True)
    async def h5_page(request: Request) -> HTTPResponse:
        return await file(directory / "index.html", mime_type="text/html; charset=utf-8")

    bp.static("/", directory, name="h5_files")
    return bp
