from sanic import Blueprint

bp = Blueprint("member_center_auth", url_prefix="/api/v1")
