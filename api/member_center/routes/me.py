from sanic import Blueprint

bp = Blueprint("member_center_me", url_prefix="/api/v1")
