from sanic import Blueprint

bp = Blueprint("member_center_points", url_prefix="/api/v1")
