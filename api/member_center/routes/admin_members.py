from sanic import Blueprint

bp = Blueprint("member_center_admin_members", url_prefix="/api/v1")
