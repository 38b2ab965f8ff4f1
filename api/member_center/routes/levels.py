from sanic import Blueprint

bp = Blueprint("member_center_levels", url_prefix="/api/v1")
