from sanic import Blueprint

bp = Blueprint("member_center_member_code", url_prefix="/api/v1")
