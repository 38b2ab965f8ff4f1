from sanic import Blueprint

bp = Blueprint("member_center_staff", url_prefix="/api/v1")
